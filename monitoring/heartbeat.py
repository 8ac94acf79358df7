"""Worker heartbeat: each Celery worker reports itself alive for /ready and the dashboard."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

WORKER_HEARTBEAT_S = 5.0


def worker_component() -> str:
    return f"worker:{socket.gethostname()}"


def worker_beat() -> None:
    """One heartbeat: this worker is alive now (BotHealth `worker:<hostname>`)."""
    from monitoring.models import HealthStatus
    from monitoring.services import health_set

    health_set(
        component=worker_component(),
        status=HealthStatus.OK,
        detail={"hostname": socket.gethostname()},
    )


def start_worker_heartbeat(
    stop: threading.Event | None = None,
    beat: Callable[[], None] = worker_beat,
    interval_s: float = WORKER_HEARTBEAT_S,
) -> threading.Thread:
    """Beat every few seconds in a daemon thread until `stop` is set."""
    from django.db import connection

    stop = stop or threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                beat()
            except Exception as exc:  # the database may be briefly away; keep beating
                log.warning("worker.heartbeat_failed", extra={"error": repr(exc)})
            finally:
                connection.close()  # this thread's connection: back to the pool, or closed
            stop.wait(interval_s)

    thread = threading.Thread(target=run, name="worker-heartbeat", daemon=True)
    thread.start()
    return thread
