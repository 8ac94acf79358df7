"""Retention: delete settled trades (and dead listings) older than a cut-off, after exporting
them to CSV. A dry run unless --apply.

    manage.py prune --older-than 365d                 # says what it would delete
    manage.py prune --older-than 365d --apply         # exports, then deletes in batches

Never deleted:
- a trade that is not settled (pending, submitted, unknown, awaiting confirmation, partially
  filled): the reconciler or an operator still owes it an outcome;
- a listing any remaining trade points to;
- a listing that is still live (not delisted): the monitor's "one live listing per symbol"
  rule would see the symbol again as new and trade it a second time;
- configuration versions and audit events (trades point to the former; the latter are
  append-only).
(There is no Position model yet: when there is, open positions and their trades stay too.)

The export comes first, one CSV per table in --export-dir (the trades with the audit export's
columns); nothing is deleted if writing it fails. Deletion runs in batches of --batch rows, one
transaction each, so the live bot is never blocked for long; an interrupted run is safe to
start again (its export then covers what is left).
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from listings.models import Listing
from monitoring.services import audit_record
from trading.models import Trade, TradeRollup, TradeStatus
from trading.selectors import trade_export_chunks

UNSETTLED = (
    TradeStatus.PENDING,
    TradeStatus.SUBMITTED,
    TradeStatus.UNKNOWN,
    TradeStatus.AWAITING_CONFIRMATION,
    TradeStatus.PARTIALLY_FILLED,
)
LISTING_COLUMNS = (
    "id",
    "symbol",
    "base_asset",
    "quote_asset",
    "listed_at",
    "listed_at_source",
    "detected_at",
    "source",
    "delisted_at",
    "created_at",
    "raw",
)
AGE = re.compile(r"([1-9][0-9]{0,5})([dh])")
ROLLUP_KEEP = timedelta(hours=25)  # the decisions' 24 h window, and an hour's margin


def parse_age(value: str) -> timedelta:
    match = AGE.fullmatch(value.strip())
    if not match:
        raise CommandError(f"--older-than {value!r}: give days or hours, e.g. 365d or 48h.")
    number, unit = int(match[1]), match[2]
    return timedelta(days=number) if unit == "d" else timedelta(hours=number)


def prunable_trades(*, before):
    return Trade.objects.filter(created_at__lt=before).exclude(status__in=UNSETTLED)


def prunable_listings(*, before, trades_going=None):
    """Delisted before the cut-off, and no trade left pointing to it (`trades_going`: the
    trades about to be deleted, for a dry run's count)."""
    kept = Trade.objects.filter(listing=OuterRef("pk"))
    if trades_going is not None:
        kept = kept.exclude(pk__in=trades_going.values("pk"))
    return Listing.objects.filter(
        detected_at__lt=before, delisted_at__isnull=False, delisted_at__lt=before
    ).exclude(Exists(kept))


class Command(BaseCommand):
    help = "Delete settled trades and dead listings older than --older-than (dry run by default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", required=True, help="age cut-off: 365d, 48h...")
        parser.add_argument("--apply", action="store_true", help="export, then delete")
        parser.add_argument(
            "--export-dir",
            default=str(Path(settings.VAR_DIR) / "prune"),
            help="where the CSV exports go (default var/prune)",
        )
        parser.add_argument("--batch", type=int, default=5000, help="rows per delete")
        parser.add_argument("--by", default="cli", help="who prunes (recorded in the audit)")

    def handle(
        self, *args, older_than: str, apply: bool, export_dir: str, batch: int, by: str, **options
    ) -> None:
        before = timezone.now() - parse_age(older_than)
        trades = prunable_trades(before=before)
        n_trades = trades.count()
        n_listings = prunable_listings(before=before, trades_going=trades).count()
        kept = Trade.objects.filter(created_at__lt=before, status__in=UNSETTLED).count()
        self.stdout.write(
            f"Before {before.isoformat()}: {n_trades} settled trades and {n_listings} delisted "
            f"listings to delete; {kept} unsettled older trades kept."
        )
        if not apply:
            self.stdout.write("Dry run: nothing deleted (add --apply).")
            return
        if not (n_trades or n_listings):
            return
        folder = Path(export_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        trades_csv = folder / f"trades-before-{before:%Y%m%d}-{stamp}.csv"
        listings_csv = folder / f"listings-before-{before:%Y%m%d}-{stamp}.csv"
        # Export first: the trades' audit rows, then the listings that will go after them.
        with trades_csv.open("w", newline="", encoding="utf-8") as out:
            for chunk in trade_export_chunks(trades=trades):
                out.write(chunk)
        deleted_trades = self._delete_batches(trades, batch)
        # The decisions' per-minute rollups (trading.rollups) older than a day serve none; the
        # last day's are never deleted: they count the trades still in the window.
        TradeRollup.objects.filter(minute__lt=min(before, timezone.now() - ROLLUP_KEEP)).delete()
        listings = prunable_listings(before=before)
        with listings_csv.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(LISTING_COLUMNS)
            for row in listings.order_by("pk").values_list(*LISTING_COLUMNS).iterator(2000):
                writer.writerow(row)
        deleted_listings = self._delete_batches(listings, batch)
        audit_record(
            actor=None,
            actor_label=by,
            action="retention.prune",
            target=f"before {before.isoformat()}",
            detail={
                "trades": deleted_trades,
                "listings": deleted_listings,
                "exports": [str(trades_csv), str(listings_csv)],
            },
        )
        self.stdout.write(
            f"Deleted {deleted_trades} trades and {deleted_listings} listings; "
            f"exported to {trades_csv} and {listings_csv}."
        )

    @staticmethod
    def _delete_batches(queryset, batch: int) -> int:
        deleted = 0
        while True:
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
            if not ids:
                return deleted
            with transaction.atomic():
                # The conditions again under the delete: a row that changed meanwhile stays.
                _, per_model = queryset.filter(pk__in=ids).delete()
            deleted += per_model.get(queryset.model._meta.label, 0)
