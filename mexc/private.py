"""MEXC user-data (private) WebSocket stream: own orders and balances as they change.

``async for event in MexcPrivateStream(rest, ws_url).events(): ...`` yields what
``mexc.codec.decode`` makes of each push on ``spot@private.orders.v3.api.pb`` and
``spot@private.account.v3.api.pb`` (``PrivateOrder`` / ``PrivateAccount``), plus the
``Connected`` / ``Disconnected`` state events of ``mexc.stream``.

How (MEXC docs "Websocket User Data Streams", mexc-api.md sections 2.12 and 8):

- A listenKey comes from ``POST /api/v3/userDataStream`` (``rest.create_listen_key()``); the
  connection is ``<ws_url>?listenKey=KEY``. A key lives 60 minutes; a PUT every 30 minutes
  (``keepalive_s``) extends it. If a keep-alive is refused, a new key is created and the
  connection is cut to reconnect with it (``restart``). On the way out the key is closed.
- Connecting, subscribing, PING, liveness, rollover and the reconnect backoff are
  ``mexc.stream.MexcStream``'s, unchanged. If no key can be had at the start, that is
  retried on the same backoff schedule, each failure yielded as ``Disconnected``.
- Frames only pass through ``decode`` (``mexc.codec.decode`` by default); whatever it returns
  (None is dropped) is yielded as is. The listenKey never reaches a log line or an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

from .errors import MexcError
from .stream import BACKOFF_S, Connected, Disconnected, MexcStream

__all__ = [
    "LISTEN_KEY_KEEPALIVE_S",
    "PRIVATE_ACCOUNT_CHANNEL",
    "PRIVATE_CHANNELS",
    "PRIVATE_ORDERS_CHANNEL",
    "Connected",
    "Disconnected",
    "ListenKeys",
    "MexcPrivateStream",
]

log = logging.getLogger(__name__)

PRIVATE_ORDERS_CHANNEL = "spot@private.orders.v3.api.pb"
PRIVATE_ACCOUNT_CHANNEL = "spot@private.account.v3.api.pb"
PRIVATE_CHANNELS = (PRIVATE_ORDERS_CHANNEL, PRIVATE_ACCOUNT_CHANNEL)
LISTEN_KEY_KEEPALIVE_S = 30 * 60.0
CLOSE_TIMEOUT_S = 2.0


class ListenKeys(Protocol):
    """What the stream needs of the REST client (``mexc.rest.MexcRestClient`` has it)."""

    async def create_listen_key(self) -> str: ...
    async def keepalive_listen_key(self, listen_key: str) -> None: ...
    async def close_listen_key(self, listen_key: str) -> None: ...


class MexcPrivateStream:
    def __init__(
        self,
        rest: ListenKeys,
        ws_url: str,
        *,
        channels: Iterable[str] = PRIVATE_CHANNELS,
        keepalive_s: float = LISTEN_KEY_KEEPALIVE_S,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        backoff_s: Iterable[float] = BACKOFF_S,
        **stream_options: Any,
    ) -> None:
        """``stream_options``: passed to ``MexcStream`` (``decode``, ``ping_interval_s``...)."""
        self.rest = rest
        self.ws_url = ws_url.split("?", 1)[0]
        self.channels = list(channels)
        self.keepalive_s = keepalive_s
        self.sleep = sleep
        self.backoff_s = tuple(backoff_s) or BACKOFF_S
        self.stream_options = stream_options
        self.stream: MexcStream | None = None
        self.keepalives = 0  # keep-alives that went through
        self.renewals = 0  # keys created after a refused keep-alive
        self._key: str | None = None
        self._stopped = False
        self._stop_event = asyncio.Event()

    def __repr__(self) -> str:  # never the key
        return f"MexcPrivateStream({self.ws_url!r}, keyed={self._key is not None})"

    def _url(self, key: str) -> str:
        return f"{self.ws_url}?listenKey={key}"

    def stop(self) -> None:
        self._stopped = True
        self._stop_event.set()
        if self.stream is not None:
            self.stream.stop()

    async def aclose(self) -> None:
        self.stop()
        if self.stream is not None:
            await self.stream.aclose()

    async def events(self) -> AsyncIterator[Any]:
        """Decoded private pushes and state events until ``stop()``."""
        key = None
        attempt = 0
        while key is None and not self._stopped:
            try:
                key = await self.rest.create_listen_key()
            except MexcError as exc:
                delay = float(self.backoff_s[min(attempt, len(self.backoff_s) - 1)])
                attempt += 1
                log.warning("ws.private.listen_key_failed", extra={"error": type(exc).__name__})
                yield Disconnected(f"listenKey: {type(exc).__name__}", delay)
                await self._pause(delay)
        if key is None:
            return
        self._key = key
        options = {"sleep": self.sleep, "backoff_s": self.backoff_s, **self.stream_options}
        self.stream = MexcStream(self._url(key), self.channels, **options)
        keeper = asyncio.create_task(self._keep_alive())
        try:
            async for event in self.stream.events():
                yield event
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            self.stream.stop()
            await self._close_key()

    async def _pause(self, delay: float) -> None:
        """``sleep(delay)``, cut short by stop()."""
        sleeper = asyncio.ensure_future(self.sleep(delay))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    async def _keep_alive(self) -> None:
        """PUT the key every ``keepalive_s``; a refused PUT gets a new key and a reconnect."""
        assert self.stream is not None
        while True:
            await asyncio.sleep(self.keepalive_s)
            key = self._key
            assert key is not None
            try:
                await self.rest.keepalive_listen_key(key)
                self.keepalives += 1
                continue
            except MexcError as exc:
                log.warning("ws.private.keepalive_failed", extra={"error": type(exc).__name__})
            try:
                key = await self.rest.create_listen_key()
            except MexcError as exc:  # the old key may still work; try again next time
                log.warning("ws.private.listen_key_failed", extra={"error": type(exc).__name__})
                continue
            old, self._key = self._key, key
            self.renewals += 1
            self.stream.url = self._url(key)
            self.stream.restart("listenKey renewed")
            with contextlib.suppress(MexcError):
                await self.rest.close_listen_key(old)

    async def _close_key(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.rest.close_listen_key(key)
        except (MexcError, TimeoutError) as exc:  # it expires by itself within the hour
            log.warning("ws.private.close_key_failed", extra={"error": type(exc).__name__})
