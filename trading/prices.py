"""First prices of armed symbols, as the monitor's stream sees them, for the entries waiting.

An announced listing without a price known before its open is priced at the open from the
first price the bot sees. The monitor's own stream of the symbol (its trades, its book) usually
shows it before a REST answer could: the stream hands each price here (`offer`, on the
monitor's loop: a dict write and an event), and the trade waiting on its thread wakes at once
(`wait`). In a process that does not watch the stream (a Celery worker) nothing is offered and
the entry asks REST, as it always can.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from decimal import Decimal

KEEP_S = 30.0  # a first price older than this prices nothing (the open window is shorter)


class FirstPrices:
    def __init__(self, *, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._prices: dict[str, tuple[Decimal, float]] = {}
        self._listeners: dict[str, set[threading.Event]] = {}

    def offer(self, symbol: str, price: Decimal) -> None:
        """The stream saw `symbol` at `price`; the first price offered is the one kept."""
        if not price or price <= 0:
            return
        with self._lock:
            if symbol in self._prices:
                return
            now = self._clock()
            for old in [s for s, (_, at) in self._prices.items() if now - at > KEEP_S]:
                del self._prices[old]
            self._prices[symbol] = (price, now)
            listeners = self._listeners.pop(symbol, ())
        for event in listeners:
            event.set()

    def wait(self, symbol: str, timeout: float, *, or_when: Future | None = None) -> Decimal | None:
        """The symbol's first price, waiting up to `timeout` s for it (or until `or_when` is
        done: a REST answer on its way); None if none came."""
        event = threading.Event()
        with self._lock:
            known = self._prices.get(symbol)
            if known is not None and self._clock() - known[1] > KEEP_S:
                del self._prices[symbol]  # an earlier opening's: not this one's
                known = None
            if known is not None:
                return known[0]
            self._listeners.setdefault(symbol, set()).add(event)
        if or_when is not None:
            or_when.add_done_callback(lambda _: event.set())
        event.wait(timeout)
        with self._lock:
            self._listeners.get(symbol, set()).discard(event)
            if not self._listeners.get(symbol, True):
                del self._listeners[symbol]
            known = self._prices.get(symbol)
        return known[0] if known else None

    def forget(self, symbol: str) -> None:
        with self._lock:
            self._prices.pop(symbol, None)


first_prices = FirstPrices()
