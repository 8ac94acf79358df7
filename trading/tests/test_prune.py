"""manage.py prune: a dry run by default; exports, then deletes only what is settled and dead."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from listings.models import Listing
from listings.tests.factories import ListingFactory
from monitoring.models import AuditEvent
from trading.models import Trade, TradeStatus

from .factories import TradeFactory

pytestmark = pytest.mark.django_db


def _age(obj, days: int) -> None:
    then = timezone.now() - timedelta(days=days)
    type(obj).objects.filter(pk=obj.pk).update(
        **({"created_at": then} if isinstance(obj, Trade) else {"detected_at": then})
    )


@pytest.fixture
def history():
    old_delisted = ListingFactory(delisted_at=timezone.now() - timedelta(days=500))
    old_live = ListingFactory()
    old_with_unsettled = ListingFactory(delisted_at=timezone.now() - timedelta(days=500))
    rows = {
        "settled": TradeFactory(listing=old_delisted, status=TradeStatus.FILLED),
        "on_live": TradeFactory(listing=old_live, status=TradeStatus.REJECTED, reason_code="x"),
        "unsettled": TradeFactory(listing=old_with_unsettled, status=TradeStatus.UNKNOWN),
        "pending": TradeFactory(listing=None, status=TradeStatus.PENDING),
        "recent": TradeFactory(listing=None, status=TradeStatus.FILLED),
    }
    for name, trade in rows.items():
        if name != "recent":
            _age(trade, 400)
    for listing in (old_delisted, old_live, old_with_unsettled):
        _age(listing, 400)
    return rows, (old_delisted, old_live, old_with_unsettled)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_deletes_nothing(history):
    out = _run("--older-than", "365d")
    assert "2 settled trades and 1 delisted listings" in out
    assert "Dry run" in out
    assert Trade.objects.count() == 5 and Listing.objects.count() == 3


def test_apply_exports_then_deletes_only_settled_trades_and_dead_listings(history, tmp_path):
    rows, (old_delisted, old_live, old_with_unsettled) = history
    out = _run("--older-than", "365d", "--apply", "--export-dir", str(tmp_path), "--batch", "1")
    assert "Deleted 2 trades and 1 listings" in out
    left = set(Trade.objects.values_list("pk", flat=True))
    assert left == {rows["unsettled"].pk, rows["pending"].pk, rows["recent"].pk}
    assert set(Listing.objects.values_list("pk", flat=True)) == {
        old_live.pk,
        old_with_unsettled.pk,
    }
    trades_csv = next(tmp_path.glob("trades-*.csv"))
    exported = {int(r["trade_id"]) for r in csv.DictReader(trades_csv.open())}
    assert exported == {rows["settled"].pk, rows["on_live"].pk}
    listings_csv = next(tmp_path.glob("listings-*.csv"))
    assert [r["symbol"] for r in csv.DictReader(listings_csv.open())] == [old_delisted.symbol]
    event = AuditEvent.objects.get(action="retention.prune")
    assert event.detail["trades"] == 2 and event.detail["listings"] == 1


def test_a_bad_age_is_refused():
    with pytest.raises(CommandError, match="365d"):
        _run("--older-than", "a year")


def test_pruning_keeps_the_decisions_exposure_of_the_last_day(tmp_path):
    """Old rollup rows go with the history; the last day's stay, whatever the cut-off."""
    from trading.models import TradeRollup
    from trading.rollups import exposure_inputs

    old = TradeFactory(listing=None, mode="live", status=TradeStatus.FILLED)
    _age(old, 400)
    held = TradeFactory(listing=None, mode="live", status=TradeStatus.UNKNOWN)
    Trade.objects.filter(pk=held.pk).update(created_at=timezone.now() - timedelta(hours=3))
    before = exposure_inputs(mode="live")[1]
    assert before.spent_24h == 20 and before.in_flight == 1
    _run("--older-than", "1h", "--apply", "--export-dir", str(tmp_path))
    assert exposure_inputs(mode="live")[1] == before  # the unsettled one still counts
    assert not TradeRollup.objects.filter(minute__lt=timezone.now() - timedelta(days=2)).exists()
