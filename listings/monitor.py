"""The listing monitor loop (after healthchecks' `sendalerts`).

One process; a database lease makes sure only one monitor detects at a time. The loop is a
set of small steps (`step_control`, `step_rest`, `step_calendar`, `step_arm`,
`step_heartbeat`) that tests call directly, plus one task consuming the WebSocket stream.
Operators start and stop monitoring by setting BotRun's desired state; the loop follows
within `tick` seconds. SIGTERM/SIGINT set a shutdown flag and the loop exits cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections
from django.utils import timezone

from monitoring import metrics
from monitoring.models import BotRun, HealthStatus, RunState
from monitoring.selectors import botrun_current
from monitoring.services import (
    botrun_heartbeat,
    botrun_mark,
    health_set,
    lease_acquire,
    lease_release,
    monitor_request_start,
)
from risk.selectors import config_current_version

from .feed import Announcement, ExchangeFeed, Sighting, StreamState
from .models import ExchangeSymbol, ListingSource, UpcomingListing, UpcomingStatus
from .ports import trading
from .services import (
    listing_record,
    snapshot_malformed,
    universe_sync,
    upcoming_arm,
    upcoming_record,
)

log = logging.getLogger(__name__)
LEASE_NAME = "listing-monitor"


@dataclass
class MonitorConfig:
    tick: float = 0.5  # control checks: start/stop honoured within ~2 ticks
    rest_interval: float = 2.0
    calendar_interval: float = 30.0
    heartbeat_interval: float = 1.0
    lease_ttl: float = 10.0
    arm_lead: float = 60.0  # subscribe and tell trading this long before an announced open
    reconcile_interval: float = 30.0  # ask trading to settle open trades this often
    watch_after_open: float = 30.0  # an armed symbol's own stream is dropped this long after
    open_evidence_timeout: float = 0.5  # asking when an unannounced listing really opened
    # A REST snapshot matching what the monitor knows skips the database's universe diff (a
    # pass over every stored symbol on the thread that records listings), but not for longer
    # than this: rows written elsewhere (an injected listing's symbol) are reconciled then.
    universe_sync_interval: float = 30.0
    # An armed symbol's first price on its own stream prices its waiting order: the listing
    # row is recorded this long after (its sighting's stamps), off that order's way.
    record_after_price: float = 0.05


# The monitor's database work runs one call at a time on a thread of its own, which keeps its
# connection (Django's connections are per thread). A plain executor, not asgiref's
# sync_to_async: that hop took ~0.35 ms here, this one ~0.18 ms, on the way to every order.
# Its own bookkeeping (lease, heartbeat, health: monitoring's rows, nothing a listing reads)
# runs on a second one, so a listing never queues behind it (~1.5 ms every second).
_database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")
_bookkeeping = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-bookkeeping")


def _on(executor: ThreadPoolExecutor, fn):
    async def on_its_thread(*args, **kwargs):
        call = functools.partial(_replacing_broken_connections, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    return on_its_thread


def _replacing_broken_connections(fn, *args, **kwargs):
    """`fn`, on a thread that keeps its connections: after a failure, a connection the server
    dropped (PostgreSQL restarted) is closed, so the next call connects again instead of
    failing the same way for the rest of the process (Django does this around each request)."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        raise


def _db(fn):
    return _on(_database, fn)


def _books(fn):
    return _on(_bookkeeping, fn)


async def close_database() -> None:
    """Close the connections of the monitor's database threads (at exit; tests)."""
    await _db(connections.close_all)()
    await _books(connections.close_all)()


