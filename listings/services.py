"""Writes for listings: record a sighting once, keep the symbol universe, arm announcements."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from monitoring import events, metrics
from sniperbot import fastsql

from .dispatch import (
    InlineSnipeFailed,
    commit_inline,
    decide_inline,
    dispatch_snipe,
    inline_snipe,
    prepared_snipe,
    rehearsal_snipe,
    warm_inline,
)
from .models import ExchangeSymbol, Listing, ListingSource, UpcomingListing, UpcomingStatus
from .payloads import listing_payload

log = logging.getLogger(__name__)

QUOTE_ASSETS = ("USDT", "USDC", "USDE", "FDUSD", "BTC", "ETH", "EUR", "MX")
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
    base_asset: str = "",
    quote_asset: str = "",
    raw: dict[str, Any] | None = None,
) -> RecordResult:
    """Record a sighting of a listing; the second and later sightings return the same row.

    `listed_at` is the exchange's open time when the source knows it; otherwise the open time
    of a matching calendar announcement, else the detection time. On creation the listing is
    pushed to dashboards and handed to trading after the transaction commits.
    """
    symbol = symbol.strip().upper()
    if not symbol.isalnum():
        raise ValueError(f"{symbol!r} is not a MEXC symbol (letters and digits, e.g. ABCUSDT).")
    if not base_asset or not quote_asset:
        base_asset, quote_asset = split_symbol(symbol, quote_asset or None)
    sighting = _Sighting(
        symbol=symbol,
        source=ListingSource(source),
        detected_at=detected_at or timezone.now(),
        detected_ns=detected_ns,
        listed_at=listed_at,
        base_asset=base_asset,
        quote_asset=quote_asset,
        raw=raw or {},
    )
    try:
        return _record_prepared(sighting) or _record(sighting, inline=True)
    except InlineSnipeFailed as exc:
        log.exception("snipe.inline_failed", extra={"symbol": symbol, "error": str(exc)})
        return _record(sighting, inline=False)


@dataclass(frozen=True)
class _Sighting:
    """One sighting, checked (`listing_record`)."""

    symbol: str
    source: ListingSource
    detected_at: datetime
    detected_ns: int | None
    listed_at: datetime | None  # the exchange's open time, when the source knows it
    base_asset: str
    quote_asset: str
    raw: dict[str, Any]

    def listing(self, listed_at: datetime, **fields: Any) -> Listing:
        """The listing this sighting records, opening at `listed_at`."""
        return Listing(
            symbol=self.symbol,
            base_asset=self.base_asset,
            quote_asset=self.quote_asset,
            listed_at=listed_at,
            detected_at=self.detected_at,
            source=self.source,
            raw=self.raw,
            **fields,
        )


def _record_prepared(sighting: _Sighting) -> RecordResult | None:
    """A new listing whose trade this process decides while the listing's round trip is out
    (see trading.prepared): the listing's row, the trade's and the COMMIT in one round trip.
    None: nothing but the symbol's universe row was written; record it the usual way."""
    symbol = sighting.symbol
    listed_at = sighting.listed_at or sighting.detected_at
    with prepared_snipe(
        symbol=symbol,
        quote_asset=sighting.quote_asset,
        listed_at=listed_at,
        detected_ns=sighting.detected_ns,
    ) as snipe:
        if snipe is None:
            return None
        listing = sighting.listing(listed_at, pk=snipe.listing_id)
        try:
            with transaction.atomic():
                built = _prepared_statements(listing, snipe)
                with fastsql.committing() as trip:
                    trip.send(*built)
                    trip.send(*snipe.decide())  # while the server runs the statements above
                first, *decided = trip.rows
                if not fastsql.inserted(listing, first):  # announced, live already, relisted
                    return None
                traded = snipe.committed(decided)
                events.publish_on_commit(events.LISTING_CREATED, listing_payload(listing))
        except fastsql.NotCommitted:
            log.exception("snipe.prepared_failed", extra={"symbol": symbol})
            return None
    if not traded:
        _decide_recorded(listing, sighting.detected_ns)
    return _recorded(listing, sighting.source)


def _prepared_statements(listing: Listing, snipe: Any) -> tuple[fastsql.Statement, ...]:
    """The listing's row (unless announced), its symbol seen, then the config lock."""
    insert = fastsql.insert_statement(
        listing,
        ignore_conflicts=True,
        unless=_announced_near(listing.symbol, listing.listed_at),
        with_pk=True,
    )
    seen = _symbol_seen(listing.symbol, listing.detected_at)
    return (*fastsql.writes(insert, seen), *snipe.first)


