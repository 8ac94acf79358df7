"""MEXC market-data WebSocket client (mexc-api.md section 5): subscribe, decode, never give up.

``async for event in MexcStream(url, [mini_tickers_channel()]).events(): ...`` yields the
decoded pushes (``MiniTickers``, ``Deals``, ``BookTicker``, see ``mexc.codec``) plus the state
events ``Connected`` and ``Disconnected(reason, retry_in)``.

Behaviour:

- Control messages are JSON with increasing ids (SUBSCRIPTION / UNSUBSCRIPTION / PING); acks
  are matched by id and checked: channels the server refused land in ``refused`` and are
  logged (``ws.subscribe_refused``); accepted ones in ``acked``.
- At most 30 subscriptions per connection (MEXC ignores the rest): this client REFUSES a 31st
  with ValueError instead of silently opening a second connection; run a second stream.
- A PING every ``ping_interval_s`` (15 s) keeps the session alive; if nothing at all (push,
  ack, PONG) arrives for ``liveness_timeout_s`` the connection is treated as dead.
- Before MEXC's 24 h cut-off (``max_age_s``, 23.5 h) the stream rolls over make-before-break:
  a new connection is opened and subscribed first, then the old one is closed
  (``Disconnected("max age reached: rolled over", 0)`` then ``Connected``; a push may be seen
  twice around the switch, none is lost). If opening fails it retries at the next ping tick.
- Any drop or error reconnects after 1, 2, 4, 8, 16, 30, 30, ... s (``backoff_s``), through
  the injectable ``sleep``; the schedule starts over once a connection had lasted
  ``stable_after_s`` (60 s, measured with the injectable ``clock``). Everything subscribed
  is subscribed again. It only ends on ``stop()`` (or when the consumer stops iterating).
- Malformed frames (bad protobuf, bad JSON) are counted in ``malformed_frames`` and skipped.
- Each push is stamped as it comes off the socket: ``received_ns`` (``wall_clock``, epoch ns)
  and ``received_mono_ns`` (``recv_clock``, ``time.perf_counter_ns``), next to the
  exchange's ``send_time``. ``on_state`` (a plain function) also gets every state event.

Counters for heartbeats: ``connected``, ``reconnects``, ``malformed_frames``, ``frames``,
``delays`` (every backoff delay slept, in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .codec import BookTicker, Deal, Deals, MalformedFrame, MiniTicker, MiniTickers, PushEvent
from .codec import decode as _decode

__all__ = [
    "BACKOFF_S",
    "MAX_SUBSCRIPTIONS",
    "BookTicker",
    "Connected",
    "Deal",
    "Deals",
    "Disconnected",
    "MexcStream",
    "MiniTicker",
    "MiniTickers",
    "StreamEvent",
    "book_ticker_channel",
    "deals_channel",
    "mini_ticker_channel",
    "mini_tickers_channel",
]

log = logging.getLogger(__name__)

BACKOFF_S: tuple[float, ...] = (1, 2, 4, 8, 16, 30)  # the last one repeats
MAX_SUBSCRIPTIONS = 30
ROLLOVER_REASON = "max age reached: rolled over"


def mini_tickers_channel(tz: str = "UTC+8") -> str:
    """All symbols whose price changed, every 3 s (the cheapest new-listing detector)."""
    return f"spot@public.miniTickers.v3.api.pb@{tz}"


def mini_ticker_channel(symbol: str, tz: str = "UTC+8") -> str:
    return f"spot@public.miniTicker.v3.api.pb@{symbol.upper()}@{tz}"


def deals_channel(symbol: str, interval: str = "10ms") -> str:
    return f"spot@public.aggre.deals.v3.api.pb@{interval}@{symbol.upper()}"


def book_ticker_channel(symbol: str, interval: str = "10ms") -> str:
    return f"spot@public.aggre.bookTicker.v3.api.pb@{interval}@{symbol.upper()}"


@dataclass(frozen=True, slots=True)
class Connected:
    url: str
    subscriptions: int = 0


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    retry_in: float  # seconds until the next attempt


StreamEvent = PushEvent | Connected | Disconnected


class MexcStream:
    def __init__(
        self,
        url: str,
        subscriptions: Iterable[str] = (),
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        recv_clock: Callable[[], int] = time.perf_counter_ns,
        wall_clock: Callable[[], int] = time.time_ns,
        on_state: Callable[[Connected | Disconnected], Any] | None = None,
        ping_interval_s: float = 15.0,
        liveness_timeout_s: float | None = None,
        ack_timeout_s: float = 10.0,
        max_age_s: float = 23.5 * 3600,
        stable_after_s: float = 60.0,
        open_timeout_s: float = 5.0,
        backoff_s: Iterable[float] = BACKOFF_S,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
    ) -> None:
        self.url = url
        self.max_subscriptions = max_subscriptions
        self.subscriptions: list[str] = []
        for channel in subscriptions:
            self._add(channel)
        self.sleep = sleep
        self.clock = clock
        self.recv_clock = recv_clock
        self.wall_clock = wall_clock
        self.on_state = on_state
        self.ping_interval_s = ping_interval_s
        self.liveness_timeout_s = liveness_timeout_s or 2 * ping_interval_s + 5
        self.ack_timeout_s = ack_timeout_s
        self.max_age_s = max_age_s
        self.stable_after_s = stable_after_s
        self.open_timeout_s = open_timeout_s
        self.backoff_s = tuple(backoff_s) or BACKOFF_S
        # observable state
        self.connected = False
        self.reconnects = 0
        self.malformed_frames = 0
        self.frames = 0
        self.delays: list[float] = []
        self.acked: set[str] = set()
        self.refused: dict[str, str] = {}
        # internals
        self._ws: ClientConnection | None = None
        self._successor: tuple[ClientConnection, float] | None = None
        self._pending: dict[int, tuple[str, list[str], int]] = {}  # id -> method, params, ns
        self._next_id = 1
        self._last_rx_ns = 0
        self._kill_reason: str | None = None  # why _keepalive cut the connection
        self._stopped = False
        self._stop_event = asyncio.Event()
        self._running = False
        self._closing: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return (
            f"MexcStream({self._log_url!r}, subscriptions={len(self.subscriptions)}, "
            f"connected={self.connected}, reconnects={self.reconnects})"
        )

    @property
    def _log_url(self) -> str:
        return self.url.split("?", 1)[0]  # a private stream's listenKey stays out of logs

    # --- subscriptions --------------------------------------------------------------------

    def _add(self, channel: str) -> bool:
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"not a channel: {channel!r}")
        if channel in self.subscriptions:
            return False
        if len(self.subscriptions) >= self.max_subscriptions:
            raise ValueError(
                f"MEXC allows {self.max_subscriptions} subscriptions per connection; "
                f"{channel} refused (use another MexcStream for more)."
            )
        self.subscriptions.append(channel)
        return True

    async def subscribe(self, channel: str) -> None:
        """Add a channel; kept across reconnects. ValueError beyond 30 per connection."""
        if self._add(channel):
            await self._broadcast("SUBSCRIPTION", [channel])

    async def unsubscribe(self, channel: str) -> None:
        if channel in self.subscriptions:
            self.subscriptions.remove(channel)
            self.acked.discard(channel)
            await self._broadcast("UNSUBSCRIPTION", [channel])

    async def _broadcast(self, method: str, params: list[str]) -> None:
        successor = self._successor[0] if self._successor else None
        for ws in (self._ws, successor):
            if ws is not None:
                with contextlib.suppress(ConnectionClosed):  # re-sent on reconnect anyway
                    await self._send_control(ws, method, params)

    async def _send_control(
        self, ws: ClientConnection, method: str, params: list[str] | None = None
    ) -> None:
        request_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        self._pending[request_id] = (method, params or [], self.recv_clock())
        await ws.send(json.dumps(message, separators=(",", ":")))

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop for good: the open connection is closed and ``events()`` ends."""
        self._stopped = True
        self._stop_event.set()
        for ws in (self._ws, self._successor[0] if self._successor else None):
            if ws is not None:
                try:
                    task = asyncio.ensure_future(ws.close())
                except RuntimeError:  # no running loop here: just cut it
                    ws.transport.abort()
                else:
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        self.stop()
        for ws in (self._ws, self._successor[0] if self._successor else None):
            if ws is not None:
                await ws.close()

    async def _open(self) -> ClientConnection:
        """Connect and send the subscriptions (acks are checked as they arrive)."""
        ws = await websockets.connect(
            self.url,
            open_timeout=self.open_timeout_s,
            ping_interval=None,  # MEXC's JSON PING keeps the session; protocol pings are answered
            close_timeout=2,
            max_size=2**23,
            compression=None,
        )
        try:
            if self.subscriptions:
                await self._send_control(ws, "SUBSCRIPTION", list(self.subscriptions))
        except BaseException:
            ws.transport.abort()
            raise
        return ws

    def _emit(self, event: Connected | Disconnected) -> Connected | Disconnected:
        if self.on_state is not None:
            try:
                self.on_state(event)
            except Exception:
                log.exception("ws.on_state_failed")
        return event

    def _went_up(self, ws: ClientConnection) -> Connected:
        self._ws = ws
        self.connected = True
        self._last_rx_ns = self.recv_clock()
        log.info(
            "ws.connect", extra={"url": self._log_url, "subscriptions": len(self.subscriptions)}
        )
        return Connected(self._log_url, len(self.subscriptions))

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Pushes and state changes until ``stop()``. One consumer per stream."""
        if self._running:
            raise RuntimeError("MexcStream.events() is already being consumed")
        self._running = True
        attempt = 0
        decode, recv_clock, wall_clock = _decode, self.recv_clock, self.wall_clock
        try:
            while not self._stopped:
                ws: ClientConnection | None = None
                keepalive: asyncio.Task[None] | None = None
                connected_at: float | None = None
                try:
                    self._pending.clear()
                    self._kill_reason = None
                    ws = await self._open()
                    connected_at = self.clock()
                    keepalive = asyncio.create_task(self._keepalive(ws, connected_at))
                    yield self._emit(self._went_up(ws))
                    while True:
                        try:
                            frame = await ws.recv()
                        except ConnectionClosed:
                            if self._successor is None or self._stopped:
                                raise
                            frame = None
                        if frame is None:  # make-before-break rollover: switch connections
                            keepalive.cancel()
                            ws.transport.abort()
                            ws, connected_at = self._successor
                            self._successor = None
                            self.reconnects += 1
                            log.info("ws.rollover", extra={"url": self._log_url})
                            yield self._emit(Disconnected(ROLLOVER_REASON, 0.0))
                            keepalive = asyncio.create_task(self._keepalive(ws, connected_at))
                            yield self._emit(self._went_up(ws))
                            continue
                        self._last_rx_ns = mono = recv_clock()
                        self.frames += 1
                        if type(frame) is bytes:
                            try:
                                event = decode(frame, wall_clock(), mono)
                            except MalformedFrame:
                                self.malformed_frames += 1
                                continue
                            if event is not None:
                                yield event
                        else:
                            try:
                                self._on_text(frame)
                            except Exception:  # a bug here must not cost the connection
                                log.exception("ws.control_reply_failed")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any drop or error: reconnect
                    reason = self._kill_reason or f"{type(exc).__name__}: {exc}"[:300]
                finally:
                    if keepalive is not None:
                        keepalive.cancel()
                    self._ws = None
                    self.connected = False
                    if ws is not None:
                        ws.transport.abort()
                    self._drop_successor()
                if self._stopped:
                    break
                if connected_at is not None and self.clock() - connected_at >= self.stable_after_s:
                    attempt = 0
                delay = float(self.backoff_s[min(attempt, len(self.backoff_s) - 1)])
                attempt += 1
                self.reconnects += 1
                self.delays.append(delay)
                log.warning(
                    "ws.disconnect",
                    extra={"url": self._log_url, "reason": reason, "retry_in": delay},
                )
                yield self._emit(Disconnected(reason, delay))
                log.info("ws.retry", extra={"delay_s": delay, "attempt": attempt})
                await self._backoff(delay)
        finally:
            self._running = False
            self._drop_successor()

    async def _backoff(self, delay: float) -> None:
        """The injected sleep, cut short by stop()."""
        sleeper = asyncio.ensure_future(self.sleep(delay))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    def _drop_successor(self) -> None:
        if self._successor is not None:
            self._successor[0].transport.abort()
            self._successor = None

    async def _keepalive(self, ws: ClientConnection, connected_at: float) -> None:
        """PING, liveness, ack timeouts and the max-age rollover for one connection."""
        try:
            while True:
                await asyncio.sleep(self.ping_interval_s)
                now_ns = self.recv_clock()
                silent_s = (now_ns - self._last_rx_ns) / 1e9
                if silent_s > self.liveness_timeout_s:
                    self._kill_reason = f"dead: nothing received for {silent_s:.1f} s"
                    log.warning("ws.dead", extra={"silent_s": round(silent_s, 3)})
                    ws.transport.abort()  # the reader sees the drop and reconnects
                    return
                self._expire_acks(now_ns)
                if self.clock() - connected_at >= self.max_age_s and self._successor is None:
                    await self._rollover(ws)
                    continue
                await self._send_control(ws, "PING")
        except ConnectionClosed:
            return  # the reader handles it
        except Exception:
            log.exception("ws.keepalive_failed")
            ws.transport.abort()

    async def _rollover(self, ws: ClientConnection) -> None:
        try:
            successor = await self._open()
        except Exception as exc:
            log.warning("ws.rollover_failed", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
            return  # try again next tick; the old connection still works
        self._successor = (successor, self.clock())
        await ws.close()

    # --- control replies ------------------------------------------------------------------

    def _on_text(self, text: str) -> None:
        try:
            reply = json.loads(text)
        except ValueError:
            self.malformed_frames += 1
            return
        if not isinstance(reply, dict):
            self.malformed_frames += 1
            return
        msg = str(reply.get("msg", ""))
        request_id = reply.get("id")
        pending = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if pending is None:
            pending = self._match_pending(msg)
        if pending is None:
            if reply.get("code", 0) != 0:
                log.warning("ws.error_reply", extra={"code": reply.get("code"), "reply": msg[:300]})
            return
        method, params, _ = pending
        if method == "SUBSCRIPTION":
            self._check_subscribe_ack(params, reply.get("code", 0), msg)
        elif reply.get("code", 0) != 0:
            log.warning("ws.control_refused", extra={"method": method, "reply": msg[:300]})

    def _match_pending(self, msg: str) -> tuple[str, list[str], int] | None:
        """For servers that do not echo our id: match by method/channel names."""
        for request_id, (method, params, _sent) in self._pending.items():
            if (method == "PING" and msg == "PONG") or any(p in msg for p in params):
                return self._pending.pop(request_id)
        return None

    def _check_subscribe_ack(self, channels: list[str], code: Any, msg: str) -> None:
        refused: set[str] = set()
        if "Not Subscribed" in msg:  # MEXC: "Not Subscribed successfully! [a,b]. Reason: ..."
            match = re.search(r"\[([^\]]*)\]", msg)
            refused = {c.strip() for c in match.group(1).split(",")} if match else set(channels)
        for channel in channels:
            if channel in refused or (code != 0 and channel not in msg):
                self.refused[channel] = msg[:300]
                self.acked.discard(channel)
                log.warning("ws.subscribe_refused", extra={"channel": channel, "reply": msg[:300]})
            else:
                self.acked.add(channel)
                self.refused.pop(channel, None)

    def _expire_acks(self, now_ns: int) -> None:
        limit = self.ack_timeout_s * 1e9
        for request_id, (method, params, sent) in list(self._pending.items()):
            if now_ns - sent > limit:
                del self._pending[request_id]
                log.warning("ws.ack_timeout", extra={"method": method, "params": params[:5]})
