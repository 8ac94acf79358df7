"""The inline snipe: the monitor decides in the listing's transaction and sends the order itself."""

from __future__ import annotations

import threading
import time

import pytest
from django.test import override_settings

from listings import dispatch
from listings.services import listing_record
from sniperbot.testing.stack import wait_until
from trading import inline, runtime
from trading.models import Trade, TradeStatus
from trading.tests.factories import TradeFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


@pytest.fixture
def handoffs(monkeypatch) -> list[int]:
    """Listings handed to a task (the path the inline snipe saves)."""
    sent: list[int] = []
    monkeypatch.setattr(
        "listings.services.dispatch_snipe", lambda *, listing_id, **_: sent.append(listing_id)
    )
    return sent


@pytest.fixture
def serving(exchange, handoffs):
    dispatch.serve_snipes_inline()
    yield exchange
    dispatch.stop_serving_inline()
    inline.wait_senders()


def detect(symbol: str):
    return listing_record(symbol=symbol, source="mexc_websocket", detected_ns=time.time_ns())


def settled(trade_id: int) -> Trade:
    def final() -> Trade | None:
        trade = Trade.objects.get(pk=trade_id)
        return trade if trade.status not in (TradeStatus.PENDING, TradeStatus.SUBMITTED) else None

    return wait_until(final, 10, f"trade {trade_id} settled")


@pytest.mark.usefixtures("live")
def test_the_order_leaves_after_one_commit_of_listing_and_claimed_trade(
    serving, handoffs, monkeypatch
):
    serving.list_symbol(symbol="INLUSDT", open_in_ms=0, price="0.5")
    gateway = runtime.get_gateway()
    start = gateway.start_market_buy
    at_send: list[tuple] = []

    def committed(client_order_id: str) -> tuple:
        """Read from another thread, so another connection: committed rows only."""
        seen: list[tuple] = []
        reader = threading.Thread(
            target=lambda: seen.append(
                Trade.objects.filter(client_order_id=client_order_id)
                .values_list("status", "attempts", "listing__symbol")
                .get()
            )
        )
        reader.start()
        reader.join(5)
        return seen[0]

    def watched(**order):
        at_send.append(committed(order["client_order_id"]))
        return start(**order)

    monkeypatch.setattr(gateway, "start_market_buy", watched)
    result = detect("INLUSDT")
    inline.wait_senders()

    trade = settled(Trade.objects.get(listing=result.listing).pk)
    assert at_send == [(TradeStatus.SUBMITTED, 1, "INLUSDT")]
    assert handoffs == []  # no task: the detecting process sent it
    assert trade.status == TradeStatus.FILLED and trade.mode == "live"
    assert [o["symbol"] for o in serving.accepted_orders()] == ["INLUSDT"]
    stamps = [
        trade.detected_ns,
        trade.persisted_ns,
        trade.dispatched_ns,
        trade.risk_done_ns,
        trade.sent_ns,
        trade.acked_ns,
    ]
    assert None not in stamps and stamps == sorted(stamps)


def test_a_dry_run_is_filled_by_the_detecting_process(serving, handoffs):
    from risk.services import config_update

    config_update(actor=None, changes={"auto_trade": True}, reason="test: dry run")
    serving.list_symbol(symbol="DRYINUSDT", open_in_ms=0, price="0.5")
    result = detect("DRYINUSDT")
    inline.wait_senders()
    trade = Trade.objects.get(listing=result.listing)
    assert (trade.status, trade.mode, handoffs) == (TradeStatus.FILLED, "dry_run", [])
    assert serving.accepted_orders() == []


@pytest.mark.usefixtures("live")
def test_an_open_breaker_refuses_in_the_same_row_and_nothing_is_sent(serving):
    breaker = runtime.get_guards().breaker
    for _ in range(3):
        breaker.record_failure()
    result = detect("BRKINUSDT")
    trade = Trade.objects.get(listing=result.listing)
    assert (trade.status, trade.reason_code, trade.attempts) == (
        TradeStatus.REJECTED,
        "circuit_open",
        0,
    )
    assert serving.accepted_orders() == []


