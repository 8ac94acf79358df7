import os
import uuid

import pytest

from risk.guards import (
    BreakerConfig,
    BreakerState,
    LocalCircuitBreaker,
    LocalRateLimiter,
    RedisAdmission,
    RedisCircuitBreaker,
    RedisRateLimiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _redis():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL not set: the Redis backend runs in CI")
    import redis

    return redis.Redis.from_url(url)


def test_local_limiter_allows_a_burst_then_paces():
    clock = FakeClock()
    limiter = LocalRateLimiter(per_second=5, burst=5, clock=clock)
    waits = [limiter.reserve(max_wait_s=10) for _ in range(7)]
    assert waits[:5] == pytest.approx([0, 0, 0, 0, 0])
    assert waits[5] == pytest.approx(0.2) and waits[6] == pytest.approx(0.4)
    clock.now += 10
    assert limiter.reserve(max_wait_s=0) == 0


def test_local_limiter_refuses_beyond_max_wait_without_taking_a_slot():
    clock = FakeClock()
    limiter = LocalRateLimiter(per_second=1, burst=1, clock=clock)
    assert limiter.reserve(max_wait_s=0) == 0
    assert limiter.reserve(max_wait_s=0.5) is None
    assert limiter.reserve(max_wait_s=2) == pytest.approx(1.0)


def test_redis_limiter_is_shared_between_instances():
    r = _redis()
    key = f"test:limiter:{uuid.uuid4().hex}"
    clock = FakeClock()  # seconds; the limiter takes µs
    a = RedisRateLimiter(redis=r, key=key, per_second=5, burst=2, clock=lambda: clock() * 1e6)
    b = RedisRateLimiter(redis=r, key=key, per_second=5, burst=2, clock=lambda: clock() * 1e6)
    waits = [a.reserve(1), b.reserve(1), a.reserve(1), b.reserve(1)]
    assert waits == [0, 0, 0.2, 0.4]
    clock.now += 0.1
    assert b.reserve(1) == pytest.approx(0.5)
    assert a.reserve(0) is None


def _exercise_breaker(breaker, advance):
    assert breaker.state() is BreakerState.CLOSED
    for _ in range(2):
        assert breaker.record_failure() is BreakerState.CLOSED
    breaker.record_success()  # consecutive failures only
    for _ in range(2):
        breaker.record_failure()
    assert breaker.record_failure() is BreakerState.OPEN
    assert breaker.allow() is False and breaker.state() is BreakerState.OPEN
    advance()
    assert breaker.state() is BreakerState.HALF_OPEN
    assert breaker.allow() is True  # the probe
    assert breaker.allow() is False  # only one probe at a time
    assert breaker.record_failure() is BreakerState.OPEN  # probe failed: open again
    advance()
    assert breaker.allow() is True
    breaker.record_success()
    assert breaker.state() is BreakerState.CLOSED and breaker.allow() is True


def test_local_breaker_opens_half_opens_and_closes():
    clock = FakeClock()
    breaker = LocalCircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=30), clock=clock)

    def advance():
        clock.now += 31

    _exercise_breaker(breaker, advance)


def test_redis_breaker_behaves_the_same(monkeypatch):
    r = _redis()
    breaker = RedisCircuitBreaker(
        redis=r, name=uuid.uuid4().hex, config=BreakerConfig(failure_threshold=3, cooldown_s=30)
    )
    now = [1000.0]
    monkeypatch.setattr(breaker, "_now", lambda: now[0])

    def advance():
        now[0] += 31
        r.delete(breaker.k_probe)  # the probe key's own TTL is real time

    try:
        _exercise_breaker(breaker, advance)
    finally:
        breaker.reset()


def test_redis_admission_asks_the_breaker_then_takes_a_slot_in_one_call(monkeypatch):
    r = _redis()
    name = uuid.uuid4().hex
    config = BreakerConfig(failure_threshold=1, cooldown_s=30)
    breaker = RedisCircuitBreaker(redis=r, name=name, config=config)
    now = [1000.0]
    limiter = RedisRateLimiter(
        redis=r, key=f"test:limiter:{name}", per_second=5, burst=1, clock=lambda: now[0] * 1e6
    )
    admission = RedisAdmission(breaker=breaker, limiter=limiter)
    monkeypatch.setattr(breaker, "_now", lambda: now[0])
    try:
        assert admission(1) == (True, 0)
        assert admission(1) == (True, 0.2)
        assert admission(0) == (True, None)  # no slot within 0 s, and none taken
        breaker.record_failure()
        assert admission(10) == (False, None)
        assert admission(10) == (False, None)  # refused by the breaker: no slot taken either
        now[0] += 31  # the probe; the two granted slots are long past
        assert admission(10) == (True, 0)
        assert admission(10) == (False, None)  # one probe at a time
    finally:
        breaker.reset()
        limiter.reset()
