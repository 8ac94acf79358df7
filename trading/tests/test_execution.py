"""Trading against the simulator over loopback: the spec's scenarios, and never a duplicate."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from listings.models import Listing, UpcomingListing
from listings.tests.factories import ListingFactory
from monitoring.models import BotHealth
from risk.services import config_update
from trading.models import Trade, TradeStatus
from trading.reconcile import trades_reconcile
from trading.runtime import get_gateway, get_guards
from trading.services import (
    trade_arm,
    trade_cancel,
    trade_confirm,
    trade_fire,
    trade_manual,
    trade_snipe,
    trade_snipe_announced,
)
from trading.tests.factories import TradeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_push")]


def listing_on(exchange, symbol="SNIPEUSDT", **kwargs):
    exchange.list_symbol(symbol=symbol, open_in_ms=0, price="0.5", **kwargs)
    return ListingFactory(symbol=symbol)


def reconcile_unknown(exchange, *, opened_s_ago: float = 0) -> Trade:
    """A live trade left 'unknown' with no order at the exchange, after one reconciler pass."""
    listing = listing_on(exchange)
    Listing.objects.filter(pk=listing.pk).update(
        listed_at=timezone.now() - timedelta(seconds=opened_s_ago)
    )
    trade = TradeFactory(listing=listing, mode="live", status=TradeStatus.UNKNOWN, attempts=1)
    reconcile()
    trade.refresh_from_db()
    return trade


def reconcile():
    return trades_reconcile(gateway=get_gateway(), guards=get_guards())


def past_its_lease(trade: Trade) -> None:
    """Its sender's lease has run out (the sender died or gave up)."""
    Trade.objects.filter(pk=trade.pk).update(held_until=timezone.now() - timedelta(seconds=1))


def test_auto_trade_on_sends_a_market_buy_for_the_quote_amount(exchange, live):
    config_update(actor=None, changes={"entry_order_type": "market"}, reason="market entry")
    listing = listing_on(exchange)
    trade = trade_snipe(listing_id=listing.pk)
    assert trade.status == TradeStatus.FILLED and trade.mode == "live"
    (order,) = exchange.orders()
    assert order["type"] == "MARKET" and order["side"] == "BUY"
    # never the row's 8 decimals: at most the symbol's quote precision (MEXC refuses more)
    assert Decimal(order["quoteOrderQty"]) == 20 and len(order["quoteOrderQty"]) < len(
        "20.00000000"
    )
    assert order["clientOrderId"] == trade.client_order_id
    assert trade.exchange_order_id.startswith("C02__")
    assert trade.executed_qty > 0 and Decimal("18") < trade.quote_spent <= Decimal("20")
    assert trade.avg_price == trade.quote_spent / trade.executed_qty
    assert trade.decision_to_ack_ms is not None and trade.decision_to_ack_ms > 0
    assert trade.risk_done_ns <= trade.sent_ns <= trade.acked_ns


def test_by_default_a_buy_is_an_ioc_limit_at_the_cap_over_the_first_price(exchange, live):
    listing = listing_on(exchange)
    trade = trade_snipe(listing_id=listing.pk)
    (order,) = exchange.orders()
    assert order["type"] == "IMMEDIATE_OR_CANCEL" and order["side"] == "BUY"
    assert trade.order_type == "IMMEDIATE_OR_CANCEL"
    assert trade.price_cap == Decimal(order["price"]) <= trade.reference_price * Decimal("1.2")
    assert Decimal(order["quantity"]) == trade.order_qty
    assert trade.order_qty * trade.price_cap <= Decimal("20")
    assert trade.status == TradeStatus.FILLED and trade.avg_price <= trade.price_cap


def test_above_the_limit_is_rejected_before_the_exchange(exchange, live):
    exchange.list_symbol(symbol="BIGUSDT", open_in_ms=0, price="1")
    trade = trade_manual(symbol="BIGUSDT", quote_qty=Decimal("150"), live=True)
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "max_trade_exceeded")
    assert exchange.orders() == []


def test_auto_trade_off_is_a_priced_dry_run_and_the_exchange_gets_nothing(exchange):
    trade = trade_snipe(listing_id=listing_on(exchange).pk)
    assert (trade.status, trade.mode) == (TradeStatus.FILLED, "dry_run")
    assert exchange.orders() == []
    # the IOC's quantity at the cap, bought from the book as the exchange would, fee taken
    assert 0 < trade.avg_price <= trade.price_cap
    assert trade.executed_qty == pytest.approx(trade.order_qty * Decimal("0.999"))


