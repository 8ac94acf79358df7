"""The port through which listings hands work to trading, without importing it.

Trading registers its implementation in its `AppConfig.ready` (`register_trading`); listings
calls whatever is registered. Nothing here names another app's module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any, Protocol


class TradingPort(Protocol):
    def listing_recorded(
        self, *, listing_id: int, detected_ns: int | None, persisted_ns: int | None
    ) -> Future | None:
        """A new listing was committed: decide (and send) its trade. In-process: its future."""

    def listing_armed(self, *, upcoming_id: int) -> Future | None:
        """An announced listing opens soon: decide its trade now, fire it at the open."""

    def reconcile(self) -> Future | None:
        """Settle open trades (asked periodically)."""

    def first_price(self, *, symbol: str, price: Decimal) -> None:
        """An armed symbol's price on its own stream (a trade, or the best ask): an entry
        waiting for its first price may be priced from it (cheap: called on the loop)."""

    def serve_in_this_process(self) -> None:
        """Run trades on this process's threads (the monitor), not on Celery workers."""

    def watch_positions(self, rest: Any, shutdown: asyncio.Event) -> Awaitable[None]:
        """Watch open positions and sell them by their exit rules until `shutdown` (on the
        caller's loop; `rest`: a public MEXC REST client for prices and the clock)."""

    def wait(self) -> None:
        """Let in-process work finish (a short-lived command before it exits)."""


_trading: TradingPort | None = None


def register_trading(port: TradingPort) -> None:
    global _trading
    _trading = port


def trading() -> TradingPort:
    if _trading is None:
        raise RuntimeError("No trading port is registered (is the trading app installed?).")
    return _trading
