"""Guards in front of the exchange: an order rate limiter and a circuit breaker.

Both are shared by every worker through Redis in the production shape (REDIS_URL), and live
in this process for the embedded default. Same algorithm either way, so tests of one backend
speak for the other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# --- Rate limiter: GCRA (a token bucket kept as one timestamp) --------------------------------
#
# Each grant moves the "theoretical arrival time" (TAT) one interval later. A caller is
# granted a slot and told how long to wait for it, so bursts are paced, never dropped.

_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait < 0 then wait = 0 end
if wait > max_wait then return -1 end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1000)
return wait
"""


class RateLimiter(Protocol):
    def reserve(self, max_wait_s: float) -> float | None:
        """Reserve the next slot: seconds to wait before using it, or None if beyond max_wait."""

    def reset(self) -> None: ...


class LocalRateLimiter:
    def __init__(self, *, per_second: float, burst: int, clock=time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self.burst = (burst - 1) * self.interval
        self.clock = clock
        self._tat = 0.0
        self._lock = threading.Lock()

    def reserve(self, max_wait_s: float) -> float | None:
        with self._lock:
            now = self.clock()
            tat = max(self._tat, now)
            wait = max(0.0, tat - self.burst - now)
            if wait > max_wait_s:
                return None
            self._tat = tat + self.interval
            return wait

    def reset(self) -> None:
        with self._lock:
            self._tat = 0.0


class RedisRateLimiter:
    def __init__(self, *, redis, key: str, per_second: float, burst: int) -> None:
        self.redis = redis
        self.key = key
        self.interval_us = int(1_000_000 / per_second)
        self.burst_us = (burst - 1) * self.interval_us
        self._script = redis.register_script(_GCRA_LUA)

    def reserve(self, max_wait_s: float) -> float | None:
        wait_us = int(
            self._script(
                keys=[self.key], args=[self.interval_us, self.burst_us, int(max_wait_s * 1e6)]
            )
        )
        return None if wait_us < 0 else wait_us / 1e6

    def reset(self) -> None:
        self.redis.delete(self.key)


# --- Circuit breaker ----------------------------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class BreakerConfig:
    failure_threshold: int = 5  # consecutive exchange failures that open it
    cooldown_s: float = 30.0  # open this long, then let one probe through


class CircuitBreaker(Protocol):
    def allow(self) -> bool:
        """May a request go to the exchange now? In half-open, only one probe is let through."""

    def record_success(self) -> None: ...

    def record_failure(self) -> BreakerState:
        """Count a failure; returns the state after it (OPEN when this one tripped it)."""

    def state(self) -> BreakerState: ...

    def reset(self) -> None: ...


class LocalCircuitBreaker:
    def __init__(self, config: BreakerConfig | None = None, clock=time.monotonic) -> None:
        self.config = config or BreakerConfig()
        self.clock = clock
        self._failures = 0
        self._opened_until: float | None = None
        self._probe_until: float | None = None
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._opened_until is None:
                return True
            now = self.clock()
            if now < self._opened_until:
                return False
            if self._probe_until is not None and now < self._probe_until:
                return False  # a probe is already out
            self._probe_until = now + self.config.cooldown_s
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_until = self._probe_until = None

    def record_failure(self) -> BreakerState:
        with self._lock:
            self._failures += 1
            half_open = self._opened_until is not None
            if half_open or self._failures >= self.config.failure_threshold:
                self._opened_until = self.clock() + self.config.cooldown_s
                self._probe_until = None
                return BreakerState.OPEN
            return BreakerState.CLOSED

    def state(self) -> BreakerState:
        with self._lock:
            if self._opened_until is None:
                return BreakerState.CLOSED
            return (
                BreakerState.OPEN if self.clock() < self._opened_until else BreakerState.HALF_OPEN
            )

    def reset(self) -> None:
        self.record_success()


class RedisCircuitBreaker:
    """The same breaker with its state in Redis, so every worker sees one breaker."""

    def __init__(self, *, redis, name: str, config: BreakerConfig | None = None) -> None:
        self.redis = redis
        self.config = config or BreakerConfig()
        self.k_failures = f"breaker:{name}:failures"
        self.k_open = f"breaker:{name}:opened_until"
        self.k_probe = f"breaker:{name}:probe"

    def _now(self) -> float:
        return time.time()

    def allow(self) -> bool:
        opened_until = self.redis.get(self.k_open)
        if opened_until is None:
            return True
        if self._now() < float(opened_until):
            return False
        probe_ms = int(self.config.cooldown_s * 1000)
        return bool(self.redis.set(self.k_probe, "1", nx=True, px=probe_ms))

    def record_success(self) -> None:
        self.redis.delete(self.k_failures, self.k_open, self.k_probe)

    def record_failure(self) -> BreakerState:
        failures = self.redis.incr(self.k_failures)
        half_open = self.redis.exists(self.k_open)
        if half_open or failures >= self.config.failure_threshold:
            pipe = self.redis.pipeline()
            pipe.set(self.k_open, self._now() + self.config.cooldown_s)
            pipe.delete(self.k_probe)
            pipe.execute()
            return BreakerState.OPEN
        return BreakerState.CLOSED

    def state(self) -> BreakerState:
        opened_until = self.redis.get(self.k_open)
        if opened_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if self._now() < float(opened_until) else BreakerState.HALF_OPEN

    def reset(self) -> None:
        self.record_success()