def test_a_second_delivery_of_the_same_snipe_does_nothing(exchange, live):
    listing = listing_on(exchange)
    first = trade_snipe(listing_id=listing.pk)
    again = trade_snipe(listing_id=listing.pk)
    assert first.pk == again.pk and Trade.objects.count() == 1
    assert len(exchange.orders()) == 1


def test_timeout_after_placing_is_settled_by_query_with_one_order(exchange, live):
    exchange.fault(kind="timeout", count=1, ms=1500, path="/api/v3/order", effect="after")
    trade = trade_snipe(listing_id=listing_on(exchange).pk)
    assert trade.status == TradeStatus.FILLED
    assert trade.attempts == 1
    assert len(exchange.accepted_orders()) == 1


def test_5xx_before_placing_is_resent_once_with_the_same_id(exchange, live):
    exchange.fault(kind="http_5xx", count=1, path="/api/v3/order", effect="before")
    trade = trade_snipe(listing_id=listing_on(exchange).pk)
    assert trade.status == TradeStatus.FILLED and trade.attempts == 2
    accepted = exchange.accepted_orders()
    assert len(accepted) == 1 and accepted[0]["clientOrderId"] == trade.client_order_id


def test_a_5xx_storm_leaves_it_unknown_then_the_reconciler_settles_it_once(exchange, live):
    # The storm also fails the settle query, so nothing is known: nothing is resent blindly.
    exchange.fault(kind="http_5xx", count=2, path="/api/v3/order", effect="before")
    trade = trade_snipe(listing_id=listing_on(exchange).pk)
    assert trade.status == TradeStatus.UNKNOWN and trade.attempts == 1
    assert exchange.accepted_orders() == []
    # Its sender holds it while a send could still be in flight: the reconciler waits that out.
    assert reconcile()["resend"] == 0
    past_its_lease(trade)
    assert reconcile()["resend"] == 1
    trade.refresh_from_db()
    assert trade.status == TradeStatus.FILLED and trade.attempts == 2
    assert [o["clientOrderId"] for o in exchange.accepted_orders()] == [trade.client_order_id]


def test_a_stale_unknown_trade_is_never_sent_again(exchange, live):
    trade = reconcile_unknown(exchange, opened_s_ago=60)
    assert (trade.status, trade.reason_code) == (TradeStatus.UNKNOWN, "order_unknown")
    assert "no longer fresh" in trade.error_message
    assert trade.attempts == 1 and exchange.orders() == []


def test_429_honours_retry_after_then_sends_once(exchange, live):
    exchange.fault(kind="http_429", count=1, ms=1000, path="/api/v3/order")
    trade = trade_snipe(listing_id=listing_on(exchange).pk)
    assert trade.status == TradeStatus.FILLED
    orders = exchange.orders()
    assert len([o for o in orders if o["error_code"] is None]) == 1


def test_the_breaker_opens_after_consecutive_failures_and_rejects(exchange, live, monkeypatch):
    monkeypatch.setattr("trading.settle.SETTLE_WINDOW_S", 0.2)
    exchange.fault(kind="http_5xx", count=50, path="/api/v3/order", method="POST")
    first = trade_snipe(listing_id=listing_on(exchange, symbol="FAILUSDT").pk)
    # threshold 3 in the test settings: sent, absent, sent again... until the breaker opens
    assert (first.status, first.reason_code) == (TradeStatus.UNKNOWN, "order_unknown")
    assert "breaker is open" in first.error_message
    trade = trade_snipe(listing_id=listing_on(exchange, symbol="LASTUSDT").pk)
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "circuit_open")
    assert BotHealth.objects.get(component="circuit_breaker").status == "down"
    assert exchange.accepted_orders() == [] and len(exchange.orders()) == 3


def test_10007_right_after_the_open_is_retried_inside_the_window(exchange, live):
    config_update(actor=None, changes={"entry_order_type": "market"}, reason="market entry")
    exchange.list_symbol(symbol="LATEAPIUSDT", open_in_ms=0, price="1", api_enable_delay_ms=300)
    listing = ListingFactory(symbol="LATEAPIUSDT")
    armed = trade_arm(symbol="LATEAPIUSDT", quote_asset="USDT", open_at=listing.listed_at)
    trade = trade_fire(armed)  # a MARKET fires at the open, whatever exchangeInfo says
    assert trade.status == TradeStatus.FILLED
    rejected = [o for o in exchange.orders() if o["error_code"] == 10007]
    assert rejected and len(exchange.accepted_orders()) == 1


