"""The decision's exposure figures, flat in history: hourly rollups plus the two window edges.

A decision judges, per mode, the buys of the last 24 h that did or may still spend (their
quote, the trades in the last hour, those in flight). Summing the trades themselves grows with
the history (69 ms at 1M trades); instead the whole clock hours inside the window come from
`TradeRollup` (kept by triggers in the same transaction as every trade write, migration 0008)
and only the two partial hours at its edges are read from `Trade`, through the
`(mode, created_at)` index: at most two hours of rows, whatever the history holds.

    now - 24h      first whole hour                     this hour        now
        |-- edge --|========= rollups (<= 23 rows) =========|--- edge ---|
                                                  |------- last hour ----|  (from Trade)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from risk.checks import Exposure

from .models import Trade, TradeRollup, TradeSide
from .states import COMMITTED, IN_FLIGHT

HOUR = timedelta(hours=1)
WINDOW = timedelta(hours=24)


def _hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def exposure_inputs(
    *,
    mode: str,
    client_order_id: str = "",
    exclude_id: int | None = None,
    now: datetime | None = None,
) -> tuple[int | None, Exposure]:
    """The trade already holding `client_order_id` (its id, or None) and `mode`'s exposure.
    `exclude_id`: a trade decided again (a confirmation) does not count against itself."""
    now = now or timezone.now()
    start = now - WINDOW
    first_whole = _hour_of(start) + HOUR  # the rollups' first bucket
    this_hour = _hour_of(now)  # the rollups end before it
    buys = Q(mode=mode, side=TradeSide.BUY)
    old_edge = Q(created_at__gte=start, created_at__lt=first_whole)
    new_edge = Q(created_at__gte=now - HOUR)  # before `this_hour`: the last-hour count
    middle = Q(created_at__gte=first_whole, created_at__lt=this_hour)
    edges = buys & (old_edge | new_edge)
    counted = Q(status__in=COMMITTED) & (old_edge | Q(created_at__gte=this_hour))
    flying = Q(status__in=IN_FLIGHT) & (old_edge | Q(created_at__gte=this_hour))
    itself = Q(pk=exclude_id) & buys & middle if exclude_id is not None else Q(pk__in=[])
    if exclude_id is not None:
        edges &= ~Q(pk=exclude_id)
    cost = Coalesce("quote_spent", "quote_qty")
    same_id = Q(client_order_id=client_order_id)
    rows = Trade.objects.filter(edges | same_id | itself).aggregate(
        spent=Sum(cost, filter=edges & counted, default=Decimal(0)),
        last_hour=Count("id", filter=edges & Q(status__in=COMMITTED, created_at__gte=now - HOUR)),
        in_flight=Count("id", filter=edges & flying),
        self_spent=Sum(cost, filter=itself & Q(status__in=COMMITTED), default=Decimal(0)),
        self_flying=Count("id", filter=itself & Q(status__in=IN_FLIGHT)),
        existing=Max("id", filter=same_id),
    )
    hours = TradeRollup.objects.filter(mode=mode, hour__gte=first_whole, hour__lt=this_hour)
    rolled = hours.aggregate(
        spent=Sum("spent", default=Decimal(0)), in_flight=Sum("in_flight", default=0)
    )
    exposure = Exposure(
        spent_24h=rows["spent"] + rolled["spent"] - rows["self_spent"],
        trades_last_hour=rows["last_hour"],
        in_flight=rows["in_flight"] + rolled["in_flight"] - rows["self_flying"],
    )
    return rows["existing"], exposure
