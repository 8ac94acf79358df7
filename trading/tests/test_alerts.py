"""The operator's phone hears of a live fill, and of an order the bot could not settle: the
real delivery path to a local receiver."""

import time

import pytest

from alerts.models import Notification
from listings.tests.factories import ListingFactory
from trading.models import Trade, TradeStatus
from trading.reconcile import trades_reconcile
from trading.runtime import get_gateway, get_guards
from trading.services import trade_snipe
from trading.tests.conftest import unsettled_snipe

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


def _about(receiver, text: str) -> list[dict]:
    return [m for m in receiver.messages if text in m["title"] + m["message"]]


def test_a_live_fill_reaches_the_phone_once_within_two_seconds(
    exchange, live, notify_receiver, notify_dispatcher
):
    exchange.list_symbol(symbol="PINGUSDT", open_in_ms=0, price="0.5")
    trade = trade_snipe(listing_id=ListingFactory(symbol="PINGUSDT").pk)
    filled_at = time.monotonic()
    assert trade.status == TradeStatus.FILLED
    messages = notify_receiver.wait_for(1, timeout=2.0)
    fills = [m for m in messages if "PINGUSDT" in m["title"] + m["message"]]
    assert len(fills) == 1 and fills[0]["received_at"] - filled_at <= 2.0
    text = fills[0]["title"] + fills[0]["message"]
    assert "LIVE" in text and "PINGUSDT" in text
    assert notify_dispatcher.wait_idle(timeout=5)  # everything queued is delivered by now
    assert _about(notify_receiver, "PINGUSDT") == fills


def test_an_outcome_the_bot_could_not_settle_reaches_the_phone_once(
    exchange, live, notify_receiver, notify_dispatcher, monkeypatch
):
    """The send times out (the trade turns `unknown`), every lookup says absent past the
    settle window while the account holds the asset: the bot gives up settling and says so,
    once, however many reconcile passes find it still unsettled."""
    trade = unsettled_snipe(exchange, monkeypatch, lookup_lag_ms=5000)
    assert (trade.status, trade.reason_code) == (TradeStatus.UNKNOWN, "order_unknown")
    for _ in range(2):  # the reconciler asks again, still in vain
        Trade.objects.filter(pk=trade.pk).update(held_until=None)
        trades_reconcile(gateway=get_gateway(), guards=get_guards())
    trade.refresh_from_db()
    assert trade.status == TradeStatus.UNKNOWN
    assert notify_dispatcher.wait_idle(timeout=10)
    unknown = _about(notify_receiver, "UNKNOWN outcome")
    assert len(unknown) == 1
    assert "SLOWUSDT" in unknown[0]["title"] and "LIVE" in unknown[0]["title"]
    assert "could not settle" in unknown[0]["message"]
    assert Notification.objects.filter(event="order_unknown").count() == 1
