"""`make run`'s "Inject test listing" ends in a dry-run fill: the symbol is listed on the local
simulator first (DEMO_SIMULATOR_URL = MEXC_REST_URL), so it has a price and stays listed."""

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from listings.demo import demo_simulator_url, inject_note, listing_inject
from listings.models import Listing
from listings.services import universe_sync
from trading.models import Trade, TradeStatus

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("no_push"),
]


@pytest.fixture
def demo(exchange, monkeypatch):
    url = exchange.sim.rest_url.rstrip("/")
    monkeypatch.setenv("DEMO_SIMULATOR_URL", url)
    with override_settings(MEXC_REST_URL=url, CELERY_TASK_ALWAYS_EAGER=True):
        yield exchange


def _listed_on_sim(exchange) -> set[str]:
    return {s["symbol"] for s in exchange.control("GET", "/_sim/listings").json()["listings"]}


def test_an_empty_symbol_is_listed_on_the_simulator_and_fills(demo):
    call_command("inject_listing")
    trade = Trade.objects.get()
    assert trade.symbol.startswith("TEST") and trade.symbol in _listed_on_sim(demo)
    assert (trade.status, trade.mode) == (TradeStatus.FILLED, "dry_run")


def test_the_dashboard_inject_fills_and_the_rest_diff_keeps_it_listed(demo, api_as, operator_user):
    response = api_as(operator_user).post(
        "/api/listings/inject/", {"symbol": "DEMOXUSDT"}, format="json"
    )
    assert response.status_code == 201, response.content
    from listings.ports import trading

    trading().wait()
    trade = Trade.objects.get(symbol="DEMOXUSDT")
    assert trade.status == TradeStatus.FILLED
    # The REST universe (the simulator's exchangeInfo) lists it: the diff does not delist it.
    diff = universe_sync(symbols=_listed_on_sim(demo), seen_at=timezone.now())
    assert "DEMOXUSDT" not in diff.gone
    assert Listing.objects.get(symbol="DEMOXUSDT").delisted_at is None


def test_never_against_another_exchange(exchange, monkeypatch):
    monkeypatch.setenv("DEMO_SIMULATOR_URL", exchange.sim.rest_url.rstrip("/"))
    with override_settings(MEXC_REST_URL="https://api.mexc.com"):
        assert demo_simulator_url() is None
        assert "no_price" in inject_note()
        result = listing_inject(symbol="NOSIMUSDT")
    assert not result.on_simulator
    assert "NOSIMUSDT" not in _listed_on_sim(exchange)