@pytest.mark.usefixtures("live")
@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_a_listing_beyond_the_burst_waits_for_its_slot_then_is_sent(serving):
    serving.list_symbol(symbol="LATEUSDT", open_in_ms=0, price="0.5")
    limiter = runtime.get_guards().limiter
    while limiter.reserve(0) == 0:  # spend the burst: the next slot is in the future
        pass
    result = detect("LATEUSDT")
    trade = Trade.objects.get(listing=result.listing)
    assert trade.status == TradeStatus.PENDING  # deferred, not refused
    assert settled(trade.pk).status == TradeStatus.FILLED
    assert [o["symbol"] for o in serving.accepted_orders()] == ["LATEUSDT"]


@pytest.mark.usefixtures("live")
def test_a_failing_inline_decision_costs_the_listing_nothing(serving, handoffs, monkeypatch):
    def broken(**_):
        raise RuntimeError("decision bug")

    monkeypatch.setattr("trading.inline.decide_locked", broken)
    result = detect("BUGINUSDT")
    assert result.created and result.listing.pk is not None
    assert handoffs == [result.listing.pk]  # a worker decides it the usual way
    assert not Trade.objects.filter(symbol="BUGINUSDT").exists()


@pytest.mark.usefixtures("live")
def test_a_trade_row_refused_at_the_commit_costs_the_listing_nothing(
    serving, handoffs, monkeypatch
):
    held = TradeFactory(listing=None, client_order_id="h")
    decide = inline.InlineSnipe.decide

    def then_a_row_the_database_refuses(self, **how):
        decide(self, **how)
        # the database refuses the last write, which rides with the COMMIT where it can
        self.at_commit.append(
            ("UPDATE trading_trade SET client_order_id = %s WHERE id <> %s", ("h", held.pk))
        )

    monkeypatch.setattr(inline.InlineSnipe, "decide", then_a_row_the_database_refuses)
    sent_before = len(serving.orders())
    result = detect("REFUSEDUSDT")
    assert result.created and handoffs == [result.listing.pk]  # a worker decides it instead
    assert not Trade.objects.filter(symbol="REFUSEDUSDT").exists()
    assert len(serving.orders()) == sent_before  # nothing left for the void decision


@pytest.mark.usefixtures("live")
def armed_then_detected(symbol: str, *, detected_ns: int) -> tuple[list, list]:
    """A trade decided at the open (armed), then the listing seen on the stream: the
    symbol's trades (id, listing), and what they should be (the armed trade, pointing at
    the listing)."""
    from datetime import timedelta

    from django.utils import timezone

    from trading.ids import snipe_order_id
    from trading.services import trade_decide

    listed_at = timezone.now() - timedelta(milliseconds=5)
    armed, _ = trade_decide(
        symbol=symbol,
        quote_asset="USDT",
        quote_qty=None,
        client_order_id=snipe_order_id(symbol, listed_at),
    )
    result = listing_record(
        symbol=symbol, source="mexc_websocket", listed_at=listed_at, detected_ns=detected_ns
    )
    trades = list(Trade.objects.filter(symbol=symbol).values_list("pk", "listing"))
    return trades, [(armed.pk, result.listing.pk)]


def test_an_announced_listing_decided_at_the_open_is_not_decided_again(serving):
    trades, expected = armed_then_detected("ARMINUSDT", detected_ns=1)
    assert trades == expected


@pytest.mark.usefixtures("live")
def test_unreachable_guards_hand_the_listing_to_a_task_instead_of_refusing(
    serving, handoffs, monkeypatch
):
    def down(*_) -> bool:
        raise ConnectionError("redis is down")

    serving.list_symbol(symbol="UPINUSDT", open_in_ms=0, price="0.5")
    settled(Trade.objects.get(listing=detect("UPINUSDT").listing).pk)  # live config seen
    guards = runtime.get_guards()
    monkeypatch.setattr(guards.breaker.inner, "allow", down)
    if guards.admission is not None:  # Redis: asked ahead, or one script for breaker and slot
        monkeypatch.setattr(type(guards.admission), "ask_ahead", down)
        monkeypatch.setattr(type(guards.admission), "__call__", down)
    result = detect("GRDINUSDT")
    assert handoffs == [result.listing.pk]  # sent once the broker answers, like any task
    assert not Trade.objects.filter(symbol="GRDINUSDT").exists()


