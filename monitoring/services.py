"""Writes for monitoring: audit events and component health."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import events
from .models import AuditEvent, BotHealth, BotRun, HealthStatus, Lease, RunState


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one audit event. `actor` is None for system actions (then give `actor_label`)."""
    label = actor_label or (actor.get_username() if actor is not None else "system")
    return AuditEvent.objects.create(
        actor=actor, actor_label=label, action=action, target=target, detail=detail or {}
    )


def health_set(
    *, component: str, status: HealthStatus | str, detail: dict[str, Any] | None = None
) -> BotHealth | None:
    """Record the current state of a component (upsert on the unique component name).

    Dashboards hear of it (`health.changed`) when the status changes, not on every report;
    an unchanged status is rewritten at most every HEALTH_REFRESH_S (None when skipped).
    """
    status = HealthStatus(status)
    last = _health_written.get(component)
    now = time.monotonic()
    if last is not None and last[0] == status and now - last[1] < HEALTH_REFRESH_S:
        return None  # nothing new: the row is fresh enough for readiness (15 s)
    before = BotHealth.objects.filter(component=component).values_list("status", flat=True).first()
    health, _ = BotHealth.objects.update_or_create(
        component=component,
        defaults={
            "status": status,
            "last_event_at": timezone.now(),
            "detail": detail or {},
        },
    )
    _health_written[component] = (status, now)
    if before != status:
        health_publish()
    return health


# A component reporting the same status again is written at most this often: heartbeats come
# every second, and the monitor's database thread is the one that records listings.
HEALTH_REFRESH_S = 5.0
_health_written: dict[str, tuple[str, float]] = {}


def health_forget() -> None:
    """Forget what this process wrote (tests that reset the database)."""
    _health_written.clear()


def health_publish() -> None:
    """Tell dashboards the monitor status changed (after the transaction commits)."""

    def send() -> None:
        from .api.serializers import MonitorStatusSerializer
        from .selectors import monitor_status

        events.publish(events.HEALTH_CHANGED, MonitorStatusSerializer(monitor_status()).data)

    transaction.on_commit(send)


# --- Lease: one active monitor ---------------------------------------------------------------


def lease_acquire(*, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew lease `name` for `holder`; False while someone else holds it unexpired."""
    now = timezone.now()
    try:
        with transaction.atomic():
            Lease.objects.get_or_create(name=name, defaults={"expires_at": now})
    except IntegrityError:
        pass  # another process created it at the same moment; the update below decides
    taken = (
        Lease.objects.filter(name=name)
        .filter(Q(holder=holder) | Q(holder="") | Q(expires_at__lt=now))
        .update(holder=holder, expires_at=now + ttl, acquired_at=now)
    )
    return taken == 1


def lease_release(*, name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).update(holder="", expires_at=timezone.now())


# --- Monitor run control: operators set the desired state, the loop follows ----------------


def monitor_request_start(*, actor: AbstractBaseUser | None, actor_label: str = "") -> BotRun:
    """Ask the monitor to run. Idempotent: a run already asked to run is returned as is."""
    label = actor_label or (actor.get_username() if actor else "system")
    with transaction.atomic():
        current = BotRun.objects.select_for_update().order_by("-requested_at", "-id").first()
        if current is not None and current.desired_state == RunState.RUNNING:
            return current
        run = BotRun.objects.create(desired_state=RunState.RUNNING, started_by=label)
        audit_record(
            actor=actor, actor_label=label, action="monitor.start", target=f"BotRun:{run.pk}"
        )
        health_publish()
    return run


def monitor_request_stop(*, actor: AbstractBaseUser | None, actor_label: str = "") -> BotRun | None:
    """Ask the monitor to stop. Idempotent; None when nothing was ever started."""
    label = actor_label or (actor.get_username() if actor else "system")
    with transaction.atomic():
        current = BotRun.objects.select_for_update().order_by("-requested_at", "-id").first()
        if current is None or current.desired_state == RunState.STOPPED:
            return current
        current.desired_state = RunState.STOPPED
        current.stopped_by = label
        current.save(update_fields=["desired_state", "stopped_by"])
        audit_record(
            actor=actor, actor_label=label, action="monitor.stop", target=f"BotRun:{current.pk}"
        )
        health_publish()
    return current


def botrun_mark(
    *, run: BotRun, actual_state: RunState, config_version: int | None = None
) -> BotRun:
    """The loop reports what it is actually doing for this run."""
    now = timezone.now()
    fields = {"actual_state": actual_state, "heartbeat_at": now}
    if actual_state == RunState.RUNNING:
        fields.update(started_at=now, config_version=config_version)
    else:
        fields["stopped_at"] = now
    BotRun.objects.filter(pk=run.pk).update(**fields)
    for key, value in fields.items():
        setattr(run, key, value)
    health_publish()
    return run


def botrun_heartbeat(*, run: BotRun, detail: dict[str, Any] | None = None) -> None:
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if detail is not None:
        fields["detail"] = detail
    BotRun.objects.filter(pk=run.pk).update(**fields)
