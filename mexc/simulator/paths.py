"""Scripted price paths for the first minutes of a listing (``POST /_sim/listings`` ``path``).

A path is a pure function of the time since the listing's first trade: ``factor(offset_ms)``
times the open price is the last trade price at that offset. The shape's parameters and its
noise come from ``random.Random(f"{kind}/{seed}")`` alone, so one (kind, seed) gives the same
path for any symbol, open price or run.

- ``spike``: climbs to 3-5x the open within 2-5 s, then decays (time constant 8-12 s) toward
  1.2-1.5x, reached within the first minute (opening spikes: ccxt #15329).
- ``flat``: +-0.5 % noise around the open.
- ``rug``: falls 80-95 % within 20-60 s, then stays down.
- ``moon``: climbs steadily (exponentially) to 3-6x over 3-8 minutes.

After ``duration_ms`` the path is over: the market keeps its last level and random-walks.
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_EVEN, Decimal

PATH_KINDS = ("spike", "flat", "rug", "moon")
DEFAULT_PATH_SEED = 1
DEFAULT_PATH_STEP_MS = 250  # the path moves (one trade, one new book) this often
KNOT_MS = 1000  # noise knots (linear in between)


class PricePath:
    def __init__(self, kind: str, seed: int = DEFAULT_PATH_SEED) -> None:
        if kind not in PATH_KINDS:
            raise ValueError(f"path must be one of {', '.join(PATH_KINDS)}")
        self.kind = kind
        self.seed = int(seed)
        rng = random.Random(f"{kind}/{self.seed}")
        self.params: dict[str, float] = {}
        if kind == "spike":
            self.params = {
                "peak_x": rng.uniform(3.0, 5.0),
                "rise_ms": rng.uniform(2000, 5000),
                "settle_x": rng.uniform(1.2, 1.5),
                "decay_ms": rng.uniform(8000, 12000),
            }
            self.duration_ms, self.noise_amp = 120_000, 0.01
        elif kind == "flat":
            self.duration_ms, self.noise_amp = 60_000, 0.005
        elif kind == "rug":
            self.params = {
                "floor_x": rng.uniform(0.05, 0.2),
                "fall_ms": rng.uniform(20_000, 60_000),
            }
            self.duration_ms, self.noise_amp = 120_000, 0.01
        else:  # moon
            self.params = {
                "target_x": rng.uniform(3.0, 6.0),
                "climb_ms": rng.uniform(180_000, 480_000),
            }
            self.duration_ms = int(self.params["climb_ms"]) + 60_000
            self.noise_amp = 0.01
        knots = self.duration_ms // KNOT_MS + 2
        self.noise = [0.0] + [rng.uniform(-1.0, 1.0) for _ in range(knots)]

    # -- the shape ----------------------------------------------------------------------------
    def _shape(self, t: float) -> float:
        p = self.params
        if self.kind == "spike":
            rise = p["rise_ms"]
            if t <= rise:
                return 1 + (p["peak_x"] - 1) * math.sin(math.pi / 2 * t / rise)
            decay = math.exp(-(t - rise) / p["decay_ms"])
            return p["settle_x"] + (p["peak_x"] - p["settle_x"]) * decay
        if self.kind == "flat":
            return 1.0
        if self.kind == "rug":
            return p["floor_x"] ** (min(t / p["fall_ms"], 1.0) ** 0.7)
        return p["target_x"] ** min(t / p["climb_ms"], 1.0)

    def _noise(self, t: float) -> float:
        i, frac = divmod(t / KNOT_MS, 1.0)
        i = int(i)
        a, b = self.noise[i], self.noise[i + 1]
        return a + (b - a) * frac

    def factor(self, offset_ms: float) -> float:
        """Multiple of the open price at ``offset_ms`` after the first trade (1.0 at 0)."""
        t = min(max(float(offset_ms), 0.0), float(self.duration_ms))
        return self._shape(t) * (1 + self.noise_amp * self._noise(t))

    def price(self, open_price: Decimal, offset_ms: float, tick: Decimal) -> Decimal:
        raw = open_price * Decimal(repr(self.factor(offset_ms)))
        return max(raw.quantize(tick, rounding=ROUND_HALF_EVEN), tick)

    def ended(self, offset_ms: float) -> bool:
        return offset_ms >= self.duration_ms

    # -- what the control API shows -----------------------------------------------------------
    def extremes(self, open_price: Decimal, tick: Decimal, step_ms: int) -> dict:
        """Peak and low (first reached) among the path's trades (one every ``step_ms``)."""
        peak = low = (open_price, 0)
        for at in range(0, self.duration_ms + 1, max(step_ms, 1)):
            price = self.price(open_price, at, tick)
            if price > peak[0]:
                peak = (price, at)
            if price < low[0]:
                low = (price, at)
        return {"peak": peak, "low": low}

    def describe(
        self,
        open_price: Decimal,
        tick: Decimal,
        *,
        start_ms: int | None,
        step_ms: int,
        fmt,
        at_ms: list[int] | None = None,
        schedule_step_ms: int = 1000,
    ) -> dict:
        ext = self.extremes(open_price, tick, step_ms)
        body = {
            "kind": self.kind,
            "seed": self.seed,
            "step_ms": step_ms,
            "start_ms": start_ms,  # exchange time of the first trade (offset 0)
            "duration_ms": self.duration_ms,
            "open_price": fmt(open_price),
            "peak_price": fmt(ext["peak"][0]),
            "peak_offset_ms": ext["peak"][1],
            "low_price": fmt(ext["low"][0]),
            "low_offset_ms": ext["low"][1],
            "final_price": fmt(self.price(open_price, self.duration_ms, tick)),
            "schedule": [
                {"offset_ms": at, "price": fmt(self.price(open_price, at, tick))}
                for at in range(0, self.duration_ms + 1, max(schedule_step_ms, 100))
            ],
        }
        if at_ms:
            body["at"] = [
                {"offset_ms": at, "price": fmt(self.price(open_price, at, tick))} for at in at_ms
            ]
        return body
