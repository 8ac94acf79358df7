"""Shared fixtures: an in-process MEXC simulator on an ephemeral loopback port.

``simulator``          -> a running ``mexc.simulator.Simulator`` with a fast test config
``simulator_factory``  -> ``await simulator_factory(**config_overrides)`` for custom configs
``simulator_config``   -> the fast test ``SimulatorConfig`` (``test_config(**overrides)``)
``control``            -> ``httpx.AsyncClient`` on the simulator's base URL
``client``             -> ``mexc.rest.MexcRestClient`` keyed for the simulator
``signed``             -> ``await signed(method, path, params)``: a signed raw httpx request
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from mexc.simulator import Simulator, SimulatorConfig, run_simulator

TEST_CONFIG: dict[str, object] = {
    "host": "127.0.0.1",
    "port": 0,
    "mini_tickers_interval_ms": 100,
    "market_tick_ms": 100,
    "default_scenario": False,
    "rate_limit_ban_s": 2.0,
    "random_seed": 7,
    # These tests are of the protocol and the simulator's features: they look an order up
    # right after creating it. The default lag (100 ms, MEXC's -2013 right after an order) is
    # tested on its own in test_simulator_harsh.py; trading's tests run with it.
    "lookup_lag_ms": 0,
}


def test_config(**overrides: object) -> SimulatorConfig:
    return SimulatorConfig(**{**TEST_CONFIG, **overrides})


test_config.__test__ = False  # not a test, despite the name


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return test_config()


@pytest.fixture
async def simulator(simulator_config: SimulatorConfig) -> AsyncIterator[Simulator]:
    async with run_simulator(simulator_config) as sim:
        yield sim


@pytest.fixture
async def simulator_factory() -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    async with contextlib.AsyncExitStack() as stack:

        async def factory(**overrides: object) -> Simulator:
            return await stack.enter_async_context(run_simulator(test_config(**overrides)))

        yield factory


@pytest.fixture
async def control(simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP client on the simulator's port (``/_sim/...`` control API and raw REST)."""
    async with httpx.AsyncClient(base_url=simulator.rest_url, timeout=5) as http:
        yield http


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[object]:
    """The project's REST client, keyed for the simulator (imported lazily: the simulator
    stands alone and its own tests never need it)."""
    from mexc.rest import MexcRestClient

    async with MexcRestClient(
        base_url=simulator.rest_url, api_key=simulator.api_key, secret_key=simulator.secret_key
    ) as rest:
        yield rest


@pytest.fixture
def signed(simulator: Simulator, control: httpx.AsyncClient) -> Callable[..., Awaitable]:
    """``await signed("POST", "/api/v3/order", {...})``: a correctly signed raw request."""

    async def call(
        method: str, path: str, params: dict[str, object] | None = None
    ) -> httpx.Response:
        query = simulator.signed_query(params or {})
        return await control.request(
            method, f"{path}?{query}", headers={"X-MEXC-APIKEY": simulator.api_key}
        )

    return call
