"""Each event from where the bot really raises it, as the operator's phone receives it.

Against the simulator over loopback (trading's fixtures), delivered through the real path to
a local receiver: what arrives, how often, and what it says.
"""

import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.models import Notification
from alerts.services import watch_tick
from listings.tests.factories import ListingFactory
from risk.services import config_update
from trading import runtime
from trading.models import Position, PositionStatus, Trade, TradeSide, TradeStatus
from trading.positions import SellRequest, position_sell
from trading.services import trade_manual, trade_snipe

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


def _delivered(receiver, dispatcher, title: str) -> list[dict]:
    """The messages whose title starts with `title`, once everything queued is delivered."""
    assert dispatcher.wait_idle(timeout=10)
    return [m for m in receiver.messages if m["title"].startswith(title)]


def _bought(exchange, symbol: str, *, live: bool = True) -> Position:
    exchange.list_symbol(symbol=symbol, open_in_ms=0, price="1")
    trade = trade_manual(symbol=symbol, quote_qty=Decimal("20"), live=live)
    assert trade.status == TradeStatus.FILLED, trade.error_message
    return Position.objects.get(buy_trade=trade)


def _stop_loss(exchange, position: Position) -> Position:
    exchange.control("POST", "/_sim/trades", json={"symbol": position.symbol, "price": "0.7"})
    done = position_sell(position.pk, SellRequest(reason="stop_loss"))
    assert done.status == PositionStatus.CLOSED and done.realized_pnl < 0
    return done


def _money(value: Decimal) -> str:
    return f"{value.normalize():f}"


def test_a_stop_loss_sell_tells_the_exit_with_its_reason_and_pnl(
    exchange,
    live,
    notify_receiver,
    notify_dispatcher,
    settings,
):
    settings.NOTIFY_DASHBOARD_URL = "https://bot.example.com"
    done = _stop_loss(exchange, _bought(exchange, "STOPUSDT"))
    sell = Trade.objects.get(side=TradeSide.SELL, position=done)
    [exit_message] = _delivered(notify_receiver, notify_dispatcher, "SELL filled")
    assert exit_message["title"] == "SELL filled STOPUSDT [LIVE]"
    lines = exit_message["message"].splitlines()
    assert lines[0] == f"{_money(sell.executed_qty)} @ {_money(sell.avg_price)}"
    assert lines[1].startswith(f"P&L {_money(done.realized_pnl)} USDT (-")
    assert "reason: stop_loss" in lines
    assert f"https://bot.example.com/dashboard/#trade-{sell.pk}" in lines


def test_two_snipes_refused_by_the_same_limit_are_told_once(
    exchange,
    live,
    notify_receiver,
    notify_dispatcher,
):
    config_update(actor=None, changes={"max_trades_per_hour": 1}, reason="test: one an hour")
    _bought(exchange, "FIRSTUSDT")
    refused = []
    for symbol in ("SECONDUSDT", "THIRDUSDT"):
        exchange.list_symbol(symbol=symbol, open_in_ms=0, price="1")
        refused.append(trade_snipe(listing_id=ListingFactory(symbol=symbol).pk))
    assert [(t.status, t.reason_code) for t in refused] == [
        (TradeStatus.REJECTED, "max_trades_per_hour")
    ] * 2
    [message] = _delivered(notify_receiver, notify_dispatcher, "BUY refused")
    assert message["title"] == "BUY refused SECONDUSDT [LIVE]"
    assert "limit: max_trades_per_hour" in message["message"]
    assert Notification.objects.filter(event="buy_refused_by_limit").count() == 1


def test_the_breaker_is_told_when_it_opens_and_when_it_closes(
    exchange,
    live,
    notify_receiver,
    notify_dispatcher,
    monkeypatch,
):
    """Three 5xx in a row open it (threshold 3); after its cool-down the next order goes
    through as the probe, the exchange answers, and it closes."""
    monkeypatch.setattr("trading.settle.SETTLE_WINDOW_S", 0.2)
    with override_settings(BREAKER_COOLDOWN_S=1):
        runtime.get_guards.cache_clear()
        guards = runtime.get_guards()
        guards.breaker.reset()
        try:
            exchange.fault(kind="http_5xx", count=3, path="/api/v3/order", method="POST")
            exchange.list_symbol(symbol="FAILUSDT", open_in_ms=0, price="1")
            first = trade_snipe(listing_id=ListingFactory(symbol="FAILUSDT").pk)
            assert "breaker is open" in first.error_message
            opened = _delivered(notify_receiver, notify_dispatcher, "Circuit breaker OPEN")
            assert len(opened) == 1 and "3 exchange failures" in opened[0]["message"]
            assert _delivered(notify_receiver, notify_dispatcher, "Circuit breaker closed") == []
            deadline = time.monotonic() + 5
            while guards.breaker.state().value == "open" and time.monotonic() < deadline:
                time.sleep(0.05)  # its cool-down (1 s) is time passing, not an event
            exchange.list_symbol(symbol="BACKUSDT", open_in_ms=0, price="1")
            back = trade_snipe(listing_id=ListingFactory(symbol="BACKUSDT").pk)
            assert back.status == TradeStatus.FILLED, back.error_message
        finally:
            guards.breaker.reset()
            runtime.get_guards.cache_clear()
    closed = _delivered(notify_receiver, notify_dispatcher, "Circuit breaker closed")
    assert len(closed) == 1 and "orders resume" in closed[0]["message"]
    assert len(_delivered(notify_receiver, notify_dispatcher, "Circuit breaker OPEN")) == 1


