"""The decision's exposure from hourly rollups equals the sum over the history it replaces.

The rollups are kept by database triggers (SQLite here, PostgreSQL in CI's shape), so every
writer is covered: decisions, transitions, fills, a backdated row, a pruned one.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from trading.models import Trade, TradeRollup, TradeSide, TradeStatus
from trading.rollups import exposure_inputs
from trading.states import COMMITTED, IN_FLIGHT
from trading.tests.factories import TradeFactory

pytestmark = pytest.mark.django_db


def summed(*, mode: str, now, exclude_id=None) -> tuple[Decimal, int, int]:
    """The definition: every buy of the last 24 h, summed from the trades themselves."""
    recent = Trade.objects.filter(
        mode=mode, side=TradeSide.BUY, created_at__gte=now - timedelta(hours=24)
    ).exclude(pk=exclude_id)
    figures = recent.aggregate(
        spent=Sum(
            Coalesce("quote_spent", "quote_qty"),
            filter=Q(status__in=COMMITTED),
            default=Decimal(0),
        ),
        last_hour=Count(
            "id", filter=Q(status__in=COMMITTED, created_at__gte=now - timedelta(hours=1))
        ),
        in_flight=Count("id", filter=Q(status__in=IN_FLIGHT)),
    )
    return _cents(figures["spent"]), figures["last_hour"], figures["in_flight"]


def rolled(*, mode: str, now, exclude_id=None) -> tuple[Decimal, int, int]:
    _, exposure = exposure_inputs(mode=mode, now=now, exclude_id=exclude_id)
    return _cents(exposure.spent_24h), exposure.trades_last_hour, exposure.in_flight


def _cents(amount: Decimal) -> Decimal:
    """SQLite sums decimals as floats (either way: its order differs); PostgreSQL exactly."""
    return Decimal(amount).quantize(Decimal("0.000001"))


def test_exposure_from_rollups_equals_the_history_through_every_kind_of_write():
    rng = random.Random(7)
    now = timezone.now()
    trades = []
    for i in range(120):
        trade = TradeFactory(
            listing=None,
            symbol=f"R{i}USDT",
            mode=rng.choice(["live", "dry_run"]),
            side=rng.choice([TradeSide.BUY, TradeSide.BUY, TradeSide.SELL]),
            status=rng.choice(list(TradeStatus)),
            quote_qty=Decimal(rng.randint(1, 500)),
            reason_code="limit",
        )
        # backdated over 30 h (a write that moves the row to another hour's bucket)
        Trade.objects.filter(pk=trade.pk).update(
            created_at=now - timedelta(minutes=rng.randint(0, 30 * 60))
        )
        trades.append(trade.pk)
    for step in range(300):
        pk = rng.choice(trades)
        change = rng.random()
        if change < 0.5:
            Trade.objects.filter(pk=pk).update(status=rng.choice(list(TradeStatus)))
        elif change < 0.8:
            Trade.objects.filter(pk=pk).update(quote_spent=Decimal(rng.randint(0, 500)) / 7)
        elif change < 0.9:
            Trade.objects.filter(pk=pk).update(held_until=now)  # no figure changes
        else:
            Trade.objects.filter(pk=pk).delete()  # pruned
            trades.remove(pk)
        if step % 50 == 0:
            for mode in ("live", "dry_run"):
                for at in (now, now + timedelta(minutes=37), now - timedelta(hours=3)):
                    assert rolled(mode=mode, now=at) == summed(mode=mode, now=at), (step, at)
    for mode in ("live", "dry_run"):
        for minutes in range(0, 24 * 60, 53):
            at = now - timedelta(minutes=minutes)
            assert rolled(mode=mode, now=at) == summed(mode=mode, now=at), at
        excluded = trades[3]
        assert rolled(mode=mode, now=now, exclude_id=excluded) == summed(
            mode=mode, now=now, exclude_id=excluded
        )


def test_a_held_trade_decided_again_does_not_count_against_itself():
    held = TradeFactory(mode="live", status=TradeStatus.AWAITING_CONFIRMATION)
    Trade.objects.filter(pk=held.pk).update(created_at=timezone.now() - timedelta(hours=5))
    TradeFactory(mode="live", status=TradeStatus.FILLED, quote_spent=Decimal("7"))
    assert rolled(mode="live", now=timezone.now()) == (Decimal("27"), 1, 0)
    assert rolled(mode="live", now=timezone.now(), exclude_id=held.pk) == (Decimal("7"), 1, 0)


def test_the_rollups_hold_a_row_per_mode_and_minute_not_per_trade():
    for _ in range(30):
        TradeFactory(mode="live", status=TradeStatus.FILLED, quote_spent=Decimal("1"))
    (row,) = TradeRollup.objects.filter(mode="live")
    assert (row.committed, row.spent) == (30, Decimal("30"))