@pytest.mark.usefixtures("live")
def test_an_order_that_cannot_start_right_after_the_commit_is_sent_by_the_sender(
    serving, monkeypatch
):
    serving.list_symbol(symbol="LAGINUSDT", open_in_ms=0, price="0.5")
    gateway = runtime.get_gateway()
    start, calls = gateway.start_market_buy, []

    def refuse_once(**order):
        calls.append(order["client_order_id"])
        if len(calls) == 1:
            raise RuntimeError("loop busy")
        return start(**order)

    monkeypatch.setattr(gateway, "start_market_buy", refuse_once)
    result = detect("LAGINUSDT")
    inline.wait_senders()
    trade = settled(Trade.objects.get(listing=result.listing).pk)
    assert (trade.status, trade.attempts) == (TradeStatus.FILLED, 1)
    assert calls == [trade.client_order_id] * 2  # refused, then sent by the sender thread
    assert [o["symbol"] for o in serving.accepted_orders()] == ["LAGINUSDT"]
    assert trade.risk_done_ns <= trade.sent_ns <= trade.acked_ns


@pytest.mark.usefixtures("live")
def test_a_live_trade_refused_by_the_checks_costs_no_rate_limit_slot(serving):
    from risk.services import config_update

    serving.list_symbol(symbol="FIRSTUSDT", open_in_ms=0, price="0.5")
    settled(Trade.objects.get(listing=detect("FIRSTUSDT").listing).pk)  # live config seen
    config_update(actor=None, changes={"symbol_denylist": ["DENYUSDT"]}, reason="test: deny")
    with override_settings(ORDER_RATE_PER_S=1, ORDER_RATE_BURST=1):
        runtime.get_guards.cache_clear()
        limiter = runtime.get_guards().limiter  # one slot a second, none used yet
        limiter.reset()
        trade = Trade.objects.get(listing=detect("DENYUSDT").listing)
        assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "symbol_denied")
        assert limiter.reserve(0) == 0  # the slot asked for ahead (Redis) went back


# --- the prepared snipe: the next listing decided before its round trip (PostgreSQL) ---------


@pytest.fixture
def prepared_spy(monkeypatch) -> list[bool]:
    """What each prepared decision's round trip wrote: True when the trade's row went in."""
    from django.db import connection

    from trading.prepared import PreparedSnipe

    if connection.vendor != "postgresql":
        pytest.skip("the prepared snipe rides PostgreSQL's pipelined round trip")
    outcomes: list[bool] = []
    committed = PreparedSnipe.committed

    def spy(self, rows) -> bool:
        outcomes.append(committed(self, rows))
        return outcomes[-1]

    monkeypatch.setattr(PreparedSnipe, "committed", spy)
    return outcomes


def first_listing(exchange, symbol: str = "FSTPRUSDT") -> Trade:
    """A listing decided the usual way, under the config seen last (its decision's reads
    are then for the right mode): its commit keeps the next listing's bound ready."""
    from django.db import transaction

    from trading.services import read_for_decision

    with transaction.atomic():
        read_for_decision(client_order_id="")
    exchange.list_symbol(symbol=symbol, open_in_ms=0, price="0.5")
    return settled(Trade.objects.get(listing=detect(symbol).listing).pk)


@pytest.mark.usefixtures("live")
def test_the_next_listing_is_decided_ahead_and_written_with_its_trade(serving, prepared_spy):
    first_listing(serving)
    serving.list_symbol(symbol="NXTPRUSDT", open_in_ms=0, price="0.5")
    trade = settled(Trade.objects.get(listing=detect("NXTPRUSDT").listing).pk)
    assert prepared_spy == [True]
    assert (trade.status, trade.attempts, trade.mode) == (TradeStatus.FILLED, 1, "live")
    assert trade.detected_ns <= trade.persisted_ns <= trade.risk_done_ns <= trade.sent_ns
    assert trade.sent_ns <= trade.acked_ns
    assert [o["symbol"] for o in serving.accepted_orders()] == ["FSTPRUSDT", "NXTPRUSDT"]


