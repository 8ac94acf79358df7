"""Dashboard push: the one place that names channel groups and event types.

Producers serialise their own payloads (in the API's shapes) and call `publish` or, inside a
transaction, `publish_on_commit`. Publishing never blocks and never raises: events go to a
per-process sender thread with its own event loop (one kept-alive channel-layer connection),
so pushing to dashboards costs the trading path a queue append, and a broken channel layer
(Redis down) stops neither detection nor trading. The dashboard polls when pushes fail.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

DASHBOARD_GROUP = "dashboard"
CONSUMER_HANDLER = "dashboard.event"  # -> DashboardConsumer.dashboard_event

LISTING_CREATED = "listing.created"
TRADE_UPDATED = "trade.updated"
POSITION_UPDATED = "position.updated"
HEALTH_CHANGED = "health.changed"
CONFIG_CHANGED = "config.changed"
EVENT_TYPES = (LISTING_CREATED, TRADE_UPDATED, POSITION_UPDATED, HEALTH_CHANGED, CONFIG_CHANGED)

QUEUE_LIMIT = 10_000  # beyond this (layer down for long), new events are dropped and logged


def message(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    if event not in EVENT_TYPES:
        raise ValueError(f"Unknown dashboard event {event!r}; add it to monitoring/events.py.")
    return {"type": CONSUMER_HANDLER, "event": event, "payload": payload}


class _Sender:
    """One daemon thread per process: sends queued events in order on a persistent loop."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(QUEUE_LIMIT)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, msg: dict[str, Any]) -> bool:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="dashboard-push", daemon=True)
                self.thread.start()
        try:
            self.queue.put_nowait(msg)
        except queue.Full:
            log.warning("event.dropped", extra={"event": msg["event"], "reason": "queue full"})
            return False
        return True

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            msg = self.queue.get()
            try:
                layer = get_channel_layer()
                if layer is None:
                    continue
                sending = layer.group_send(DASHBOARD_GROUP, msg)
                owner = _group_loop(layer)
                if owner is None:
                    loop.run_until_complete(sending)
                else:
                    asyncio.run_coroutine_threadsafe(sending, owner).result(SEND_TIMEOUT_S)
            except Exception as exc:
                log.warning(
                    "event.publish_failed", extra={"event": msg["event"], "error": repr(exc)}
                )
            finally:
                self.queue.task_done()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far was handed to the layer (tests, shutdown)."""
        done = self.queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self.queue.unfinished_tasks == 0, timeout)


_sender = _Sender()
_joined_on: asyncio.AbstractEventLoop | None = None
SEND_TIMEOUT_S = 5.0


def joined_on(loop: asyncio.AbstractEventLoop) -> None:
    """A dashboard joined the group on `loop` (`DashboardConsumer.connect`).

    The in-memory layer (the embedded default: one process) keeps each member's messages in
    an asyncio queue of the loop it joined on, which another thread's loop must not touch
    (the member may never wake up): events for it are sent on that loop."""
    global _joined_on
    _joined_on = loop


def _group_loop(layer: Any) -> asyncio.AbstractEventLoop | None:
    """The loop to send on for `layer`; None: the sender's own (a layer over Redis)."""
    loop = _joined_on
    if not isinstance(layer, InMemoryChannelLayer) or loop is None or not loop.is_running():
        return None
    return loop


def publish(event: str, payload: dict[str, Any]) -> bool:
    """Queue one event for every dashboard; False (and a log line) if it was dropped."""
    return _sender.submit(message(event, payload))


def flush(timeout: float = 5.0) -> bool:
    return _sender.flush(timeout)


def publish_on_commit(event: str, payload: dict[str, Any]) -> None:
    message(event, payload)  # fail fast on a typo, inside the caller's transaction
    transaction.on_commit(lambda: publish(event, payload))
