"""Record a test listing through the same path as a real detection (source test_injection)."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from listings.demo import SimulatorUnreachable, inject_note, listing_inject
from listings.ports import trading


class Command(BaseCommand):
    help = (
        "Inject a listing as if detected (source test_injection); it is traded like any other. "
        "Against the demo's local simulator (DEMO_SIMULATOR_URL) it is listed there first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("symbol", nargs="?", help="e.g. NEWUSDT (default: TEST<hex>USDT)")
        parser.add_argument("--listed-at", help="open time, ISO 8601 (default: now)")

    def handle(self, *args, symbol: str | None, listed_at: str | None, **options) -> None:
        when = _parse_time(listed_at) if listed_at else None
        try:
            result = listing_inject(symbol=symbol, listed_at=when)
        except (ValueError, SimulatorUnreachable) as exc:
            raise CommandError(str(exc)) from None
        if not result.on_simulator:
            self.stderr.write(f"Note: {inject_note()}")
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
