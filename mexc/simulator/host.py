"""What the simulator's parts see of the simulator: typed Protocols, no implementation.

`app.Simulator` builds the REST API, the control API and the scenario runner and hands
itself to them; they name only these Protocols, so `app` imports them and none of them
imports `app` (not even for type checking).
"""

from __future__ import annotations

import random
from typing import Protocol

from .config import Clock, SimulatorConfig
from .exchange import Exchange
from .faults import FaultBook
from .ratelimit import RateLimiter
from .userstream import ListenKeys
from .ws import Hub


class ScenarioHost(Protocol):
    """What the scenario runner uses: the exchange it lists on, and the seeded randomness."""

    exchange: Exchange
    rng: random.Random


class RestHost(Protocol):
    """What the REST API uses: config, clock, exchange, faults, listen keys, the rate limiter
    and the WebSocket hub, and a sleep that is cut short when the simulator stops."""

    config: SimulatorConfig
    clock: Clock
    exchange: Exchange
    faults: FaultBook
    hub: Hub
    listen_keys: ListenKeys
    ratelimiter: RateLimiter

    async def sleep(self, seconds: float) -> None: ...


class ScenarioProgress(Protocol):
    generated: int


class ControlHost(RestHost, Protocol):
    """What the control API uses: the REST API's view, plus addresses, reset and switches."""

    scenario: ScenarioProgress

    @property
    def rest_url(self) -> str: ...

    @property
    def ws_url(self) -> str: ...

    @property
    def calendar_url(self) -> str: ...

    def reset(self) -> None: ...

    def configure(self, changes: dict) -> dict: ...

    def switches(self) -> dict: ...
