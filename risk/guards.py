"""Guards in front of the exchange: an order rate limiter and a circuit breaker.

Both are shared by every worker through Redis in the production shape (REDIS_URL), and live
in this process for the embedded default. Same algorithm either way, so tests of one backend
speak for the other.
"""

from __future__ import annotations

import select
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

# --- Rate limiter: GCRA (a token bucket kept as one timestamp) --------------------------------
#
# Each grant moves the "theoretical arrival time" (TAT) one interval later. A caller is
# granted a slot and told how long to wait for it, so bursts are paced, never dropped.

# The Redis scripts are built from two steps, so the order path can run both in one round
# trip (`RedisAdmission`) with the same rules as each guard alone.
_GCRA_STEP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
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
"""
    + _GCRA_STEP
)


# A slot granted but not used (`RedisRateLimiter.give_back`): the TAT one interval earlier.
_GIVE_BACK_LUA = """
local limiter_key, interval = KEYS[1], tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', limiter_key))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
tat = tat - interval
if tat <= now then
  redis.call('DEL', limiter_key)
else
  redis.call('SET', limiter_key, tat, 'PX', math.floor((tat - now) / 1000) + 1000)
end
return 1
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
        self._give_back = redis.register_script(_GIVE_BACK_LUA)

    def script_args(self, max_wait_s: float) -> tuple[list[str], list[int]]:
        return [self.key], [self.interval_us, self.burst_us, int(max_wait_s * 1e6)]

    def reserve(self, max_wait_s: float) -> float | None:
        keys, args = self.script_args(max_wait_s)
        wait_us = int(self._script(keys=keys, args=args))
        return None if wait_us < 0 else wait_us / 1e6

    def give_back(self) -> None:
        """Return one granted slot that will not be used (the next caller's comes earlier)."""
        self._give_back(keys=[self.key], args=[self.interval_us])

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
"""
    + _BREAKER_STEP
    + _GCRA_STEP
)
BREAKER_REFUSED = -2
# Asked ahead, only a closed breaker is answered: an open or half-open one (whose probe must
# not be taken for a send that may never happen) leaves the question to the caller.
_AHEAD_LUA = (
    """
