"""The `listing.created` payload: ListingSerializer's output, built without DRF (hot path)."""

from __future__ import annotations

from typing import Any

from common.payloads import iso

from .models import Listing


def listing_payload(listing: Listing) -> dict[str, Any]:
    return {
        "id": listing.pk,
        "symbol": listing.symbol,
        "base_asset": listing.base_asset,
        "quote_asset": listing.quote_asset,
        "listed_at": iso(listing.listed_at),
        "detected_at": iso(listing.detected_at),
        "source": listing.source,
        "delisted_at": iso(listing.delisted_at),
    }
