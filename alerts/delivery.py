"""Getting notifications out of the caller's way and to the channels.

`enqueue` (called by `services.notify` after the caller's commit) is a put on an in-memory
queue: microseconds, never blocking. One dispatcher thread per process drains it: it records
the rows (`services.notification_record`) and routes each one:

- embedded shape (no REDIS_URL, Celery eager): to a thread per channel, which paces sends
  with a token bucket (NOTIFY_RATE_PER_MIN, NOTIFY_RATE_BURST) and retries a failed attempt
  after NOTIFY_BACKOFF_S; a slow or failing channel only ever holds up its own thread;
- production shape: to the Celery task `alerts.deliver` (alerts/tasks.py), which retries with
  a countdown and paces each channel with a token bucket in Redis shared by every worker.

A queued event not yet recorded when the process dies is lost (at most once, by design);
a row claimed (`sending`) when the process dies is never resent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    event: str
    key: str
    payload: dict[str, Any] = field(repr=False)
    at: float  # time.time() of the notify() call: the dedup window's clock


def embedded() -> bool:
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


class ChannelWorker:
    """Delivers one channel's rows in order: paced, retried with backoff (embedded shape)."""

    def __init__(
        self, channel_id: str, *, sleep: Callable[[float], None], clock, send, on_done
    ) -> None:
        from risk.guards import LocalRateLimiter

        self.channel_id = channel_id
        self.sleep = sleep
        self.send = send
        self.on_done = on_done
        self.limiter = LocalRateLimiter(
            per_second=settings.NOTIFY_RATE_PER_MIN / 60.0,
            burst=settings.NOTIFY_RATE_BURST,
            clock=clock,
        )
        self.queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.thread = threading.Thread(
            target=self.run, name=f"alerts-{channel_id[:6]}", daemon=True
        )

    def run(self) -> None:
        while (notification_id := self.queue.get()) is not None:
            try:
                self.deliver(notification_id)
            except Exception:
                log.exception("alerts.channel_worker_failed", extra={"id": notification_id})
            finally:
                connections.close_all()
                self.on_done()

    def deliver(self, notification_id: int) -> None:
        from .services import notification_deliver

        while True:
            self.sleep(self.limiter.reserve(max_wait_s=float("inf")) or 0.0)
            outcome = notification_deliver(notification_id=notification_id, send=self.send)
            if outcome.result != "retry":
                return
            self.sleep(outcome.retry_in)


class Dispatcher:
    """The process's queue and the threads that drain it (started on first use)."""

    _instance: Dispatcher | None = None
    _instance_lock = threading.Lock()
    in_process = False  # True: this process's threads deliver even where Celery would

    def __init__(self, *, sleep=time.sleep, clock=time.monotonic, send=None) -> None:
        from .channels import channel_send

        self.sleep = sleep
        self.clock = clock
        self.send = send or channel_send
        self.queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.workers: dict[str, ChannelWorker] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    @classmethod
    def instance(cls) -> Dispatcher:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def install(cls, dispatcher: Dispatcher | None) -> Dispatcher | None:
        """Replace the process's dispatcher (tests inject sleep/clock/send; None: a default one
        on next use); returns the old one, still running (`stop()` ends its threads)."""
        with cls._instance_lock:
            old, cls._instance = cls._instance, dispatcher
        return old

    def put(self, item: Item) -> None:
        with self._lock:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self.run, name="alerts", daemon=True)
                self._thread.start()
        self.queue.put(item)

    def done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until everything queued so far is delivered or given up (tests, notify_test)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending <= 0, timeout=timeout)

    def stop(self) -> None:
        self.queue.put(None)
        for worker in list(self.workers.values()):
            worker.queue.put(None)

    def run(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                self.dispatch(item)
            except Exception:
                log.exception("alerts.dispatch_failed", extra={"event": item.event})
            finally:
                connections.close_all()
                self.done()

    def dispatch(self, item: Item) -> None:
        from .services import notification_record

        rows = notification_record(event=item.event, key=item.key, payload=item.payload, at=item.at)
        if self.in_process or embedded():
            for row in rows:
                worker = self.worker(row.channel)
                with self._lock:
                    self._pending += 1
                worker.queue.put(row.id)
        else:
            from .tasks import deliver

            for row in rows:
                deliver.delay(row.id)

    def worker(self, channel_id: str) -> ChannelWorker:
        with self._lock:
            worker = self.workers.get(channel_id)
            if worker is None:
                worker = ChannelWorker(
                    channel_id,
                    sleep=self.sleep,
                    clock=self.clock,
                    send=self.send,
                    on_done=self.done,
                )
                self.workers[channel_id] = worker
                worker.thread.start()
            return worker


def enqueue(item: Item) -> None:
    Dispatcher.instance().put(item)


# --- The watcher: monitor_down, daily_summary, heartbeat --------------------------------

_watcher: threading.Thread | None = None


def start_watcher(stop: threading.Event | None = None, interval_s: float | None = None):
    """Run `services.watch_tick` every NOTIFY_WATCH_INTERVAL_S in a daemon thread of this
    process. Started by the web process (sniperbot/asgi.py) and each Celery worker
    (sniperbot/celery.py): the monitor never reports its own death. Once per process; not
    at all without channels (nothing to tell; and a test importing the ASGI app stays quiet)."""
    from .channels import channels_configured

    global _watcher
    if _watcher is not None or not channels_configured():
        return _watcher
    stop = stop or threading.Event()
    interval = interval_s or settings.NOTIFY_WATCH_INTERVAL_S

    def run() -> None:
        from .services import watch_tick

        while not stop.wait(interval):
            try:
                watch_tick()
            except Exception as exc:  # the database may be briefly away: next tick
                log.warning("alerts.watch_failed", extra={"error": repr(exc)[:300]})
            finally:
                connections.close_all()

    _watcher = threading.Thread(target=run, name="alerts-watch", daemon=True)
    _watcher.start()
    return _watcher
