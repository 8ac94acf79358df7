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
    a = RedisRateLimiter(redis=r, key=key, per_second=5, burst=2)
    b = RedisRateLimiter(redis=r, key=key, per_second=5, burst=2)
    waits = [a.reserve(1), b.reserve(1), a.reserve(1), b.reserve(1)]
    assert waits[0] == 0 and waits[1] == 0
    assert 0.15 < waits[2] <= 0.2 and 0.35 < waits[3] <= 0.4
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
    limiter = RedisRateLimiter(redis=r, key=f"test:limiter:{name}", per_second=5, burst=1)
    admission = RedisAdmission(breaker=breaker, limiter=limiter)
    now = [1000.0]
    monkeypatch.setattr(breaker, "_now", lambda: now[0])
    try:
        assert admission(1) == (True, 0)
        allowed, wait = admission(1)
        assert allowed and 0.15 < wait <= 0.2
        assert admission(0) == (True, None)  # no slot within 0 s, and none taken
        breaker.record_failure()
        assert admission(10) == (False, None)
        assert admission(10) == (False, None)  # refused by the breaker: no slot taken either
        now[0] += 31
        allowed, wait = admission(10)  # the probe; its slot comes right after the two granted
        assert allowed and 0.35 < wait <= 0.4
        assert admission(10) == (False, None)  # one probe at a time
    finally:
        breaker.reset()
        limiter.reset()


def test_an_admission_asked_ahead_is_read_later_and_an_unused_slot_goes_back(monkeypatch):
    r = _redis()
    name = uuid.uuid4().hex
    breaker = RedisCircuitBreaker(redis=r, name=name, config=BreakerConfig(failure_threshold=1))
    limiter = RedisRateLimiter(redis=r, key=f"test:limiter:{name}", per_second=1, burst=1)
    admission = RedisAdmission(breaker=breaker, limiter=limiter)
    try:
        ahead = admission.ask_ahead(10)
        assert r.ping()  # the client is free for others while the answer waits
        assert ahead.take() == (True, 0)
        ahead.give_back()  # taken: the caller owns the slot, nothing goes back
        allowed, wait = admission(10)
        assert allowed and 0.9 < wait <= 1.0

        limiter.reset()
        admission.ask_ahead(10).give_back()  # granted, never taken
        assert admission(10) == (True, 0)  # the first slot is free again

        limiter.reset()
        breaker.record_failure()
        ahead = admission.ask_ahead(10)
        assert ahead.take() is None  # not closed: the caller must ask (and maybe probe) itself
        assert limiter.reserve(0) == 0  # and no slot was taken meanwhile
    finally:
        breaker.reset()
        limiter.reset()


def test_a_limiter_slot_given_back_is_the_next_callers():
    r = _redis()
    limiter = RedisRateLimiter(
        redis=r, key=f"test:limiter:{uuid.uuid4().hex}", per_second=1, burst=1
    )
    try:
        limiter.give_back()  # nothing granted: nothing to give
        assert limiter.reserve(0) == 0
        assert limiter.reserve(0) is None
        limiter.give_back()
        assert limiter.reserve(0) == 0
    finally:
        limiter.reset()


def test_an_admission_asked_ahead_survives_redis_dropping_its_connection():
    r = _redis()
    name = uuid.uuid4().hex
    breaker = RedisCircuitBreaker(redis=r, name=name)
    limiter = RedisRateLimiter(redis=r, key=f"test:limiter:{name}", per_second=1, burst=1)
    admission = RedisAdmission(breaker=breaker, limiter=limiter)
    try:
        assert admission.ask_ahead(10).take() == (True, 0)
        asker = admission._own  # the asking thread's own connection
        asker.send_command("CLIENT", "ID")
        r.client_kill_filter(_id=asker.read_response())  # as a Redis restart would
        limiter.reset()
        assert admission.ask_ahead(10).take() == (True, 0)
    finally:
        limiter.reset()


# --- asked ahead: the protocol handling, on a stand-in connection (the scripts run in CI) -----


