"""Monitoring's readiness checks: the database, Redis, and the monitor's and workers' heartbeats.

Registered in `MonitoringConfig.ready`; `/ready` (common.readiness) runs them.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from common.readiness import Check

FRESH = timedelta(seconds=15)  # heartbeats come every few seconds


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
    from .models import BotHealth

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
    from .selectors import monitor_status

    state = monitor_status()
    return Check(True, f"alive, {state['actual_state']} (asked: {state['desired_state']})")


def check_worker() -> Check:
    if not settings.REDIS_URL:
        return Check(True, "in-process (embedded): trades run in the monitor and web processes")
    failed, name = _heartbeat("worker:", "no Celery worker has reported (celery ... worker)")
    return failed or Check(True, f"{name} alive")


READINESS_CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "monitor": check_monitor,
    "worker": check_worker,
}
