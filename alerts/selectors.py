"""Reads: each channel's state, without its URL."""

from __future__ import annotations

from typing import Any

from common.readiness import Check

from .channels import channel_valid, channels_configured
from .models import Notification, NotificationStatus

FAILED_LAST = (NotificationStatus.FAILED, NotificationStatus.RETRYING)


def channel_statuses() -> list[dict[str, Any]]:
    """Per configured channel: label, id (a hash), valid URL, its last attempted delivery."""
    out = []
    for channel in channels_configured():
        last = (
            Notification.objects.filter(channel=channel.id)
            .exclude(last_attempt_at=None)
            .order_by("-last_attempt_at", "-id")
            .values("event", "status", "attempts", "last_error", "last_attempt_at")
            .first()
        )
        out.append(
            {
                "label": channel.label,
                "id": channel.id,
                "valid": channel_valid(channel),
                "last_event": last["event"] if last else None,
                "last_status": last["status"] if last else None,
                "last_error": last["last_error"] if last else "",
                "last_attempt_at": last["last_attempt_at"] if last else None,
                "failing": bool(last and last["status"] in FAILED_LAST)
                or not channel_valid(channel),
            }
        )
    return out


def readiness_check() -> Check:
    """/ready `notifications` (not critical): degraded when a channel failed its last
    delivery or its URL is not valid Apprise."""
    statuses = channel_statuses()
    if not statuses:
        return Check(True, "no channels configured (NOTIFY_URLS)")
    failing = [s for s in statuses if s["failing"]]
    extra = {"channels": {s["label"]: s["last_status"] or "unused" for s in statuses}}
    if failing:
        details = "; ".join(
            f"{s['label']}: " + ("invalid URL" if not s["valid"] else s["last_error"] or "failed")
            for s in failing
        )
        return Check(False, f"last delivery failed: {details}"[:300], extra)
    return Check(True, f"{len(statuses)} channel(s), last deliveries ok", extra)