class StandInConnection:
    """Answers read in order (an exception is raised); what was sent, and its state."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.sent: list[tuple] = []
        self.connected = False
        self.stale = False
        self.disconnects = 0

    def connect(self) -> None:
        self.connected = True

    def can_read(self) -> bool:
        return self.stale

    def disconnect(self) -> None:
        self.connected, self.stale = False, False
        self.disconnects += 1

    def pack_command(self, *args) -> list[tuple]:
        return [args]

    def send_packed_command(self, packed: list[tuple], check_health: bool = True) -> None:
        self.sent.extend(packed)

    def read_response(self):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class StandInRedis:
    def __init__(self, own: StandInConnection, pooled: StandInConnection | None = None) -> None:
        self.scripts: list[tuple] = []  # (script, keys, args) run through register_script
        self.connection_pool = self
        self.connection_kwargs: dict = {}
        self.own, self.pooled = own, pooled or StandInConnection()
        self.released: list[StandInConnection] = []

    def register_script(self, script):
        return lambda keys, args: self.scripts.append((script, keys, args))

    def script_load(self, script) -> str:
        return "sha-ahead"

    def connection_class(self, **_) -> StandInConnection:
        return self.own

    def get_connection(self) -> StandInConnection:
        return self.pooled

    def release(self, connection) -> None:
        self.released.append(connection)


def _stand_in_admission(*answers) -> tuple[RedisAdmission, StandInRedis]:
    r = StandInRedis(StandInConnection(*answers))
    limiter = RedisRateLimiter(redis=r, key="orders", per_second=5, burst=1)
    return RedisAdmission(breaker=RedisCircuitBreaker(redis=r, name="x"), limiter=limiter), r


def _given_back(r: StandInRedis) -> int:
    from risk.guards import _GIVE_BACK_LUA

    return sum(1 for script, *_ in r.scripts if script == _GIVE_BACK_LUA)


def test_asked_ahead_the_answer_is_read_when_taken_on_the_askers_own_connection():
    admission, r = _stand_in_admission(150_000, 0)
    ahead = admission.ask_ahead(10)
    assert r.own.sent[0][:2] == ("EVALSHA", "sha-ahead") and r.own.connected
    assert ahead.take() == (True, 0.15)
    ahead.give_back()  # taken: nothing goes back
    admission.ask_ahead(10).take()
    assert len(r.own.sent) == 2 and r.pooled.sent == []  # its own again, once free
    assert _given_back(r) == 0
    r.own.answers.append(0)
    admission.ask_ahead(2.5).take()  # another budget (a config change) sends its own
    assert [sent[-1] for sent in r.own.sent] == [10_000_000, 10_000_000, 2_500_000]


def test_a_slot_granted_ahead_and_not_taken_goes_back_and_a_refusal_takes_none():
    from risk.guards import NOT_ANSWERED

    admission, r = _stand_in_admission(0, -1, NOT_ANSWERED)
    admission.ask_ahead(10).give_back()  # granted, never taken
    assert _given_back(r) == 1
    admission.ask_ahead(10).give_back()  # beyond the wait budget: no slot was granted
    ahead = admission.ask_ahead(10)
    assert ahead.take() is None  # the breaker is not closed: ask the usual way
    ahead.give_back()
    assert _given_back(r) == 1


def test_a_slot_taken_ahead_but_not_used_goes_back_when_asked():
    admission, r = _stand_in_admission(0)
    ahead = admission.ask_ahead(10)
    assert ahead.take() == (True, 0)
    ahead.give_back(taken_too=True)
    assert _given_back(r) == 1


def test_a_lost_or_stale_connection_means_asking_again_never_a_wrong_answer():
    from redis.exceptions import ConnectionError, NoScriptError

    admission, r = _stand_in_admission(ConnectionError("reset"), NoScriptError("gone"), 0)
    assert admission.ask_ahead(10).take() is None  # the answer was lost: ask again
    assert r.own.disconnects == 1
    assert admission.ask_ahead(10).take() is None  # Redis restarted: the script is loaded again
    r.own.stale = True  # closed by the server meanwhile
    assert admission.ask_ahead(10).take() == (True, 0)
    assert r.own.disconnects == 2  # renewed before the question went out


def test_while_the_askers_connection_waits_for_an_answer_another_ask_uses_the_pool():
    admission, r = _stand_in_admission(0)
    r.pooled.answers.append(0)
    first = admission.ask_ahead(10)
    second = admission.ask_ahead(10)
    assert len(r.own.sent) == 1 and len(r.pooled.sent) == 1
    assert second.take() == first.take() == (True, 0)
    assert r.released == [r.pooled]
