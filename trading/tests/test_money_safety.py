"""The audit's money-losing defects, each as what reached the exchange and what the row says.

Against the simulator over loopback, in live mode; the simulator takes MEXC's harsher side
(duplicate client ids accepted, lookups that lag behind a fresh order).
"""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from listings.models import OpenTimeSource
from listings.tests.factories import ListingFactory
from risk.services import config_update
from trading.models import Trade, TradeStatus
from trading.reconcile import trades_reconcile
from trading.runtime import get_gateway, get_guards
from trading.services import trade_confirm, trade_manual, trade_snipe
from trading.states import ALLOWED, FINAL, IllegalTransition, trade_transition
from trading.tests.conftest import unsettled_snipe
from trading.tests.factories import TradeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_push")]


def held(exchange, symbol="HELDUSDT", quote="75") -> Trade:
    exchange.list_symbol(symbol=symbol, open_in_ms=0, price="1")
    trade = trade_manual(symbol=symbol, quote_qty=Decimal(quote), live=True)
    assert trade.status == TradeStatus.AWAITING_CONFIRMATION
    return trade


def change(**changes):
    config_update(actor=None, changes=changes, reason="test")


# --- 1. a confirmation is a decision again, as of the confirm -----------------------------------


def test_confirming_after_the_kill_switch_went_on_sends_nothing(exchange, live):
    trade = held(exchange)
    change(kill_switch=True)
    confirmed = trade_confirm(trade_id=trade.pk, actor_label="olga")
    assert (confirmed.status, confirmed.reason_code) == (TradeStatus.REJECTED, "kill_switch")
    assert confirmed.confirmed_by == "olga" and exchange.orders() == []


def test_confirming_after_the_max_trade_was_lowered_sends_nothing(exchange, live):
    trade = held(exchange)
    change(max_trade_usdt=Decimal("60"), snipe_quote_usdt=Decimal("20"))
    confirmed = trade_confirm(trade_id=trade.pk)
    assert (confirmed.status, confirmed.reason_code) == (TradeStatus.REJECTED, "max_trade_exceeded")
    assert confirmed.config_version.max_trade_usdt == Decimal("60")  # judged by the new version
    assert exchange.orders() == []


def test_two_held_trades_cannot_together_pass_the_position_limit(exchange, live):
    first, second = held(exchange, "AAAUSDT"), held(exchange, "BBBUSDT")
    change(max_position_usdt=Decimal("140"))  # 75 + 75 no longer fit
    one = trade_confirm(trade_id=first.pk)  # the other one's hold counts against it
    assert (one.status, one.reason_code) == (TradeStatus.REJECTED, "max_position_exceeded")
    assert trade_confirm(trade_id=second.pk).status == TradeStatus.FILLED
    assert [o["symbol"] for o in exchange.accepted_orders()] == ["BBBUSDT"]


def test_a_held_trade_counts_against_the_24h_exposure_while_it_is_held(exchange, live):
    change(max_position_usdt=Decimal("100"))
    held(exchange)  # 75 waiting for an operator
    exchange.list_symbol(symbol="CCCUSDT", open_in_ms=0, price="1")
    other = trade_manual(symbol="CCCUSDT", quote_qty=Decimal("30"), live=True)
    assert (other.status, other.reason_code) == (TradeStatus.REJECTED, "max_position_exceeded")
    assert exchange.orders() == []


def test_confirming_in_the_wrong_mode_is_judged_in_the_mode_in_force(exchange, live):
    trade = held(exchange)
    change(auto_trade=False)  # live trading stopped meanwhile
    confirmed = trade_confirm(trade_id=trade.pk)
    assert confirmed.mode == "dry_run" and exchange.orders() == []


# --- 2. one table of transitions; a fill is never rewritten -------------------------------------


def test_the_transition_table_never_leaves_a_final_status():
    assert {
        TradeStatus.FILLED,
        TradeStatus.CANCELED,
        TradeStatus.REJECTED,
        TradeStatus.FAILED,
    } == FINAL
    for status in FINAL:
        assert ALLOWED[status] == frozenset()
    assert set(ALLOWED) == set(TradeStatus.values)
    for after in ALLOWED.values():  # every target is a known status
        assert after <= set(TradeStatus.values)