class ListingMonitor:
    def __init__(
        self, *, feed: ExchangeFeed, config: MonitorConfig | None = None, holder: str = ""
    ) -> None:
        self.feed = feed
        self.config = config or MonitorConfig()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.shutdown = asyncio.Event()
        self.known: set[str] = set()
        self.run: BotRun | None = None
        self.active = False
        self.ws_connected = False
        self.rest_ok: bool | None = None
        self.stats = {
            "detected": 0,
            "dedup_hits": 0,
            "ws_reconnects": 0,
            "rest_polls": 0,
            "rest_errors": 0,
        }
        self._stream_task: asyncio.Task | None = None
        self._upcoming: dict[int, UpcomingListing] = {}
        self._due: dict[str, float] = {}
        self._unwatch_at: dict[str, datetime] = {}
        self._later: set[asyncio.Task] = set()  # armed symbols' records, after their orders
        self._calendar_status: HealthStatus | None = None
        self._universe_synced_at = -math.inf

    # --- lifecycle ----------------------------------------------------------------------

    def request_shutdown(self, *_: object) -> None:
        self.shutdown.set()

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_shutdown)
        await self.wait_for_lease()
        try:
            if self.shutdown.is_set():
                return
            await _db(self._ensure_first_run)()
            while not self.shutdown.is_set():
                try:
                    await self.step_once()
                except Exception as exc:  # a failed step (database busy or down) is retried
                    log.exception("monitor.step_failed", extra={"error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.shutdown.wait(), timeout=self.config.tick)
        finally:
            await self.stop_session(reason="shutdown")
            await _db(lease_release)(name=LEASE_NAME, holder=self.holder)
            await self.feed.aclose()
            await close_database()
            log.info("monitor.exit", extra={"holder": self.holder})

    async def wait_for_lease(self) -> None:
        """Block until this process holds the monitor lease (another monitor may be active)."""
        ttl = timedelta(seconds=self.config.lease_ttl)
        waiting_logged = False
        while not self.shutdown.is_set():
            if await _db(lease_acquire)(name=LEASE_NAME, holder=self.holder, ttl=ttl):
                log.info("monitor.lease_acquired", extra={"holder": self.holder})
                return
            if not waiting_logged:
                log.info("monitor.lease_waiting", extra={"holder": self.holder})
                waiting_logged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.shutdown.wait(), timeout=self.config.heartbeat_interval)

    async def step_once(self) -> None:
        await self.step_control()
        if self.active:
            if self._is_due("rest", self.config.rest_interval):
                await self.step_rest()
            if self._is_due("calendar", self.config.calendar_interval):
                await self.step_calendar()
            await self.step_arm()
        if self._is_due("heartbeat", self.config.heartbeat_interval):
            await self.step_heartbeat()
        if self._is_due("reconcile", self.config.reconcile_interval):
            self.step_reconcile()

    def step_reconcile(self) -> None:
        """Trading settles what crashes and timeouts left open (on a worker, or in-process)."""
        try:
            trading().reconcile()
        except Exception as exc:
            log.warning("reconcile.dispatch_failed", extra={"error": repr(exc)})

    def _is_due(self, name: str, interval: float) -> bool:
        now = time.monotonic()
        if now >= self._due.get(name, 0.0):
            self._due[name] = now + interval
            return True
        return False

    @staticmethod
    def _ensure_first_run() -> None:
        """On a fresh install, monitoring starts with the process; later the operator decides."""
        if botrun_current() is None:
            monitor_request_start(actor=None, actor_label="run_monitor")

    # --- steps --------------------------------------------------------------------------

    async def step_control(self) -> None:
        """Follow the desired state operators set on the latest BotRun."""
        run = await _books(botrun_current)()
        wanted = run is not None and run.desired_state == RunState.RUNNING
        if wanted and (not self.active or self.run is None or self.run.pk != run.pk):
            if self.active:
                await self.stop_session(reason="superseded")
            await self.start_session(run)
        elif not wanted and self.active:
            await self.stop_session(reason="operator stop")

    async def start_session(self, run: BotRun) -> None:
        """Load the universe (so existing symbols are never new), then start the stream."""
        if not await self.load_universe():
            return  # no baseline yet: retried next tick, nothing detected blindly
        version = await _db(lambda: config_current_version().history_id)()
        self.run = await _db(botrun_mark)(
            run=run, actual_state=RunState.RUNNING, config_version=version
        )
        self.active = True
        self._due.pop("calendar", None)
        self._stream_task = asyncio.create_task(self.consume_stream(), name="mexc-stream")
        log.info("monitor.started", extra={"run_id": run.pk, "known_symbols": len(self.known)})
        await self._report_health()

    async def stop_session(self, *, reason: str) -> None:
        if self._later:  # armed symbols seen opening: their rows are written before the stop
            await asyncio.gather(*self._later, return_exceptions=True)
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
            self._stream_task = None
        if self.active and self.run is not None:
            await _db(botrun_mark)(run=self.run, actual_state=RunState.STOPPED)
            log.info("monitor.stopped", extra={"run_id": self.run.pk, "reason": reason})
        self.active = False
        self.ws_connected = False
        metrics.ws_connected.set(0)
        with contextlib.suppress(Exception):
            await self._report_health()

    async def load_universe(self) -> bool:
        try:
            symbols = await self.feed.trading_symbols()
        except Exception as exc:
            self._rest_failed(exc)
            stored = await _db(
                lambda: set(
                    ExchangeSymbol.objects.filter(delisted_at__isnull=True).values_list(
                        "symbol", flat=True
                    )
                )
            )()
            if not stored:
                return False
            self.known = stored
            log.warning("monitor.universe_from_db", extra={"known_symbols": len(stored)})
            return True
        self.rest_ok = True
        self._universe_synced_at = time.monotonic()
        diff = await _db(universe_sync)(symbols=symbols)
        self.known = set(symbols)
        for symbol in sorted(diff.new):  # opened while we were not watching
            self.known.discard(symbol)
            await self.detect(symbol, ListingSource.REST, time.time_ns(), raw={"via": "startup"})
        return True

    async def step_rest(self) -> None:
        """Diff a REST snapshot of the universe: finds what the stream missed, and delistings."""
        asked_at = timezone.now()
        try:
            symbols = await self.feed.trading_symbols()
        except Exception as exc:
            self._rest_failed(exc)
            await self._report_health()
            return
        received_ns = time.time_ns()
        recovered = self.rest_ok is not True
        if recovered:
            log.info("rest.recovered")
        self.rest_ok = True
        # What this process has not seen is recorded first, from the snapshot in memory: the
        # universe's bookkeeping (a pass over every symbol in the database) waits, the new
        # listing does not.
        symbols = {s.upper() for s in symbols if s}
        fresh = [] if snapshot_malformed(symbols, self.known) else sorted(symbols - self.known)
        for symbol in fresh:
            await self.detect(symbol, ListingSource.REST, received_ns, raw={"via": "rest_diff"})
        self.stats["rest_polls"] += 1
        since_sync = time.monotonic() - self._universe_synced_at
        if not fresh and symbols == self.known and since_sync < self.config.universe_sync_interval:
            if recovered:  # nothing new, nothing gone: the database has nothing to learn
                await self._report_health()
            return
        self._universe_synced_at = time.monotonic()
        diff = await _db(universe_sync)(symbols=symbols, asked_at=asked_at)
        for symbol in sorted(diff.new - set(fresh)):  # not in the database, though seen here
            await self.detect(symbol, ListingSource.REST, received_ns, raw={"via": "rest_diff"})
        self.known -= diff.gone
        await self._report_health()

    async def step_calendar(self) -> None:
        """Store upcoming listings from the calendar so they can be armed before they open."""
        try:
            announced = await self.feed.announcements()
        except Exception as exc:  # a 403/HTML answer is "calendar unavailable", not "none"
            log.warning("calendar.error", extra={"error": repr(exc)})
            await self._calendar_health(HealthStatus.DOWN, repr(exc))
            return
        await self._calendar_health(HealthStatus.OK, f"{len(announced)} announced")
        now = self.feed.server_now()
        for item in announced:
            if item.open_at < now - timedelta(minutes=5):
                continue
            upcoming = await _db(self._record_announcement)(item)
            if upcoming.status == UpcomingStatus.ANNOUNCED:
                self._upcoming[upcoming.pk] = upcoming

    async def _calendar_health(self, status: HealthStatus, detail: str) -> None:
        if self._calendar_status != status:
            self._calendar_status = status
            await _books(health_set)(
                component="mexc_calendar", status=status, detail={"detail": detail}
            )

    @staticmethod
    def _record_announcement(item: Announcement) -> UpcomingListing:
        upcoming, created = upcoming_record(
            symbol=item.symbol,
            open_at=item.open_at,
            base_asset=item.base_asset,
            quote_asset=item.quote_asset,
            full_name=item.full_name,
            raw=item.raw,
        )
        if created:
            log.info(
                "calendar.announced",
                extra={"symbol": upcoming.symbol, "open_at": upcoming.open_at.isoformat()},
            )
        return upcoming

    async def step_arm(self) -> None:
        """Arm announcements close to their open: watch their streams, tell trading."""
        if not self._upcoming:
            if self._unwatch_at:
                await self._unwatch_due()
            return
        horizon = self.feed.server_now() + timedelta(seconds=self.config.arm_lead)
        for pk, upcoming in list(self._upcoming.items()):
            if upcoming.open_at > horizon:
                continue
            del self._upcoming[pk]
            if not await _db(upcoming_arm)(upcoming=upcoming):
                continue
            try:
                await self.feed.watch_symbol(upcoming.symbol)
            except Exception as exc:
                log.warning(
                    "ws.watch_failed", extra={"symbol": upcoming.symbol, "error": repr(exc)}
                )
            trading().listing_armed(upcoming_id=upcoming.pk)
            self._unwatch_at[upcoming.symbol] = upcoming.open_at + timedelta(
                seconds=self.config.watch_after_open
            )
        await self._unwatch_due()

    async def _unwatch_due(self) -> None:
        """An armed symbol's own stream is needed around its open only: then it goes, so
        the connection's 30 subscriptions (MEXC's cap) never run out."""
        now = self.feed.server_now()
        for symbol, at in list(self._unwatch_at.items()):
            if at <= now:
                del self._unwatch_at[symbol]
                try:
                    await self.feed.unwatch_symbol(symbol)
                except Exception as exc:
                    log.warning("ws.unwatch_failed", extra={"symbol": symbol, "error": repr(exc)})

    async def step_heartbeat(self) -> None:
        ttl = timedelta(seconds=self.config.lease_ttl)
        if not await _books(lease_acquire)(name=LEASE_NAME, holder=self.holder, ttl=ttl):
            log.error("monitor.lease_lost", extra={"holder": self.holder})
            await self.stop_session(reason="lease lost")
            await self.wait_for_lease()
            return
        if self.run is not None:
            await _books(botrun_heartbeat)(run=self.run, detail=dict(self.stats))
        await self._report_health()

    # --- the stream ---------------------------------------------------------------------

    async def consume_stream(self) -> None:
        async for item in self.feed.stream():
            if isinstance(item, Sighting):
                await self.on_sighting(item)
            elif isinstance(item, StreamState):
                await self.on_stream_state(item)

    async def on_sighting(self, sighting: Sighting) -> None:
        symbol = sighting.symbols[0] if sighting.symbols else ""
        if sighting.price is not None and symbol in self._unwatch_at:
            # an armed symbol's first prices: its trade waits for one to price its entry
            trading().first_price(symbol=symbol, price=sighting.price)
            if symbol not in self.known:  # its order goes first; the row a moment later
                self.known.add(symbol)
                task = asyncio.create_task(self._detect_later(symbol, sighting))
                self._later.add(task)
                task.add_done_callback(self._later.discard)
                return
        known = self.known
        for symbol in sighting.symbols:
            if symbol not in known:
                await self.detect(
                    symbol,
                    ListingSource.WEBSOCKET,
                    sighting.received_ns,
                    raw={"via": sighting.channel},
                )

    async def on_stream_state(self, state: StreamState) -> None:
        """Every drop of any connection is counted; the stream is up or down with its first
        connection (the all-symbol channel), not with an extra one for armed symbols."""
        if not state.connected:
            self.stats["ws_reconnects"] += 1
            metrics.ws_reconnects.inc()
            log.warning(
                "ws.disconnected",
                extra={
                    "reason": state.reason,
                    "retry_in": state.retry_in,
                    "connection": state.connection,
                },
            )
        if state.connection != 0 or state.connected == self.ws_connected:
            return
        self.ws_connected = state.connected
        metrics.ws_connected.set(1 if state.connected else 0)
        if state.connected:
            log.info("ws.connected")
        await self._report_health()

    # --- detection ----------------------------------------------------------------------

    async def detect(
        self,
        symbol: str,
        source: ListingSource,
        received_ns: int,
        *,
        listed_at: datetime | None = None,
        raw: dict | None = None,
    ) -> None:
        self.known.add(symbol)
        evidence = None
        if listed_at is None and symbol not in self._unwatch_at:  # armed: the calendar's open
            evidence = await self._open_time(symbol)
        try:
            result = await _db(listing_record)(
                symbol=symbol,
                source=source,
                detected_at=datetime.fromtimestamp(received_ns / 1e9, UTC),  # when it was seen
                detected_ns=received_ns,
                listed_at=listed_at or (evidence[0] if evidence else None),
                listed_at_source=evidence[1] if evidence else None,
                raw=raw or {},
            )
        except Exception:
            self.known.discard(symbol)  # not recorded: the next sighting tries again
            log.exception("listing.record_failed", extra={"symbol": symbol, "source": source})
            return
        self.stats["detected" if result.created else "dedup_hits"] += 1

    async def _detect_later(self, symbol: str, sighting: Sighting) -> None:
        """An armed symbol seen opening: recorded `record_after_price` later, with the stamps
        of its sighting, so the order its first price triggers has this process to itself
        (recording a listing is the busiest work the monitor does)."""
        await asyncio.sleep(self.config.record_after_price)
        await self.detect(
            symbol, ListingSource.WEBSOCKET, sighting.received_ns, raw={"via": sighting.channel}
        )

    async def _open_time(self, symbol: str) -> tuple[datetime, str] | None:
        """The exchange's evidence of when `symbol` opened; None if it cannot be had quickly
        (the listing is then recorded at its detection time, and says so)."""
        try:
            return await asyncio.wait_for(
                self.feed.open_time(symbol), timeout=self.config.open_evidence_timeout
            )
        except Exception as exc:
            log.info("listing.open_time_unknown", extra={"symbol": symbol, "error": repr(exc)})
            return None

    # --- health -------------------------------------------------------------------------

    def _rest_failed(self, exc: Exception) -> None:
        self.rest_ok = False
        self.stats["rest_errors"] += 1
        log.warning("rest.error", extra={"error": repr(exc)})

    async def _report_health(self) -> None:
        await _books(self._write_health)()

    def _write_health(self) -> None:
        if self.active:
            if self.ws_connected:
                status, mode = HealthStatus.OK, "websocket"
            elif self.rest_ok:
                status, mode = HealthStatus.DEGRADED, "rest_fallback"
            else:
                status, mode = HealthStatus.DOWN, "blind"
        else:
            status, mode = HealthStatus.OK, "idle"
        health_set(component="monitor", status=status, detail={"mode": mode, **self.stats})
        health_set(
            component="mexc_websocket",
            status=HealthStatus.OK if self.ws_connected else HealthStatus.DOWN,
        )
        rest = {True: HealthStatus.OK, False: HealthStatus.DOWN, None: HealthStatus.DEGRADED}
        health_set(component="mexc_rest", status=rest[self.rest_ok])
