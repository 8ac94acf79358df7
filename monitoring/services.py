"""Writes for monitoring: audit events and component health."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from .models import AuditEvent, BotHealth, HealthStatus


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
) -> BotHealth:
    """Record the current state of a component (upsert on the unique component name)."""
    health, _ = BotHealth.objects.update_or_create(
        component=component,
        defaults={
            "status": HealthStatus(status),
            "last_event_at": timezone.now(),
            "detail": detail or {},
        },
    )
    return health
