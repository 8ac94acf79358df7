"""Trading's side of the listings port (`listings.ports.TradingPort`): where a trade runs.

With Redis (production shape) work goes to Celery workers as tasks, unless this process serves
trades itself (the monitor, `SNIPE_INLINE`: no hop on the way to the exchange); without Redis
(embedded default) it runs in this process on a small thread pool. Either way it is the same
function (`trading.services.trade_snipe` / `trade_snipe_announced`), so the detecting loop never
waits for a trade to finish.

With the broker down, sending fails fast (one quick retry, then the message is kept here) and
never raises into the caller: the monitor keeps detecting and recording. Kept messages are sent
again, in order, by a background thread once the broker answers (`redelivery_backlog()`). A
message kept here is lost if this process dies too; the reconciler's sweep of listings that
have no trade covers that. Sending a snipe twice is harmless: the client order id is derived
from the listing and the Trade row is unique on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future

from celery import current_app
from django.conf import settings

from common.offthread import ThreadJobs

log = logging.getLogger(__name__)
SNIPE_TASK = "trading.tasks.snipe"

# Publishing to a dead broker: one retry 0.1 s later, then give up (kombu's default retries
# for ~0.6 s, and a blackholed host could hold the caller for the connect timeout).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.1, "interval_step": 0.1}
BROKER_DOWN_HOLD_S = 1.0  # after a failure, queue without trying for this long
REDELIVER_INTERVAL_S = 0.5


class _Backlog:
    """Messages the broker refused, keyed so a listing is queued once; sent again in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[Hashable, tuple[str, dict]] = {}
        self.down_until = 0.0
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()

    def hold(self, key: Hashable, name: str, kwargs: dict) -> None:
        with self.lock:
            self.items.setdefault(key, (name, kwargs))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._redeliver, name="dispatch-redelivery", daemon=True
                )
                self.thread.start()

    def _redeliver(self) -> None:
        while True:
            self.wake.wait(REDELIVER_INTERVAL_S)
            self.wake.clear()
            with self.lock:
                if not self.items:
                    self.thread = None
                    return
                if time.monotonic() < self.down_until:
                    continue
                key, (name, kwargs) = next(iter(self.items.items()))
            if name == SNIPE_TASK:
                kwargs = {**kwargs, "dispatched_ns": time.time_ns()}
            try:
                _publish(name, kwargs)
            except Exception as exc:
                with self.lock:
                    self.down_until = time.monotonic() + BROKER_DOWN_HOLD_S
                log.info("dispatch.still_unavailable", extra={"error": repr(exc)})
                continue
            with self.lock:
                self.items.pop(key, None)
                left = len(self.items)
            log.info("dispatch.redelivered", extra={"task": name, **kwargs, "backlog": left})
            self.wake.set()  # the broker is back: send the rest without waiting


_backlog = _Backlog()


def redelivery_backlog() -> int:
    """Messages waiting for the broker (health, tests)."""
    with _backlog.lock:
        return len(_backlog.items)


def _publish(name: str, kwargs: dict) -> None:
    current_app.signature(name, kwargs=kwargs).apply_async(
        retry=True, retry_policy=PUBLISH_RETRY_POLICY
    )


def _send(key: Hashable, name: str, kwargs: dict) -> None:
    """Publish to Celery; with the broker down, keep the message for redelivery. Never raises."""
    with _backlog.lock:
        # Behind a backlog (or right after a failure), queue: order is kept, the caller is fast.
        queue = bool(_backlog.items) or time.monotonic() < _backlog.down_until
    if not queue:
        try:
            _publish(name, kwargs)
            return
        except Exception as exc:
            with _backlog.lock:
                _backlog.down_until = time.monotonic() + BROKER_DOWN_HOLD_S
            log.warning(
                "dispatch.broker_unavailable", extra={"task": name, **kwargs, "error": repr(exc)}
            )
    _backlog.hold(key, name, kwargs)


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
    if _in_process():
        return _run_inprocess(SNIPE_TASK, kwargs)
    _send(("snipe", listing_id), SNIPE_TASK, kwargs)
    return None


_inprocess = ThreadJobs("snipe", failure_event="task.inprocess_failed")
# An armed listing's job waits for its open: each has a thread of its own (a burst of
# announcements opening in the same second must not queue behind each other).
_armed = ThreadJobs("armed", failure_event="task.inprocess_failed", max_workers=64)
_serving_here = False


def _in_process() -> bool:
    return _serving_here or settings.CELERY_TASK_ALWAYS_EAGER


def trades_run_here() -> bool:
    """Trades run in this process (the monitor, or the embedded shape), beside the monitor's
    stream of armed symbols: their first prices are offered here (`trading.prices`)."""
    return _in_process()


class Handoff:
    """`listings.ports.TradingPort`, registered by TradingConfig.ready."""

    def listing_recorded(
        self, *, listing_id: int, detected_ns: int | None, persisted_ns: int | None
    ) -> Future | None:
        return dispatch_snipe(
            listing_id=listing_id, detected_ns=detected_ns, persisted_ns=persisted_ns
        )

    def listing_armed(self, *, upcoming_id: int) -> Future | None:
        return dispatch_armed(upcoming_id=upcoming_id)

    def reconcile(self) -> Future | None:
        return dispatch_reconcile()

    def first_price(self, *, symbol: str, price) -> None:
        from .prices import first_prices

        first_prices.offer(symbol, price)

    def serve_in_this_process(self) -> None:
        """Trades run on this process's threads; with live keys, MEXC's private orders
        stream is kept open here as a witness of our orders (trading.witness)."""
        global _serving_here
        _serving_here = True
        if settings.MEXC_API_KEY and settings.MEXC_SECRET_KEY:
            from .runtime import get_gateway
            from .witness import on_pushed_order

            try:
                get_gateway().watch_orders(settings.MEXC_WS_URL, on_pushed_order)
            except Exception:
                log.exception("witness.stream_failed")  # the other witnesses remain

    def watch_positions(self, rest, shutdown):
        from .watcher import PositionWatcher

        return PositionWatcher.from_settings(rest).run(shutdown)

    def wait(self) -> None:
        wait_inprocess()


def _run_inprocess(name: str, kwargs: dict, jobs: ThreadJobs = _inprocess) -> Future:
    """The task's function on this process's threads, not on a worker."""
    from . import tasks

    task = getattr(tasks, name.rsplit(".", 1)[1])
    return jobs.submit(task, log_extra={"task": name, **kwargs}, **kwargs)


ARMED_TASK = "trading.tasks.snipe_announced"


def dispatch_armed(*, upcoming_id: int) -> Future | None:
    """Tell trading an announced listing opens soon, so it can fire at the open."""
    kwargs = {"upcoming_id": upcoming_id}
    if _in_process():
        return _run_inprocess(ARMED_TASK, kwargs, _armed)
    _send(("armed", upcoming_id), ARMED_TASK, kwargs)
    return None


RECONCILE_TASK = "trading.tasks.reconcile"


def dispatch_reconcile() -> Future | None:
    """Ask trading to settle open trades (the monitor does this periodically)."""
    if _in_process():
        return _run_inprocess(RECONCILE_TASK, {})
    _send(("reconcile",), RECONCILE_TASK, {})
    return None


def wait_inprocess() -> None:
    """Let in-process trades of listings finish before a short-lived process (a command)
    exits. Armed announcements are not waited for: each waits for its open (up to minutes),
    and only the monitor, a long-lived process, arms them."""
    _inprocess.shutdown()
