"""Listings API: newest first, paged, filtered; test listings injected like real detections."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from listings.models import Listing, ListingSource

from .factories import ListingFactory


@pytest.fixture
def viewer(api_as, viewer_user):
    return api_as(viewer_user)


def test_listings_newest_first_and_paged(viewer):
    now = timezone.now()
    for minutes in range(60):
        ListingFactory(detected_at=now - timedelta(minutes=minutes))
    first = viewer.get("/api/listings/").json()
    assert first["count"] == 60 and len(first["results"]) == 50
    times = [item["detected_at"] for item in first["results"]]
    assert times == sorted(times, reverse=True)
    assert len(viewer.get(first["next"]).json()["results"]) == 10


def test_listings_filter_by_source_and_time(viewer):
    now = timezone.now()
    ws = ListingFactory(source=ListingSource.WEBSOCKET, detected_at=now)
    rest = ListingFactory(source=ListingSource.REST, detected_at=now - timedelta(hours=2))

    def symbols(query):
        return [i["symbol"] for i in viewer.get("/api/listings/", query).json()["results"]]

    assert symbols({"source": "mexc_rest_api"}) == [rest.symbol]
    assert symbols({"since": (now - timedelta(hours=1)).isoformat()}) == [ws.symbol]
    assert symbols({"until": (now - timedelta(hours=1)).isoformat()}) == [rest.symbol]


@pytest.mark.parametrize("query", [{"source": "twitter"}, {"since": "last week"}])
def test_listings_reject_bad_filters(viewer, query):
    response = viewer.get("/api/listings/", query)
    assert response.status_code == 400
    assert set(query) <= set(response.json())


def test_inject_records_a_test_listing_and_hands_it_to_trading(
    api_as, operator_user, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(operator_user).post(
            "/api/listings/inject/", {"symbol": "injusdt"}, format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["symbol"], body["source"]) == ("INJUSDT", "test_injection")
    assert [call["listing_id"] for call in dispatched] == [body["id"]]
    assert dispatched[0]["detected_ns"] is not None


def test_inject_without_a_symbol_makes_a_unique_one(api_as, operator_user, dispatched):
    client = api_as(operator_user)
    a = client.post("/api/listings/inject/", {}, format="json").json()["symbol"]
    b = client.post("/api/listings/inject/", {}, format="json").json()["symbol"]
    assert a != b and a.startswith("TEST") and a.endswith("USDT")


@pytest.mark.parametrize("symbol", ["BAD-SYMBOL", "X", "a" * 40])
def test_inject_rejects_a_bad_symbol(api_as, operator_user, dispatched, symbol):
    response = api_as(operator_user).post("/api/listings/inject/", {"symbol": symbol})
    assert response.status_code == 400
    assert response.json()["symbol"]
    assert not Listing.objects.exists()


def test_inject_refuses_a_symbol_already_listed(api_as, operator_user, dispatched):
    ListingFactory(symbol="DUPUSDT", base_asset="DUP")
    response = api_as(operator_user).post("/api/listings/inject/", {"symbol": "DUPUSDT"})
    assert response.status_code == 400
    assert "already listed" in response.json()["symbol"][0]
    assert Listing.objects.count() == 1