def test_an_ioc_entry_waits_inside_the_window_until_the_api_may_trade_it(exchange, live):
    exchange.list_symbol(symbol="LATEIOCUSDT", open_in_ms=0, price="1", api_enable_delay_ms=300)
    trade = trade_snipe(listing_id=ListingFactory(symbol="LATEIOCUSDT").pk)
    assert trade.status == TradeStatus.FILLED and len(exchange.accepted_orders()) == 1


def test_a_worker_killed_between_send_and_record_is_settled_by_the_reconciler(exchange, live):
    listing = listing_on(exchange)
    trade = trade_snipe(listing_id=listing.pk)
    # What a crash leaves: the order is at the exchange, the row still says "pending".
    Trade.objects.filter(pk=trade.pk).update(
        status=TradeStatus.PENDING,
        exchange_order_id="",
        executed_qty=None,
        held_until=timezone.now() + timedelta(seconds=5),
    )
    assert reconcile()["found"] == 0  # its sender's lease has not run out
    past_its_lease(trade)
    counts = reconcile()
    trade.refresh_from_db()
    assert counts["found"] == 1 and trade.status == TradeStatus.FILLED
    assert trade.exchange_order_id and len(exchange.orders()) == 1


def test_the_reconciler_resends_only_when_the_exchange_has_no_such_order(exchange, live):
    trade = reconcile_unknown(exchange)
    assert trade.status == TradeStatus.FILLED and trade.attempts == 2
    assert [o["clientOrderId"] for o in exchange.orders()] == [trade.client_order_id]


def test_high_value_waits_for_confirmation_then_sends(exchange, live):
    exchange.list_symbol(symbol="BIGUSDT", open_in_ms=0, price="1")
    trade = trade_manual(symbol="BIGUSDT", quote_qty=Decimal("80"), live=True)
    assert trade.status == TradeStatus.AWAITING_CONFIRMATION and exchange.orders() == []
    confirmed = trade_confirm(trade_id=trade.pk, actor_label="olga")
    assert confirmed.status == TradeStatus.FILLED and confirmed.confirmed_by == "olga"
    assert len(exchange.orders()) == 1
    with pytest.raises(ValueError, match="not awaiting confirmation"):
        trade_confirm(trade_id=trade.pk)


def test_a_canceled_high_value_trade_never_reaches_the_exchange(exchange, live):
    exchange.list_symbol(symbol="BIGUSDT", open_in_ms=0, price="1")
    trade = trade_manual(symbol="BIGUSDT", quote_qty=Decimal("80"), live=True)
    assert trade_cancel(trade_id=trade.pk, actor_label="olga").status == TradeStatus.CANCELED
    with pytest.raises(ValueError):
        trade_confirm(trade_id=trade.pk)
    assert exchange.orders() == []


def test_manual_dry_run_test_trade_with_auto_trade_on(exchange, live):
    exchange.list_symbol(symbol="MANUSDT", open_in_ms=0, price="2")
    trade = trade_manual(symbol="MANUSDT", quote_qty=Decimal("10"), live=False)
    assert (trade.status, trade.mode) == (TradeStatus.FILLED, "dry_run")
    assert exchange.orders() == []


def test_an_announced_listing_fires_at_the_open_not_before(exchange, live):
    listed = exchange.list_symbol(symbol="ARMEDUSDT", open_in_ms=400, price="0.3")
    from datetime import UTC, datetime

    upcoming = UpcomingListing.objects.create(
        symbol="ARMEDUSDT",
        base_asset="ARMED",
        quote_asset="USDT",
        open_at=datetime.fromtimestamp(listed["open_at_ms"] / 1000, UTC),
    )
    trade = trade_snipe_announced(upcoming_id=upcoming.pk)
    assert trade.status == TradeStatus.FILLED
    orders = exchange.orders()
    assert all(o["received_at_ms"] >= listed["open_at_ms"] for o in orders)
    assert len(exchange.accepted_orders()) == 1
    # its later sighting by the monitor lands on the same trade
    listing = ListingFactory(symbol="ARMEDUSDT", listed_at=upcoming.open_at)
    assert trade_snipe(listing_id=listing.pk).pk == trade.pk
    assert len(exchange.accepted_orders()) == 1


