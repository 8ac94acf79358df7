"""Celery tasks of trading. Tasks take ids, are idempotent and call one service."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.signals import worker_process_init, worker_ready

from .services import Stamps, trade_snipe, trade_snipe_announced

log = logging.getLogger(__name__)


@shared_task(name="trading.tasks.snipe", ignore_result=True, time_limit=30, soft_time_limit=25)
def snipe(
    listing_id: int,
    detected_ns: int | None = None,
    persisted_ns: int | None = None,
    dispatched_ns: int | None = None,
) -> None:
    """Turn a new listing into a risk-checked order. A second delivery does nothing."""
    trade_snipe(
        listing_id=listing_id,
        stamps=Stamps(
            detected_ns=detected_ns,
            persisted_ns=persisted_ns,
            dispatched_ns=dispatched_ns or time.time_ns(),
        ),
    )


@shared_task(
    name="trading.tasks.snipe_announced", ignore_result=True, time_limit=600, soft_time_limit=590
)
def snipe_announced(upcoming_id: int) -> None:
    """An announced listing opens soon: fire at the open by the exchange's clock."""
    trade_snipe_announced(upcoming_id=upcoming_id)


@shared_task(name="trading.tasks.reconcile", ignore_result=True, time_limit=120)
def reconcile() -> None:
    from .reconcile import trades_reconcile
    from .runtime import get_gateway, get_guards

    trades_reconcile(gateway=get_gateway(), guards=get_guards())


def _warm_gateway() -> None:
    """Open the exchange connection and sync the clock before the first task arrives."""
    try:
        from .runtime import get_gateway

        get_gateway().warm()
    except Exception:
        log.exception("worker.warm_failed")  # a cold start is slower, not fatal


@worker_process_init.connect
def _warm_pool_child(**_: object) -> None:
    """Prefork child: never reuse a gateway inherited through fork (its loop thread is gone)."""
    from .runtime import set_gateway

    set_gateway(None)
    _warm_gateway()


# The reconciler leaves trades touched in the last 2 s to their worker; a worker restarted
# right after a crash sends a second pass once those have gone quiet.
RECONCILE_AGAIN_AFTER_S = 3


@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    _warm_gateway()  # solo and thread pools run tasks in this very process
    try:
        reconcile.delay()
        reconcile.apply_async(countdown=RECONCILE_AGAIN_AFTER_S)
    except Exception:
        log.exception("worker.reconcile_dispatch_failed")  # the monitor asks again later
