"""Test listings that end in a dry-run fill: in the demo, listed on the local simulator first.

An injected symbol the exchange does not list has no price (its dry-run trade fails with
`no_price`) and disappears from the REST universe (the diff would mark it delisted). When the
bot trades against the local simulator (`make run` sets DEMO_SIMULATOR_URL to the URL that
MEXC_REST_URL points at), the symbol is listed there first, open now: the simulator then
quotes it, lists it in exchangeInfo (so it stays listed) and the trade fills. Against any
other exchange URL nothing is sent anywhere but our own database, and `inject_note` says
what will happen before the operator clicks.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from common.env import env_url
from mexc.simulator.scenario import SimulatorUnreachable, simulator_list_symbol

from .models import Listing, ListingSource
from .services import QUOTE_ASSETS, SYMBOL_RE, listing_record, split_symbol

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

__all__ = ["InjectResult", "SimulatorUnreachable", "demo_simulator_url", "inject_note"]


def demo_simulator_url() -> str | None:
    """The demo simulator's URL, only when the bot trades against it (same URL as
    MEXC_REST_URL, on this machine): never real MEXC."""
    url = env_url("DEMO_SIMULATOR_URL", None, schemes=("http",))
    rest = (getattr(settings, "MEXC_REST_URL", "") or "").rstrip("/")
    if not url or url != rest or urlsplit(url).hostname not in LOOPBACK:
        return None
    return url


def inject_note() -> str:
    """What an injected test listing will lead to, said before anyone clicks."""
    if demo_simulator_url():
        return (
            "Lists the symbol on the local simulator first, open now: its dry-run trade fills "
            "at the simulator's price."
        )
    rest = getattr(settings, "MEXC_REST_URL", "")
    return (
        f"The bot trades against {rest}: a symbol not listed there has no price, so its "
        "trade fails with no_price and the next universe check marks it delisted. Give a "
        "symbol listed there, or use `make run` (local simulator) for a fill."
    )


def inject_info() -> dict:
    return {
        "on_simulator": demo_simulator_url() is not None,
        "note": inject_note(),
        "quote_assets": list(QUOTE_ASSETS),
    }


@dataclass(frozen=True)
class InjectResult:
    listing: Listing
    created: bool
    on_simulator: bool  # listed on the demo simulator first


def generated_symbol() -> str:
    return f"TEST{secrets.token_hex(3).upper()}USDT"


def listing_inject(*, symbol: str | None, listed_at=None) -> InjectResult:
    """Record a test listing (source test_injection) as if detected; in the demo, list it on
    the simulator first. ValueError: not a MEXC symbol; SimulatorUnreachable: the demo's
    simulator refused or is down (nothing was recorded)."""
    symbol = (symbol or generated_symbol()).strip().upper()
    _base, quote = split_symbol(symbol)
    if not SYMBOL_RE.fullmatch(symbol) or not quote or not _base:
        raise ValueError(
            f"{symbol!r} is not a MEXC symbol (letters and digits, a base and a known quote "
            "asset, e.g. ABCUSDT)."
        )
    sim = demo_simulator_url()
    listed_now = sim is not None and simulator_list_symbol(sim, symbol=symbol)
    result = listing_record(
        symbol=symbol, source=ListingSource.TEST, listed_at=listed_at, detected_ns=time.time_ns()
    )
    # Listed on the simulator a moment ago: the monitor may have recorded it first (its stream
    # saw the new symbol). That is this injection's listing, traded once.
    created = result.created or listed_now
    return InjectResult(listing=result.listing, created=created, on_simulator=sim is not None)
