"""A client-side IP-weight budget: MEXC's limit kept on our side of the wire.

MEXC weighs every REST request per IP and allows 500 weight per sliding 10 s (DOC-EN
"LIMITS", mexc-api.md 4); going over answers 429 with Retry-After, and repeated 429s ban the
IP (418) for 2 minutes to 3 days. ``WeightBudget`` charges each request its documented weight
before it is sent, so a burst of market-data reads is refused here (``WeightBudgetExhausted``,
nothing sent) instead of by the exchange.

- **Reserve for orders.** Market data (public, unsigned requests) may fill the window only up
  to ``limit - reserve``; the last ``reserve`` weight is for signed requests (our orders'
  status and the witnesses that settle an order: GET order, openOrders, allOrders, account)
  and the clock sync an order needs.
  Order placement and cancel are never refused by the budget: they are charged (so market
  data yields to them) but go out whatever the count, since refusing an order for the sake
  of a price read is the wrong trade.
- **Back-off.** After a 429/418 every request, orders included, fails fast (RateLimited /
  IpBanned, nothing sent) until Retry-After has passed: MEXC's bans grow with each breach.

One budget per client (or shared by several clients of one process); it knows nothing of
other processes on the same IP, so give each process its share of MEXC's limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import IpBanned, RateLimited, WeightBudgetExhausted

__all__ = [
    "DEFAULT_IP_WEIGHT_LIMIT",
    "WINDOW_S",
    "WeightBudget",
    "request_weight",
]

DEFAULT_IP_WEIGHT_LIMIT = 500  # weight per 10 s per IP (DOC-EN "LIMITS"; the simulator's too)
WINDOW_S = 10.0
DEFAULT_RESERVE_FRACTION = 0.1  # the last 10 % of the window: orders only
BAN_WITHOUT_RETRY_AFTER_S = 120.0  # a 418 without Retry-After: MEXC's shortest ban (2 min)
LIMITED_WITHOUT_RETRY_AFTER_S = 1.0  # a 429 without Retry-After

#: IP weight of each endpoint: (method, path) -> weight, or (with ``symbol``, without) where
#: asking for one symbol costs less than asking for all. Sources: mexc-api.md 2 and 4 (DOC-EN);
#: depth, trades, klines, openOrders, allOrders, myTrades from the current docs (NEWDOC
#: "Market Data Endpoints" / "Spot Account/Trade": depth 1, trades 5, klines 1; openOrders 3,
#: allOrders 10, myTrades 10). hummingbot gives depth 50 (HB constants, mexc-api.md 2.6): not
#: MEXC's figure, so not used. Anything unlisted counts 1 (ping, time, defaultSymbols,
#: selfSymbols, bookTicker, order/test, userDataStream, DELETE openOrders).
IP_WEIGHTS: dict[tuple[str, str], int | tuple[int, int]] = {
    ("GET", "/api/v3/exchangeInfo"): 10,
    ("GET", "/api/v3/ticker/24hr"): (1, 40),
    ("GET", "/api/v3/ticker/price"): (1, 2),
    ("GET", "/api/v3/depth"): 1,
    ("GET", "/api/v3/trades"): 5,
    ("GET", "/api/v3/klines"): 1,
    ("POST", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/order"): 2,
    ("GET", "/api/v3/openOrders"): 3,
    ("GET", "/api/v3/allOrders"): 10,
    ("GET", "/api/v3/myTrades"): 10,
    ("GET", "/api/v3/account"): 10,
}

#: Never refused by the budget (charged all the same): placing and canceling an order.
ORDERS = frozenset({("POST", "/api/v3/order"), ("DELETE", "/api/v3/order")})
#: Besides every signed request (our orders' status and the witnesses that settle an order:
#: GET order, openOrders, allOrders, account; listen keys), the reserve is open to the clock
#: sync a signed order waits for. Market data (public, unsigned) stops short of it.
RESERVED = frozenset({("GET", "/api/v3/time")})


def request_weight(method: str, path: str, query: str = "") -> int:
    """The documented IP weight of one request (``query``: its query string)."""
    weight = IP_WEIGHTS.get((method, path), 1)
    if isinstance(weight, tuple):
        one = query.startswith("symbol=") or "&symbol=" in query
        return weight[0] if one else weight[1]
    return weight


class WeightBudget:
    """A sliding ``window_s`` window of at most ``limit`` IP weight, ``reserve`` of it kept
    for orders; ``clock`` is monotonic seconds (injected by tests)."""

    def __init__(
        self,
        limit: int = DEFAULT_IP_WEIGHT_LIMIT,
        *,
        reserve: int | None = None,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if reserve is None:
            reserve = math.ceil(limit * DEFAULT_RESERVE_FRACTION)
        if not 0 <= reserve < limit:
            raise ValueError(f"reserve must be 0..{limit - 1}, got {reserve}")
        self.limit = limit
        self.reserve = reserve
        self.window_s = window_s
        self._clock = clock
        self._entries: deque[tuple[float, int]] = deque()
        self._used = 0
        self._blocked_until = 0.0
        self._blocked_by: RateLimited | IpBanned | None = None
        self._lock = threading.Lock()  # health reads it from other threads

    def weight_used(self) -> int:
        """Weight charged in the last ``window_s`` seconds."""
        with self._lock:
            self._purge(self._clock())
            return self._used

    def blocked_for(self) -> float:
        """Seconds left of a back-off the exchange asked for (0: none)."""
        return max(0.0, self._blocked_until - self._clock())

    def charge(
        self,
        method: str,
        path: str,
        query: str = "",
        *,
        signed: bool = False,
        coid: str | None = None,
    ) -> int:
        """Charge one request before it is sent, or raise (nothing is sent then):
        RateLimited/IpBanned while backing off after a 429/418, WeightBudgetExhausted when
        it would go over the budget (``retry_after``: seconds until it fits)."""
        key = (method, path)
        weight = request_weight(method, path, query)
        with self._lock:
            now = self._clock()
            if now < self._blocked_until and self._blocked_by is not None:
                cause = self._blocked_by
                raise type(cause)(
                    f"{method} {path} not sent: backing off after HTTP {cause.http_status}",
                    code=cause.code,
                    http_status=cause.http_status,
                    retry_after=self._blocked_until - now,
                    client_order_id=coid,
                )
            self._purge(now)
            if key not in ORDERS:
                cap = self.limit if signed or key in RESERVED else self.limit - self.reserve
                if self._used + weight > cap:
                    wait = self._wait(now, cap - weight)
                    raise WeightBudgetExhausted(
                        f"{method} {path} not sent: {self._used}+{weight} weight over "
                        f"{cap} of {self.limit} per {self.window_s:g} s",
                        retry_after=wait,
                        client_order_id=coid,
                    )
            self._entries.append((now, weight))
            self._used += weight
        return weight

    def back_off(self, error: RateLimited | IpBanned) -> None:
        """The exchange answered 429/418: nothing goes out until its Retry-After has passed."""
        if isinstance(error, WeightBudgetExhausted):
            return
        seconds = error.retry_after
        if seconds is None:
            banned = isinstance(error, IpBanned)
            seconds = BAN_WITHOUT_RETRY_AFTER_S if banned else LIMITED_WITHOUT_RETRY_AFTER_S
        with self._lock:
            until = self._clock() + seconds
            if until > self._blocked_until:
                self._blocked_until, self._blocked_by = until, error

    def _purge(self, now: float) -> None:
        edge = now - self.window_s
        while self._entries and self._entries[0][0] <= edge:
            self._used -= self._entries.popleft()[1]

    def _wait(self, now: float, room: int) -> float:
        """Seconds until at most ``room`` weight is left in the window."""
        if room < 0:
            return self.window_s  # never fits this cap; a window is the honest answer
        left = self._used
        for at, weight in self._entries:
            left -= weight
            if left <= room:
                return max(0.0, at + self.window_s - now)
        return self.window_s