REHEARSAL_SYMBOL = "SNIPERBOTREHEARSALUSDT"


# PostgreSQL plans a prepared statement anew on each of its first five runs, then settles on
# a plan it keeps (~0.5 ms of planning per listing until then: the first listings after a start
# were the slowest of a hundred).
REHEARSALS = 6


def listing_rehearse() -> None:
    """At the monitor's start, on the thread that records listings: the decision's reads
    (`warm_inline`), then a prepared snipe's whole path `REHEARSALS` times, for a listing that
    does not exist, its rows deleted before its transaction commits. The first real listing
    then finds its statements prepared and planned on this connection and every cache filled
    (without, it took ~10 ms more). Nothing else happens: no order, push, log line or count."""
    warm_inline()
    try:
        for _ in range(REHEARSALS):
            snipe = _rehearse_once()
            if snipe is None or not snipe.decided:
                # e.g. dry run on SQLite: nothing to warm; an allow list without the symbol:
                # only the listing's part warmed
                log.info("monitor.rehearsal_skipped")
                return
        log.info("monitor.rehearsed", extra={"mode": snipe.trade.mode, "runs": REHEARSALS})
    except Exception:
        log.exception("monitor.rehearsal_failed")  # the first listings are slower, not lost


def _rehearse_once() -> Any | None:
    """One rehearsal (`listing_rehearse`); its prepared snipe, or None: nothing to rehearse."""
    now = timezone.now()
    base, quote = split_symbol(REHEARSAL_SYMBOL)
    with rehearsal_snipe(
        symbol=REHEARSAL_SYMBOL, quote_asset=quote, listed_at=now, detected_ns=time.time_ns()
    ) as snipe:
        if snipe is None:
            return None
        rehearsal = _Sighting(
            symbol=REHEARSAL_SYMBOL,
            source=ListingSource.TEST,
            detected_at=now,
            detected_ns=None,
            listed_at=now,
            base_asset=base,
            quote_asset=quote,
            raw={"rehearsal": True},
        )
        listing = rehearsal.listing(now, pk=snipe.listing_id)
        with transaction.atomic():
            with fastsql.round_trip() as trip:
                trip.send(*_prepared_statements(listing, snipe))
                trip.send(*snipe.decide())
            fastsql.first_rows(
                *snipe.undo(),
                ("DELETE FROM listings_listing WHERE id = %s", (listing.pk,)),
                ("DELETE FROM listings_exchangesymbol WHERE symbol = %s", (REHEARSAL_SYMBOL,)),
            )
    return snipe


def _decide_recorded(listing: Listing, detected_ns: int | None) -> None:
    """The trade of a listing recorded without it (its prepared decision was not written):
    decided in a transaction of its own, the inline way; failing that, by a task."""
    try:
        with (
            transaction.atomic(),
            inline_snipe(symbol=listing.symbol, listed_at=listing.listed_at) as snipe,
        ):
            if snipe is not None:
                decide_inline(
                    snipe,
                    listing=listing,
                    rows=fastsql.first_rows(*snipe.statements),
                    detected_ns=detected_ns,
                    persisted_ns=time.time_ns(),
                )
                commit_inline(snipe)
                return
    except InlineSnipeFailed:
        log.exception("snipe.inline_failed", extra={"symbol": listing.symbol})
    dispatch_snipe(listing_id=listing.pk, detected_ns=detected_ns, persisted_ns=time.time_ns())


def _recorded(listing: Listing, source: ListingSource) -> RecordResult:
    metrics.listings_detected.labels(source=source.value).inc()
    log.info(
        "listing.detected",
        extra={
            "symbol": listing.symbol,
            "source": source.value,
            "listing_id": listing.pk,
            "listed_at": listing.listed_at.isoformat(),
        },
    )
    return RecordResult(listing=listing, created=True)