def test_an_interrupted_dry_run_is_closed_by_the_reconciler(exchange):
    trade = TradeFactory(mode="dry_run", status=TradeStatus.PENDING)
    reconcile()
    trade.refresh_from_db()
    assert (trade.status, trade.reason_code) == (TradeStatus.FAILED, "dry_run_interrupted")


def test_an_announcement_of_a_listing_the_stream_saw_first_trades_it_once(exchange, live):
    """The calendar lagged: the stream recorded (and sniped) the listing a moment after its
    open, then the announcement arrived. Still one trade, one order."""
    from datetime import UTC, datetime, timedelta

    listed = exchange.list_symbol(symbol="LATEUSDT", open_in_ms=0, price="0.3")
    open_at = datetime.fromtimestamp(listed["open_at_ms"] / 1000, UTC)
    listing = ListingFactory(symbol="LATEUSDT", listed_at=open_at + timedelta(milliseconds=7))
    first = trade_snipe(listing_id=listing.pk)
    upcoming = UpcomingListing.objects.create(
        symbol="LATEUSDT", base_asset="LATE", quote_asset="USDT", open_at=open_at
    )
    assert trade_snipe_announced(upcoming_id=upcoming.pk).pk == first.pk
    assert Trade.objects.filter(symbol="LATEUSDT").count() == 1
    assert len(exchange.accepted_orders()) == 1


def test_a_burst_is_sent_at_the_rate_limit_and_what_cannot_be_fresh_is_refused(exchange, live):
    """Ten listings at once, five orders/s allowed, signals fresh for 1 s: each trade is sent
    in its slot, or refused at its decision as rate_limited with the wait; none expires
    unsent, none goes out twice."""
    config_update(actor=None, changes={"signal_max_age_ms": 1000}, reason="short")
    symbols = [f"BRST{i}USDT" for i in range(10)]
    for symbol in symbols:
        exchange.list_symbol(symbol=symbol, open_in_ms=0, price="0.4")
    listings = [ListingFactory(symbol=s) for s in symbols]
    opened_ms = min(int(x.listed_at.timestamp() * 1000) for x in listings)
    trades = [trade_snipe(listing_id=x.pk) for x in listings]
    statuses = [(t.status, t.reason_code) for t in trades]
    # a decision that itself comes more than 1 s after the open (a loaded machine: the ten
    # are decided one after another) is refused as stale; never admitted and left unsent
    assert set(statuses) <= {
        (TradeStatus.FILLED, ""),
        (TradeStatus.REJECTED, "rate_limited"),
        (TradeStatus.REJECTED, "stale_signal"),
    }
    refused = [t for t in trades if t.status == TradeStatus.REJECTED]
    # slots at 0 (x5), 200, 400, 600, 800, 1000 ms: the last ones cannot be sent fresh
    assert 5 <= len(trades) - len(refused) <= 9 and refused, statuses
    assert all(
        "No order slot within" in t.error_message
        for t in refused
        if t.reason_code == "rate_limited"
    )
    orders = sorted(exchange.accepted_orders(), key=lambda o: o["received_at_us"])
    assert len(orders) == len({o["clientOrderId"] for o in orders}) == len(trades) - len(refused)
    # nothing reached the exchange after its signal went stale (1 s after the first open)
    assert all(o["received_at_us"] / 1000 <= opened_ms + 1000 + 50 for o in orders)


def test_with_the_breaker_store_down_sends_are_refused_and_outcomes_still_recorded(exchange, live):
    """The breaker's state lives in Redis in production: if Redis fails, nothing is sent
    unprotected, and a trade already sent still records its outcome."""
    from trading.runtime import ReportingBreaker

    class DeadStore:
        def allow(self, *_):
            raise ConnectionError("redis down")

        record_success = record_failure = state = allow

    breaker = ReportingBreaker(DeadStore())
    assert breaker.allow() is False
    breaker.record_success()  # logged, not raised
    assert breaker.record_failure().value == "closed"

    guards = get_guards()
    original = guards.breaker, guards.admission
    guards.breaker = breaker
    if guards.admission is not None:  # Redis: one script asks the breaker and takes the slot
        guards.admission = DeadStore().allow
    try:
        trade = trade_snipe(listing_id=listing_on(exchange).pk)
    finally:
        guards.breaker, guards.admission = original
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "circuit_open")
    assert exchange.orders() == []


