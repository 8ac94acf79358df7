"""WebSocket market streams at ``/ws`` (mexc-api.md §5): JSON control, protobuf pushes.

Each connection has an outgoing queue drained by one writer task, so the exchange can push
from synchronous code (a fill inside a REST handler) without awaiting any socket.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from typing import Any

from aiohttp import WSMsgType, web

from . import push
from .config import Clock, SimulatorConfig
from .exchange import Exchange
from .faults import Fault, FaultBook
from .market import Trade
from .models import BalanceChange, Order, Symbol
from .userstream import ListenKeys

_TZ = r"(?:24H|UTC[+-]\d{1,2}(?::\d{2})?)"
_SYM = r"(?P<sym>[A-Z0-9]+)"
CHANNELS = {
    "miniTickers": re.compile(rf"spot@public\.miniTickers\.v3\.api\.pb@{_TZ}"),
    "miniTicker": re.compile(rf"spot@public\.miniTicker\.v3\.api\.pb@{_SYM}@{_TZ}"),
    "deals": re.compile(rf"spot@public\.aggre\.deals\.v3\.api\.pb@(?:100ms|10ms)@{_SYM}"),
    "bookTicker": re.compile(rf"spot@public\.aggre\.bookTicker\.v3\.api\.pb@(?:100ms|10ms)@{_SYM}"),
    "privateOrders": re.compile(r"spot@private\.orders\.v3\.api\.pb"),
    "privateAccount": re.compile(r"spot@private\.account\.v3\.api\.pb"),
}
PRIVATE_ORDERS = "spot@private.orders.v3.api.pb"
PRIVATE_ACCOUNT = "spot@private.account.v3.api.pb"
PRIVATE_KINDS = ("privateOrders", "privateAccount")
DEALS_PREFIX = "spot@public.aggre.deals.v3.api.pb@"
BOOK_PREFIX = "spot@public.aggre.bookTicker.v3.api.pb@"
MINI_TICKERS_PREFIX = "spot@public.miniTickers.v3.api.pb@"
MINI_TICKER_PREFIX = "spot@public.miniTicker.v3.api.pb@"
MAX_QUEUE = 10_000

_ABORT = object()  # writer: drop the TCP connection without a close frame
_CLOSE = object()  # writer: orderly close


def classify(channel: str) -> tuple[str, str | None] | None:
    """(kind, symbol) for a supported channel, else None."""
    for kind, pattern in CHANNELS.items():
        match = pattern.fullmatch(channel)
        if match:
            return kind, match.groupdict().get("sym")
    return None


class Connection:
    def __init__(
        self,
        hub: Hub,
        ws: web.WebSocketResponse,
        request: web.Request,
        listen_key: str | None = None,
    ) -> None:
        self.hub = hub
        self.listen_key = listen_key
        self.ws = ws
        self.transport = request.transport
        self.peer = request.remote
        self.connected_at = time.time()
        self.subs: set[str] = set()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.garbage_left = 0
        self.garbage_frames = "push"
        self.had_subscription = False
        self.inbound: deque[float] = deque()
        self.idle_handle: asyncio.TimerHandle | None = None
        self.age_handle: asyncio.TimerHandle | None = None
        self.no_data_handle: asyncio.TimerHandle | None = None
        self.key_handle: asyncio.TimerHandle | None = None
        self.last_push = time.monotonic()  # last binary push queued (the 60 s no-data rule)
        self.closed = False
        self.writer = asyncio.create_task(self._write())

    def send(self, frame: bytes | str) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= MAX_QUEUE:  # a client this slow would be cut off for real
            self.abort()
            return
        if isinstance(frame, bytes):
            self.last_push = time.monotonic()
        self.queue.put_nowait(frame)

    def send_json(self, payload: dict) -> None:
        self.send(json.dumps(payload, separators=(",", ":")))

    def abort(self) -> None:
        """Drop the connection now, no close frame (the client sees 1006)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def abort_after_queued(self) -> None:
        self.queue.put_nowait(_ABORT)

    def close_after_queued(self) -> None:
        self.queue.put_nowait(_CLOSE)

    async def _write(self) -> None:
        ws = self.ws
        while True:
            frame = await self.queue.get()
            if frame is _ABORT:
                self.abort()
                return
            if frame is _CLOSE:
                self.closed = True
                await ws.close()
                return
            if self.garbage_left > 0 and (isinstance(frame, bytes) or self.garbage_frames == "all"):
                self.garbage_left -= 1
                frame = push.GARBAGE_BYTES if isinstance(frame, bytes) else push.GARBAGE_TEXT
            try:
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                self.closed = True
                return

    @property
    def subscriptions(self) -> set[str]:
        return set(self.subs)

    def describe(self) -> dict:
        return {
            "peer": self.peer,
            "connected_for_s": round(time.time() - self.connected_at, 3),
            "subscriptions": sorted(self.subs),
            "queued": self.queue.qsize(),
            "garbage_left": self.garbage_left,
            "private": self.listen_key is not None,
        }


