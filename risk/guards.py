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

# The Redis scripts are built from two steps, so the order path asks both guards in one round
# trip (`RedisAdmission`) with the same rules as each guard alone.
_GCRA_STEP = """
local now = tonumber(now_us)
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', limiter_key) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait < 0 then wait = 0 end
if wait > max_wait then return -1 end
local new_tat = tat + interval
redis.call('SET', limiter_key, new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1000)
return wait
"""
_GCRA_LUA = (
    """
local limiter_key = KEYS[1]
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now_us = ARGV[4]
"""
    + _GCRA_STEP
)


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
    """`clock` (µs): tests inject one; by default Redis's own TIME, one clock for every
    worker on every machine."""

    def __init__(self, *, redis, key: str, per_second: float, burst: int, clock=None) -> None:
        self.redis = redis
        self.clock = clock
        self.key = key
        self.interval_us = int(1_000_000 / per_second)
        self.burst_us = (burst - 1) * self.interval_us
        self._script = redis.register_script(_GCRA_LUA)

    def script_args(self, max_wait_s: float) -> tuple[list[str], list[int]]:
        now_us = -1 if self.clock is None else int(self.clock())
        return [self.key], [self.interval_us, self.burst_us, int(max_wait_s * 1e6), now_us]

    def reserve(self, max_wait_s: float) -> float | None:
        keys, args = self.script_args(max_wait_s)
        wait_us = int(self._script(keys=keys, args=args))
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


# Open: refuse until the cool-down ends; then let one probe through at a time.
_BREAKER_STEP = """
local opened_until = redis.call('GET', open_key)
if opened_until and (now_s < tonumber(opened_until)
    or not redis.call('SET', probe_key, '1', 'NX', 'PX', probe_ms)) then
  return -2
end
"""
_BREAKER_LUA = (
    """
local open_key, probe_key = KEYS[1], KEYS[2]
local now_s, probe_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
"""
    + _BREAKER_STEP
    + "return 1"
)
_ADMISSION_LUA = (
    """
local open_key, probe_key, limiter_key = KEYS[1], KEYS[2], KEYS[3]
local now_s, probe_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, burst, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now_us = ARGV[6]
"""
    + _BREAKER_STEP
    + _GCRA_STEP
)
BREAKER_REFUSED = -2


class RedisCircuitBreaker:
    """The same breaker with its state in Redis, so every worker sees one breaker."""

    def __init__(self, *, redis, name: str, config: BreakerConfig | None = None) -> None:
        self.redis = redis
        self.config = config or BreakerConfig()
        self.k_failures = f"breaker:{name}:failures"
        self.k_open = f"breaker:{name}:opened_until"
        self.k_probe = f"breaker:{name}:probe"
        self._allow = redis.register_script(_BREAKER_LUA)

    def _now(self) -> float:
        return time.time()

    def script_args(self) -> tuple[list[str], list[str | int]]:
        probe_ms = int(self.config.cooldown_s * 1000)
        return [self.k_open, self.k_probe], [repr(self._now()), probe_ms]

    def allow(self) -> bool:
        keys, args = self.script_args()
        return int(self._allow(keys=keys, args=args)) != BREAKER_REFUSED

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


class RedisAdmission:
    """The breaker's check, then a rate-limit slot, in one Redis round trip (one script with
    both guards' steps): the order path asks both before every send."""

    def __init__(self, *, breaker: RedisCircuitBreaker, limiter: RedisRateLimiter) -> None:
        self.breaker = breaker
        self.limiter = limiter
        self._script = limiter.redis.register_script(_ADMISSION_LUA)

    def __call__(self, max_wait_s: float) -> tuple[bool, float | None]:
        """(the breaker allows, seconds to wait for the slot or None when beyond max_wait_s)."""
        breaker_keys, breaker_args = self.breaker.script_args()
        limiter_keys, limiter_args = self.limiter.script_args(max_wait_s)
        result = int(
            self._script(keys=[*breaker_keys, *limiter_keys], args=[*breaker_args, *limiter_args])
        )
        return _admitted(result)


def _admitted(result: int) -> tuple[bool, float | None]:
    """An admission script's answer: (the breaker allows, seconds to wait for the slot or
    None when it is beyond the budget)."""
    if result == BREAKER_REFUSED:
        return False, None
    return True, None if result < 0 else result / 1e6
