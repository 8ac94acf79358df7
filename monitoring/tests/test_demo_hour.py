"""A demo hour: one dry-run snipe every 20 s for an hour raises no red banner with the default
configuration, while the same hour traded live breaches the live limits (and says so)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from risk.selectors import config_get_active
from risk.services import config_update
from trading.models import Trade, TradeStatus
from trading.tests.factories import TradeFactory

EVERY = timedelta(seconds=20)
TRADES = 180  # an hour of them; the oldest 59 min 40 s ago, inside the last hour


@pytest.fixture
def viewer(api_as, viewer_user):
    return api_as(viewer_user)


def _demo_hour(*, mode: str) -> None:
    """Filled snipes of the default amount, one every 20 s over the last hour."""
    quote = config_get_active().snipe_quote_usdt
    now = timezone.now()
    for i in range(TRADES):
        trade = TradeFactory(
            listing=None, mode=mode, status=TradeStatus.FILLED, quote_qty=quote, quote_spent=quote
        )
        Trade.objects.filter(pk=trade.pk).update(created_at=now - i * EVERY)


def _banner_reasons(viewer) -> list[str]:
    """What the dashboard's red banner would say (static/dashboard/dashboard.js renderBanner):
    a breached limit, an open circuit breaker, the kill switch."""
    risk = viewer.get("/api/risk/metrics/").json()
    config = viewer.get("/api/config/").json()
    reasons = [f"Limit breached: {b}" for b in risk["breaches"]]
    if risk["breaker"]["state"] == "open":
        reasons.append("Circuit breaker OPEN")
    if risk["kill_switch"] or config["kill_switch"]:
        reasons.append("Kill switch ON")
    return reasons


def test_a_dry_run_demo_hour_raises_no_banner_with_the_default_config(viewer):
    _demo_hour(mode="dry_run")
    risk = viewer.get("/api/risk/metrics/").json()
    assert risk["mode"] == "dry_run"
    assert (
        risk["trades_last_hour"] == TRADES
        and risk["trades_last_hour"] < risk["max_trades_per_hour"]
    )
    assert risk["exposure_ratio"] < 1 and risk["in_flight"] == 0
    assert _banner_reasons(viewer) == []


def test_the_same_hour_traded_live_breaches_the_live_limits(viewer):
    _demo_hour(mode="live")
    with override_settings(MEXC_API_KEY="k", MEXC_SECRET_KEY="s"):
        config_update(
            actor=None, changes={"auto_trade": True, "mode": "live"}, reason="test: go live"
        )
    risk = viewer.get("/api/risk/metrics/").json()
    assert risk["mode"] == "live" and risk["trades_last_hour"] == TRADES
    assert {"max_trades_per_hour", "max_position"} <= set(risk["breaches"])
    assert "Limit breached: max_trades_per_hour" in _banner_reasons(viewer)
