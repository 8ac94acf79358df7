"""Worker heartbeat: each Celery worker reports itself alive for /ready and the dashboard."""

from __future__ import annotations

import logging
import socket
import threading

log = logging.getLogger(__name__)

WORKER_HEARTBEAT_S = 5.0


def worker_component() -> str:
    return f"worker:{socket.gethostname()}"


def start_worker_heartbeat(stop: threading.Event | None = None) -> threading.Thread:
    """Report this worker alive every few seconds (BotHealth), for /ready and the dashboard."""
    from django.db import close_old_connections

    from monitoring.models import HealthStatus
    from monitoring.services import health_set

    stop = stop or threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                health_set(
                    component=worker_component(),
                    status=HealthStatus.OK,
                    detail={"hostname": socket.gethostname()},
                )
            except Exception as exc:  # the database may be briefly away; keep beating
                log.warning("worker.heartbeat_failed", extra={"error": repr(exc)})
            finally:
                close_old_connections()
            stop.wait(WORKER_HEARTBEAT_S)

    thread = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
    thread.start()
    return thread
