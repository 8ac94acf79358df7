"""A scripted ExchangeFeed for stepping the monitor without a network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from listings.feed import Announcement, Sighting, StreamState


class ScriptedFeed:
    def __init__(self, symbols: set[str] | None = None) -> None:
        self.symbols = set(symbols or {"BTCUSDT", "ETHUSDT", "MXUSDT"})
        self.rest_down = False
        self.calendar: list[Announcement] = []
        self.watched: list[str] = []
        self.unwatched: list[str] = []
        self.opened: dict[str, tuple[datetime, str]] = {}  # open-time evidence per symbol
        self.queue: asyncio.Queue[Sighting | StreamState] = asyncio.Queue()
        self.closed = False
        self.calendar_error: Exception | None = None
        self.now: datetime | None = None  # the exchange's clock, when a test sets it

    async def trading_symbols(self) -> set[str]:
        if self.rest_down:
            raise ConnectionError("simulated REST outage")
        return set(self.symbols)

    async def announcements(self) -> list[Announcement]:
        if self.calendar_error is not None:
            raise self.calendar_error
        return list(self.calendar)

    async def stream(self):
        while True:
            yield await self.queue.get()

    async def watch_symbol(self, symbol: str) -> None:
        self.watched.append(symbol)

    async def unwatch_symbol(self, symbol: str) -> None:
        self.unwatched.append(symbol)

    async def open_time(self, symbol: str) -> tuple[datetime, str] | None:
        return self.opened.get(symbol)

    def server_now(self) -> datetime:
        return self.now or datetime.now(UTC)

    async def aclose(self) -> None:
        self.closed = True
