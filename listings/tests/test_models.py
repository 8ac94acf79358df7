from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from listings.models import Listing
from listings.tests.factories import ListingFactory

pytestmark = pytest.mark.django_db


def test_database_rejects_a_second_row_for_the_same_symbol_and_open_time():
    first = ListingFactory(symbol="NEWUSDT")
    with pytest.raises(IntegrityError), transaction.atomic():
        ListingFactory(symbol="NEWUSDT", listed_at=first.listed_at)
    assert Listing.objects.filter(symbol="NEWUSDT").count() == 1


def test_only_one_live_listing_per_symbol_and_a_relisting_after_delisting_is_a_new_row():
    first = ListingFactory(symbol="BACKUSDT")
    later = first.listed_at + timedelta(days=30)
    with pytest.raises(IntegrityError), transaction.atomic():
        ListingFactory(symbol="BACKUSDT", listed_at=later)
    first.delisted_at = later
    first.save()
    ListingFactory(symbol="BACKUSDT", listed_at=later)
    assert Listing.objects.filter(symbol="BACKUSDT").count() == 2


def test_database_rejects_an_unknown_source():
    with pytest.raises(IntegrityError), transaction.atomic():
        ListingFactory(source="telegram_rumour")


def test_listings_come_newest_first():
    older = ListingFactory()
    newer = ListingFactory(detected_at=older.detected_at + timedelta(seconds=1))
    assert list(Listing.objects.all()) == [newer, older]
