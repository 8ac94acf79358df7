"""Writes for listings: record a sighting once, keep the symbol universe, arm announcements."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.services import notify
from monitoring import events, metrics

from .models import (
    ExchangeSymbol,
    Listing,
    ListingSource,
    OpenTimeSource,
    UpcomingListing,
    UpcomingStatus,
)
from .payloads import listing_payload
from .ports import trading

log = logging.getLogger(__name__)

SYMBOL_RE = re.compile(r"[A-Z0-9]{2,32}")
QUOTE_ASSETS = ("USDT", "USDC", "USDE", "FDUSD", "BTC", "ETH", "EUR", "MX")


def symbol_pattern(*, padded: bool = False) -> str:
    """A MEXC symbol as the API takes it (a regex, also the OpenAPI pattern): a base of
    letters and digits and a known quote asset, either case; `padded`: spaces around it."""
    quotes = "|".join(q for asset in QUOTE_ASSETS for q in (asset, asset.lower()))
    pad = " *" if padded else ""
    return rf"^{pad}[A-Za-z0-9]{{1,28}}({quotes}){pad}$"


# A sighting with a known open time this far from the live listing's is a re-listing.
RELIST_MIN_GAP = timedelta(hours=24)
# An announcement matches a sighting of its symbol this close to its open time.
ANNOUNCEMENT_MATCH = timedelta(hours=1)
# A REST snapshot that drops more than this share of known symbols is treated as malformed.
MAX_DROP_SHARE = 0.2


@dataclass(frozen=True)
class RecordResult:
    listing: Listing
    created: bool


def split_symbol(symbol: str, quote_hint: str | None = None) -> tuple[str, str]:
    """ABCUSDT -> (ABC, USDT). MEXC symbols have no separator, so match known quote assets."""
    for quote in (quote_hint, *QUOTE_ASSETS):
        if quote and symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, ""


def listing_record(
    *,
    symbol: str,
    source: ListingSource | str,
    detected_at: datetime | None = None,
    detected_ns: int | None = None,
    listed_at: datetime | None = None,
    listed_at_source: OpenTimeSource | str | None = None,
    base_asset: str = "",
    quote_asset: str = "",
    raw: dict[str, Any] | None = None,
) -> RecordResult:
    """Record a sighting of a listing; the second and later sightings return the same row.

    `listed_at` is the exchange's open time as the source's evidence shows it
    (`listed_at_source`: the first trade or first kline); a matching calendar announcement's
    open wins over it (the armed trade was decided on it), and without either it is the
    detection time (`detected`). On creation the listing is pushed to dashboards and handed
    to trading after the transaction commits.
    """
    symbol = symbol.strip().upper()
    base_asset, quote_asset = (
        (base_asset, quote_asset)
        if base_asset and quote_asset
        else split_symbol(symbol, quote_asset or None)
    )
    if not SYMBOL_RE.fullmatch(symbol) or not quote_asset or not base_asset:
        raise ValueError(
            f"{symbol!r} is not a MEXC symbol (letters and digits, a base and a known quote "
            "asset, e.g. ABCUSDT)."
        )
    source = ListingSource(source)
    detected_at = detected_at or timezone.now()
    opened = (listed_at, OpenTimeSource(listed_at_source or OpenTimeSource.DETECTED))
    if listed_at is None:
        opened = (detected_at, OpenTimeSource.DETECTED)
    try:
        with transaction.atomic():
            recorded = _record(
                symbol=symbol,
                base_asset=base_asset,
                quote_asset=quote_asset,
                source=source,
                detected_at=detected_at,
                detected_ns=detected_ns,
                evidence=listed_at is not None,
                opened=opened,
                raw=raw or {},
            )
    except IntegrityError:  # recorded meanwhile by another recorder: the one live listing
        same = Listing.objects.filter(symbol=symbol, delisted_at__isnull=True).first()
        return _dedup_hit(same or Listing.objects.get(symbol=symbol, listed_at=opened[0]), source)
    if not recorded.created:
        return _dedup_hit(recorded.listing, source)
    listing = recorded.listing
    metrics.listings_detected.labels(source=source.value).inc()
    log.info(
        "listing.detected",
        extra={
            "symbol": listing.symbol,
            "source": source.value,
            "listing_id": listing.pk,
            "listed_at": listing.listed_at.isoformat(),
            "listed_at_source": listing.listed_at_source,
        },
    )
    return RecordResult(listing=listing, created=True)


def _record(
    *,
    symbol: str,
    base_asset: str,
    quote_asset: str,
    source: ListingSource,
    detected_at: datetime,
    detected_ns: int | None,
    evidence: bool,
    opened: tuple[datetime, OpenTimeSource],
    raw: dict[str, Any],
) -> RecordResult:
    """`listing_record`'s transaction: the listing, its symbol seen, its announcement opened,
    and the hand-off to trading queued for the commit. `evidence`: the sighting came with the
    exchange's open time (else a sighting of a live listing is the same listing)."""
    announcement, existing = _sighting_context(symbol, opened[0])
    if announcement is not None:
        opened = (announcement.open_at, OpenTimeSource.CALENDAR)
    if existing is not None:
        if (not evidence and announcement is None) or abs(
            existing.listed_at - opened[0]
        ) < RELIST_MIN_GAP:
            return RecordResult(listing=existing, created=False)
        existing.delisted_at = detected_at  # it left and came back meanwhile
        existing.save(update_fields=["delisted_at"])
    listing = Listing.objects.create(
        symbol=symbol,
        base_asset=base_asset,
        quote_asset=quote_asset,
        listed_at=opened[0],
        listed_at_source=opened[1],
        detected_at=detected_at,
        source=source,
        raw=raw,
    )
    ExchangeSymbol.objects.bulk_create(  # the universe upsert: a restart's diff relies on it
        [ExchangeSymbol(symbol=symbol, first_seen_at=detected_at, last_seen_at=detected_at)],
        update_conflicts=True,
        unique_fields=["symbol"],
        update_fields=["last_seen_at", "delisted_at"],
    )
    if announcement is not None:
        announcement.status = UpcomingStatus.OPENED
        announcement.listing = listing
        announcement.save(update_fields=["status", "listing"])
    persisted_ns = time.time_ns()

    def hand_to_trading() -> None:
        trading().listing_recorded(
            listing_id=listing.pk, detected_ns=detected_ns, persisted_ns=persisted_ns
        )

    transaction.on_commit(hand_to_trading)  # first: trading waits for nothing else
    events.publish_on_commit(events.LISTING_CREATED, listing_payload(listing))
    notify(
        "listing_detected",
        key=listing.pk,
        payload={
            "symbol": symbol,
            "source": source.value,
            "listed_at": listing.listed_at.isoformat(),
            "listing_id": listing.pk,
        },
    )
    return RecordResult(listing=listing, created=True)