def _record(sighting: _Sighting, *, inline: bool) -> RecordResult:
    symbol, source, detected_at = sighting.symbol, sighting.source, sighting.detected_at
    detected_ns, listed_at = sighting.detected_ns, sighting.listed_at

    def new_listing() -> Listing:
        return sighting.listing(listed_at or detected_at)

    listing = new_listing()
    with (
        transaction.atomic(),
        inline_snipe(symbol=symbol, listed_at=listing.listed_at, wanted=inline) as snipe,
    ):
        # The common case, a symbol never seen and not announced, in one round trip: the
        # listing inserted unless an announcement matches (or a live listing conflicts), the
        # symbol marked seen, and (inline) its trade decision's reads.
        announcement = None
        recorded = fastsql.writes(
            fastsql.insert_statement(
                listing, ignore_conflicts=True, unless=_announced_near(symbol, listing.listed_at)
            ),
            _symbol_seen(symbol, detected_at),
        )
        first, *reads = fastsql.first_rows(*recorded, *(snipe.statements if snipe else ()))
        reads = reads[len(recorded) - 1 :]
        if not fastsql.inserted(listing, first):  # announced, live already, or a re-listing
            reads = None  # the decision reads again, for this listing
            announcement, existing = _sighting_context(symbol, listed_at or detected_at)
            if listed_at is None and announcement is not None:
                listed_at = announcement.open_at
            if existing is not None:
                if listed_at is None or abs(existing.listed_at - listed_at) < RELIST_MIN_GAP:
                    return _dedup_hit(existing, source)
                existing.delisted_at = detected_at  # it left and came back meanwhile
                existing.save(update_fields=["delisted_at"])
            listing = new_listing()
            if not fastsql.insert(listing, ignore_conflicts=True):  # recorded meanwhile elsewhere
                same = Listing.objects.filter(symbol=symbol, delisted_at__isnull=True).first()
                if same is None:
                    same = Listing.objects.get(symbol=symbol, listed_at=listed_at or detected_at)
                return _dedup_hit(same, source)
            if announcement is not None:
                announcement.status = UpcomingStatus.OPENED
                announcement.listing = listing
                announcement.save(update_fields=["status", "listing"])
        # Trading first: in the monitor the trade is decided right here (see inline_snipe).
        persisted_ns = time.time_ns()
        if snipe is not None:
            decide_inline(
                snipe,
                listing=listing,
                rows=reads,
                detected_ns=detected_ns,
                persisted_ns=persisted_ns,
            )
        else:

            def hand_to_trading() -> None:
                dispatch_snipe(
                    listing_id=listing.pk, detected_ns=detected_ns, persisted_ns=time.time_ns()
                )

            transaction.on_commit(hand_to_trading)  # first: trading waits for nothing else
        events.publish_on_commit(events.LISTING_CREATED, listing_payload(listing))
        if snipe is not None:
            commit_inline(snipe)  # the block's last statement: the trade's row, and COMMIT
    return _recorded(listing, source)


def _dedup_hit(listing: Listing, source: ListingSource) -> RecordResult:
    metrics.listing_dedup_hits.inc()
    log.info(
        "listing.dedup_hit",
        extra={"symbol": listing.symbol, "source": source.value, "listing_id": listing.pk},
    )
    return RecordResult(listing=listing, created=False)


# The lookups below run on every detection (the path to the order): plain SQL, and the ORM
# only for the rare hit (see sniperbot/fastsql.py).


def _sighting_context(
    symbol: str, around: datetime
) -> tuple[UpcomingListing | None, Listing | None]:
    """The announcement matching a sighting, and the symbol's live listing, in one statement.

    No row lock on the live listing: the unique "one live listing per symbol" index and the
    conflict-skipping insert settle a race between two recorders.
    """
    announced_sql, announced_params = _announced_near(symbol, around)
    announcement_id, live_id = fastsql.first_row(
        f"SELECT ({announced_sql}),"
        " (SELECT id FROM listings_listing WHERE symbol = %s AND delisted_at IS NULL)",
        (*announced_params, symbol),
    )
    return (
        UpcomingListing.objects.get(pk=announcement_id) if announcement_id else None,
        Listing.objects.get(pk=live_id) if live_id else None,
    )


def _announced_near(symbol: str, around: datetime) -> fastsql.Statement:
    """The announcement (not canceled) of `symbol` opening around a sighting, the nearest first."""
    return (
        "SELECT id FROM listings_upcominglisting WHERE symbol = %s AND open_at >= %s"
        " AND open_at <= %s AND status <> %s ORDER BY open_at LIMIT 1",
        (
            symbol,
            fastsql.when(around - ANNOUNCEMENT_MATCH),
            fastsql.when(around + ANNOUNCEMENT_MATCH),
            UpcomingStatus.CANCELED.value,
        ),
    )


def _symbol_seen(symbol: str, when: datetime) -> fastsql.Statement:
    """The universe upsert, in the listing's transaction (a restart's diff relies on it)."""
    return fastsql.insert_statement(
        ExchangeSymbol(symbol=symbol, first_seen_at=when, last_seen_at=when, delisted_at=None),
        upsert_on=["symbol"],
        upsert_fields=["last_seen_at", "delisted_at"],
    )


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
