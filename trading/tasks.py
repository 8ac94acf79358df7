"""Celery tasks of trading. Tasks take ids, are idempotent and call one service."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="trading.tasks.snipe", ignore_result=True)
def snipe(listing_id: int, detected_ns: int | None = None) -> None:
    """Turn a new listing into a risk-checked order.

    The execution pipeline (risk checks, order placement, reconciliation) is the trading
    issue's work; until it lands this task only acknowledges the hand-off.
    """
    log.info("snipe.received", extra={"listing_id": listing_id, "detected_ns": detected_ns})


@shared_task(name="trading.tasks.snipe_announced", ignore_result=True)
def snipe_announced(upcoming_id: int) -> None:
    """An announced listing opens soon: prepare to fire at the open (trading issue's work)."""
    log.info("snipe.armed_received", extra={"upcoming_id": upcoming_id})
