"""Scheduled listings from a scenario (file, inline, or the packaged default).

Shape (a bare list is read as ``{"listings": [...]}``)::

    {"listings": [{"symbol": "NEWUSDT", "open_in_ms": 5000, "price": "0.01",
                   "api_enable_delay_ms": 0}],
     "repeat_every_ms": 20000,   # optional: list a fresh generated token this often
     "repeat_lead_ms": 10000,    # ... announced (on the calendar) this long before its open
     "repeat_price_range": ["0.001", "2"], "repeat_api_enable_delay_ms": 0,
     "repeat_prefix": "SNIPE", "repeat_quote": "USDT",
     "repeat_keep": 30}          # delist the oldest generated token beyond this many

``open_in_ms`` counts from simulator start (or ``/_sim/reset``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import string
from decimal import Decimal
from importlib import resources

from .host import ScenarioHost
from .market import fmt, scales_for

log = logging.getLogger(__name__)
_ALNUM = string.ascii_uppercase + string.digits


def load_scenario(*, default: bool, path: str | None, inline: dict | list | None) -> dict | None:
    if inline is not None:
        data = inline
    elif path:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    elif default:
        text = resources.files(__package__).joinpath("default_scenario.json").read_text()
        data = json.loads(text)
    else:
        return None
    if isinstance(data, list):
        data = {"listings": data}
    if not isinstance(data, dict):
        raise ValueError("scenario must be a JSON object or list")
    return data


class ScenarioRunner:
    def __init__(self, sim: ScenarioHost, scenario: dict | None) -> None:
        self.sim = sim
        self.scenario = scenario
        self.task: asyncio.Task | None = None
        self.generated = 0
        self.live: list[str] = []  # generated symbols still listed, oldest first

    def start(self) -> None:
        if not self.scenario:
            return
        for spec in self.scenario.get("listings", []):
            self.sim.exchange.list_from_spec(spec)
        if self.scenario.get("repeat_every_ms"):
            self.task = asyncio.create_task(self._repeat())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.live = []

    async def _repeat(self) -> None:
        every = int(self.scenario["repeat_every_ms"]) / 1000
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self.list_generated()
            except Exception:  # keep the demo alive whatever happens
                log.exception("scenario: could not list a generated token")
            next_at += every
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def list_generated(self) -> str:
        spec = self.scenario or {}
        rng = self.sim.rng
        quote = spec.get("repeat_quote", "USDT")
        prefix = spec.get("repeat_prefix", "SNIPE")
        while True:
            symbol = prefix + "".join(rng.choice(_ALNUM) for _ in range(2)) + quote
            if symbol not in self.sim.exchange.symbols:
                break
        low, high = (Decimal(str(v)) for v in spec.get("repeat_price_range", ["0.001", "2"]))
        raw = low + (high - low) * Decimal(str(round(rng.random(), 6)))
        price = raw.quantize(Decimal(1).scaleb(-scales_for(raw)[0]))
        self.sim.exchange.list_symbol(
            symbol,
            price=price,
            open_in_ms=int(spec.get("repeat_lead_ms", 10_000)),
            api_enable_delay_ms=int(spec.get("repeat_api_enable_delay_ms", 0)),
            quote_asset=quote,
        )
        self.generated += 1
        self.live.append(symbol)
        keep = int(spec.get("repeat_keep", 30))
        while len(self.live) > keep:  # bound the universe (and the per-tick work) in long demos
            old = self.live.pop(0)
            if old in self.sim.exchange.symbols:
                self.sim.exchange.delist(old)
        log.info("scenario: %s announced at %s", symbol, fmt(price))
        return symbol


# --- the demo's client side: list a symbol on a running simulator ---------------------------

DEMO_PRICE = "0.5"  # a test listing's opening price on the simulator (any positive price)


class SimulatorUnreachable(Exception):
    """The demo simulator did not answer or refused the listing (the message says why)."""


def simulator_list_symbol(base_url: str, *, symbol: str, price: str = DEMO_PRICE) -> bool:
    """List `symbol` on the simulator at `base_url`, open now (``POST /_sim/listings``).

    True if listed now, False if it was already listed there. Only for the local demo: the
    caller checks that the bot trades against this simulator, never against real MEXC.
    """
    import httpx

    try:
        response = httpx.post(
            f"{base_url.rstrip('/')}/_sim/listings",
            json={"symbol": symbol, "price": price},
            timeout=2.0,
        )
    except httpx.HTTPError as exc:
        raise SimulatorUnreachable(f"the simulator at {base_url} did not answer ({exc})") from exc
    if response.status_code == 409:
        return False
    if response.status_code != 201:
        raise SimulatorUnreachable(
            f"the simulator at {base_url} refused {symbol}: {response.text[:200]}"
        )
    return True
