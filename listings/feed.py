"""What the monitor needs from an exchange, as plain data.

The monitor depends on this seam only; `listings.mexc_feed.MexcFeed` implements it on the
MEXC adapter. Keeping it narrow keeps the loop testable step by step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Sighting:
    """Symbols seen trading on the stream, with when we received them (time.time_ns())."""

    symbols: Sequence[str]
    received_ns: int
    channel: str = ""
    price: Decimal | None = None  # one symbol's deals stream: its first trade's price


@dataclass(frozen=True, slots=True)
class StreamState:
    """The stream connected or dropped; `retry_in` is the backoff before the next attempt."""

    connected: bool
    reason: str = ""
    retry_in: float | None = None
    connection: int = 0  # which of the stream's connections (0: the first, all-symbol one)


@dataclass(frozen=True, slots=True)
class Announcement:
    """A listing announced on the new-coin calendar, with its open time."""

    symbol: str
    open_at: datetime
    base_asset: str = ""
    quote_asset: str = ""
    full_name: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class ExchangeFeed(Protocol):
    async def trading_symbols(self) -> set[str]:
        """Every symbol trading now (a full snapshot); raises on failure."""

    async def announcements(self) -> list[Announcement]:
        """Upcoming listings from the calendar; raises on failure."""

    def stream(self) -> AsyncIterator[Sighting | StreamState]:
        """Sightings and connection changes, forever (reconnecting by itself)."""

    async def watch_symbol(self, symbol: str) -> None:
        """Subscribe the per-symbol streams of a symbol that opens soon."""

    async def unwatch_symbol(self, symbol: str) -> None:
        """Nothing needs the symbol's own stream any more (MEXC: 30 per connection)."""

    async def open_time(self, symbol: str) -> tuple[datetime, str] | None:
        """When the symbol opened by the exchange's records, and which ('first_trade',
        'first_kline'); None when it has none yet."""

    def server_now(self) -> datetime:
        """The exchange's clock (local clock corrected by the measured offset)."""

    async def aclose(self) -> None: ...
