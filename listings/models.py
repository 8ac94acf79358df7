"""A new spot symbol seen on MEXC, stored once however many sources saw it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ListingSource(models.TextChoices):
    WEBSOCKET = "mexc_websocket", "MEXC WebSocket"
    REST = "mexc_rest_api", "MEXC REST API"
    TEST = "test_injection", "Test injection"


class OpenTimeSource(models.TextChoices):
    """Where a listing's `listed_at` comes from: the exchange's evidence, best first."""

    CALENDAR = "calendar", "Calendar (firstOpenTime)"
    FIRST_TRADE = "first_trade", "First trade"
    FIRST_KLINE = "first_kline", "First 1m kline"
    DETECTED = "detected", "Detection time (no exchange evidence)"


class Listing(models.Model):
    symbol = models.CharField(max_length=32)
    base_asset = models.CharField(max_length=32)  # a symbol is at most 32: so is its base
    quote_asset = models.CharField(max_length=16)
    listed_at = models.DateTimeField(
        help_text="The exchange's open time when known, else when the bot first saw it trading."
    )
    listed_at_source = models.CharField(
        max_length=16,
        choices=OpenTimeSource.choices,
        default=OpenTimeSource.DETECTED,
        help_text="The evidence `listed_at` comes from.",
    )
    detected_at = models.DateTimeField(help_text="When the bot first detected the listing.")
    source = models.CharField(max_length=32, choices=ListingSource.choices)
    raw = models.JSONField(default=dict, blank=True, help_text="What the source reported.")
    delisted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the symbol left the exchange; a return is a new row.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "listed_at"], name="listing_unique_open"),
            models.CheckConstraint(
                condition=Q(source__in=ListingSource.values), name="listing_source_valid"
            ),
            models.CheckConstraint(condition=~Q(symbol=""), name="listing_symbol_not_blank"),
            # At most one live listing per symbol: every source's sighting lands on it.
            models.UniqueConstraint(
                fields=["symbol"],
                condition=Q(delisted_at__isnull=True),
                name="listing_one_active_per_symbol",
            ),
        ]
        indexes = [
            models.Index(fields=["-detected_at", "-id"], name="listing_newest_first"),
            models.Index(fields=["symbol", "-listed_at"], name="listing_symbol_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} @ {self.listed_at:%Y-%m-%d %H:%M:%S} ({self.source})"


class ExchangeSymbol(models.Model):
    """The exchange's symbol universe as the monitor last saw it.

    Persisted so a restart can tell a symbol that opened while the monitor was down (absent
    here, present on the exchange) from one that was always there.
    """

    symbol = models.CharField(max_length=32, unique=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    delisted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol


class UpcomingStatus(models.TextChoices):
    ANNOUNCED = "announced", "Announced"
    ARMED = "armed", "Armed"
    OPENED = "opened", "Opened"
    CANCELED = "canceled", "Canceled"


class UpcomingListing(models.Model):
    """A listing announced on MEXC's new-coin calendar, before it opens.

    Close to its open time it is armed (per-symbol streams subscribed, trading told); when it
    is seen trading it becomes a Listing with `listed_at` = the announced open time.
    """

    symbol = models.CharField(max_length=32)
    base_asset = models.CharField(max_length=32)  # a symbol is at most 32: so is its base
    quote_asset = models.CharField(max_length=16)
    open_at = models.DateTimeField()
    full_name = models.CharField(max_length=200, blank=True)
    max_entry_price = models.DecimalField(
        max_digits=38,
        decimal_places=18,
        null=True,
        blank=True,
        help_text="The operator's reference price for this listing's entry cap, known before "
        "its open (used when the exchange shows no book before the open).",
    )
    status = models.CharField(
        max_length=16, choices=UpcomingStatus.choices, default=UpcomingStatus.ANNOUNCED
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    armed_at = models.DateTimeField(null=True, blank=True)
    listing = models.OneToOneField(
        Listing, null=True, blank=True, on_delete=models.SET_NULL, related_name="announcement"
    )
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["open_at", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "open_at"], name="upcoming_unique_open"),
            models.CheckConstraint(
                condition=Q(status__in=UpcomingStatus.values), name="upcoming_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} opens {self.open_at:%Y-%m-%d %H:%M:%S} ({self.status})"
