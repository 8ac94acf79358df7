"""The exit watcher on the simulator, live: scripted prices in, what reached the exchange out.

The watcher's clock is injected (`Harness.clock`); prices move at the exchange through
`POST /_sim/trades` and reach the watcher as the stream or the REST fallback would give them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

import pytest

from risk.services import config_update
from trading.models import Position, PositionStatus, Trade, TradeSide
from trading.positions import position_close, position_sell
from trading.services import trade_manual
from trading.watcher import PositionWatcher, WatcherConfig

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]
SYMBOL = "EXITUSDT"


class Harness:
    """A watcher driven step by step on a loop of the test's own thread."""

    def __init__(self, exchange, *, ws_url=None) -> None:
        self.exchange = exchange
        self.clock = [int(time.time() * 1000)]
        self.sold = threading.Semaphore(0)
        self.loop = asyncio.new_event_loop()

        async def bid_of(symbol):
            book = exchange.control("GET", f"/api/v3/ticker/bookTicker?symbol={symbol}").json()
            return Decimal(book["bidPrice"])

        self.watcher = PositionWatcher(
            ws_url=ws_url, bid_of=bid_of, now_ms=lambda: self.clock[0], sell=self._sell
        )

    def _sell(self, position_id, request):
        try:
            position_sell(position_id, request)
        finally:
            self.sold.release()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def refresh(self) -> None:
        self.run(self.watcher.refresh())

    def price(self, price: str, *, after_ms: int = 0) -> None:
        """The exchange trades at `price` `after_ms` later; the watcher sees its best bid."""
        self.clock[0] += after_ms
        self.exchange.control("POST", "/_sim/trades", json={"symbol": SYMBOL, "price": price})
        self.watcher.on_price(SYMBOL, Decimal(price), self.clock[0])

    def wait_sold(self) -> None:
        assert self.sold.acquire(timeout=10), "no sell finished"
        self.run(asyncio.sleep(0))  # the sell's completion reaches the watcher
        self.refresh()

    def sells(self) -> list[dict]:
        return [o for o in self.exchange.accepted_orders() if o["side"] == "SELL"]

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def harness(exchange, live):
    h = Harness(exchange)
    yield h
    h.watcher.close_sellers()
    h.close()


def buy(exchange) -> Position:
    exchange.list_symbol(symbol=SYMBOL, open_in_ms=0, price="1")
    trade = trade_manual(symbol=SYMBOL, quote_qty=Decimal("20"), live=True)
    return Position.objects.get(buy_trade=trade)


def rules(**changes) -> None:
    config_update(actor=None, changes=changes, reason="test: exit rules")


def test_the_stop_loss_sells_only_after_its_confirm_time(harness):
    position = buy(harness.exchange)
    harness.refresh()
    harness.price("0.7")  # under the 20 % stop
    harness.price("0.7", after_ms=1999)
    assert harness.sells() == []
    harness.price("0.7", after_ms=1)
    harness.wait_sold()
    [order] = harness.sells()
    assert order["type"] == "IMMEDIATE_OR_CANCEL"
    position.refresh_from_db()
    assert (position.status, position.exit_reason) == (PositionStatus.CLOSED, "stop_loss")
    assert position.realized_pnl < 0


def test_a_wick_shorter_than_the_confirm_does_not_sell(harness):
    buy(harness.exchange)
    harness.refresh()
    harness.price("0.7")
    harness.price("1.0", after_ms=1500)  # back above: the confirm starts again
    harness.price("0.7", after_ms=1000)
    harness.price("0.7", after_ms=1999)
    assert harness.sells() == []
    harness.price("0.7", after_ms=1)
    harness.wait_sold()
    assert len(harness.sells()) == 1


def test_the_confirm_runs_out_without_a_new_tick(harness):
    buy(harness.exchange)
    harness.refresh()
    harness.price("0.7")
    harness.clock[0] += 2000
    harness.run(harness.watcher.judge_all())  # the timer, with the last price
    harness.wait_sold()
    assert len(harness.sells()) == 1


def test_the_trailing_stop_sells_once_the_price_falls_from_its_high(harness):
    position = buy(harness.exchange)
    harness.refresh()
    harness.price("1.4")  # +40 %: trailing active, level 1.26
    harness.price("1.3", after_ms=10)
    assert harness.sells() == []
    harness.price("1.25", after_ms=10)
    harness.wait_sold()
    position.refresh_from_db()
    assert (position.status, position.exit_reason) == (PositionStatus.CLOSED, "trailing_stop")
    assert position.high_price >= Decimal("1.4") and position.realized_pnl > 0


def test_a_two_step_ladder_sells_half_then_the_rest(harness):
    rules(take_profit_ladder=[[50, "0.5"], [100, "0.5"]], trailing_activation_pct=Decimal("500"))
    position = buy(harness.exchange)
    harness.refresh()
    harness.price("1.6")
    harness.wait_sold()
    position.refresh_from_db()
    first = harness.sells()
    assert len(first) == 1 and position.status == PositionStatus.OPEN
    assert position.ladder_done == 1
    assert abs(Decimal(first[0]["quantity"]) - position.initial_qty / 2) < Decimal("0.01")
    harness.price("1.7", after_ms=10)  # the first step again: nothing more
    assert len(harness.sells()) == 1
    harness.price("2.1", after_ms=10)
    harness.wait_sold()
    position.refresh_from_db()
    assert len(harness.sells()) == 2
    assert (position.status, position.exit_reason) == (PositionStatus.CLOSED, "take_profit")