def _dedup_hit(listing: Listing, source: ListingSource) -> RecordResult:
    metrics.listing_dedup_hits.inc()
    log.info(
        "listing.dedup_hit",
        extra={"symbol": listing.symbol, "source": source.value, "listing_id": listing.pk},
    )
    return RecordResult(listing=listing, created=False)


def _sighting_context(
    symbol: str, around: datetime
) -> tuple[UpcomingListing | None, Listing | None]:
    """The announcement matching a sighting (not canceled, nearest first), and the symbol's
    live listing. No row lock on the live listing: the unique "one live listing per symbol"
    index settles a race between two recorders."""
    announcement = (
        UpcomingListing.objects.filter(
            symbol=symbol,
            open_at__gte=around - ANNOUNCEMENT_MATCH,
            open_at__lte=around + ANNOUNCEMENT_MATCH,
        )
        .exclude(status=UpcomingStatus.CANCELED)
        .order_by("open_at")
        .first()
    )
    live = Listing.objects.filter(symbol=symbol, delisted_at__isnull=True).first()
    return announcement, live


@dataclass(frozen=True)
class UniverseDiff:
    new: frozenset[str]
    gone: frozenset[str]
    baseline: bool  # first snapshot ever: everything is existing, nothing is new
    rejected: bool = False  # looked malformed; nothing was changed


def snapshot_malformed(symbols: set[str], known: set[str]) -> bool:
    """A REST snapshot that is empty, or would drop a large share of the known symbols at
    once, is not believed (a truncated or broken answer, not a mass delisting)."""
    return not symbols or bool(known and len(known - symbols) > MAX_DROP_SHARE * len(known))


