"""A new spot symbol seen on MEXC, stored once however many sources saw it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ListingSource(models.TextChoices):
    WEBSOCKET = "mexc_websocket", "MEXC WebSocket"
    REST = "mexc_rest_api", "MEXC REST API"
    TEST = "test_injection", "Test injection"


class Listing(models.Model):
    symbol = models.CharField(max_length=32)
    base_asset = models.CharField(max_length=24)
    quote_asset = models.CharField(max_length=16)
    listed_at = models.DateTimeField(
        help_text="The exchange's open time when known, else when the bot first saw it trading."
    )
    detected_at = models.DateTimeField(help_text="When the bot first detected the listing.")
    source = models.CharField(max_length=32, choices=ListingSource.choices)
    raw = models.JSONField(default=dict, blank=True, help_text="What the source reported.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "listed_at"], name="listing_unique_open"),
            models.CheckConstraint(
                condition=Q(source__in=ListingSource.values), name="listing_source_valid"
            ),
            models.CheckConstraint(condition=~Q(symbol=""), name="listing_symbol_not_blank"),
        ]
        indexes = [
            models.Index(fields=["-detected_at", "-id"], name="listing_newest_first"),
            models.Index(fields=["symbol", "-listed_at"], name="listing_symbol_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} @ {self.listed_at:%Y-%m-%d %H:%M:%S} ({self.source})"
