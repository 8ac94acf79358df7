"""Hand a committed listing to trading without importing it.

The task is sent by name. With Redis (production shape) it goes to Celery workers; without
(embedded default) it runs in this process on a small thread pool, so the detecting loop never
waits for a trade to finish.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from celery import current_app
from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)
SNIPE_TASK = "trading.tasks.snipe"
_pool: ThreadPoolExecutor | None = None


def dispatch_snipe(
    *, listing_id: int, detected_ns: int | None, persisted_ns: int | None = None
) -> Future | None:
    """Hand a committed listing to trading; in-process, returns the running task's future."""
    kwargs = {
        "listing_id": listing_id,
        "detected_ns": detected_ns,
        "persisted_ns": persisted_ns,
        "dispatched_ns": time.time_ns(),
    }
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _inprocess_pool().submit(_run_inprocess_task, SNIPE_TASK, kwargs)
    current_app.signature(SNIPE_TASK, kwargs=kwargs).apply_async()
    return None


def _inprocess_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        # Celery discovers task modules lazily; a process that only sends (the monitor) must
        # load them before running a task by name in-process.
        current_app.loader.import_default_modules()
        _pool = ThreadPoolExecutor(
            max_workers=settings.INPROCESS_TRADE_THREADS, thread_name_prefix="snipe"
        )
    return _pool


def _run_inprocess_task(name: str, kwargs: dict) -> None:
    try:
        current_app.signature(name, kwargs=kwargs).apply()
    except Exception:
        log.exception("task.inprocess_failed", extra={"task": name, **kwargs})
    finally:
        # Embedded shape only (SQLite): reconnecting is cheap, and no thread keeps a connection.
        connections.close_all()


ARMED_TASK = "trading.tasks.snipe_announced"


def dispatch_armed(*, upcoming_id: int) -> Future | None:
    """Tell trading an announced listing opens soon, so it can fire at the open."""
    kwargs = {"upcoming_id": upcoming_id}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _inprocess_pool().submit(_run_inprocess_task, ARMED_TASK, kwargs)
    current_app.signature(ARMED_TASK, kwargs=kwargs).apply_async()
    return None


RECONCILE_TASK = "trading.tasks.reconcile"


def dispatch_reconcile() -> Future | None:
    """Ask trading to settle open trades (the monitor does this periodically)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _inprocess_pool().submit(_run_inprocess_task, RECONCILE_TASK, {})
    current_app.signature(RECONCILE_TASK).apply_async()
    return None


def wait_inprocess(timeout: float = 30.0) -> None:
    """Let in-process tasks finish before a short-lived process (a command) exits."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=False)
