"""Reads for monitoring: the current run and the health of every component."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from .models import BotHealth, BotRun, RunState

HEARTBEAT_FRESH = timedelta(seconds=10)


def botrun_current() -> BotRun | None:
    """The latest run request: it holds the desired state operators last asked for."""
    return BotRun.objects.order_by("-requested_at", "-id").first()


def monitor_status() -> dict[str, Any]:
    """What an operator needs to know: asked-for vs actual state, heartbeat, component health."""
    run = botrun_current()
    now = timezone.now()
    health = {h.component: h for h in BotHealth.objects.all()}
    # The run_monitor process reports its health whether it monitors or idles (stopped, or
    # never started): its last report counts as a heartbeat too, so a running process is
    # never shown as dead just because nobody asked it to monitor yet.
    beats = [run.heartbeat_at if run else None, _monitor_report_at(health.get("monitor"))]
    heartbeat_at = max((b for b in beats if b is not None), default=None)
    alive = bool(heartbeat_at and now - heartbeat_at <= HEARTBEAT_FRESH)
    run_alive = bool(run and run.heartbeat_at and now - run.heartbeat_at <= HEARTBEAT_FRESH)
    return {
        "run_id": run.pk if run else None,
        "desired_state": run.desired_state if run else RunState.STOPPED,
        "actual_state": (run.actual_state if run and run_alive else RunState.STOPPED),
        "monitor_alive": alive,
        "heartbeat_at": heartbeat_at,
        "started_by": run.started_by if run else "",
        "stopped_by": run.stopped_by if run else "",
        "components": {
            h.component: {"status": h.status, "last_event_at": h.last_event_at, "detail": h.detail}
            for h in health.values()
        },
    }


def _monitor_report_at(health: BotHealth | None):
    """When the monitor process last reported (BotHealth 'monitor'), or None."""
    return health.last_event_at if health is not None else None