class Hub:
    """All WS connections and their subscriptions; listens to the exchange for pushes."""

    def __init__(
        self,
        config: SimulatorConfig,
        exchange: Exchange,
        faults: FaultBook,
        clock: Clock,
        listen_keys: ListenKeys,
    ) -> None:
        self.config = config
        self.exchange = exchange
        self.faults = faults
        self.clock = clock
        self.listen_keys = listen_keys
        self.conns: set[Connection] = set()
        self.subs: dict[str, set[Connection]] = {}
        exchange.listeners.append(self)

    # -- connection lifecycle ---------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        listen_key = request.query.get("listenKey")
        if listen_key is not None:
            refusal = self._refuse_listen_key(listen_key)
            if refusal is not None:  # the handshake fails: no WebSocket at all
                return web.json_response({"code": 400, "msg": refusal}, status=400)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 16)
        await ws.prepare(request)
        conn = Connection(self, ws, request, listen_key)
        self.conns.add(conn)
        loop = asyncio.get_running_loop()
        conn.age_handle = loop.call_later(self.config.ws_max_age_s, conn.close_after_queued)
        if listen_key is not None:
            self._arm_key_check(conn)
        self._arm_idle(conn)
        malformed = self.faults.pending("ws_malformed")
        if malformed is not None:  # injected while nobody was connected: this one gets it
            self._corrupt(conn, malformed)
            malformed.remaining = 0
            self.faults.prune()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if self._too_chatty(conn):
                        conn.abort()
                        break
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._forget(conn)
        return ws

    def _forget(self, conn: Connection) -> None:
        conn.closed = True
        self.conns.discard(conn)
        for channel in conn.subs:
            subscribers = self.subs.get(channel)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self.subs[channel]
        conn.subs.clear()
        for handle in (conn.idle_handle, conn.age_handle, conn.no_data_handle, conn.key_handle):
            if handle:
                handle.cancel()
        if not conn.writer.done():
            conn.writer.cancel()

    def _too_chatty(self, conn: Connection) -> bool:
        now = time.monotonic()
        conn.inbound.append(now)
        while conn.inbound and conn.inbound[0] <= now - 1.0:
            conn.inbound.popleft()
        return len(conn.inbound) > self.config.ws_max_messages_per_s

    def _arm_idle(self, conn: Connection) -> None:
        if conn.subs:
            if conn.idle_handle:
                conn.idle_handle.cancel()
                conn.idle_handle = None
        elif conn.idle_handle is None:
            conn.idle_handle = asyncio.get_running_loop().call_later(
                self.config.ws_idle_timeout_s, conn.close_after_queued
            )

    def _arm_no_data(self, conn: Connection) -> None:
        """Subscribed but no push for ``ws_no_data_timeout_s`` -> closed (mexc-api.md 5.1).

        Only binary pushes count as data: a client PING (and its PONG) does not."""
        if conn.no_data_handle is not None or not conn.subs:
            return
        timeout = self.config.ws_no_data_timeout_s
        wait = max(0.0, conn.last_push + timeout - time.monotonic())

        def fire() -> None:
            conn.no_data_handle = None
            if conn.closed or not conn.subs:
                return
            if time.monotonic() - conn.last_push >= self.config.ws_no_data_timeout_s:
                conn.close_after_queued()
            else:
                self._arm_no_data(conn)

        conn.no_data_handle = asyncio.get_running_loop().call_later(wait, fire)

    def _refuse_listen_key(self, key: str) -> str | None:
        if not self.listen_keys.is_valid(key):
            return "listenKey invalid or expired"
        in_use = sum(1 for c in self.conns if c.listen_key == key and not c.closed)
        if in_use >= self.config.max_connections_per_listen_key:
            return f"at most {self.config.max_connections_per_listen_key} connections per listenKey"
        return None

    def _arm_key_check(self, conn: Connection) -> None:
        """Close a private connection when its listenKey expires (a PUT pushes that back)."""
        assert conn.listen_key is not None

        def fire() -> None:
            conn.key_handle = None
            if conn.closed:
                return
            if self.listen_keys.is_valid(conn.listen_key):
                self._arm_key_check(conn)
            else:
                conn.close_after_queued()

        delay = self.listen_keys.remaining_s(conn.listen_key) + 0.001
        conn.key_handle = asyncio.get_running_loop().call_later(delay, fire)

    def close_listen_key(self, key: str) -> None:
        """DELETE /api/v3/userDataStream: its connections are closed."""
        for conn in list(self.conns):
            if conn.listen_key == key and not conn.closed:
                conn.close_after_queued()

    async def close_all(self) -> None:
        for conn in list(self.conns):
            conn.abort()
            self._forget(conn)

    # -- control messages ---------------------------------------------------------------------
    def _on_text(self, conn: Connection, text: str) -> None:
        try:
            request = json.loads(text)
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            conn.send_json({"id": 0, "code": 1, "msg": "Invalid JSON request"})
            return
        req_id = request.get("id", 0)
        req_id = req_id if isinstance(req_id, int) and req_id >= 0 else 0
        method = str(request.get("method", "")).upper()
        params = request.get("params") or []
        if method == "PING":
            conn.send_json({"id": req_id, "code": 0, "msg": "PONG"})
        elif method == "SUBSCRIPTION" and isinstance(params, list):
            self._subscribe(conn, req_id, [str(p) for p in params])
        elif method == "UNSUBSCRIPTION" and isinstance(params, list):
            for channel in params:
                self._unsub(conn, str(channel))
            self._arm_idle(conn)
            conn.send_json({"id": req_id, "code": 0, "msg": ",".join(map(str, params))})
        else:
            conn.send_json({"id": req_id, "code": 1, "msg": f"Invalid method {method!r}"})

    def _subscribe(self, conn: Connection, req_id: int, channels: list[str]) -> None:
        accepted: list[str] = []
        refused: dict[str, str] = {}
        had_subs = bool(conn.subs)
        for channel in channels:
            kind = classify(channel)
            if kind is None:
                refused[channel] = "unsupported channel"
            elif kind[0] in PRIVATE_KINDS and not self.listen_keys.is_valid(conn.listen_key):
                refused[channel] = "a private channel needs a valid listenKey"
            elif channel in conn.subs:
                accepted.append(channel)
            elif len(conn.subs) >= self.config.ws_max_subscriptions:
                refused[channel] = (
                    f"subscription limit reached ({self.config.ws_max_subscriptions} "
                    "per connection)"
                )
            else:
                conn.subs.add(channel)
                self.subs.setdefault(channel, set()).add(conn)
                accepted.append(channel)
        self._arm_idle(conn)
        if conn.subs and not had_subs:  # the no-data clock starts at the first subscription
            conn.last_push = time.monotonic()
        self._arm_no_data(conn)
        if refused:
            reasons = "; ".join(sorted(set(refused.values())))
            msg = f"Not Subscribed successfully! [{','.join(refused)}]. Reason: {reasons}"
            if accepted:
                msg += f". Subscribed: {','.join(accepted)}"
            conn.send_json({"id": req_id, "code": 1, "msg": msg})
        else:
            conn.send_json({"id": req_id, "code": 0, "msg": ",".join(accepted)})
        if accepted and not conn.had_subscription:
            conn.had_subscription = True
            self._maybe_drop_on_subscribe(conn)

    def _unsub(self, conn: Connection, channel: str) -> None:
        conn.subs.discard(channel)
        subscribers = self.subs.get(channel)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self.subs[channel]

    # -- pushes -----------------------------------------------------------------------------
    def _fanout(self, channel: str, frame: bytes | None) -> None:
        if frame is None:
            return
        for conn in self.subs.get(channel, ()):
            conn.send(frame)

    def on_trades(self, sym: Symbol, trades: list[Trade]) -> None:
        if sym.first_push_us is None:
            sym.first_push_us = self.clock.now_us()
        now = self.clock.now_ms()
        for interval in ("10ms", "100ms"):
            channel = f"{DEALS_PREFIX}{interval}@{sym.symbol}"
            if channel in self.subs:
                self._fanout(channel, push.deals(channel, sym, trades, now))

    def on_book(self, sym: Symbol) -> None:
        now = self.clock.now_ms()
        for interval in ("10ms", "100ms"):
            channel = f"{BOOK_PREFIX}{interval}@{sym.symbol}"
            if channel in self.subs:
                self._fanout(channel, push.book_ticker(channel, sym, now))

    def on_order(self, order: Order) -> None:
        if PRIVATE_ORDERS in self.subs:
            frame = push.private_order(PRIVATE_ORDERS, order, self.clock.now_ms())
            self._fanout_private(PRIVATE_ORDERS, frame)

    def on_balance(self, change: BalanceChange) -> None:
        if PRIVATE_ACCOUNT in self.subs:
            frame = push.private_account(PRIVATE_ACCOUNT, change, self.clock.now_ms())
            self._fanout_private(PRIVATE_ACCOUNT, frame)

    def _fanout_private(self, channel: str, frame: bytes) -> None:
        for conn in list(self.subs.get(channel, ())):
            if self.listen_keys.is_valid(conn.listen_key):
                conn.send(frame)
            else:
                conn.close_after_queued()

    def push_mini_tickers(self, changed: list[Symbol]) -> None:
        """One miniTickers round: all changed symbols, and per-symbol miniTicker pushes."""
        if not changed:
            return
        now = self.clock.now_ms()
        by_symbol = {s.symbol: s for s in changed}
        for channel in list(self.subs):
            if channel.startswith(MINI_TICKERS_PREFIX):
                self._fanout(channel, push.mini_tickers(channel, changed, now))
            elif channel.startswith(MINI_TICKER_PREFIX):
                sym = by_symbol.get(channel[len(MINI_TICKER_PREFIX) :].split("@", 1)[0])
                if sym is not None:
                    self._fanout(channel, push.mini_ticker(channel, sym, now))

    # -- faults -----------------------------------------------------------------------------
    def drop_all(self) -> int:
        conns = [c for c in self.conns if not c.closed]
        for conn in conns:
            conn.abort()
        return len(conns)

    def start_drop(self, fault: Fault) -> None:
        """ws_drop: drop everyone now, then every ``ms`` or after each first subscription."""
        if self.drop_all():
            fault.remaining -= 1
        if fault.remaining > 0 and fault.ms > 0:
            self._schedule_drop(fault)
        self.faults.prune()

    def _schedule_drop(self, fault: Fault) -> None:
        def fire() -> None:
            fault.timer = None
            if fault not in self.faults.faults:  # reset meanwhile
                return
            if self.drop_all():
                fault.remaining -= 1
            if fault.remaining > 0:
                self._schedule_drop(fault)
            self.faults.prune()

        fault.timer = asyncio.get_running_loop().call_later(fault.ms / 1000, fire)

    def _maybe_drop_on_subscribe(self, conn: Connection) -> None:
        fault = next(
            (
                f
                for f in self.faults.faults
                if f.kind == "ws_drop" and f.ms == 0 and f.remaining > 0
            ),
            None,
        )
        if fault is not None:
            fault.remaining -= 1
            self.faults.prune()
            conn.abort_after_queued()  # after the ack has gone out

    def start_malformed(self, fault: Fault) -> None:
        """ws_malformed: the next N pushes of each open connection (or of the next one)."""
        conns = [c for c in self.conns if not c.closed]
        for conn in conns:
            self._corrupt(conn, fault)
        if conns:
            fault.remaining = 0
            self.faults.prune()

    @staticmethod
    def _corrupt(conn: Connection, fault: Fault) -> None:
        conn.garbage_left += fault.count
        conn.garbage_frames = fault.frames

    def describe(self) -> list[dict]:
        return [c.describe() for c in self.conns]
