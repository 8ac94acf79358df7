"""Readiness: can this deployment detect and trade right now? One check per dependency.

Lives in the composition root because it asks every app (and the exchange) a question.
Each check returns quickly (short timeouts) and never raises: a failure is a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

FRESH = timedelta(seconds=15)  # heartbeats come every few seconds


@dataclass
class Check:
    ok: bool
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check(True, connection.vendor)


def check_redis() -> Check:
    if not settings.REDIS_URL:
        return Check(True, "not configured (embedded: in-memory layer, in-process trades)")
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
    return Check(True, "ping ok")


def _heartbeat(prefix: str, never: str) -> tuple[Check | None, str]:
    """The freshest heartbeat of the components named `prefix*`: a failed Check if it is
    missing or stale, else None and the component's name (the caller says what is fine)."""
    from monitoring.models import BotHealth

    row = (
        BotHealth.objects.filter(component__startswith=prefix)
        .exclude(last_event_at=None)
        .order_by("-last_event_at")
        .first()
    )
    if row is None:
        return Check(False, never), ""
    age = (timezone.now() - row.last_event_at).total_seconds()
    if age > FRESH.total_seconds():
        return Check(False, f"{row.component}: last heartbeat {age:.0f} s ago"), row.component
    return None, row.component


def check_monitor() -> Check:
    failed, _ = _heartbeat("monitor", "the monitor has never reported (is run_monitor running?)")
    if failed:
        return failed
    from monitoring.selectors import monitor_status

    state = monitor_status()
    return Check(True, f"alive, {state['actual_state']} (asked: {state['desired_state']})")


def check_worker() -> Check:
    if not settings.REDIS_URL:
        return Check(True, "in-process (embedded): trades run in the monitor and web processes")
    failed, name = _heartbeat("worker:", "no Celery worker has reported (celery ... worker)")
    return failed or Check(True, f"{name} alive")


def check_exchange() -> Check:
    from trading.runtime import get_gateway

    skew_ms = get_gateway().exchange_time_ms() - int(time.time() * 1000)
    return Check(True, f"reachable at {settings.MEXC_REST_URL}", {"clock_skew_ms": skew_ms})


def check_keys() -> Check:
    from risk.selectors import config_get_active
    from trading.services import keys_present

    config = config_get_active()
    live = config.auto_trade and config.mode == "live"
    if keys_present():
        return Check(True, "API keys present")
    if live:
        return Check(False, "live mode is on but MEXC_API_KEY / MEXC_SECRET_KEY are not set")
    return Check(True, "no API keys (fine: dry run)")


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "redis": check_redis,
    "monitor": check_monitor,
    "worker": check_worker,
    "exchange": check_exchange,
    "keys": check_keys,
}


def _registered_checks() -> dict[str, tuple[Callable[[], Check], bool]]:
    """The apps' own checks (monitoring.readiness), with whether each one is critical."""
    from monitoring.readiness import readiness_registered

    def wrap(check: Callable[[], tuple[bool, str, dict[str, Any]]]) -> Callable[[], Check]:
        return lambda: Check(*check())

    return {name: (wrap(r.check), r.critical) for name, r in readiness_registered().items()}


def readiness() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    checks = {name: (check, True) for name, check in CHECKS.items()} | _registered_checks()
    ready = True
    for name, (check, critical) in checks.items():
        started = time.perf_counter()
        try:
            result = check()
        except Exception as exc:  # a failing dependency is an answer, not an error
            result = Check(False, f"{type(exc).__name__}: {exc}"[:300])
        results[name] = {
            "ok": result.ok,
            "detail": result.detail,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            **result.extra,
        }
        if not critical:
            results[name]["critical"] = False
            if not result.ok:
                results[name]["status"] = "degraded"
        ready = ready and (result.ok or not critical)
    return ready, results
