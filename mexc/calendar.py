"""MEXC's website new-coin calendar (undocumented, mexc-api.md section 6): upcoming opens.

``GET <url>?timestamp=<ms>`` -> ``{"data": {"newCoins": [{"vcoinId", "vcoinName",
"vcoinNameFull", "firstOpenTime", "zone"}, ...]}}``. The endpoint is not part of the Open
API and may change or be WAF-blocked, so parsing is tolerant: unreadable items are skipped
and counted (``skipped``), never fatal; a missing or bad ``firstOpenTime`` gives
``open_time=None``.

Bots that use it send a browser's ``User-Agent`` (mexc-api.md section 8), and a WAF answers
others with a 403 or an HTML page. So we send a browser-like ``User-Agent`` and
``Accept: application/json``, and an answer we cannot use (a 403, an HTML page, a body that
is not JSON or not the calendar's shape, a 5xx, a transport failure) raises
``CalendarUnavailable`` with its ``reason``: the calendar is down, which is not the same as
"no listings", so it never comes back as an empty list.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from .errors import CalendarUnavailable, IpBanned, RateLimited, error_from_response

__all__ = [
    "BROWSER_HEADERS",
    "CalendarResult",
    "UpcomingListing",
    "fetch_new_coins",
    "parse_new_coins",
]

log = logging.getLogger(__name__)

_MAX_MS = 32_503_680_000_000  # year 3000: anything later is junk

#: What a browser's fetch() of the calendar sends, near enough for the website's WAF.
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    ),
    "Accept": "application/json",
    "Accept-Language": "en-US,en;q=0.9",
}


@dataclass(frozen=True, slots=True)
class UpcomingListing:
    base_asset: str
    full_name: str
    open_time: datetime | None  # aware UTC; None when the calendar gives no usable time
    symbol: str  # base + quote, e.g. "BRICUSDT"
    coin_id: str | None = None
    zone: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class CalendarResult(list[UpcomingListing]):
    """The listings (a plain list to iterate), plus ``skipped``: items that were unreadable."""

    def __init__(self, listings: list[UpcomingListing] = (), skipped: int = 0) -> None:  # type: ignore[assignment]
        super().__init__(listings)
        self.skipped = skipped

    @property
    def listings(self) -> list[UpcomingListing]:
        return list(self)


def parse_new_coins(body: Any, quote_asset: str = "USDT") -> CalendarResult:
    """Tolerant parse of the calendar answer; never raises on odd content."""
    data = body.get("data") if isinstance(body, dict) else None
    items = data.get("newCoins") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return CalendarResult([], 0)
    quote = quote_asset.upper()
    listings, skipped = [], 0
    for item in items:
        name = item.get("vcoinName") if isinstance(item, dict) else None
        base = name.strip().upper() if isinstance(name, str) else ""
        if not base.isalnum() or not base.isascii():
            skipped += 1
            continue
        coin_id = item.get("vcoinId")
        zone = item.get("zone")
        listings.append(
            UpcomingListing(
                base_asset=base,
                full_name=str(item.get("vcoinNameFull") or ""),
                open_time=_open_time(item.get("firstOpenTime")),
                symbol=f"{base}{quote}",
                coin_id=str(coin_id) if coin_id not in (None, "") else None,
                zone=str(zone) if zone not in (None, "") else None,
                raw=item,
            )
        )
    return CalendarResult(listings, skipped)


def _open_time(value: Any) -> datetime | None:
    """``firstOpenTime`` (epoch ms, number or digit string) as an aware UTC datetime."""
    if isinstance(value, bool):
        return None
    try:
        ms = int(value) if isinstance(value, int | str) else int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    if not 0 < ms < _MAX_MS:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


# One kept-alive client per event loop: building an httpx client (its TLS context) costs tens
# of milliseconds of CPU, on the loop that also reads the listing stream.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _loop_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = httpx.AsyncClient()
    return client


async def fetch_new_coins(
    client_or_url: str | httpx.AsyncClient,
    *,
    url: str | None = None,
    quote_asset: str = "USDT",
    timeout: float = 5.0,
    clock_ms: Callable[[], int] | None = None,
) -> CalendarResult:
    """Fetch and parse the calendar.

    ``client_or_url``: the calendar URL (a short-lived client is used), or an
    ``httpx.AsyncClient`` to reuse its pool, with the URL in ``url`` (or its base URL).
    Raises CalendarUnavailable (with ``reason``; a subclass of ExchangeUnavailable) for any
    answer that is not the calendar, RateLimited / IpBanned for 429 / 418.
    """
    now_ms = clock_ms() if clock_ms else time.time_ns() // 1_000_000
    params = {"timestamp": str(now_ms)}
    try:
        if isinstance(client_or_url, str):
            response = await _loop_client().get(
                url or client_or_url, params=params, timeout=timeout, headers=BROWSER_HEADERS
            )
        else:
            response = await client_or_url.get(
                url or "", params=params, timeout=timeout, headers=BROWSER_HEADERS
            )
    except httpx.TransportError as exc:
        raise CalendarUnavailable(f"calendar: {type(exc).__name__}", reason="transport") from None
    body = _calendar_body(response)
    result = parse_new_coins(body, quote_asset)
    if result.skipped:
        log.warning("calendar.skipped_items", extra={"skipped": result.skipped})
    log.debug("calendar.fetched", extra={"listings": len(result), "skipped": result.skipped})
    return result


def _calendar_body(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON when it is the calendar; CalendarUnavailable (or 429/418) if not."""
    status = response.status_code
    content = response.content
    media = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
    html = media in ("text/html", "application/xhtml+xml") or content.lstrip()[:1] == b"<"
    try:
        body = None if html else json.loads(content)
    except ValueError:
        body = None
    if status >= 400:
        error = error_from_response(
            status, body if isinstance(body, dict) else {}, response.headers
        )
        if isinstance(error, RateLimited | IpBanned):
            raise error
        reason = "http_5xx" if status >= 500 else f"http_{status}"
        raise _unavailable(reason, f"HTTP {status}" + (" (HTML page)" if html else ""), status)
    if html:
        raise _unavailable("html", "an HTML page instead of JSON", status)
    if body is None:
        raise _unavailable("not_json", "the answer is not JSON", status)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("newCoins"), list):
        raise _unavailable("bad_shape", "no data.newCoins list in the answer", status)
    return body


def _unavailable(reason: str, why: str, status: int) -> CalendarUnavailable:
    log.warning("calendar.unavailable", extra={"reason": reason, "status": status})
    return CalendarUnavailable(f"calendar: {why}", reason=reason, http_status=status)