local open_key, limiter_key = KEYS[1], KEYS[2]
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', open_key) == 1 then return -3 end
"""
    + _GCRA_STEP
)
NOT_ANSWERED = -3


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
        self._ahead_sha: str | None = None
        self._own = None
        self._own_free = threading.Lock()
        self._packed: dict[tuple, list[bytes]] = {}

    def __call__(self, max_wait_s: float) -> tuple[bool, float | None]:
        """(the breaker allows, seconds to wait for the slot or None when beyond max_wait_s)."""
        breaker_keys, breaker_args = self.breaker.script_args()
        limiter_keys, limiter_args = self.limiter.script_args(max_wait_s)
        result = int(
            self._script(keys=[*breaker_keys, *limiter_keys], args=[*breaker_args, *limiter_args])
        )
        return _admitted(result)

    def ask_ahead(self, max_wait_s: float) -> AdmissionAhead:
        """Send the question now and read the answer later (`AdmissionAhead.take`): the order
        path asks while its database round trip is out, before it knows it will send. A
        slot granted but not taken goes back (`AdmissionAhead.give_back`). Only a closed
        breaker is answered this way; otherwise the caller asks again (`__call__`)."""
        self.load()
        limiter_keys, limiter_args = self.limiter.script_args(max_wait_s)
        connection, release = self._asking_connection()
        try:
            keys = (self.breaker.k_open, *limiter_keys)
            connection.send_packed_command(
                self._ahead_command(connection, keys, limiter_args), check_health=False
            )
        except BaseException:
            connection.disconnect()  # nothing half-sent may be read by the next user
            release(connection)
            raise
        return AdmissionAhead(self, connection, release, max_wait_s)

    def _ahead_command(self, connection, keys: tuple[str, ...], args: list[int]) -> list[bytes]:
        """The ahead script's call, packed once per set of arguments (they change only with
        the config): redis-py packs each argument anew on every call (~0.05 ms here)."""
        key = (self._ahead_sha, keys, tuple(args))
        packed = self._packed.get(key)
        if packed is None:
            if len(self._packed) >= 16:
                self._packed.clear()
            packed = connection.pack_command("EVALSHA", self._ahead_sha, len(keys), *keys, *args)
            self._packed[key] = packed
        return packed

    def _asking_connection(self):
        """A connection of its own while it is free (one thread asks ahead: the monitor's
        database thread), else one from the pool: taking one from redis-py's pool costs
        ~0.2 ms here, as much as the round trip."""
        if self._own_free.acquire(blocking=False):
            try:
                if self._own is None:
                    pool = self.limiter.redis.connection_pool
                    self._own = pool.connection_class(**pool.connection_kwargs)
                _fresh(self._own)
            except BaseException:
                self._own_free.release()
                raise
            return self._own, lambda _: self._own_free.release()
        pool = self.limiter.redis.connection_pool
        return pool.get_connection(), pool.release

    def load(self) -> None:
        """Load the ahead script into Redis (once, and again after Redis lost it)."""
        if self._ahead_sha is None:
            self._ahead_sha = self.limiter.redis.script_load(_AHEAD_LUA)


def _admitted(result: int) -> tuple[bool, float | None]:
    """An admission script's answer: (the breaker allows, seconds to wait for the slot or
    None when it is beyond the budget)."""
    if result == BREAKER_REFUSED:
        return False, None
    return True, None if result < 0 else result / 1e6


def _fresh(connection) -> None:
    """Connected, with nothing unread: as redis-py's pool checks a connection it hands out
    (a Redis restart closes the socket; the next send would be lost)."""
    connection.connect()
    if _stale(connection):
        connection.disconnect()
        connection.connect()


def _stale(connection) -> bool:
    """Anything to read (an end of file after a restart, or a stray reply) on an idle
    connection. One poll of its socket: redis-py's own check (`can_read`) sets the socket's
    timeout twice around a read (~0.1 ms here, on the order path)."""
    sock = getattr(connection, "_sock", None)
    if sock is None:
        try:
            return connection.can_read()
        except RedisConnectionError:
            return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)  # hang-ups and errors come anyway
    return bool(poller.poll(0))


class AdmissionAhead:
    """A `RedisAdmission` asked ahead: its connection is held until the answer is read."""

    def __init__(self, admission: RedisAdmission, connection, release, max_wait_s: float) -> None:
        self.admission = admission
        self.max_wait_s = max_wait_s
        self._connection = connection
        self._release = release
        self._answer: int | None = None
        self._taken = False

    def _read(self) -> int:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                self._answer = int(connection.read_response())
            except NoScriptError:  # Redis restarted since the script was loaded
                self.admission._ahead_sha = None
                self._answer = NOT_ANSWERED
            except (RedisConnectionError, RedisTimeoutError):  # the caller asks again
                connection.disconnect()
                self._answer = NOT_ANSWERED
            except BaseException:
                connection.disconnect()
                raise
            finally:
                self._release(connection)
        assert self._answer is not None
        return self._answer

    def answer(self) -> tuple[bool, float | None] | None:
        """The answer, as `RedisAdmission.__call__` gives it; None: not answered ahead (the
        breaker is not closed), ask again."""
        answer = self._read()
        return None if answer == NOT_ANSWERED else _admitted(answer)

    def take(self) -> tuple[bool, float | None] | None:
        """`answer`, and the caller now owns a slot it granted."""
        answer = self.answer()
        self._taken = answer is not None
        return answer

    def give_back(self, *, taken_too: bool = False) -> None:
        """The caller will not send: a slot granted ahead and not taken (or, `taken_too`,
        taken but not used after all) returns to the limiter. Reads the answer first if
        nobody did."""
        if self._taken and not taken_too:
            return
        self._taken = True
        if self._read() >= 0:
            self.admission.limiter.give_back()
