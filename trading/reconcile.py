"""Settle what a crash, timeout or restart left open: on worker start and periodically.

Every change is a compare-and-set through `trading.states` on the status the pass read, so a
trade its sender moved meanwhile (filled, say) is never rewritten. A trade still held by its
sender (`held_until` in the future) is left to it. Nothing is sent blindly:
- an expired confirmation is canceled (it was never sent);
- a pending or unknown trade past its sender's lease is settled by the witnesses
  (trading/settle.py): found -> recorded; absent and still fresh -> sent again, same id;
  otherwise it stays unknown and is asked about again on the next pass;
- an acknowledged order not yet final is asked about by its client order id.

A recent listing with no trade at all lost its hand-off (the broker was down and the monitor
died with the message): it is sniped now through the same path, once (the client order id is
derived from the listing and unique).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from mexc import errors as mexc_errors
from risk.models import TradingMode
from risk.selectors import config_get_active

from .execution import Guards, OrderGateway, apply_order_state, send_live
from .models import Trade, TradeStatus
from .services import Signal, send_policy
from .settle import settle
from .states import trade_transition

log = logging.getLogger(__name__)
# A listing gets its trade within milliseconds; one without a trade after ORPHAN_GRACE lost its
# hand-off. Older than ORPHAN_WINDOW it is history (or predates trading), not an orphan.
ORPHAN_GRACE = timedelta(seconds=5)
ORPHAN_WINDOW = timedelta(minutes=15)
UNSETTLED_WINDOW = timedelta(days=1)  # MEXC's allOrders looks back 24 h: older is for a human


def trades_reconcile(*, gateway: OrderGateway, guards: Guards) -> Counter:
    """One pass over open trades. Returns counts by outcome, for logs and tests."""
    counts: Counter = Counter()
    now = timezone.now()
    free = Q(held_until__isnull=True) | Q(held_until__lt=now)

    for trade in Trade.objects.filter(status=TradeStatus.AWAITING_CONFIRMATION, expires_at__lt=now):
        if trade_transition(
            trade,
            TradeStatus.CANCELED,
            reason_code="confirmation_expired",
            error_message="No operator confirmed in time.",
        ):
            counts["expired_confirmation"] += 1

    dry = Trade.objects.filter(free, mode=TradingMode.DRY_RUN, status=TradeStatus.PENDING)
    for trade in dry:  # a simulated fill its sender did not finish (restart): nothing was sent
        if trade_transition(
            trade,
            TradeStatus.FAILED,
            reason_code="dry_run_interrupted",
            error_message="The simulated fill was interrupted (restart?).",
        ):
            counts["dry_run_interrupted"] += 1

    live = Trade.objects.filter(
        free,
        mode=TradingMode.LIVE,
        status__in=(
            TradeStatus.PENDING,
            TradeStatus.UNKNOWN,
            TradeStatus.SUBMITTED,
            TradeStatus.PARTIALLY_FILLED,
        ),
        created_at__gte=now - UNSETTLED_WINDOW,
    ).select_related("listing")
    config = config_get_active()
    for trade in live:
        if trade.status in (TradeStatus.SUBMITTED, TradeStatus.PARTIALLY_FILLED):
            counts[_refresh(trade, gateway)] += 1
            continue
        signal = _signal_of(trade)
        policy = send_policy(config, signal)
        try:
            outcome = settle(trade, gateway, fresh_until_ms=policy.fresh_until_ms, window_s=0)
        except Exception as exc:
            log.warning("reconcile.settle_failed", extra={"trade_id": trade.pk, "error": repr(exc)})
            counts["settle_failed"] += 1
            continue
        if outcome == "resend":
            send_live(trade, gateway, guards, policy, resend=True)
        counts[outcome] += 1
    counts.update(listings_without_trade_snipe(now=now))
    counts.update(positions_reconcile(now=now))
    if counts:
        log.info("reconcile.pass", extra=dict(counts))
    return counts


def _refresh(trade: Trade, gateway: OrderGateway) -> str:
    try:
        state = gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id)
    except mexc_errors.MexcError as exc:  # -2013 included: an acked order exists, ask again
        log.info("reconcile.query_failed", extra={"trade_id": trade.pk, "error": repr(exc)})
        return "query_failed"
    apply_order_state(trade, state)
    return "refreshed"


def _signal_of(trade: Trade) -> Signal | None:
    """The freshness a snipe was decided under (None for a manual trade: never resent)."""
    if trade.manual or trade.listing is None:
        return None
    return Signal(
        symbol=trade.symbol,
        quote_asset=trade.listing.quote_asset,
        client_order_id=trade.client_order_id,
        opened_at_ms=int(trade.listing.listed_at.timestamp() * 1000),
    )


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


POSITION_GRACE = timedelta(seconds=30)


def positions_reconcile(*, now) -> Counter:
    """Positions left behind by a crash: a fill without its position (opened now), and a
    position `closing` whose sells are all settled (open again: the watcher decides anew)."""
    from .models import Position, PositionStatus, TradeSide
    from .positions import SELL_DONE, position_apply_sells, position_open

    counts: Counter = Counter()
    fills = Trade.objects.filter(
        side=TradeSide.BUY,
        status__in=(TradeStatus.FILLED, TradeStatus.PARTIALLY_FILLED),
        executed_qty__gt=0,
        opened_position__isnull=True,
        created_at__gte=now - UNSETTLED_WINDOW,
    )
    for trade in fills:
        if position_open(trade) is not None:
            counts["position_opened"] += 1
    stale = Position.objects.filter(
        status=PositionStatus.CLOSING, updated_at__lt=now - POSITION_GRACE
    ).exclude(trades__side=TradeSide.SELL, trades__status__in=set(TradeStatus) - SELL_DONE)
    for position in stale:
        position_apply_sells(position.pk)
        if Position.objects.filter(pk=position.pk, status=PositionStatus.CLOSING).update(
            status=PositionStatus.OPEN, updated_at=now
        ):
            counts["position_released"] += 1
    return counts
