"""Jobs this process runs off the calling thread: embedded trading, the monitor's sends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)


class ThreadJobs:
    """A thread pool started on first use (`INPROCESS_TRADE_THREADS` threads).

    A job that raises is logged as `failure_event` with its `log_extra`, never raised into
    the pool; every job returns its thread's database connections when it ends (to the pool
    on PostgreSQL; on SQLite no idle thread holds the file).
    """

    def __init__(self, name: str, failure_event: str, max_workers: int | None = None) -> None:
        self.name = name
        self.max_workers = max_workers
        self.failure_event = failure_event
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(
        self, fn: Callable[..., Any], *args: Any, log_extra: dict | None = None, **kwargs: Any
    ) -> Future:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_workers or settings.INPROCESS_TRADE_THREADS,
                    thread_name_prefix=self.name,
                )
            pool = self._pool
        return pool.submit(self._run, fn, args, kwargs, log_extra or {})

    def shutdown(self) -> None:
        """Let the jobs submitted so far finish (a short-lived process, tests); the next
        submit starts a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict, log_extra: dict) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception(self.failure_event, extra=log_extra)
        finally:
            connections.close_all()