def test_a_filled_trade_is_never_rewritten_by_a_stale_reader():
    trade = TradeFactory(mode="live", status=TradeStatus.PENDING)
    stale = Trade.objects.get(pk=trade.pk)  # what a reconcile pass read a moment ago
    assert trade_transition(trade, TradeStatus.FILLED, exchange_order_id="C02__1", publish=False)
    assert not trade_transition(
        stale, TradeStatus.REJECTED, reason_code="expired_before_send", publish=False
    )
    trade.refresh_from_db()
    assert (trade.status, trade.reason_code) == (TradeStatus.FILLED, "")
    with pytest.raises(IllegalTransition):
        trade_transition(trade, TradeStatus.REJECTED, publish=False)


def test_a_trade_with_an_order_at_the_exchange_is_never_rejected_or_failed():
    trade = TradeFactory(mode="live", status=TradeStatus.PENDING, exchange_order_id="C02__7")
    assert not trade_transition(trade, TradeStatus.FAILED, reason_code="x", publish=False)
    assert Trade.objects.get(pk=trade.pk).status == TradeStatus.PENDING
    with pytest.raises(IntegrityError), transaction.atomic():  # the database says so too
        Trade.objects.filter(pk=trade.pk).update(status=TradeStatus.REJECTED, reason_code="x")


def test_the_reconciler_never_expires_a_pending_trade_its_sender_is_sending(exchange, live):
    trade = TradeFactory(
        listing=ListingFactory(symbol="HOLDUSDT"),
        mode="live",
        status=TradeStatus.PENDING,
        held_until=timezone.now() + timedelta(seconds=5),
    )
    trades_reconcile(gateway=get_gateway(), guards=get_guards())
    assert Trade.objects.get(pk=trade.pk).status == TradeStatus.PENDING


# --- 4. 429s: bounded in count and by the freshness deadline ------------------------------------


def test_a_429_storm_gives_up_after_three_tries_never_past_freshness(exchange, live):
    exchange.fault(kind="http_429", count=10, ms=1000, path="/api/v3/order", method="POST")
    exchange.list_symbol(symbol="HAMMERUSDT", open_in_ms=0, price="1")
    started = time.monotonic()
    trade = trade_snipe(listing_id=ListingFactory(symbol="HAMMERUSDT").pk)
    assert (trade.status, trade.reason_code) == (TradeStatus.FAILED, "exchange_rate_limited")
    assert len(exchange.orders()) == 3 and exchange.accepted_orders() == []
    assert time.monotonic() - started < 5  # the signal's freshness (5 s)


# --- 5. freshness counts from the exchange's open, not from the detection ----------------------


def test_a_listing_seen_ten_seconds_after_its_open_is_not_bought_as_fresh(exchange, live):
    exchange.list_symbol(symbol="OLDUSDT", open_in_ms=0, price="1")
    listing = ListingFactory(
        symbol="OLDUSDT",
        listed_at=timezone.now() - timedelta(milliseconds=9900),
        listed_at_source=OpenTimeSource.FIRST_TRADE,
    )
    trade = trade_snipe(listing_id=listing.pk)
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "stale_signal")
    assert "opened 99" in trade.error_message and exchange.orders() == []


# --- the real MEXC: a lookup right after an order may say it does not exist ---------------------


def test_a_lagging_lookup_after_a_timeout_never_becomes_a_second_buy(exchange, live):
    exchange.control("POST", "/_sim/config", json={"duplicate_client_ids": "accept"})
    exchange.fault(kind="lookup_lag", ms=1500, count=1)
    exchange.fault(kind="timeout", count=1, ms=1500, path="/api/v3/order", effect="after")
    exchange.list_symbol(symbol="LAGUSDT", open_in_ms=0, price="1")
    trade = trade_snipe(listing_id=ListingFactory(symbol="LAGUSDT").pk)
    trade.refresh_from_db()
    assert trade.status == TradeStatus.FILLED and trade.attempts == 1
    assert len(exchange.accepted_orders()) == 1


def test_an_order_invisible_past_the_settle_window_stays_unknown_and_is_adopted_later(
    exchange, live, monkeypatch
):
    """Every lookup says absent for longer than the window, but the account holds the asset:
    not sent again; the reconciler adopts the order once the exchange shows it."""
    trade = unsettled_snipe(exchange, monkeypatch, lookup_lag_ms=1500)
    assert (trade.status, trade.reason_code) == (TradeStatus.UNKNOWN, "order_unknown")
    assert "holds" in trade.error_message and len(exchange.accepted_orders()) == 1
    time.sleep(1.6)  # the exchange's lag (the fault's 1500 ms) passes
    Trade.objects.filter(pk=trade.pk).update(held_until=None)
    trades_reconcile(gateway=get_gateway(), guards=get_guards())
    trade.refresh_from_db()
    assert trade.status == TradeStatus.FILLED and len(exchange.accepted_orders()) == 1


