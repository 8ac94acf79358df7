from dataclasses import replace
from decimal import Decimal

import pytest

from risk.checks import Exposure, Intent, Limits, Outcome, Reason, evaluate

LIMITS = Limits(
    auto_trade=True,
    mode="live",
    kill_switch=False,
    max_trade_usdt=Decimal("100"),
    max_position_usdt=Decimal("1000"),
    high_value_threshold_usdt=Decimal("50"),
    max_trades_per_hour=10,
    max_in_flight=3,
    signal_max_age_ms=5000,
    quote_asset="USDT",
)
INTENT = Intent(symbol="NEWUSDT", quote_asset="USDT", quote_qty=Decimal("20"), signal_age_ms=3)
QUIET = Exposure(spent_24h=Decimal("0"), trades_last_hour=0, in_flight=0)


def judge(limits=LIMITS, intent=INTENT, exposure=QUIET, keys=True):
    return evaluate(limits=limits, intent=intent, exposure=exposure, keys_present=keys)


def test_a_normal_snipe_passes_live():
    decision = judge()
    assert decision.outcome is Outcome.PASS and decision.mode == "live"


def test_auto_trade_off_means_dry_run_never_live():
    decision = judge(limits=replace(LIMITS, auto_trade=False), keys=False)
    assert decision.passed and decision.mode == "dry_run"


def test_dry_run_mode_needs_no_keys():
    decision = judge(limits=replace(LIMITS, mode="dry_run"), keys=False)
    assert decision.passed and decision.mode == "dry_run"


@pytest.mark.parametrize(
    ("limits", "intent", "exposure", "keys", "reason"),
    [
        (replace(LIMITS, kill_switch=True), INTENT, QUIET, True, Reason.KILL_SWITCH),
        (replace(LIMITS, denylist=("NEWUSDT",)), INTENT, QUIET, True, Reason.SYMBOL_DENIED),
        (replace(LIMITS, allowlist=("ABCUSDT",)), INTENT, QUIET, True, Reason.SYMBOL_NOT_ALLOWED),
        (LIMITS, replace(INTENT, quote_asset="BTC"), QUIET, True, Reason.WRONG_QUOTE_ASSET),
        (
            LIMITS,
            replace(INTENT, quote_qty=Decimal("100.01")),
            QUIET,
            True,
            Reason.MAX_TRADE_EXCEEDED,
        ),
        (
            LIMITS,
            INTENT,
            replace(QUIET, spent_24h=Decimal("990")),
            True,
            Reason.MAX_POSITION_EXCEEDED,
        ),
        (LIMITS, INTENT, replace(QUIET, trades_last_hour=10), True, Reason.MAX_TRADES_PER_HOUR),
        (LIMITS, INTENT, replace(QUIET, in_flight=3), True, Reason.TOO_MANY_IN_FLIGHT),
        (LIMITS, replace(INTENT, signal_age_ms=5001), QUIET, True, Reason.STALE_SIGNAL),
        (LIMITS, INTENT, QUIET, False, Reason.LIVE_WITHOUT_KEYS),
    ],
)
def test_each_guard_rejects_with_its_reason(limits, intent, exposure, keys, reason):
    decision = judge(limits, intent, exposure, keys)
    assert decision.outcome is Outcome.REJECT
    assert decision.reason is reason
    assert decision.detail  # a sentence an operator can read


def test_exactly_at_the_limits_passes():
    at_limit = replace(INTENT, quote_qty=Decimal("50"))
    exposure = replace(QUIET, spent_24h=Decimal("950"), trades_last_hour=9, in_flight=2)
    assert judge(intent=at_limit, exposure=exposure).passed


def test_high_value_waits_for_confirmation_then_passes_once_confirmed():
    big = replace(INTENT, quote_qty=Decimal("80"))
    assert judge(intent=big).outcome is Outcome.CONFIRM
    assert judge(intent=replace(big, confirmed=True)).passed


def test_the_kill_switch_wins_over_everything():
    decision = judge(
        limits=replace(LIMITS, kill_switch=True), intent=replace(INTENT, quote_qty=Decimal("1e6"))
    )
    assert decision.reason is Reason.KILL_SWITCH


def test_manual_trades_have_no_freshness_deadline():
    assert judge(intent=replace(INTENT, manual=True, signal_age_ms=None)).passed
