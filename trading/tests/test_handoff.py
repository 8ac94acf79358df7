"""The real hand-off: a recorded listing becomes a trade through the in-process task runner."""

import pytest
from django.test import override_settings

from listings.tests.factories import ListingFactory
from trading.handoff import dispatch_snipe
from trading.models import Trade, TradeStatus

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_a_dispatched_listing_is_traded_in_process(exchange):
    exchange.list_symbol(symbol="HANDUSDT", open_in_ms=0, price="0.25")
    listing = ListingFactory(symbol="HANDUSDT")
    future = dispatch_snipe(listing_id=listing.pk, detected_ns=None)
    future.result(timeout=10)
    trade = Trade.objects.get(listing=listing)
    assert (trade.status, trade.mode) == (TradeStatus.FILLED, "dry_run")
    assert trade.dispatched_ns is not None and trade.risk_done_ns >= trade.dispatched_ns


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_inject_listing_waits_for_its_in_process_trade(exchange):
    from django.core.management import call_command

    exchange.list_symbol(symbol="CLIUSDT", open_in_ms=0, price="0.25")
    call_command("inject_listing", "CLIUSDT")
    trade = Trade.objects.get(symbol="CLIUSDT")
    assert trade.status == TradeStatus.FILLED  # finished before the command returned
    assert trade.detected_ns <= trade.persisted_ns <= trade.dispatched_ns <= trade.risk_done_ns
