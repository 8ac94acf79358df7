"""Record a test listing through the same path as a real detection (source test_injection)."""

import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from listings.models import ListingSource
from listings.ports import trading
from listings.services import listing_record


class Command(BaseCommand):
    help = "Inject a listing as if detected (source test_injection); it is traded like any other."

    def add_arguments(self, parser) -> None:
        parser.add_argument("symbol", help="e.g. NEWUSDT")
        parser.add_argument("--listed-at", help="open time, ISO 8601 (default: now)")

    def handle(self, *args, symbol: str, listed_at: str | None, **options) -> None:
        when = _parse_time(listed_at) if listed_at else None
        try:
            result = listing_record(
                symbol=symbol, source=ListingSource.TEST, listed_at=when, detected_ns=time.time_ns()
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        trading().wait()  # embedded shape: its trade runs in this process; let it finish
        listing = result.listing
        verb = "Recorded" if result.created else "Already recorded"
        self.stdout.write(
            f"{verb}: {listing.symbol} listed_at={listing.listed_at.isoformat()} "
            f"source={listing.source} id={listing.pk}"
        )


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--listed-at {value!r} is not an ISO 8601 time (e.g. 2026-11-25T12:00:00Z)."
        ) from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.utc)
