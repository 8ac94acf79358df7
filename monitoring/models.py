"""Health of the bot's components, monitor runs, and the append-only audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class HealthStatus(models.TextChoices):
    OK = "ok", "OK"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"


class BotHealth(models.Model):
    """Latest known state of one component (monitor, mexc_websocket, mexc_rest, worker...)."""

    component = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=HealthStatus.choices)
    last_event_at = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["component"]
        verbose_name_plural = "bot health"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=HealthStatus.values), name="bothealth_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.component}: {self.status}"


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class BotRun(models.Model):
    """One monitoring session: what the operator asked for and what the loop is doing.

    `desired_state` is written by operators (command, API, dashboard); `actual_state` and
    `heartbeat_at` by the monitor loop, which honours the desired state within seconds.
    """

    desired_state = models.CharField(
        max_length=16, choices=RunState.choices, default=RunState.RUNNING
    )
    actual_state = models.CharField(
        max_length=16, choices=RunState.choices, default=RunState.STOPPED
    )
    started_by = models.CharField(max_length=150, blank=True)
    stopped_by = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The TradeConfig history version in force when the run started (risk.HistoricalTradeConfig
    # history_id). Kept as a plain integer: monitoring sits below risk and does not import it.
    config_version = models.PositiveBigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(desired_state__in=RunState.values), name="botrun_desired_valid"
            ),
            models.CheckConstraint(
                condition=Q(actual_state__in=RunState.values), name="botrun_actual_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} desired={self.desired_state} actual={self.actual_state}"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who did what, when, to which target. Append-only: rows are never changed or removed."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(
        max_length=150, help_text="Username, or the process (e.g. 'monitor') for system actions."
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "-created_at"], name="audit_action_recent")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


class Lease(models.Model):
    """A named lease: only its holder may act until it expires (one active monitor)."""

    name = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    acquired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at}"
