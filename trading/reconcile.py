"""Settle what a crash, timeout or restart left open: on worker start and periodically.

Each trade is asked about by its client order id; nothing is sent blindly. A pending trade
was never claimed, so it was never sent: past its freshness deadline it is expired.

A recent listing with no trade at all lost its hand-off (the broker was down and the monitor
died with the message, or Redis restarted with it queued): it is sniped now, through the
same path, so it gets its one trade (rejected as stale if the signal is too old). The id is
derived from the listing and the Trade row is unique on it, so this can never double-trade.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.utils import timezone

from risk.models import TradingMode
from risk.selectors import config_get_active

from .execution import (
    Guards,
    OrderGateway,
    SendPolicy,
    _fail,
    apply_order_state,
    send_until_settled,
    settle_unknown,
)
from .models import Trade, TradeStatus

log = logging.getLogger(__name__)
# A listing gets its trade within milliseconds; one without a trade after ORPHAN_GRACE lost its
# hand-off. Older than ORPHAN_WINDOW it is history (or predates trading), not an orphan.
ORPHAN_GRACE = timedelta(seconds=5)
ORPHAN_WINDOW = timedelta(minutes=15)


def trades_reconcile(
    *, gateway: OrderGateway, guards: Guards, settle_after_s: float = 2.0
) -> Counter:
    """One pass over open trades. Returns counts by outcome, for logs and tests."""
    counts: Counter = Counter()
    config = config_get_active()
    now = timezone.now()
    quiet_since = now - timedelta(seconds=settle_after_s)

    for trade in Trade.objects.filter(status=TradeStatus.AWAITING_CONFIRMATION, expires_at__lt=now):
        _fail(
            trade,
            "confirmation_expired",
            "No operator confirmed in time.",
            status=TradeStatus.CANCELED,
        )
        counts["expired_confirmation"] += 1

    stale_before = now - timedelta(milliseconds=config.signal_max_age_ms)
    for trade in Trade.objects.filter(
        status=TradeStatus.PENDING, updated_at__lt=max(stale_before, quiet_since)
    ):
        _fail(
            trade,
            "expired_before_send",
            "Never sent: its signal went stale before a worker picked it up.",
            status=TradeStatus.REJECTED,
        )
        counts["expired_pending"] += 1

    for trade in Trade.objects.filter(
        mode=TradingMode.DRY_RUN, status=TradeStatus.SUBMITTED, updated_at__lt=quiet_since
    ):
        _fail(trade, "dry_run_interrupted", "The simulated fill was interrupted (restart?).")
        counts["dry_run_interrupted"] += 1

    for trade in Trade.objects.filter(
        mode=TradingMode.LIVE,
        status__in=(TradeStatus.SUBMITTED, TradeStatus.UNKNOWN, TradeStatus.PARTIALLY_FILLED),
        updated_at__lt=quiet_since,
    ):
        if trade.status == TradeStatus.PARTIALLY_FILLED and trade.exchange_order_id:
            try:
                apply_order_state(
                    trade,
                    gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id),
                )
                counts["refreshed"] += 1
            except Exception as exc:
                log.warning(
                    "reconcile.query_failed", extra={"trade_id": trade.pk, "error": repr(exc)}
                )
            continue
        outcome = settle_unknown(trade, gateway)
        if outcome == "resend":
            send_until_settled(
                trade, gateway, guards, SendPolicy(recv_window_ms=config.recv_window_ms)
            )
        counts[outcome] += 1
    counts.update(listings_without_trade_snipe(now=now))
    if counts:
        log.info("reconcile.pass", extra=dict(counts))
    return counts


def listings_without_trade_snipe(*, now) -> Counter:
    """Snipe recent listings whose hand-off was lost (no Trade row), once each."""
    from listings.models import Listing

    from .services import Stamps, trade_snipe

    counts: Counter = Counter()
    orphans = Listing.objects.filter(
        delisted_at__isnull=True,
        detected_at__gte=now - ORPHAN_WINDOW,
        detected_at__lt=now - ORPHAN_GRACE,
        trades__isnull=True,
    ).order_by("detected_at", "id")
    for listing in orphans:
        log.warning(
            "reconcile.orphan_listing", extra={"listing_id": listing.pk, "symbol": listing.symbol}
        )
        try:
            trade_snipe(
                listing_id=listing.pk,
                stamps=Stamps(detected_ns=int(listing.detected_at.timestamp() * 1e9)),
            )
            counts["orphan_sniped"] += 1
        except Exception as exc:  # e.g. another process decided it at the same moment
            log.warning(
                "reconcile.orphan_failed", extra={"listing_id": listing.pk, "error": repr(exc)}
            )
    return counts
