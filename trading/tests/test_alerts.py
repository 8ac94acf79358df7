"""The operator's phone hears of a live fill: the real delivery path to a local receiver."""

import time

import pytest

from listings.tests.factories import ListingFactory
from trading.models import TradeStatus
from trading.services import trade_snipe

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


def test_a_live_fill_reaches_the_phone_once_within_two_seconds(exchange, live, notify_receiver):
    exchange.list_symbol(symbol="PINGUSDT", open_in_ms=0, price="0.5")
    trade = trade_snipe(listing_id=ListingFactory(symbol="PINGUSDT").pk)
    filled_at = time.monotonic()
    assert trade.status == TradeStatus.FILLED
    messages = notify_receiver.wait_for(1, timeout=2.0)
    fills = [m for m in messages if "PINGUSDT" in m["title"] + m["message"]]
    assert len(fills) == 1 and fills[0]["received_at"] - filled_at <= 2.0
    text = fills[0]["title"] + fills[0]["message"]
    assert "LIVE" in text and "PINGUSDT" in text
    time.sleep(0.3)  # a second delivery would have arrived by now
    assert [m for m in notify_receiver.messages if "PINGUSDT" in m["title"] + m["message"]] == fills
