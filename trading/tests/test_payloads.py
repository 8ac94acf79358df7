"""Pushed payloads are exactly what the API returns for the same row."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from listings.api.serializers import ListingSerializer
from listings.payloads import listing_payload
from listings.tests.factories import ListingFactory
from trading.api.serializers import TradeSerializer
from trading.models import Trade, TradeStatus
from trading.payloads import trade_payload

from .factories import TradeFactory

pytestmark = pytest.mark.django_db


def test_a_filled_trade_with_every_field_set():
    trade = TradeFactory(
        status=TradeStatus.FILLED,
        quote_qty=Decimal("12.5"),
        executed_qty=Decimal("24.987654321098765432"),
        avg_price=Decimal("0.500247"),
        quote_spent=Decimal("12.49999999"),
        exchange_order_id="C02__123",
        detected_ns=1_000_000_000,
        persisted_ns=1_000_400_000,
        dispatched_ns=1_000_500_000,
        risk_done_ns=1_001_900_000,
        sent_ns=1_002_000_000,
        acked_ns=1_004_250_000,
        decision_to_ack_ms=2.35,
        expires_at=timezone.now() + timedelta(minutes=5),
        manual=True,
        requested_by="otto",
    )
    trade = Trade.objects.get(pk=trade.pk)
    assert trade_payload(trade) == TradeSerializer(trade).data


def test_a_rejected_trade_with_nothing_filled():
    trade = TradeFactory(listing=None, status=TradeStatus.REJECTED, reason_code="kill_switch")
    trade = Trade.objects.get(pk=trade.pk)
    assert trade_payload(trade) == TradeSerializer(trade).data


def test_listings_live_and_delisted():
    live = ListingFactory()
    gone = ListingFactory(delisted_at=timezone.now())
    for listing in (live, gone):
        listing.refresh_from_db()
        assert listing_payload(listing) == ListingSerializer(listing).data
