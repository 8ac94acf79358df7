"""MEXC WebSocket stream client: subscribe, decode protobuf pushes, reconnect forever.

Reconnects on any drop with backoff 1, 2, 4, 8, 16, 30, 30... s, reset once a connection has
been stable; resubscribes everything; pings to stay alive; reconnects proactively before
MEXC's 24 h connection limit. Malformed frames are counted and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import websockets

from .codec import BookTicker, Deals, MalformedFrame, MiniTickers, PushEvent, decode

log = logging.getLogger(__name__)

BACKOFF_S = (1, 2, 4, 8, 16, 30)
MAX_SUBSCRIPTIONS = 30

__all__ = [
    "BACKOFF_S",
    "BookTicker",
    "Connected",
    "Deals",
    "Disconnected",
    "MexcStream",
    "MiniTickers",
    "book_ticker_channel",
    "deals_channel",
    "mini_tickers_channel",
]


def mini_tickers_channel(tz: str = "UTC+8") -> str:
    return f"spot@public.miniTickers.v3.api.pb@{tz}"


def deals_channel(symbol: str, interval: str = "10ms") -> str:
    return f"spot@public.aggre.deals.v3.api.pb@{interval}@{symbol.upper()}"


def book_ticker_channel(symbol: str, interval: str = "10ms") -> str:
    return f"spot@public.aggre.bookTicker.v3.api.pb@{interval}@{symbol.upper()}"


@dataclass(frozen=True, slots=True)
class Connected:
    url: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    retry_in: float


StreamEvent = PushEvent | Connected | Disconnected


class MexcStream:
    def __init__(
        self,
        url: str,
        subscriptions: list[str] | tuple[str, ...] = (),
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        ping_interval_s: float = 15.0,
        max_age_s: float = 23.5 * 3600,
        stable_after_s: float = 60.0,
        open_timeout_s: float = 5.0,
    ) -> None:
        if len(subscriptions) > MAX_SUBSCRIPTIONS:
            raise ValueError(f"MEXC allows {MAX_SUBSCRIPTIONS} subscriptions per connection.")
        self.url = url
        self.subscriptions: list[str] = list(dict.fromkeys(subscriptions))
        self.sleep = sleep
        self.clock = clock
        self.ping_interval_s = ping_interval_s
        self.max_age_s = max_age_s
        self.stable_after_s = stable_after_s
        self.open_timeout_s = open_timeout_s
        self.connected = False
        self.reconnects = 0
        self.malformed_frames = 0
        self.refused_subscriptions: list[str] = []
        self.delays: list[float] = []
        self._ws = None
        self._stopped = False
        self._next_id = 1

    def stop(self) -> None:
        self._stopped = True
        if self._ws is not None:
            self._closing = asyncio.ensure_future(self._ws.close())

    async def subscribe(self, channel: str) -> None:
        if channel in self.subscriptions:
            return
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise ValueError(
                f"MEXC allows {MAX_SUBSCRIPTIONS} subscriptions per connection; {channel} refused."
            )
        self.subscriptions.append(channel)
        if self._ws is not None and self.connected:
            await self._send_control(self._ws, "SUBSCRIPTION", [channel])

    async def unsubscribe(self, channel: str) -> None:
        if channel not in self.subscriptions:
            return
        self.subscriptions.remove(channel)
        if self._ws is not None and self.connected:
            await self._send_control(self._ws, "UNSUBSCRIPTION", [channel])

    async def _send_control(self, ws, method: str, params: list[str] | None = None) -> None:
        message: dict = {"method": method, "id": self._next_id}
        self._next_id += 1
        if params is not None:
            message["params"] = params
        await ws.send(json.dumps(message))

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Events forever (until stop()): pushes, plus Connected/Disconnected state changes."""
        attempt = 0
        while not self._stopped:
            connected_at: float | None = None
            reason = "closed"
            try:
                async with websockets.connect(
                    self.url,
                    open_timeout=self.open_timeout_s,
                    ping_interval=None,  # MEXC's own JSON PING keeps the session alive
                    max_size=2**22,
                    compression=None,
                ) as ws:
                    self._ws = ws
                    if self.subscriptions:
                        await self._send_control(ws, "SUBSCRIPTION", list(self.subscriptions))
                    connected_at = self.clock()
                    self.connected = True
                    log.info("ws.connect", extra={"url": self.url, "subs": len(self.subscriptions)})
                    yield Connected(self.url)
                    async for event in self._read(ws, connected_at):
                        yield event
                    reason = "max age reached" if not self._stopped else "stopped"
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                self._ws = None
                self.connected = False
            if self._stopped:
                return
            if connected_at is not None and self.clock() - connected_at >= self.stable_after_s:
                attempt = 0
            proactive = reason == "max age reached"
            delay = 0.0 if proactive else float(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            if not proactive:
                attempt += 1
            self.reconnects += 1
            self.delays.append(delay)
            log.warning("ws.disconnect", extra={"reason": reason, "retry_in": delay})
            yield Disconnected(reason, delay)
            log.info("ws.retry", extra={"delay_s": delay, "attempt": attempt})
            await self.sleep(delay)

    async def _read(self, ws, connected_at: float) -> AsyncIterator[PushEvent]:
        last_ping = self.clock()
        while not self._stopped:
            if self.clock() - connected_at >= self.max_age_s:
                await ws.close()
                return
            timeout = max(0.05, self.ping_interval_s - (self.clock() - last_ping))
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=timeout)
            except TimeoutError:
                await self._send_control(ws, "PING")
                last_ping = self.clock()
                continue
            if isinstance(frame, bytes):
                try:
                    event = decode(frame, time.time_ns())
                except MalformedFrame:
                    self.malformed_frames += 1
                    continue
                if event is not None:
                    yield event
            else:
                self._on_control(frame)

    def _on_control(self, text: str) -> None:
        try:
            reply = json.loads(text)
        except ValueError:
            self.malformed_frames += 1
            return
        if not isinstance(reply, dict):
            self.malformed_frames += 1
            return
        if reply.get("code", 0) != 0:
            self.refused_subscriptions.append(str(reply.get("msg", "")))
            log.warning("ws.subscription_refused", extra={"msg": str(reply.get("msg"))[:300]})
