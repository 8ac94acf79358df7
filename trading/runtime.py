"""Per-process trading runtime: the exchange gateway and the guards, built once and reused.

Workers build them at start (warm connection, synced clock) so the first order pays no
handshake. Guards live in Redis when REDIS_URL is set, so every worker shares them.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

from django.conf import settings
from django.utils import timezone

from monitoring.metrics import circuit_breaker_open
from monitoring.models import HealthStatus
from monitoring.services import health_set
from risk.guards import (
    BreakerConfig,
    BreakerState,
    LocalCircuitBreaker,
    LocalRateLimiter,
    RedisAdmission,
    RedisCircuitBreaker,
    RedisRateLimiter,
)

from .execution import Guards, OrderGateway

log = logging.getLogger(__name__)

_lock = threading.Lock()


@cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


class ReportingBreaker:
    """A breaker that shows its state changes in BotHealth('circuit_breaker').

    Its state may live in Redis. If that store fails, sends are refused (fail closed: the
    exchange is not protected) and recording an outcome is skipped, never raised, so the
    trade's own row is always written.

    Alerts follow the transitions: `breaker_open` when a failure takes it from closed to
    open, `breaker_closed` when a success closes it. Failures while it is already open (an
    order sent before it opened, a half-open probe that fails) return OPEN again but send
    nothing more. Each alert is keyed by the time of its own transition (`now`, the wall
    clock; tests inject theirs).
    """

    def __init__(self, inner, *, now=timezone.now) -> None:
        self.inner = inner
        self.now = now

    def allow(self, *, strict: bool = False) -> bool:
        """`strict`: a failing store raises instead of refusing (the caller has another way)."""
        try:
            return self.inner.allow()
        except Exception as exc:
            log.error("breaker.unavailable", extra={"error": repr(exc)})
            if strict:
                raise
            return False

    def record_success(self) -> None:
        try:
            was = self.inner.state()
            self.inner.record_success()
        except Exception as exc:
            log.error("breaker.unavailable", extra={"error": repr(exc)})
            return
        if was is not BreakerState.CLOSED:
            circuit_breaker_open.set(0)
            health_set(
                component="circuit_breaker", status=HealthStatus.OK, detail={"state": "closed"}
            )
            self._notify("breaker_closed", {"reason": "the exchange answered again"})

    def record_failure(self) -> BreakerState:
        try:
            was = self.inner.state()
            state = self.inner.record_failure()
        except Exception as exc:
            log.error("breaker.unavailable", extra={"error": repr(exc)})
            return BreakerState.CLOSED  # unknown: the caller's own retry bound still applies
        if state is BreakerState.OPEN:
            circuit_breaker_open.set(1)
            health_set(
                component="circuit_breaker", status=HealthStatus.DOWN, detail={"state": "open"}
            )
            if was is BreakerState.CLOSED:  # this failure opened it: once per opening
                self._notify(
                    "breaker_open",
                    {
                        "failures": settings.BREAKER_FAILURE_THRESHOLD,
                        "cooldown_s": settings.BREAKER_COOLDOWN_S,
                        "reason": "consecutive exchange failures",
                    },
                )
        return state

    def _notify(self, event: str, payload: dict) -> None:
        from alerts.services import notify

        # Only transitions get here, so the key needs no coarse window to merge repeats: to
        # the millisecond, an opening soon after a closing is still a new alert.
        notify(event, key=self.now().isoformat(timespec="milliseconds"), payload=payload)

    def state(self) -> BreakerState:
        return self.inner.state()

    def reset(self) -> None:
        self.inner.reset()


@cache
def get_guards() -> Guards:
    config = BreakerConfig(
        failure_threshold=settings.BREAKER_FAILURE_THRESHOLD, cooldown_s=settings.BREAKER_COOLDOWN_S
    )
    if settings.REDIS_URL:
        limiter = RedisRateLimiter(
            redis=_redis(),
            key="sniperbot:orders",
            per_second=settings.ORDER_RATE_PER_S,
            burst=settings.ORDER_RATE_BURST,
        )
        breaker = RedisCircuitBreaker(redis=limiter.redis, name="mexc-orders", config=config)
        admission = RedisAdmission(breaker=breaker, limiter=limiter)
    else:
        limiter = LocalRateLimiter(
            per_second=settings.ORDER_RATE_PER_S, burst=settings.ORDER_RATE_BURST
        )
        breaker = LocalCircuitBreaker(config)
        admission = None
    return Guards(limiter=limiter, breaker=ReportingBreaker(breaker), admission=admission)


_gateway: OrderGateway | None = None


def get_gateway() -> OrderGateway:
    global _gateway
    with _lock:
        if _gateway is None:
            from .gateway import MexcGateway

            _gateway = MexcGateway.from_settings()
        return _gateway


def set_gateway(gateway: OrderGateway | None) -> None:
    """Tests and benchmarks point trading at a specific exchange (e.g. a simulator)."""
    global _gateway
    with _lock:
        _gateway = gateway


def exchange_now_ms() -> int:
    """The exchange's clock as this process's gateway keeps it (ms)."""
    return get_gateway().server_time_ms()
