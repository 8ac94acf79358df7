from datetime import timedelta

import pytest
from django.utils import timezone

from listings.models import ExchangeSymbol, Listing, ListingSource, UpcomingListing, UpcomingStatus
from listings.services import (
    listing_record,
    split_symbol,
    universe_sync,
    upcoming_arm,
    upcoming_record,
)
from monitoring import events

from .factories import ListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "publish", lambda event, payload: sent.append((event, payload)))
    return sent


def test_a_new_listing_is_committed_then_pushed_and_handed_to_trading(
    django_capture_on_commit_callbacks, dispatched, pushed
):
    with django_capture_on_commit_callbacks(execute=True):
        result = listing_record(symbol="newusdt", source="mexc_websocket", detected_ns=123)
    listing = result.listing
    assert result.created
    assert (listing.symbol, listing.base_asset, listing.quote_asset) == ("NEWUSDT", "NEW", "USDT")
    assert [(c["listing_id"], c["detected_ns"]) for c in dispatched] == [(listing.pk, 123)]
    assert dispatched[0]["persisted_ns"] >= 123
    assert pushed == [(events.LISTING_CREATED, pushed[0][1])]
    assert pushed[0][1]["symbol"] == "NEWUSDT" and pushed[0][1]["source"] == "mexc_websocket"


def test_nothing_is_handed_over_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks, dispatched
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        listing_record(symbol="NEWUSDT", source="mexc_websocket")
    # Not executed: on_commit callbacks only run after a commit.
    assert dispatched == []
    assert len(callbacks) == 2  # the hand-off, the push


def test_every_source_seeing_the_same_listing_makes_one_row(dispatched):
    first = listing_record(symbol="DUPUSDT", source=ListingSource.WEBSOCKET)
    again = listing_record(symbol="DUPUSDT", source=ListingSource.REST)
    injected = listing_record(symbol="DUPUSDT", source=ListingSource.TEST)
    assert first.created and not again.created and not injected.created
    assert again.listing.pk == first.listing.pk == injected.listing.pk
    assert Listing.objects.filter(symbol="DUPUSDT").count() == 1
    assert Listing.objects.get().source == ListingSource.WEBSOCKET


def test_calendar_open_time_becomes_listed_at_and_links_the_announcement(dispatched):
    open_at = timezone.now().replace(microsecond=0) - timedelta(seconds=2)
    upcoming, created = upcoming_record(symbol="CALUSDT", open_at=open_at, full_name="Cal Coin")
    assert created
    assert upcoming_record(symbol="CALUSDT", open_at=open_at)[1] is False
    result = listing_record(symbol="CALUSDT", source=ListingSource.WEBSOCKET)
    assert result.listing.listed_at == open_at
    upcoming.refresh_from_db()
    assert upcoming.status == UpcomingStatus.OPENED and upcoming.listing == result.listing
    assert not listing_record(symbol="CALUSDT", source=ListingSource.REST).created


def test_arming_happens_once():
    upcoming, _ = upcoming_record(symbol="ARMUSDT", open_at=timezone.now() + timedelta(minutes=1))
    assert upcoming_arm(upcoming=upcoming) is True
    assert upcoming_arm(upcoming=upcoming) is False
    assert UpcomingListing.objects.get().status == UpcomingStatus.ARMED


def test_a_delisted_symbol_listed_again_is_a_new_row(dispatched):
    first = listing_record(symbol="BACKUSDT", source=ListingSource.WEBSOCKET).listing
    universe_sync(symbols={"BTCUSDT", "ETHUSDT", "MXUSDT", "XRPUSDT", "SOLUSDT", "BACKUSDT"})
    universe_sync(symbols={"BTCUSDT", "ETHUSDT", "MXUSDT", "XRPUSDT", "SOLUSDT"})
    first.refresh_from_db()
    assert first.delisted_at is not None
    again = listing_record(symbol="BACKUSDT", source=ListingSource.REST)
    assert again.created and again.listing.pk != first.pk
    assert Listing.objects.filter(symbol="BACKUSDT").count() == 2


def test_a_known_open_time_far_from_the_live_listing_is_a_relisting(dispatched):
    old = timezone.now() - timedelta(days=40)
    first = listing_record(symbol="OLDUSDT", source=ListingSource.TEST, listed_at=old).listing
    again = listing_record(symbol="OLDUSDT", source=ListingSource.TEST, listed_at=timezone.now())
    assert again.created
    first.refresh_from_db()
    assert first.delisted_at is not None


