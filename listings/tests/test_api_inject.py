"""Injecting a test listing: what is a symbol, and what a malformed body gets back."""

from __future__ import annotations

import pytest

from listings.api.serializers import SYMBOL_INVALID
from listings.models import Listing


@pytest.fixture
def operator(api_as, operator_user):
    return api_as(operator_user)


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("USDT", "USDT is a quote asset with no base asset: give both, e.g. ABCUSDT."),
        ("usdc", "USDC is a quote asset with no base asset: give both, e.g. ABCUSDC."),
        ("ABCUSDT\n", SYMBOL_INVALID),
        ("ABC\tUSDT", SYMBOL_INVALID),
        ("\nABCUSDT", SYMBOL_INVALID),
        ("ÄBCUSDT", SYMBOL_INVALID),
        ("²BUSDT", SYMBOL_INVALID),
    ],
)
def test_inject_refuses_what_is_not_a_tradable_symbol(operator, dispatched, symbol, message):
    response = operator.post("/api/listings/inject/", {"symbol": symbol}, format="json")
    assert (response.status_code, response.json()) == (400, {"symbol": [message]})
    assert not Listing.objects.exists()
    assert dispatched == []


@pytest.mark.parametrize("symbol", [" abcusdt ", "ABCUSDT", "abcUSDT  "])
def test_inject_drops_surrounding_spaces_and_upper_cases(operator, dispatched, symbol):
    response = operator.post("/api/listings/inject/", {"symbol": symbol}, format="json")
    assert response.status_code == 201, response.content
    listing = Listing.objects.get()
    assert (listing.symbol, listing.base_asset, listing.quote_asset) == ("ABCUSDT", "ABC", "USDT")
    assert response.json()["symbol"] == "ABCUSDT"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"x", "multipart/form-data"),  # no boundary
        (b"{", "application/json"),
    ],
)
def test_a_malformed_body_gets_a_json_400(client, operator_user, dispatched, body, content_type):
    client.force_login(operator_user)
    response = client.post("/api/listings/inject/", data=body, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert not Listing.objects.exists()
