"""The simulator server: one aiohttp app on one port (REST, ``/ws``, calendar, ``/_sim``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from urllib.parse import urlencode

from aiohttp import web

from .auth import sign
from .config import NULLABLE_SWITCHES, RUNTIME_SWITCHES, Clock, SimulatorConfig
from .control import ControlApi
from .exchange import Exchange
from .faults import FaultBook
from .ratelimit import RateLimiter
from .rest import CALENDAR_PATH, RestApi
from .scenario import ScenarioRunner, load_scenario
from .userstream import ListenKeys
from .ws import Connection, Hub

log = logging.getLogger(__name__)


class Simulator:
    """A running (after ``start()``) local MEXC. Tests reach into ``exchange`` directly."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        cfg = self.config
        self.clock = Clock(cfg.clock_offset_ms)
        self.rng = random.Random(cfg.random_seed)
        self.exchange = Exchange(cfg, self.clock, self.rng)
        self.faults = FaultBook()
        self.listen_keys = ListenKeys(cfg, self.clock)
        self.hub = Hub(cfg, self.exchange, self.faults, self.clock, self.listen_keys)
        self.ratelimiter = RateLimiter(
            limit=cfg.rate_limit,
            window_s=cfg.rate_limit_window_s,
            ban_after=cfg.rate_limit_ban_after,
            ban_s=cfg.rate_limit_ban_s,
        )
        self.scenario = ScenarioRunner(
            self,
            load_scenario(
                default=cfg.default_scenario, path=cfg.scenario_file, inline=cfg.scenario
            ),
        )
        self.rest = RestApi(self)
        self.control = ControlApi(self)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self._sleepers: set[asyncio.Task] = set()

    # -- addresses ----------------------------------------------------------------------------
    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def secret_key(self) -> str:
        return self.config.secret_key

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws"

    @property
    def calendar_url(self) -> str:
        return f"{self.rest_url}{CALENDAR_PATH}"

    @property
    def control_url(self) -> str:
        return f"{self.rest_url}/_sim"

    @property
    def connections(self) -> list[Connection]:
        """Open WebSocket connections (each has ``.subscriptions``)."""
        return [c for c in self.hub.conns if not c.closed]

    # -- signing helpers for tests ----------------------------------------------------------
    def sign(self, message: str) -> str:
        return sign(self.config.secret_key, message)

    def signed_query(self, params: dict[str, object] | None = None, **extra: object) -> str:
        """urlencode(params + timestamp) + ``&signature=...`` (timestamp from the server clock)."""
        merged: dict[str, object] = {**(params or {}), **extra}
        merged.setdefault("timestamp", self.clock.now_ms())
        query = urlencode({k: str(v) for k, v in merged.items()})
        return f"{query}&signature={self.sign(query)}"

    # -- lifecycle ----------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=self.rest.middlewares(), client_max_size=1 << 20)
        app.add_routes(self.rest.routes())
        app.add_routes(self.control.routes())
        app.router.add_get("/ws", self.hub.handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=0.2
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._tasks = [
            asyncio.create_task(self._every(self.config.market_tick_ms, self.exchange.tick)),
            asyncio.create_task(
                self._every(self.config.mini_tickers_interval_ms, self._mini_tickers)
            ),
        ]
        self.scenario.start()

    async def stop(self) -> None:
        self.scenario.stop()
        for task in [*self._tasks, *self._sleepers]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.hub.close_all()
        self.exchange.reset()  # cancels listing timers
        self.faults.reset()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Back to the initial state (orders, balances, listings, faults); config kept."""
        self.scenario.stop()
        self.faults.reset()
        self.ratelimiter.reset()
        self.listen_keys.reset()
        self.clock.offset_ms = self.config.clock_offset_ms
        self.exchange.reset()
        for conn in self.hub.conns:
            conn.garbage_left = 0
        self.scenario.start()

    def configure(self, changes: dict) -> dict:
        """Apply run-time switches (``POST /_sim/config``); ValueError leaves nothing changed."""
        cfg = self.config
        unknown = set(changes) - set(RUNTIME_SWITCHES)
        if unknown:
            raise ValueError(f"not a run-time switch: {', '.join(sorted(unknown))}")
        converted = {}
        for name, value in changes.items():
            kind = RUNTIME_SWITCHES[name]
            if value is None and name in NULLABLE_SWITCHES:
                converted[name] = None
                continue
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            try:
                converted[name] = kind(str(value)) if kind is Decimal else kind(value)
            except (ValueError, ArithmeticError, TypeError):
                raise ValueError(f"{name}: bad value {value!r}") from None
        old = {name: getattr(cfg, name) for name in converted}
        for name, value in converted.items():
            setattr(cfg, name, value)
        try:
            cfg.validate()
        except ValueError:
            for name, value in old.items():
                setattr(cfg, name, value)
            raise
        limiter = self.ratelimiter
        limiter.limit, limiter.ban_after = cfg.rate_limit, cfg.rate_limit_ban_after
        limiter.ban_s = cfg.rate_limit_ban_s
        return self.switches()

    def switches(self) -> dict:
        """The run-time switches and their current values (``GET /_sim/config``)."""
        values = {name: getattr(self.config, name) for name in RUNTIME_SWITCHES}
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}

    async def sleep(self, seconds: float) -> None:
        """A cancellable sleep for fault delays (cut short when the simulator stops)."""
        task = asyncio.current_task()
        assert task is not None
        self._sleepers.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._sleepers.discard(task)

    def _mini_tickers(self) -> None:
        self.hub.push_mini_tickers(self.exchange.pop_changed())

    @staticmethod
    async def _every(interval_ms: int, step: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        interval = max(interval_ms, 1) / 1000
        next_at = loop.time()
        while True:
            next_at = max(next_at + interval, loop.time())  # no bursts after a stall
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                step()
            except Exception:
                log.exception("simulator periodic step failed")


@contextlib.asynccontextmanager
async def run_simulator(config: SimulatorConfig | None = None) -> AsyncIterator[Simulator]:
    """Run a simulator in this event loop for the duration of the block."""
    sim = Simulator(config or SimulatorConfig(port=0))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