def test_the_reconciler_leaves_a_held_trade_to_its_sender(exchange, live):
    """A sender about to wait (Retry-After, the open) or to send holds its trade: the
    reconciler neither resends nor settles it until the lease has passed."""
    listing = listing_on(exchange)
    trade = TradeFactory(
        listing=listing,
        mode="live",
        status=TradeStatus.UNKNOWN,
        attempts=1,
        held_until=timezone.now() + timedelta(seconds=5),
    )
    assert sum(reconcile().values()) == 0
    trade.refresh_from_db()
    assert trade.status == TradeStatus.UNKNOWN and exchange.accepted_orders() == []
    past_its_lease(trade)
    assert reconcile()["resend"] == 1
    assert [o["clientOrderId"] for o in exchange.accepted_orders()] == [trade.client_order_id]


def test_the_kill_switch_turned_on_after_arming_stops_the_order_at_the_open(exchange, live):
    from datetime import UTC, datetime

    from trading.services import trade_arm, trade_fire

    listed = exchange.list_symbol(symbol="KILLEDUSDT", open_in_ms=300, price="0.3")
    open_at = datetime.fromtimestamp(listed["open_at_ms"] / 1000, UTC)
    armed = trade_arm(symbol="KILLEDUSDT", quote_asset="USDT", open_at=open_at)
    assert armed.decided.trade.status == TradeStatus.PENDING  # decided and claimed ahead
    config_update(actor=None, changes={"kill_switch": True}, reason="stop everything")
    trade = trade_fire(armed)
    assert (trade.status, trade.reason_code) == (TradeStatus.REJECTED, "kill_switch")
    assert exchange.orders() == []


def test_an_armed_trade_is_recorded_before_the_open_and_sent_at_it(exchange, live):
    from datetime import UTC, datetime

    from trading.services import trade_arm, trade_fire

    listed = exchange.list_symbol(symbol="ONTIMEUSDT", open_in_ms=300, price="0.3")
    open_at = datetime.fromtimestamp(listed["open_at_ms"] / 1000, UTC)
    armed = trade_arm(symbol="ONTIMEUSDT", quote_asset="USDT", open_at=open_at)
    row = Trade.objects.get(pk=armed.decided.trade.pk)
    assert row.status == TradeStatus.PENDING and row.held_until > open_at  # its sender's
    assert exchange.orders() == []
    trade = trade_fire(armed)
    assert trade.status == TradeStatus.FILLED
    (order,) = exchange.orders()
    assert order["received_at_us"] >= listed["open_at_ms"] * 1000  # never before the open


@pytest.mark.parametrize(
    ("pushed", "status", "reason"),
    [
        (("FILLED", Decimal("40"), Decimal("20")), TradeStatus.FILLED, ""),
        (("CANCELED", Decimal("0"), Decimal("0")), TradeStatus.CANCELED, "price_ran_away"),
    ],
)
def test_an_order_the_private_stream_recorded_first_keeps_what_the_sender_sent(
    pushed, status, reason
):
    """The stream's push can land before the sender's own answer: the row then still says
    which order left (type, reference, cap, quantity), and an IOC that filled nothing why."""
    from trading.entry import IOC_TYPE
    from trading.execution import OrderState, ack_trade, apply_order_state

    trade = TradeFactory(mode="live", status=TradeStatus.PENDING)
    order_status, qty, spent = pushed
    witness_copy = Trade.objects.get(pk=trade.pk)  # the row as the stream's witness reads it
    apply_order_state(witness_copy, OrderState(order_status, "C02__1", qty, spent))
    trade.order_type, trade.reference_price = IOC_TYPE, Decimal("0.5")
    trade.price_cap, trade.order_qty = Decimal("0.6"), Decimal("33.33")
    trade.attempts, trade.sent_ns = 1, 1
    assert not ack_trade(trade, TradeStatus.SUBMITTED, exchange_order_id="C02__1")
    trade.refresh_from_db()
    assert (trade.status, trade.reason_code) == (status, reason)
    assert (trade.order_type, trade.reference_price) == (IOC_TYPE, Decimal("0.5"))
    assert (trade.price_cap, trade.order_qty) == (Decimal("0.6"), Decimal("33.33"))
    assert trade.executed_qty == qty and trade.sent_ns == 1