def universe_sync(
    *, symbols: set[str], seen_at: datetime | None = None, asked_at: datetime | None = None
) -> UniverseDiff:
    """Compare a full REST snapshot of trading symbols with the stored universe and store it.

    Returns the symbols that appeared (new listings, including ones that opened while the
    monitor was down) and the ones that disappeared (delisted). A snapshot that would drop a
    large share of the universe at once is refused as malformed rather than believed.
    `asked_at`: when the snapshot was asked for. A symbol seen since (on the stream) is newer
    than the snapshot, so its absence from it says nothing: it is not gone.
    """
    seen_at = seen_at or timezone.now()
    symbols = {s.upper() for s in symbols if s}
    with transaction.atomic():
        stored = ExchangeSymbol.objects.filter(delisted_at__isnull=True).values_list(
            "symbol", "last_seen_at"
        )
        active = {symbol for symbol, _ in stored}
        newer = {symbol for symbol, seen in stored if asked_at and seen >= asked_at}
        baseline = not ExchangeSymbol.objects.exists()
        new, gone = symbols - active, active - symbols - newer
        if snapshot_malformed(symbols, active - newer):
            log.warning(
                "universe.snapshot_rejected",
                extra={
                    "snapshot_size": len(symbols),
                    "known": len(active),
                    "would_drop": len(gone),
                },
            )
            return UniverseDiff(frozenset(), frozenset(), baseline, rejected=True)
        if new:
            revived = ExchangeSymbol.objects.filter(symbol__in=new)
            revived_names = set(revived.values_list("symbol", flat=True))
            revived.update(delisted_at=None, last_seen_at=seen_at)
            ExchangeSymbol.objects.bulk_create(
                [
                    ExchangeSymbol(symbol=s, first_seen_at=seen_at, last_seen_at=seen_at)
                    for s in new - revived_names
                ],
                ignore_conflicts=True,
            )
        if gone:
            ExchangeSymbol.objects.filter(symbol__in=gone).update(delisted_at=seen_at)
            Listing.objects.filter(symbol__in=gone, delisted_at__isnull=True).update(
                delisted_at=seen_at
            )
            log.info("universe.delisted", extra={"symbols": sorted(gone)})
    return UniverseDiff(frozenset() if baseline else frozenset(new), frozenset(gone), baseline)


def upcoming_record(
    *,
    symbol: str,
    open_at: datetime,
    base_asset: str = "",
    quote_asset: str = "",
    full_name: str = "",
    raw: dict[str, Any] | None = None,
) -> tuple[UpcomingListing, bool]:
    """Store a calendar announcement once (unique symbol + open time).

    The calendar can lag the exchange: an announcement of a listing the stream already saw is
    stored as opened, linked to that listing, so it is never armed and never traded twice.
    """
    symbol = symbol.upper()
    if not base_asset or not quote_asset:
        base_asset, quote_asset = split_symbol(symbol, quote_asset or None)
    seen = listing_live_near(symbol=symbol, when=open_at)
    return UpcomingListing.objects.get_or_create(
        symbol=symbol,
        open_at=open_at,
        defaults={
            "base_asset": base_asset,
            "quote_asset": quote_asset,
            "full_name": full_name,
            "raw": raw or {},
            "status": UpcomingStatus.OPENED if seen else UpcomingStatus.ANNOUNCED,
            "listing": seen,
        },
    )


def listing_live_near(*, symbol: str, when: datetime) -> Listing | None:
    """The live listing of `symbol` that opened around `when` (an announcement's open)."""
    return Listing.objects.filter(
        symbol=symbol.upper(),
        delisted_at__isnull=True,
        listed_at__gte=when - ANNOUNCEMENT_MATCH,
        listed_at__lte=when + ANNOUNCEMENT_MATCH,
    ).first()


def upcoming_arm(*, upcoming: UpcomingListing) -> bool:
    """Mark an announcement armed (once). True if this call armed it."""
    armed = UpcomingListing.objects.filter(pk=upcoming.pk, status=UpcomingStatus.ANNOUNCED).update(
        status=UpcomingStatus.ARMED, armed_at=timezone.now()
    )
    if armed:
        upcoming.status = UpcomingStatus.ARMED
        log.info(
            "listing.armed",
            extra={"symbol": upcoming.symbol, "open_at": upcoming.open_at.isoformat()},
        )
    return bool(armed)
