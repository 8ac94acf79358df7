"""A simulator in a background thread, and trading pointed at it through the real gateway."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import httpx
import pytest
from django.test import override_settings

from mexc.rest import MexcRestClient
from mexc.simulator import SimulatorConfig, run_simulator
from risk.services import config_update
from trading import runtime
from trading.gateway import MexcGateway


class ThreadedSimulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._stop: asyncio.Event | None = None
        self.sim = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with run_simulator(self.config) as sim:
            self.sim = sim
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedSimulator:
        self.thread.start()
        assert self.ready.wait(10), "simulator did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def control(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, f"{self.sim.rest_url}{path}", timeout=5, **kwargs)

    def orders(self) -> list[dict]:
        return self.control("GET", "/_sim/orders").json()["orders"]

    def accepted_orders(self) -> list[dict]:
        return [o for o in self.orders() if o.get("error_code") is None]

    def fault(self, **body) -> None:
        assert self.control("POST", "/_sim/faults", json=body).status_code == 201

    def list_symbol(self, **body) -> dict:
        response = self.control("POST", "/_sim/listings", json=body)
        assert response.status_code == 201, response.text
        return response.json()


def simulator_gateway(sim: ThreadedSimulator) -> MexcGateway:
    """Trading's real gateway, pointed at a running simulator with its keys."""
    return MexcGateway(
        lambda: MexcRestClient(
            base_url=sim.sim.rest_url,
            api_key=sim.sim.api_key,
            secret_key=sim.sim.secret_key,
            timeout=0.5,
        )
    )


@pytest.fixture
def exchange():
    """A running simulator; trading's gateway and guards point at it for the test."""
    config = SimulatorConfig(port=0, mini_tickers_interval_ms=100)
    with ThreadedSimulator(config) as sim:
        gateway = simulator_gateway(sim)
        runtime.set_gateway(gateway)
        keys = {"MEXC_API_KEY": sim.sim.api_key, "MEXC_SECRET_KEY": sim.sim.secret_key}
        with override_settings(**keys, BREAKER_FAILURE_THRESHOLD=3, BREAKER_COOLDOWN_S=30):
            runtime.get_guards.cache_clear()
            guards = runtime.get_guards()  # in CI their state lives in Redis: start clean
            guards.breaker.reset()
            guards.limiter.reset()
            yield sim
            guards.breaker.reset()
            guards.limiter.reset()
        runtime.set_gateway(None)
        runtime.get_guards.cache_clear()
        gateway.close()


@pytest.fixture
def live():
    config_update(actor=None, changes={"auto_trade": True, "mode": "live"}, reason="test: go live")


@pytest.fixture
def no_push(monkeypatch):
    monkeypatch.setattr("monitoring.events.publish", lambda *a, **k: True)


def money(text: str) -> Decimal:
    return Decimal(text)


from alerts.tests.fixtures import notify_dispatcher, notify_receiver  # noqa: E402, F401


def unsettled_snipe(exchange, monkeypatch, *, lookup_lag_ms: int):
    """A live snipe whose send times out after the order was placed, the order invisible to
    every lookup for `lookup_lag_ms` while the account holds the asset: the trade the bot
    cannot settle (`unknown`, reason `order_unknown`), settle window 0.3 s."""
    from listings.tests.factories import ListingFactory
    from trading.services import trade_snipe

    monkeypatch.setattr("trading.settle.SETTLE_WINDOW_S", 0.3)
    exchange.control("POST", "/_sim/config", json={"duplicate_client_ids": "accept"})
    exchange.fault(kind="lookup_lag", ms=lookup_lag_ms, count=1)
    exchange.fault(kind="timeout", count=1, ms=1500, path="/api/v3/order", effect="after")
    exchange.list_symbol(symbol="SLOWUSDT", open_in_ms=0, price="1")
    trade = trade_snipe(listing_id=ListingFactory(symbol="SLOWUSDT").pk)
    trade.refresh_from_db()
    return trade
