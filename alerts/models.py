"""Notification: one event for one channel, the at-most-once ledger of deliveries.

A channel is named by a hash of its Apprise URL and its position in NOTIFY_URLS, never by
the URL itself (the URL holds tokens). `(key, channel)` is unique across every process: the
insert that wins is the only one that delivers.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by one deliverer; a crash here is never resent
    RETRYING = "retrying", "Retrying"  # last attempt failed, another is scheduled
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # gave up


class Notification(models.Model):
    event = models.CharField(max_length=32)
    key = models.CharField(max_length=200, help_text="Event name + the caller's dedup key.")
    channel = models.CharField(max_length=16, help_text="Hash of the channel's URL (not the URL).")
    channel_label = models.CharField(max_length=40, help_text="Scheme and position, e.g. tgram#1.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "channel"], name="notification_once_per_channel"
            ),
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values), name="notification_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "-last_attempt_at"], name="notification_channel_last")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.key} -> {self.channel_label}: {self.status}"