def test_the_daily_summary_is_sent_once_at_its_hour_with_the_days_figures(
    exchange,
    live,
    notify_receiver,
    notify_dispatcher,
    settings,
):
    done = _stop_loss(exchange, _bought(exchange, "DAYUSDT"))  # one live fill, a loss
    _bought(exchange, "DRYUSDT", live=False)  # one dry-run fill
    config_update(actor=None, changes={"kill_switch": True}, reason="test: stop")
    refused = trade_snipe(listing_id=ListingFactory(symbol="NOPEUSDT").pk)
    assert refused.reason_code == "kill_switch"
    # The next time the clock shows the summary hour: everything above is in its last 24 h.
    settings.NOTIFY_DAILY_SUMMARY_HOUR = 7
    now = timezone.now()
    at = datetime(now.year, now.month, now.day, 7, 0, 30, tzinfo=now.tzinfo)
    at += timedelta(days=1) if at <= now else timedelta(0)
    watch_tick(now=at)
    watch_tick(now=at + timedelta(minutes=1))  # the next tick, same hour
    [summary] = _delivered(notify_receiver, notify_dispatcher, "Daily summary")
    assert summary["title"] == f"Daily summary {(at - timedelta(days=1)).date().isoformat()}"
    lines = summary["message"].splitlines()
    assert lines[0] == f"LIVE: P&L {_money(done.realized_pnl)} USDT, fills 1, refusals 1"
    assert lines[1] == "DRY: P&L 0 USDT, fills 1, refusals 0"
    assert Notification.objects.filter(event="daily_summary").count() == 1


def test_one_opening_of_the_breaker_is_told_once_however_many_failures_follow(
    notify_receiver,
    notify_dispatcher,
):
    """Threshold 3, cool-down 30 s, on injected clocks (no waiting): orders already sent
    fail in later seconds while it is open, a half-open probe fails; still one OPEN. One
    success closes it: one "closed". A later opening is a new OPEN."""
    from risk.guards import BreakerConfig, LocalCircuitBreaker

    wall, mono = [timezone.now()], [0.0]

    def tick(seconds: float) -> None:
        wall[0] += timedelta(seconds=seconds)
        mono[0] += seconds

    breaker = runtime.ReportingBreaker(
        LocalCircuitBreaker(
            BreakerConfig(failure_threshold=3, cooldown_s=30), clock=lambda: mono[0]
        ),
        now=lambda: wall[0],
    )
    for _ in range(3):
        breaker.record_failure()
        tick(1)
    assert breaker.state().value == "open"
    for _ in range(3):  # in flight before it opened, failing one second apart
        assert breaker.record_failure().value == "open"
        tick(1)
    tick(30)
    assert breaker.allow()  # the probe...
    assert breaker.record_failure().value == "open"  # ...fails: open again, same opening
    assert len(_delivered(notify_receiver, notify_dispatcher, "Circuit breaker OPEN")) == 1
    assert _delivered(notify_receiver, notify_dispatcher, "Circuit breaker closed") == []

    tick(31)
    assert breaker.allow()
    breaker.record_success()
    tick(1)
    breaker.record_success()  # closed already: nothing to tell
    assert len(_delivered(notify_receiver, notify_dispatcher, "Circuit breaker closed")) == 1

    for _ in range(3):  # a new opening, a second after the closing
        breaker.record_failure()
    assert notify_dispatcher.wait_idle(timeout=10)
    assert [m["title"] for m in notify_receiver.messages if "breaker" in m["title"].lower()] == [
        "Circuit breaker OPEN",
        "Circuit breaker closed",
        "Circuit breaker OPEN",
    ]
