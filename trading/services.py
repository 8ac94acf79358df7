"""Writes for trading: decide (risk checks -> Trade row), then execute.

A Trade row with its client order id is committed before anything leaves the process, so
whatever happens next (timeout, crash, restart) the row says what is known and the same id
is used to ask the exchange, never to send again blindly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring import events
from risk.checks import Intent, Outcome, effective_mode
from risk.models import TradeConfig
from risk.selectors import config_current_version
from risk.services import risk_evaluate, risk_limits

from .api.serializers import TradeSerializer
from .models import Trade, TradeStatus
from .selectors import exposure_for

log = logging.getLogger(__name__)

_STATUS_FOR = {
    Outcome.PASS: TradeStatus.PENDING,
    Outcome.REJECT: TradeStatus.REJECTED,
    Outcome.CONFIRM: TradeStatus.AWAITING_CONFIRMATION,
}


@dataclass(frozen=True)
class Stamps:
    """Stage stamps (time.time_ns()) carried from detection to the decision."""

    detected_ns: int | None = None
    persisted_ns: int | None = None
    dispatched_ns: int | None = None


def keys_present() -> bool:
    return bool(settings.MEXC_API_KEY and settings.MEXC_SECRET_KEY)


def trade_decide(
    *,
    symbol: str,
    quote_asset: str,
    quote_qty: Decimal | None,
    client_order_id: str,
    listing_id: int | None = None,
    manual: bool = False,
    want_live: bool = True,
    requested_by: str = "",
    stamps: Stamps = Stamps(),
) -> tuple[Trade, bool]:
    """Run the risk checks for one intent and record the outcome as a Trade.

    Idempotent on `client_order_id`: a second call returns the existing row (False). The
    config row is locked while deciding, so concurrent decisions see each other's exposure.
    """
    with transaction.atomic():
        config = TradeConfig.objects.select_for_update().get(name="default")
        existing = Trade.objects.filter(client_order_id=client_order_id).first()
        if existing is not None:
            return existing, False
        version = config_current_version(config=config)
        limits = risk_limits(config)
        signal_age_ms = None
        if stamps.detected_ns is not None and not manual:
            signal_age_ms = (time.time_ns() - stamps.detected_ns) / 1e6
        intent = Intent(
            symbol=symbol,
            quote_asset=quote_asset,
            quote_qty=quote_qty if quote_qty is not None else config.snipe_quote_usdt,
            manual=manual,
            want_live=want_live,
            signal_age_ms=signal_age_ms,
        )
        mode = effective_mode(limits, intent)
        decision = risk_evaluate(
            limits=limits,
            intent=intent,
            exposure=exposure_for(mode=mode),
            keys_present=keys_present(),
        )
        status = _STATUS_FOR[decision.outcome]
        trade = Trade.objects.create(
            listing_id=listing_id,
            symbol=symbol,
            quote_qty=intent.quote_qty,
            mode=decision.mode,
            status=status,
            reason_code=decision.reason.value if decision.reason else "",
            error_message=decision.detail if decision.reason else "",
            client_order_id=client_order_id,
            config_version=version,
            manual=manual,
            requested_by=requested_by,
            expires_at=(
                timezone.now() + timedelta(seconds=config.confirmation_ttl_s)
                if status == TradeStatus.AWAITING_CONFIRMATION
                else None
            ),
            detected_ns=stamps.detected_ns,
            persisted_ns=stamps.persisted_ns,
            dispatched_ns=stamps.dispatched_ns,
            risk_done_ns=time.time_ns(),
        )
        events.publish_on_commit(events.TRADE_UPDATED, TradeSerializer(trade).data)
    log.info(
        "trade.decided",
        extra={
            "trade_id": trade.pk,
            "symbol": symbol,
            "mode": trade.mode,
            "status": trade.status,
            "reason": trade.reason_code,
            "config_version": version.history_id,
        },
    )
    return trade, True
