"""MEXC market-data WebSocket client (mexc-api.md section 5): subscribe, decode, never give up.

``async for event in MexcStream(url, [mini_tickers_channel()]).events(): ...`` yields the
decoded pushes (``MiniTickers``, ``Deals``, ``BookTicker``, see ``mexc.codec``) plus the state
events ``Connected`` and ``Disconnected(reason, retry_in)``.

Behaviour:

- Control messages are JSON with increasing ids (SUBSCRIPTION / UNSUBSCRIPTION / PING); acks
  are matched by id and checked: channels the server refused land in ``refused`` and are
  logged (``ws.subscribe_refused``); accepted ones in ``acked``.
- At most 30 subscriptions per connection (MEXC refuses the rest): channels are spread over
  as many connections as needed, 30 each (``max_subscriptions``), the first with room taking
  a new one. Every connection follows the same rules (keepalive, liveness, rollover,
  backoff); their events are merged into the one ``events()`` iterator, and the state
  events name their connection (``connection``: 0 is the first). ``unsubscribe`` removes a
  channel for good (a reconnect does not bring it back); a connection other than the first
  is closed, without a Disconnected event, once its last channel is gone.
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

Counters for heartbeats: ``connected`` (every connection up), ``connections``,
``reconnects``, ``malformed_frames``, ``frames``, ``delays`` (every backoff delay, in order).
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
from .codec import decode as codec_decode

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
QUEUE_SIZE = 256  # events waiting for the consumer; past it the connections stop reading
_STOP = object()
_LISTEN_KEY = re.compile(r"(listenKey=)[^&\s'\"]+")


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
    connection: int = 0  # which of the stream's connections (0: the first)


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    retry_in: float  # seconds until the next attempt
    connection: int = 0


StreamEvent = PushEvent | Connected | Disconnected


class _Link:
    """One WebSocket connection of a stream: its channels (at most ``max_subscriptions``), its
    socket (and a rollover successor), its unanswered control messages and its task."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.channels: list[str] = []
        self.ws: ClientConnection | None = None
        self.successor: tuple[ClientConnection, float] | None = None
        self.pending: dict[int, tuple[str, list[str], int]] = {}  # id -> method, params, ns
        self.last_rx_ns = 0
        self.kill_reason: str | None = None  # why the keepalive cut the connection
        self.connected = False
        self.retired = False  # closed for good: its channels are all gone
        self.task: asyncio.Task[None] | None = None

    def sockets(self) -> list[ClientConnection]:
        return [ws for ws in (self.ws, self.successor[0] if self.successor else None) if ws]


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
        decode: Callable[[bytes, int, int], Any] | None = None,
    ) -> None:
        self.url = url
        self.max_subscriptions = max(1, max_subscriptions)
        self._links: list[_Link] = [_Link(0)]
        self._link_numbers = 1
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
        self.decode = decode or codec_decode  # frame, received_ns, received_mono_ns -> event
        # observable state
        self.reconnects = 0
        self.malformed_frames = 0
        self.frames = 0
        self.delays: list[float] = []
        self.acked: set[str] = set()
        self.refused: dict[str, str] = {}
        # internals
        self._next_id = 1
        self._stopped = False
        self._stop_event = asyncio.Event()
        self._running = False
        self._queue: asyncio.Queue[Any] | None = None
        self._closing: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return (
            f"MexcStream({self._log_url!r}, subscriptions={len(self.subscriptions)}, "
            f"connections={self.connections}, connected={self.connected}, "
            f"reconnects={self.reconnects})"
        )

    @property
    def _log_url(self) -> str:
        return self.url.split("?", 1)[0]  # a private stream's listenKey stays out of logs

    @property
    def subscriptions(self) -> list[str]:
        """Every channel subscribed, over all connections."""
        return [channel for link in self._links for channel in link.channels]

    @property
    def connections(self) -> int:
        """Connections the stream keeps (one, plus one per further 30 channels)."""
        return len(self._links)

    @property
    def connected(self) -> bool:
        """Every connection is up."""
        return all(link.connected for link in self._links)

    @property
    def pending_controls(self) -> int:
        """Control messages (SUBSCRIPTION, UNSUBSCRIPTION, PING) not answered yet."""
        return sum(len(link.pending) for link in self._links)

    # --- subscriptions --------------------------------------------------------------------

    def _link_of(self, channel: str) -> _Link | None:
        return next((link for link in self._links if channel in link.channels), None)

    def _add(self, channel: str) -> _Link | None:
        """The connection that takes the new channel (a new one when all are full); None
        when it is subscribed already."""
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"not a channel: {channel!r}")
        if self._link_of(channel) is not None:
            return None
        link = next((k for k in self._links if len(k.channels) < self.max_subscriptions), None)
        if link is None:
            link = _Link(self._link_numbers)
            self._link_numbers += 1
            self._links.append(link)
            log.info("ws.new_connection", extra={"connection": link.number})
        link.channels.append(channel)
        return link

    async def subscribe(self, channel: str) -> None:
        """Add a channel; kept across reconnects. Beyond 30 on a connection it goes to
        another connection (opened when needed)."""
        link = self._add(channel)
        if link is None:
            return
        if link.sockets():
            await self._broadcast(link, "SUBSCRIPTION", [channel])
        elif self._running and link.task is None:
            self._start(link)
        # else: the connection being opened subscribes everything it holds

    async def unsubscribe(self, channel: str) -> None:
        """Remove a channel for good. A further connection left without channels closes."""
        link = self._link_of(channel)
        if link is None:
            return
        link.channels.remove(channel)
        self.acked.discard(channel)
        self.refused.pop(channel, None)
        if not link.channels and link is not self._links[0]:
            self._retire(link)
        elif link.sockets():
            await self._broadcast(link, "UNSUBSCRIPTION", [channel])

    def _retire(self, link: _Link) -> None:
        link.retired = True
        self._links.remove(link)
        if link.task is not None:
            link.task.cancel()  # its cleanup closes the socket
        else:
            for ws in link.sockets():
                ws.transport.abort()
        log.info("ws.connection_closed", extra={"connection": link.number, "reason": "unused"})

    async def _broadcast(self, link: _Link, method: str, params: list[str]) -> None:
        for ws in link.sockets():
            with contextlib.suppress(ConnectionClosed):  # re-sent on reconnect anyway
                await self._send_control(link, ws, method, params)

    async def _send_control(
        self, link: _Link, ws: ClientConnection, method: str, params: list[str] | None = None
    ) -> None:
        request_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        link.pending[request_id] = (method, params or [], self.recv_clock())
        await ws.send(json.dumps(message, separators=(",", ":")))

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop for good: the open connections are closed and ``events()`` ends."""
        self._stopped = True
        self._stop_event.set()
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):  # full: it ends after the next one
                self._queue.put_nowait(_STOP)
        for link in self._links:
            for ws in link.sockets():
                try:
                    task = asyncio.ensure_future(ws.close())
                except RuntimeError:  # no running loop here: just cut it
                    ws.transport.abort()
                else:
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        self.stop()
        for link in list(self._links):
            for ws in link.sockets():
                await ws.close()

    def restart(self, reason: str = "restart requested") -> None:
        """Cut every connection now; each reconnects (reading ``url`` again) after its
        backoff, as after any drop. For a private stream whose listenKey changed."""
        for link in self._links:
            link.kill_reason = reason
            for ws in link.sockets():
                ws.transport.abort()

    async def _open(self, link: _Link) -> ClientConnection:
        """Connect and send the connection's subscriptions (acks are checked as they come)."""
        ws = await websockets.connect(
            self.url,
            open_timeout=self.open_timeout_s,
            ping_interval=None,  # MEXC's JSON PING keeps the session; protocol pings are answered
            close_timeout=2,
            max_size=2**23,
            compression=None,
        )
        try:
            # Channels may come and go while a send is under way: repeat until the server
            # has been told exactly what the link holds.
            told: list[str] = []
            while True:
                add = [c for c in link.channels if c not in told]
                drop = [c for c in told if c not in link.channels]
                if not add and not drop:
                    break
                if add:
                    told += add
                    await self._send_control(link, ws, "SUBSCRIPTION", add)
                if drop:
                    told = [c for c in told if c not in drop]
                    await self._send_control(link, ws, "UNSUBSCRIPTION", drop)
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

    def _went_up(self, link: _Link, ws: ClientConnection) -> Connected:
        link.ws = ws
        link.connected = True
        link.last_rx_ns = self.recv_clock()
        log.info(
            "ws.connect",
            extra={
                "url": self._log_url,
                "connection": link.number,
                "subscriptions": len(link.channels),
            },
        )
        return Connected(self._log_url, len(link.channels), link.number)

    def _start(self, link: _Link) -> None:
        link.task = asyncio.create_task(self._run_link(link))

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Pushes and state changes of every connection until ``stop()``. One consumer."""
        if self._running:
            raise RuntimeError("MexcStream.events() is already being consumed")
        self._running = True
        queue = self._queue = asyncio.Queue(QUEUE_SIZE)
        try:
            for link in self._links:
                if not self._stopped:
                    self._start(link)
            while not self._stopped:
                event = await queue.get()
                if event is _STOP or self._stopped:
                    break
                yield event
        finally:
            self._running = False
            tasks = [link.task for link in self._links if link.task is not None]
            for link in self._links:
                link.task = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._queue = None

    async def _put(self, event: Any) -> None:
        assert self._queue is not None
        await self._queue.put(event)

    async def _run_link(self, link: _Link) -> None:
        """One connection, for ever: connect, subscribe, read; reconnect after the backoff."""
        attempt = 0
        decode, recv_clock, wall_clock, put = (
            self.decode,
            self.recv_clock,
            self.wall_clock,
            self._put,
        )
        while not self._stopped and not link.retired:
            ws: ClientConnection | None = None
            keepalive: asyncio.Task[None] | None = None
            connected_at: float | None = None
            try:
                link.pending.clear()
                link.kill_reason = None
                ws = await self._open(link)
                connected_at = self.clock()
                keepalive = asyncio.create_task(self._keepalive(link, ws, connected_at))
                await put(self._emit(self._went_up(link, ws)))
                while True:
                    try:
                        frame = await ws.recv()
                    except ConnectionClosed:
                        if link.successor is None or self._stopped:
                            raise
                        frame = None
                    if frame is None:  # make-before-break rollover: switch connections
                        keepalive.cancel()
                        ws.transport.abort()
                        ws, connected_at = link.successor
                        link.successor = None
                        self.reconnects += 1
                        log.info("ws.rollover", extra={"connection": link.number})
                        await put(self._emit(Disconnected(ROLLOVER_REASON, 0.0, link.number)))
                        keepalive = asyncio.create_task(self._keepalive(link, ws, connected_at))
                        await put(self._emit(self._went_up(link, ws)))
                        continue
                    link.last_rx_ns = mono = recv_clock()
                    self.frames += 1
                    if type(frame) is bytes:
                        try:
                            event = decode(frame, wall_clock(), mono)
                        except MalformedFrame:
                            self.malformed_frames += 1
                            continue
                        if event is not None:
                            await put(event)
                    else:
                        try:
                            self._on_text(link, frame)
                        except Exception:  # a bug here must not cost the connection
                            log.exception("ws.control_reply_failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any drop or error: reconnect
                reason = link.kill_reason or f"{type(exc).__name__}: {exc}"[:300]
            finally:
                if keepalive is not None:
                    keepalive.cancel()
                link.ws = None
                link.connected = False
                if ws is not None:
                    ws.transport.abort()
                if link.successor is not None:
                    link.successor[0].transport.abort()
                    link.successor = None
            if self._stopped or link.retired:
                break
            if connected_at is not None and self.clock() - connected_at >= self.stable_after_s:
                attempt = 0
            delay = float(self.backoff_s[min(attempt, len(self.backoff_s) - 1)])
            attempt += 1
            self.reconnects += 1
            self.delays.append(delay)
            reason = _LISTEN_KEY.sub(r"\1<redacted>", reason)
            log.warning(
                "ws.disconnect",
                extra={
                    "url": self._log_url,
                    "connection": link.number,
                    "reason": reason,
                    "retry_in": delay,
                },
            )
            await put(self._emit(Disconnected(reason, delay, link.number)))
            log.info("ws.retry", extra={"delay_s": delay, "attempt": attempt})
            await self._backoff(delay)

    async def _backoff(self, delay: float) -> None:
        """The injected sleep, cut short by stop()."""
        sleeper = asyncio.ensure_future(self.sleep(delay))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    async def _keepalive(self, link: _Link, ws: ClientConnection, connected_at: float) -> None:
        """PING, liveness, ack timeouts and the max-age rollover for one connection."""
        try:
            while True:
                await asyncio.sleep(self.ping_interval_s)
                now_ns = self.recv_clock()
                silent_s = (now_ns - link.last_rx_ns) / 1e9
                if silent_s > self.liveness_timeout_s:
                    link.kill_reason = f"dead: nothing received for {silent_s:.1f} s"
                    log.warning(
                        "ws.dead",
                        extra={"connection": link.number, "silent_s": round(silent_s, 3)},
                    )
                    ws.transport.abort()  # the reader sees the drop and reconnects
                    return
                self._expire_acks(link, now_ns)
                if self.clock() - connected_at >= self.max_age_s and link.successor is None:
                    await self._rollover(link, ws)
                    continue
                await self._send_control(link, ws, "PING")
        except ConnectionClosed:
            return  # the reader handles it
        except Exception:
            log.exception("ws.keepalive_failed")
            ws.transport.abort()

    async def _rollover(self, link: _Link, ws: ClientConnection) -> None:
        try:
            successor = await self._open(link)
        except Exception as exc:
            log.warning("ws.rollover_failed", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
            return  # try again next tick; the old connection still works
        link.successor = (successor, self.clock())
        await ws.close()

    # --- control replies ------------------------------------------------------------------

    def _on_text(self, link: _Link, text: str) -> None:
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
        pending = link.pending.pop(request_id, None) if isinstance(request_id, int) else None
        if pending is None:
            pending = self._match_pending(link, msg)
        if pending is None:
            if reply.get("code", 0) != 0:
                log.warning("ws.error_reply", extra={"code": reply.get("code"), "reply": msg[:300]})
            return
        method, params, _ = pending
        if method == "SUBSCRIPTION":
            self._check_subscribe_ack(link, params, reply.get("code", 0), msg)
        elif reply.get("code", 0) != 0:
            log.warning("ws.control_refused", extra={"method": method, "reply": msg[:300]})

    @staticmethod
    def _match_pending(link: _Link, msg: str) -> tuple[str, list[str], int] | None:
        """For servers that do not echo our id: match by method/channel names."""
        for request_id, (method, params, _sent) in link.pending.items():
            if (method == "PING" and msg == "PONG") or any(p in msg for p in params):
                return link.pending.pop(request_id)
        return None

    def _check_subscribe_ack(self, link: _Link, channels: list[str], code: Any, msg: str) -> None:
        refused: set[str] = set()
        if "Not Subscribed" in msg:  # MEXC: "Not Subscribed successfully! [a,b]. Reason: ..."
            match = re.search(r"\[([^\]]*)\]", msg)
            refused = {c.strip() for c in match.group(1).split(",")} if match else set(channels)
        for channel in channels:
            if channel not in link.channels:
                continue  # unsubscribed since
            if channel in refused or (code != 0 and channel not in msg):
                self.refused[channel] = msg[:300]
                self.acked.discard(channel)
                log.warning("ws.subscribe_refused", extra={"channel": channel, "reply": msg[:300]})
            else:
                self.acked.add(channel)
                self.refused.pop(channel, None)

    def _expire_acks(self, link: _Link, now_ns: int) -> None:
        limit = self.ack_timeout_s * 1e9
        for request_id, (method, params, sent) in list(link.pending.items()):
            if now_ns - sent > limit:
                del link.pending[request_id]
                log.warning("ws.ack_timeout", extra={"method": method, "params": params[:5]})
