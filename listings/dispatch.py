"""Hand a committed listing to trading without importing it.

The task is sent by name. With Redis (production shape) it goes to Celery workers; without
(embedded default) it runs in this process on a small thread pool, so the detecting loop never
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
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import current_app
from django.conf import settings
from django.utils.module_loading import import_string

from sniperbot import fastsql
from sniperbot.offthread import ThreadJobs

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


INLINE_SNIPE = "trading.inline"  # named, not imported: listings does not depend on trading
_inline_snipe: Callable[..., Any] | None = None


_prepared_snipe: Any | None = None  # trading.prepared.PreparedSnipe, while serving


def serve_snipes_inline() -> None:
    """This process (the monitor) decides a new listing's trade in the listing's transaction
    and sends it itself: no hop on the way to the exchange (see trading.inline)."""
    global _inline_snipe, _prepared_snipe
    import_string(f"{INLINE_SNIPE}.prepare")()
    _inline_snipe = import_string(f"{INLINE_SNIPE}.InlineSnipe")
    _prepared_snipe = import_string("trading.prepared.PreparedSnipe")


def stop_serving_inline() -> None:
    global _inline_snipe, _prepared_snipe
    _inline_snipe = _prepared_snipe = None


def warm_inline() -> None:
    """On the thread that records listings, before the first one: the decision's reads run
    once (trading.inline.warm_decisions), so the first listing is decided like the rest."""
    if _inline_snipe is not None:
        import_string(f"{INLINE_SNIPE}.warm_decisions")()


@contextmanager
def rehearsal_snipe(
    *, symbol: str, quote_asset: str, listed_at: datetime, detected_ns: int | None
) -> Iterator[Any | None]:
    """A prepared snipe for a listing that will not happen (`PreparedSnipe.rehearsal`), or
    None: nothing is kept ready to rehearse with."""
    snipe = None
    if _prepared_snipe is not None:
        snipe = _prepared_snipe.rehearsal(
            symbol=symbol, quote_asset=quote_asset, listed_at=listed_at, detected_ns=detected_ns
        )
    with _closed_after(snipe):
        yield snipe


@contextmanager
def prepared_snipe(
    *, symbol: str, quote_asset: str, listed_at: datetime, detected_ns: int | None
) -> Iterator[Any | None]:
    """The trade of a listing about to be recorded, decided by this process while the
    listing's round trip is out (trading.prepared.PreparedSnipe), or None: record the listing
    the usual way."""
    snipe = None
    if _prepared_snipe is not None:
        try:
            snipe = _prepared_snipe.prepare(
                symbol=symbol, quote_asset=quote_asset, listed_at=listed_at, detected_ns=detected_ns
            )
        except Exception:
            log.exception("snipe.prepare_failed", extra={"symbol": symbol})
    with _closed_after(snipe):
        yield snipe


@contextmanager
def _closed_after(snipe: Any | None) -> Iterator[None]:
    """Close `snipe` when its listing is done: a rate-limit slot it asked for and did not
    use goes back."""
    try:
        yield
    finally:
        if snipe is not None:
            snipe.close()


class InlineSnipeFailed(Exception):
    """The inline decision failed; the listing's transaction is void and must be redone."""


@contextmanager
def inline_snipe(*, symbol: str, listed_at: datetime, wanted: bool = True) -> Iterator[Any | None]:
    """The inline decision (trading.inline.InlineSnipe) of a listing about to be recorded,
    for the listing's transaction, or None: this process does not decide trades (or the
    caller does not want it to), a task does.

    No savepoint around it (two more round trips on every listing): any failure of its steps
    raises InlineSnipeFailed, which voids the listing's transaction; the caller records the
    listing again without it, and a worker decides its trade the usual way.
    """
    if _inline_snipe is None or not wanted:
        yield None
        return
    with _inline_failure():
        snipe = _inline_snipe(symbol=symbol, listed_at=listed_at)
    with _closed_after(snipe):
        yield snipe


def decide_inline(
    snipe: Any, *, listing, rows, detected_ns: int | None, persisted_ns: int | None
) -> None:
    """Inside the listing's transaction: decide its trade (`InlineSnipe.decide`)."""
    with _inline_failure():
        snipe.decide(listing=listing, rows=rows, detected_ns=detected_ns, persisted_ns=persisted_ns)


def commit_inline(snipe: Any) -> None:
    """The listing transaction's last step: its trade's row and the COMMIT in one round trip.
    A COMMIT whose outcome is unknown (the connection broke) raises as it is."""
    try:
        snipe.committed(fastsql.commit(*snipe.at_commit))
    except fastsql.NotCommitted as exc:
        raise InlineSnipeFailed(str(exc)) from exc


@contextmanager
def _inline_failure() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        raise InlineSnipeFailed(repr(exc)) from exc


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
        return _run_inprocess(SNIPE_TASK, kwargs)
    _send(("snipe", listing_id), SNIPE_TASK, kwargs)
    return None


_inprocess = ThreadJobs("snipe", failure_event="task.inprocess_failed")
_tasks_loaded = False


def _run_inprocess(name: str, kwargs: dict) -> Future:
    """The embedded shape: the task runs on this process's threads, not on a worker."""
    global _tasks_loaded
    if not _tasks_loaded:
        # Celery discovers task modules lazily; a process that only sends (the monitor) must
        # load them before running a task by name in-process.
        current_app.loader.import_default_modules()
        _tasks_loaded = True
    task = current_app.signature(name, kwargs=kwargs)
    return _inprocess.submit(task.apply, log_extra={"task": name, **kwargs})


ARMED_TASK = "trading.tasks.snipe_announced"


def dispatch_armed(*, upcoming_id: int) -> Future | None:
    """Tell trading an announced listing opens soon, so it can fire at the open."""
    kwargs = {"upcoming_id": upcoming_id}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _run_inprocess(ARMED_TASK, kwargs)
    _send(("armed", upcoming_id), ARMED_TASK, kwargs)
    return None


RECONCILE_TASK = "trading.tasks.reconcile"


def dispatch_reconcile() -> Future | None:
    """Ask trading to settle open trades (the monitor does this periodically)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _run_inprocess(RECONCILE_TASK, {})
    _send(("reconcile",), RECONCILE_TASK, {})
    return None


def wait_inprocess() -> None:
    """Let in-process tasks finish before a short-lived process (a command) exits."""
    _inprocess.shutdown()