def test_first_universe_snapshot_is_the_baseline_not_new_listings():
    diff = universe_sync(symbols={"BTCUSDT", "ETHUSDT"})
    assert diff.baseline and diff.new == frozenset()
    assert set(ExchangeSymbol.objects.values_list("symbol", flat=True)) == {"BTCUSDT", "ETHUSDT"}


def test_a_symbol_that_opened_while_we_were_down_is_new_on_the_next_snapshot():
    universe_sync(symbols={"BTCUSDT", "ETHUSDT"})
    diff = universe_sync(symbols={"BTCUSDT", "ETHUSDT", "MISSEDUSDT"})
    assert diff.new == {"MISSEDUSDT"} and not diff.baseline
    assert universe_sync(symbols={"BTCUSDT", "ETHUSDT", "MISSEDUSDT"}).new == frozenset()


def test_a_symbol_recorded_by_a_detection_is_not_new_for_the_rest_diff(dispatched):
    universe_sync(symbols={"BTCUSDT", "ETHUSDT"})
    listing_record(symbol="FASTUSDT", source=ListingSource.WEBSOCKET)
    assert universe_sync(symbols={"BTCUSDT", "ETHUSDT", "FASTUSDT"}).new == frozenset()


def test_a_snapshot_asked_for_before_a_detection_does_not_delist_it(dispatched):
    universe_sync(symbols={f"S{i}USDT" for i in range(10)})
    asked_at = timezone.now()  # the snapshot below is asked for now, answered later
    listing = listing_record(symbol="MEANWHILEUSDT", source=ListingSource.WEBSOCKET).listing
    diff = universe_sync(symbols={f"S{i}USDT" for i in range(10)}, asked_at=asked_at)
    assert diff.gone == frozenset()
    listing.refresh_from_db()
    assert listing.delisted_at is None
    # a snapshot asked for after it was seen, and still without it: it is gone
    assert universe_sync(
        symbols={f"S{i}USDT" for i in range(10)}, asked_at=timezone.now()
    ).gone == {"MEANWHILEUSDT"}


@pytest.mark.parametrize("snapshot", [set(), {"BTCUSDT"}])
def test_an_empty_or_truncated_snapshot_is_refused_not_believed(snapshot):
    universe_sync(symbols={f"S{i}USDT" for i in range(10)} | {"BTCUSDT"})
    diff = universe_sync(symbols=snapshot)
    assert diff.rejected and diff.gone == frozenset()
    assert ExchangeSymbol.objects.filter(delisted_at__isnull=False).count() == 0


def test_bad_symbols_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="not a MEXC symbol"):
        listing_record(symbol="BAD/USDT", source=ListingSource.TEST)
    assert not Listing.objects.exists()


def test_split_symbol():
    assert split_symbol("ABCUSDT") == ("ABC", "USDT")
    assert split_symbol("XYZUSDC") == ("XYZ", "USDC")
    assert split_symbol("WEIRD") == ("WEIRD", "")


def test_an_announcement_arriving_after_the_listing_is_never_armed(db):
    listing = ListingFactory(symbol="LAGUSDT")
    upcoming, created = upcoming_record(
        symbol="LAGUSDT", open_at=listing.listed_at - timedelta(milliseconds=40)
    )
    assert created
    assert (upcoming.status, upcoming.listing_id) == (UpcomingStatus.OPENED, listing.pk)
    assert upcoming_arm(upcoming=upcoming) is False


def test_the_longest_symbol_mexc_allows_is_recorded():
    symbol = "A" * 28 + "USDT"  # 32 characters: the base alone is 28
    result = listing_record(symbol=symbol, source=ListingSource.TEST)
    result.listing.refresh_from_db()
    assert (result.listing.base_asset, result.listing.quote_asset) == ("A" * 28, "USDT")


def test_the_feed_reconnects_on_the_configured_schedule(settings):
    from listings.mexc_feed import MexcFeed

    settings.MEXC_WS_BACKOFF_S = (0.5, 3.0)
    assert MexcFeed.from_settings().stream_options["backoff_s"] == (0.5, 3.0)
