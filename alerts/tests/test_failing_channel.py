"""A failing channel never touches the order path: a live trade on the simulator fills and is
recorded while the operator's channel is held, then answers 500 three times; the message
arrives on the fourth try. (`bench/notify_beside.py` measures the order path's latency with a
failing channel beside a baseline without one.)

test_services.py has the delivery half on its own (500 three times, then delivered); this one
puts a real trade in front of it.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from alerts.models import Notification, NotificationStatus
from listings.tests.factories import ListingFactory
from trading.models import Trade, TradeStatus
from trading.services import trade_snipe
from trading.tests.conftest import exchange, live, no_push  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


def test_fill_is_recorded_while_the_channel_fails_then_delivered_on_the_fourth_try(
    exchange,
    live,
    notify_receiver,
    notify_dispatcher,
):
    notify_receiver.fail_first = 3
    notify_receiver.hang = threading.Event()  # the channel holds every request for now
    exchange.list_symbol(symbol="FAILUSDT", open_in_ms=0, price="0.5")

    trade = trade_snipe(listing_id=ListingFactory(symbol="FAILUSDT").pk)

    # The order path is done, the channel has answered nothing yet.
    assert trade.status == TradeStatus.FILLED
    row = Trade.objects.get(pk=trade.pk)
    assert row.status == TradeStatus.FILLED and row.executed_qty > Decimal(0)
    assert row.acked_ns and row.sent_ns
    assert len(exchange.accepted_orders()) == 1
    assert notify_receiver.messages == []

    notify_receiver.hang.set()  # now it answers: 500, 500, 500, then 200
    assert notify_dispatcher.wait_idle(timeout=30)
    assert notify_receiver.requests == 4
    (message,) = notify_receiver.messages
    assert "FAILUSDT" in message["title"] and "LIVE" in message["title"]
    notification = Notification.objects.get(event="buy_filled")
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 4)
    assert notification.payload["trade_id"] == trade.pk
    assert [s for s in notify_dispatcher.slept if s] == [1.0, 2.0, 4.0]  # backoff, not slept
    # Nothing on the trade changed while the channel failed.
    after = Trade.objects.get(pk=trade.pk)
    assert (after.status, after.executed_qty, after.attempts) == (
        row.status,
        row.executed_qty,
        row.attempts,
    )
