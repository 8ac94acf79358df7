"""MEXC's website new-coin calendar (undocumented; mexc-api.md section 6): upcoming opens."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from .errors import ExchangeUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpcomingListing:
    base_asset: str
    symbol: str
    full_name: str
    open_time: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class CalendarResult:
    listings: list[UpcomingListing]
    skipped: int  # items that could not be read


def parse_new_coins(body: Any, quote_asset: str = "USDT") -> CalendarResult:
    """Tolerant parse: bad items are skipped and counted, never fatal."""
    data = body.get("data") if isinstance(body, dict) else None
    items = data.get("newCoins") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return CalendarResult([], 0)
    listings, skipped = [], 0
    for item in items:
        name = item.get("vcoinName") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip().isalnum():
            skipped += 1
            continue
        base = name.strip().upper()
        open_time = None
        first_open = item.get("firstOpenTime")
        if isinstance(first_open, int | float | str) and str(first_open).isdigit():
            open_time = datetime.fromtimestamp(int(first_open) / 1000, UTC)
        listings.append(
            UpcomingListing(
                base_asset=base,
                symbol=f"{base}{quote_asset}",
                full_name=str(item.get("vcoinNameFull") or ""),
                open_time=open_time,
                raw=item,
            )
        )
    return CalendarResult(listings, skipped)


async def fetch_new_coins(
    url: str,
    *,
    quote_asset: str = "USDT",
    client: httpx.AsyncClient | None = None,
    timeout: float = 5.0,
) -> list[UpcomingListing]:
    params = {"timestamp": str(time.time_ns() // 1_000_000)}
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=timeout) as own:
                response = await own.get(url, params=params)
        else:
            response = await client.get(url, params=params)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ExchangeUnavailable(f"calendar: {type(exc).__name__}") from None
    result = parse_new_coins(body, quote_asset)
    if result.skipped:
        log.warning("calendar.skipped_items", extra={"skipped": result.skipped})
    return result.listings
