"""Reads for trading: the exposure figures risk checks judge."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from risk.checks import Exposure

from .models import Trade, TradeStatus

# Trades that did or may still commit money at the exchange (or in the simulation).
COMMITTED = (
    TradeStatus.PENDING,
    TradeStatus.SUBMITTED,
    TradeStatus.FILLED,
    TradeStatus.PARTIALLY_FILLED,
    TradeStatus.UNKNOWN,
)
IN_FLIGHT = (TradeStatus.PENDING, TradeStatus.SUBMITTED, TradeStatus.UNKNOWN)


def exposure_for(*, mode: str) -> Exposure:
    """24 h spend, trades in the last hour and snipes in flight, for one mode.

    Dry-run trades count against dry-run exposure only, so a simulation respects the limits
    the way live trading would, without eating the live budget.
    """
    now = timezone.now()
    money = DecimalField(max_digits=20, decimal_places=8)
    figures = Trade.objects.filter(mode=mode, created_at__gte=now - timedelta(hours=24)).aggregate(
        spent=Coalesce(
            Sum(Coalesce("quote_spent", "quote_qty"), filter=Q(status__in=COMMITTED)),
            Decimal(0),
            output_field=money,
        ),
        last_hour=Count(
            "id", filter=Q(status__in=COMMITTED, created_at__gte=now - timedelta(hours=1))
        ),
        in_flight=Count("id", filter=Q(status__in=IN_FLIGHT)),
    )
    return Exposure(
        spent_24h=figures["spent"],
        trades_last_hour=figures["last_hour"],
        in_flight=figures["in_flight"],
    )