# --- bursts with reconcile passes running: a fill is recorded as a fill ------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_three_bursts_with_reconcile_passes_running_record_every_fill_as_filled(
    exchange, live, monkeypatch
):
    monkeypatch.setattr("trading.settle.SETTLE_WINDOW_S", 0.3)
    change(max_in_flight=100, max_trades_per_hour=1000, max_position_usdt=Decimal("100000"))
    stop = threading.Event()

    def reconciling():
        from django.db import connection

        while not stop.wait(0.05):  # passes back to back, as fast as MEXC's limits allow
            trades_reconcile(gateway=get_gateway(), guards=get_guards())
        connection.close()

    reconciler = threading.Thread(target=reconciling, daemon=True)
    reconciler.start()
    try:
        for burst in range(3):
            exchange.fault(kind="timeout", count=3, ms=800, path="/api/v3/order", effect="after")
            exchange.fault(kind="lookup_lag", ms=200, count=5)
            symbols = [f"B{burst}N{i}USDT" for i in range(30)]
            for symbol in symbols:
                exchange.list_symbol(symbol=symbol, open_in_ms=0, price="0.5")
            listings = [ListingFactory(symbol=s) for s in symbols]
            threads = [threading.Thread(target=_snipe_in_thread, args=(x.pk,)) for x in listings]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
    finally:
        stop.set()
        reconciler.join(30)
    trades_reconcile(gateway=get_gateway(), guards=get_guards())
    by_id = {o["clientOrderId"]: o for o in exchange.accepted_orders()}
    assert len(by_id) == len(exchange.accepted_orders())  # never two orders for one trade
    for trade in Trade.objects.filter(symbol__startswith="B"):
        order = by_id.get(trade.client_order_id)
        if order is not None:  # at the exchange: never recorded as anything but what it is
            assert trade.status in (TradeStatus.FILLED, TradeStatus.UNKNOWN), trade
            assert trade.exchange_order_id or trade.status == TradeStatus.UNKNOWN
        else:  # never placed, or placed nowhere any witness could see (then it says so)
            assert trade.status in (
                TradeStatus.REJECTED,
                TradeStatus.FAILED,
                TradeStatus.UNKNOWN,
            ), trade
    filled = set(Trade.objects.filter(status=TradeStatus.FILLED).values_list("client_order_id"))
    assert {coid for (coid,) in filled} <= set(by_id)  # no fill without its order


def _snipe_in_thread(listing_id: int) -> None:
    from django.db import connection

    try:
        trade_snipe(listing_id=listing_id)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_private_orders_stream_adopts_an_order_the_lookups_do_not_show(exchange, live):
    """MEXC pushes our order on the user-data stream even while GET /api/v3/order still says
    -2013: the trade takes the pushed state (no lookup, no second order)."""
    from trading.witness import on_pushed_order

    gateway = get_gateway()
    gateway.watch_orders(exchange.sim.ws_url, on_pushed_order)
    listing = ListingFactory(symbol="PUSHUSDT")
    exchange.list_symbol(symbol="PUSHUSDT", open_in_ms=0, price="1")
    trade = TradeFactory(listing=listing, mode="live", status=TradeStatus.UNKNOWN, attempts=1)
    exchange.fault(kind="lookup_lag", ms=60_000, count=1)
    time.sleep(0.3)  # the stream's listenKey and subscription
    gateway.place_market_buy(
        symbol="PUSHUSDT",
        quote_qty=Decimal("20"),
        client_order_id=trade.client_order_id,
        recv_window_ms=1000,
    )
    deadline = time.monotonic() + 5
    while Trade.objects.get(pk=trade.pk).status != TradeStatus.FILLED:
        assert time.monotonic() < deadline, Trade.objects.get(pk=trade.pk).status
        time.sleep(0.05)
    trade.refresh_from_db()
    assert trade.exchange_order_id and trade.executed_qty > 0
    assert len(exchange.accepted_orders()) == 1


def test_an_operators_wait_is_not_counted_as_the_bots_latency():
    from trading.selectors import trade_latency_ms

    s = 1_000_000_000  # ns
    trade = TradeFactory.build(
        detected_ns=0,
        persisted_ns=1_000_000,
        dispatched_ns=2_000_000,
        risk_done_ns=3_000_000,
        confirmed_ns=3_000_000 + 4 * s,  # confirmed 4 s later
        sent_ns=3_500_000 + 4 * s,
        acked_ns=5_500_000 + 4 * s,
    )
    latency = trade_latency_ms(trade)
    assert latency["send"] == 0.5 and latency["ack"] == 2.0
    assert latency["total"] == 5.5