def test_the_time_exit_sells_at_its_hour(harness):
    rules(max_hold_minutes=1)
    position = buy(harness.exchange)
    harness.refresh()
    harness.price("1.0")
    harness.price("1.0", after_ms=61_000)
    harness.wait_sold()
    position.refresh_from_db()
    assert (position.status, position.exit_reason) == (PositionStatus.CLOSED, "time_exit")


def test_a_manual_close_is_sold_and_no_longer_watched(harness):
    position = buy(harness.exchange)
    harness.refresh()
    assert position_close(position.pk, by="olga").status == PositionStatus.CLOSED
    harness.refresh()
    assert harness.watcher.watched == {}
    harness.price("0.1", after_ms=10_000)
    assert len(harness.sells()) == 1


def test_a_restart_keeps_the_highest_price_and_goes_on_watching(harness, exchange):
    position = buy(exchange)
    harness.refresh()
    harness.price("1.4")
    harness.refresh()  # writes the high back
    restarted = Harness(exchange)
    restarted.clock = harness.clock
    restarted.refresh()
    restarted.price("1.25", after_ms=10)  # under 1.4 x 0.9: only a high of 1.4 says so
    restarted.wait_sold()
    position.refresh_from_db()
    assert position.exit_reason == "trailing_stop"
    restarted.watcher.close_sellers()
    restarted.close()


def test_without_the_stream_the_price_comes_from_rest(harness):
    rules(stop_confirm_ms=0)
    position = buy(harness.exchange)
    harness.refresh()
    harness.exchange.control("POST", "/_sim/trades", json={"symbol": SYMBOL, "price": "0.6"})
    harness.clock[0] += 5000  # the stream has said nothing for longer than silent_s
    harness.run(harness.watcher.poll())
    harness.wait_sold()
    position.refresh_from_db()
    assert position.exit_reason == "stop_loss" and len(harness.sells()) == 1


def test_the_kill_switch_flattens_only_when_asked(harness):
    position = buy(harness.exchange)
    rules(kill_switch=True)
    harness.refresh()
    harness.refresh()
    assert harness.sells() == []  # buys stop; exits go on, nothing is dumped
    rules(flatten_on_kill=True)
    harness.refresh()
    harness.wait_sold()
    position.refresh_from_db()
    assert (position.status, position.exit_reason) == (PositionStatus.CLOSED, "kill_switch")


def test_the_stream_prices_a_position_and_it_is_sold(exchange, live):
    rules(stop_confirm_ms=0)
    position = buy(exchange)
    sold = threading.Event()
    watcher = PositionWatcher(
        ws_url=exchange.sim.ws_url,
        bid_of=lambda symbol: asyncio.sleep(0, result=None),  # REST says nothing: stream only
        now_ms=lambda: int(time.time() * 1000),
        sell=lambda pk, request: (position_sell(pk, request), sold.set()),
        config=WatcherConfig(refresh_s=0.05),
    )
    loop = asyncio.new_event_loop()
    shutdown = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(watcher.run(shutdown),))
    thread.start()
    try:
        for _ in range(200):  # until the stream has subscribed the symbol
            if watcher.subscribed:
                break
            time.sleep(0.02)
        exchange.control("POST", "/_sim/trades", json={"symbol": SYMBOL, "price": "0.5"})
        assert sold.wait(10)
    finally:
        loop.call_soon_threadsafe(shutdown.set)
        thread.join(10)
    position.refresh_from_db()
    assert position.exit_reason == "stop_loss"
    assert Trade.objects.filter(side=TradeSide.SELL).count() == 1


def test_a_sell_decided_while_another_sell_holds_the_claim_sends_nothing(harness):
    rules(stop_confirm_ms=0)
    position = buy(harness.exchange)
    harness.refresh()  # watched, open
    # An operator's close is in flight (its claim committed); the watcher has not seen it.
    Position.objects.filter(pk=position.pk).update(status=PositionStatus.CLOSING)
    harness.price("0.7")  # under the stop: the watcher decides to sell
    harness.wait_sold()
    assert harness.sells() == []
    assert not Trade.objects.filter(side=TradeSide.SELL).exists()
    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSING  # the other sell's claim, untouched
    # That sell gives the position back (nothing filled): the watcher sells it, once.
    Position.objects.filter(pk=position.pk).update(status=PositionStatus.OPEN)
    harness.refresh()
    harness.price("0.7", after_ms=10)
    harness.wait_sold()
    assert len(harness.sells()) == 1


def test_a_sell_decided_on_a_quantity_the_row_no_longer_holds_sends_nothing(harness):
    rules(stop_confirm_ms=0)
    position = buy(harness.exchange)
    harness.refresh()
    half = (position.quantity / 2).quantize(Decimal("0.01"))
    Position.objects.filter(pk=position.pk).update(quantity=half)  # sold elsewhere meanwhile
    harness.price("0.7")
    harness.wait_sold()  # and the refresh after it: the watcher holds the row's quantity
    assert harness.sells() == []
    harness.price("0.7", after_ms=10)
    harness.wait_sold()
    [order] = harness.sells()
    assert Decimal(order["quantity"]) < position.quantity * Decimal("0.6")