@pytest.mark.usefixtures("live")
def test_a_trade_placed_elsewhere_meanwhile_counts_against_the_next_listing(serving, prepared_spy):
    from risk.services import config_update

    config_update(
        actor=None,
        changes={"snipe_quote_usdt": "5", "max_trade_usdt": "10", "max_position_usdt": "12"},
        reason="test: room for two snipes",
    )
    first_listing(serving)  # 5 of 12 spent, as far as this process knows
    TradeFactory(
        listing=None, symbol="ELSEUSDT", mode="live", status=TradeStatus.SUBMITTED, quote_qty=5
    )  # another worker's trade: 10 spent
    serving.list_symbol(symbol="OVRPRUSDT", open_in_ms=0, price="0.5")
    trade = Trade.objects.get(listing=detect("OVRPRUSDT").listing)
    assert prepared_spy == [False]  # decided ahead as passing, refused by its round trip
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "max_position_exceeded")
    assert [o["symbol"] for o in serving.accepted_orders()] == ["FSTPRUSDT"]


@pytest.mark.usefixtures("live")
def test_a_failing_decision_during_the_listings_round_trip_costs_the_listing_nothing(
    serving, prepared_spy, monkeypatch
):
    first_listing(serving)

    def broken(**_):
        raise RuntimeError("decision bug")

    monkeypatch.setattr("trading.prepared.decide_locked", broken)
    serving.list_symbol(symbol="BUGPRUSDT", open_in_ms=0, price="0.5")
    result = detect("BUGPRUSDT")  # its row went out before the decision failed
    assert result.created and prepared_spy == [False]
    trade = settled(Trade.objects.get(listing=result.listing).pk)  # decided the usual way
    assert (trade.status, trade.attempts) == (TradeStatus.FILLED, 1)
    assert [o["symbol"] for o in serving.accepted_orders()] == ["FSTPRUSDT", "BUGPRUSDT"]


def test_a_listing_decided_ahead_whose_trade_was_decided_at_the_open_keeps_that_trade(
    serving, prepared_spy
):
    first_listing(serving)  # a dry run: the next listing is prepared too
    trades, expected = armed_then_detected("ARMPRUSDT", detected_ns=time.time_ns())
    assert prepared_spy == [False]  # its row would have been the armed trade's twin
    assert trades == expected


@pytest.mark.usefixtures("live")
def test_the_start_rehearsal_leaves_nothing_behind_and_the_first_listing_is_decided_ahead(
    serving, prepared_spy
):
    from listings.models import ExchangeSymbol, Listing
    from listings.services import REHEARSAL_SYMBOL, listing_rehearse

    with override_settings(ORDER_RATE_PER_S=1, ORDER_RATE_BURST=1):
        runtime.get_guards.cache_clear()
        limiter = runtime.get_guards().limiter  # one slot a second
        limiter.reset()
        listing_rehearse()
        assert limiter.reserve(0) == 0  # the rehearsal's slot went back
        limiter.reset()
    runtime.get_guards.cache_clear()
    assert not Listing.objects.filter(symbol=REHEARSAL_SYMBOL).exists()
    assert not ExchangeSymbol.objects.filter(symbol=REHEARSAL_SYMBOL).exists()
    assert not Trade.objects.exists()
    assert serving.orders() == []
    serving.list_symbol(symbol="RHSPRUSDT", open_in_ms=0, price="0.5")
    trade = settled(Trade.objects.get(listing=detect("RHSPRUSDT").listing).pk)
    assert prepared_spy == [True]  # the first listing, decided ahead
    assert (trade.status, [o["symbol"] for o in serving.accepted_orders()]) == (
        TradeStatus.FILLED,
        ["RHSPRUSDT"],
    )
