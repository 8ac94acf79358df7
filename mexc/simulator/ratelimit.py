"""Weight buckets (mexc-api.md §4): one shared sliding window per IP and one per UID.

Going over answers 429 with Retry-After; ``ban_after`` 429s inside one window ban the IP
(418 with Retry-After) for ``ban_s`` seconds, after which its slate is wiped.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from .errors import ApiError


class _Window:
    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.used = 0

    def purge(self, now: float, span: float) -> None:
        while self.entries and self.entries[0][0] <= now - span:
            self.used -= self.entries.popleft()[1]

    def wait_for(self, now: float, span: float, room: int) -> float:
        """Seconds until ``room`` weight fits again."""
        freed = self.used
        for at, weight in self.entries:
            freed -= weight
            if freed <= room:
                return at + span - now
        return span


class RateLimiter:
    def __init__(
        self,
        *,
        limit: int,
        window_s: float = 10.0,
        ban_after: int = 5,
        ban_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.ban_after = ban_after
        self.ban_s = ban_s
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.windows: dict[str, _Window] = {}
        self.breaches: dict[str, deque[float]] = {}
        self.banned_until: dict[str, float] = {}

    def check(self, ip: str, ip_weight: int, uid: str | None = None, uid_weight: int = 0) -> None:
        """Charge the weights or raise ApiError 429/418."""
        if self.limit <= 0:
            return
        now = self.clock()
        until = self.banned_until.get(ip)
        if until is not None:
            if now < until:
                raise self._banned(until - now)
            del self.banned_until[ip]
            self.windows.pop(f"ip:{ip}", None)
            self.breaches.pop(ip, None)
        charges = [(f"ip:{ip}", ip_weight)]
        if uid and uid_weight:
            charges.append((f"uid:{uid}", uid_weight))
        for key, weight in charges:
            window = self.windows.setdefault(key, _Window())
            window.purge(now, self.window_s)
            if window.used + weight > self.limit:
                self._breach(ip, now)
                wait = window.wait_for(now, self.window_s, self.limit - weight)
                raise ApiError(
                    429,
                    "Too Many Requests",
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        for key, weight in charges:
            window = self.windows[key]
            window.entries.append((now, weight))
            window.used += weight

    def _breach(self, ip: str, now: float) -> None:
        hits = self.breaches.setdefault(ip, deque())
        hits.append(now)
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.ban_after:
            self.banned_until[ip] = now + self.ban_s
            raise self._banned(self.ban_s)

    @staticmethod
    def _banned(remaining: float) -> ApiError:
        return ApiError(
            418,
            "IP banned for too many requests (rate limit breached repeatedly).",
            status=418,
            headers={"Retry-After": str(max(1, math.ceil(remaining)))},
        )
