from decimal import Decimal

import pytest
from django.test import override_settings

from risk.selectors import config_current_version
from risk.services import config_update
from trading.ids import manual_order_id, snipe_order_id
from trading.models import Trade, TradeStatus
from trading.services import Signal, trade_decide

pytestmark = pytest.mark.django_db
KEYS = {"MEXC_API_KEY": "k", "MEXC_SECRET_KEY": "s"}


def decide(quote="20", symbol="NEWUSDT", **kwargs):
    kwargs.setdefault("client_order_id", manual_order_id())
    signal = Signal(symbol=symbol, quote_asset="USDT", quote_qty=Decimal(quote), **kwargs)
    return trade_decide(signal).trade


def go_live(**extra):
    config_update(
        actor=None, changes={"auto_trade": True, "mode": "live", **extra}, reason="go live"
    )


def test_auto_trade_off_decides_dry_run_even_with_keys():
    with override_settings(**KEYS):
        trade = decide()
    assert (trade.status, trade.mode) == (TradeStatus.PENDING, "dry_run")


@override_settings(**KEYS)
def test_auto_trade_on_and_live_decides_live_with_the_version_in_force():
    go_live()
    trade = decide()
    assert (trade.status, trade.mode) == (TradeStatus.PENDING, "live")
    assert trade.config_version_id == config_current_version().history_id
    assert trade.risk_done_ns is not None


def test_above_max_trade_is_rejected_with_reason_and_version():
    trade = decide(quote="150")
    assert trade.status == TradeStatus.REJECTED
    assert trade.reason_code == "max_trade_exceeded"
    assert "above the max trade of 100" in trade.error_message
    assert trade.config_version.max_trade_usdt == Decimal("100")


def test_live_without_keys_is_rejected_clearly():
    with override_settings(**KEYS):
        go_live()
    with override_settings(MEXC_API_KEY=None, MEXC_SECRET_KEY=None):  # a process without keys
        trade = decide()
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "live_without_keys")


@override_settings(**KEYS)
def test_the_24h_position_limit_holds_across_several_trades():
    go_live(max_position_usdt=Decimal("100"), max_trade_usdt=Decimal("40"))
    statuses = [decide(quote="40").status for _ in range(3)]
    assert statuses == [TradeStatus.PENDING, TradeStatus.PENDING, TradeStatus.REJECTED]
    rejected = Trade.objects.get(status=TradeStatus.REJECTED)
    assert rejected.reason_code == "max_position_exceeded"
    Trade.objects.filter(status=TradeStatus.PENDING).update(status=TradeStatus.FILLED)
    assert decide(quote="20").status == TradeStatus.PENDING  # 80 + 20 = 100: at the limit


@override_settings(**KEYS)
def test_a_config_change_applies_to_the_next_trade_and_each_keeps_its_version():
    go_live()
    first = decide(quote="60")
    config_update(actor=None, changes={"max_trade_usdt": Decimal("50")}, reason="cut")
    second = decide(quote="60")
    assert first.status == TradeStatus.AWAITING_CONFIRMATION  # 60 > high-value 50
    assert second.status == TradeStatus.REJECTED and second.reason_code == "max_trade_exceeded"
    assert first.config_version.max_trade_usdt == Decimal("100")
    assert second.config_version.max_trade_usdt == Decimal("50")


@override_settings(**KEYS)
def test_high_value_waits_for_confirmation_with_an_expiry():
    go_live()
    trade = decide(quote="80")
    assert trade.status == TradeStatus.AWAITING_CONFIRMATION
    assert trade.expires_at is not None and trade.reason_code == ""


def test_deciding_twice_for_one_intent_makes_one_trade():
    coid = snipe_order_id("NEWUSDT", _now())
    signal = Signal(symbol="NEWUSDT", quote_asset="USDT", client_order_id=coid)
    first, again = trade_decide(signal), trade_decide(signal)
    assert first.created and not again.created and first.trade.pk == again.trade.pk
    first = first.trade
    assert first.quote_qty == Decimal("20")  # snipe_quote_usdt
    assert Trade.objects.count() == 1


def test_snipe_ids_are_stable_per_listing_and_distinct_per_open_time():
    t1, t2 = _now(), _now().replace(year=2030)
    assert snipe_order_id("abcusdt", t1) == snipe_order_id("ABCUSDT", t1)
    assert snipe_order_id("ABCUSDT", t1) != snipe_order_id("ABCUSDT", t2)
    assert len(snipe_order_id("ABCUSDT", t1)) == 32 and snipe_order_id("A", t1).isalnum()
    assert manual_order_id() != manual_order_id()


def _now():
    from django.utils import timezone

    return timezone.now()


def test_a_config_written_without_a_new_version_still_applies_at_once():
    # A change made behind the services' back (a bulk UPDATE, no history row) is seen.
    from risk.models import TradeConfig

    assert decide(quote="20").status == TradeStatus.PENDING
    TradeConfig.objects.filter(name="default").update(max_trade_usdt=Decimal("10"))
    refused = decide(quote="20")
    assert (refused.status, refused.reason_code) == (TradeStatus.REJECTED, "max_trade_exceeded")


@override_settings(**KEYS)
def test_a_switch_to_live_judges_the_next_trade_on_live_spend_only():
    # Limits are per mode: dry-run spend never uses the live budget.
    limits = {"max_position_usdt": Decimal("50"), "max_trade_usdt": Decimal("40")}
    config_update(actor=None, changes=limits, reason="tight")
    rehearsal = decide(quote="40")
    assert (rehearsal.mode, rehearsal.status) == ("dry_run", TradeStatus.PENDING)
    go_live()
    first_live = decide(quote="40")
    assert (first_live.mode, first_live.status) == ("live", TradeStatus.PENDING)
    over = decide(quote="40")  # 40 live + 40 > 50
    assert (over.status, over.reason_code) == (TradeStatus.REJECTED, "max_position_exceeded")
