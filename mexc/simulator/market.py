"""One symbol's market: a synthetic book around a random-walking mid price, plus 24h stats.

The book is regenerated from the mid on every market tick; liquidity a taker consumes stays
consumed until then. Resting user orders are not part of this book (see ``exchange``).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

LEVELS = 10
MINUTE_MS = 60_000
KEEP_TRADES = 1000  # GET /api/v3/trades: max limit
KEEP_MINUTES = 20_000  # 1m klines kept (about two weeks)


def unit(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def fmt(value: Decimal | None) -> str:
    """Plain decimal string (no exponent, no trailing zeros) as MEXC sends numbers."""
    if value is None:
        return "0"
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def scales_for(price: Decimal) -> tuple[int, int]:
    """(price decimals, quantity decimals) that look like MEXC's for this price magnitude."""
    exp = price.adjusted()  # floor(log10(price))
    own = max(0, -price.normalize().as_tuple().exponent)
    return max(min(max(4 - exp, 2), 12), min(own, 12)), min(max(exp + 2, 0), 8)


@dataclass
class Trade:
    price: Decimal
    qty: Decimal
    side: int  # taker side: 1 buy, 2 sell (PublicAggreDealsV3ApiItem.tradeType)
    time_ms: int
    trade_id: str
    made_at_us: int = 0  # exchange clock, µs; stamped where a caller measures from it (inject)


@dataclass
class Level:
    price: Decimal
    qty: Decimal


@dataclass(frozen=True)
class BookShape:
    """Where the synthetic levels sit and how much each holds.

    Level ``i`` (0-based) of each side is at mid +- (``half`` + ``step`` x i) of the mid,
    rounded outward to the tick; its quantity is a notional drawn uniformly from
    ``level_quote`` (quote asset) divided by the level's price, floored to the lot.
    """

    levels: int = LEVELS
    half: Decimal = Decimal("0.0005")
    step: Decimal = Decimal("0.001")
    level_quote: tuple[float, float] = (300.0, 3000.0)


DEFAULT_BOOK = BookShape()
#: A new listing on a scripted path: a thin, wide book (spread 0.5 %, 0.5 % between levels).
PATH_BOOK = BookShape(half=Decimal("0.0025"), step=Decimal("0.005"), level_quote=(100.0, 1000.0))


class Market:
    def __init__(
        self,
        price: Decimal,
        *,
        volatility: float,
        rng: random.Random,
        shape: BookShape = DEFAULT_BOOK,
    ) -> None:
        self.shape = shape
        self.price_scale, self.qty_scale = scales_for(price)
        self.tick = unit(self.price_scale)
        self.mid = price
        self.volatility = volatility
        self.rng = rng
        self.bids: list[Level] = []
        self.asks: list[Level] = []
        self.last_price: Decimal | None = None
        self.open_price: Decimal | None = None
        self.high: Decimal | None = None
        self.low: Decimal | None = None
        self.volume = Decimal(0)
        self.quote_volume = Decimal(0)
        self.count = 0
        self.version = 1  # depth lastUpdateId
        self.trades: deque[Trade] = deque(maxlen=KEEP_TRADES)
        # 1m klines: open time (ms) -> [open, high, low, close, volume, quote volume]
        self.klines: dict[int, list[Decimal]] = {}

    # -- book -------------------------------------------------------------------------------
    def price_q(self, value: Decimal, rounding: str = ROUND_FLOOR) -> Decimal:
        return value.quantize(self.tick, rounding=rounding)

    def qty_q(self, value: Decimal) -> Decimal:
        return value.quantize(unit(self.qty_scale), rounding=ROUND_FLOOR)

    def rebuild_book(self, rng: random.Random | None = None) -> None:
        """A fresh book around ``mid`` (``rng``: the quantities' source, default the market's)."""
        self.version += 1
        shape = self.shape
        half = max(self.tick, self.mid * shape.half)
        step = max(self.tick, self.mid * shape.step)
        rng = rng or self.rng
        self.asks, self.bids = [], []
        for i in range(shape.levels):
            ask = self.price_q(self.mid + half + step * i, ROUND_CEILING)
            bid = self.price_q(self.mid - half - step * i)
            self.asks.append(Level(ask, self._level_qty(ask, rng)))
            if bid > 0 and (not self.bids or bid < self.bids[-1].price):
                self.bids.append(Level(bid, self._level_qty(bid, rng)))

    def clear_book(self) -> None:
        self.asks, self.bids = [], []

    def _level_qty(self, price: Decimal, rng: random.Random) -> Decimal:
        notional = Decimal(str(round(rng.uniform(*self.shape.level_quote), 2)))
        return max(self.qty_q(notional / price), unit(self.qty_scale))

    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def take(
        self,
        side: str,
        *,
        qty: Decimal | None = None,
        quote: Decimal | None = None,
        limit_price: Decimal | None = None,
        dry: bool = False,
    ) -> tuple[list[tuple[Decimal, Decimal]], bool]:
        """Walk the opposite side for a taker; returns (fills [(price, qty)], exhausted).

        Bounded by base ``qty`` or by ``quote`` notional, and by ``limit_price`` if given.
        ``exhausted`` means the book ran out before the order was satisfied. With ``dry`` the
        book is left untouched (FOK pre-check, cost estimates).
        """
        levels = self.asks if side == "BUY" else self.bids
        fills: list[tuple[Decimal, Decimal]] = []
        left_qty, left_quote = qty, quote
        exhausted = True
        for level in levels:
            if limit_price is not None and (
                level.price > limit_price if side == "BUY" else level.price < limit_price
            ):
                exhausted = False
                break
            if left_qty is not None:
                size = min(level.qty, left_qty)
            else:
                assert left_quote is not None
                size = min(level.qty, self.qty_q(left_quote / level.price))
            if size <= 0:
                exhausted = False
                break
            fills.append((level.price, size))
            if left_qty is not None:
                left_qty -= size
            else:
                left_quote -= size * level.price
        if exhausted and levels:
            # Walked every level: exhausted only if we still wanted more.
            last = levels[-1].price
            want = left_qty if left_qty is not None else self.qty_q(left_quote / last)
            exhausted = want > 0
        if not dry and fills:
            self.version += 1
            for price, taken in fills:
                level = levels[0]
                assert level.price == price
                level.qty -= taken
                if level.qty <= 0:
                    levels.pop(0)
        return fills, exhausted

    # -- price process ----------------------------------------------------------------------
    def walk(self) -> bool:
        """One random-walk step of the mid; True if it moved."""
        if self.rng.random() > 0.7:
            return False
        factor = Decimal(str(round(1 + self.rng.gauss(0, self.volatility), 8)))
        new_mid = max(self.price_q(self.mid * factor), self.tick)
        moved = new_mid != self.mid
        self.mid = new_mid
        return moved

    def synthetic_trade(self) -> tuple[Decimal, Decimal, int] | None:
        """A small random trade at the touch (doesn't consume the book)."""
        side = self.rng.choice((1, 2))
        level = self.best_ask() if side == 1 else self.best_bid()
        if level is None:
            return None
        notional = Decimal(str(round(self.rng.uniform(10, 500), 2)))
        qty = max(self.qty_q(notional / level.price), unit(self.qty_scale))
        return level.price, qty, side

    def record(self, price: Decimal, qty: Decimal) -> None:
        if self.open_price is None:
            self.open_price = price
        self.last_price = price
        self.high = price if self.high is None else max(self.high, price)
        self.low = price if self.low is None else min(self.low, price)
        self.volume += qty
        self.quote_volume += qty * price
        self.count += 1

    def remember(self, trade: Trade) -> None:
        """Keep a trade for GET /api/v3/trades and fold it into its 1m kline."""
        self.trades.append(trade)
        minute = trade.time_ms - trade.time_ms % MINUTE_MS
        bar = self.klines.get(minute)
        if bar is None:
            self.klines[minute] = [trade.price] * 4 + [trade.qty, trade.qty * trade.price]
            if len(self.klines) > KEEP_MINUTES:
                del self.klines[next(iter(self.klines))]
            return
        bar[1] = max(bar[1], trade.price)
        bar[2] = min(bar[2], trade.price)
        bar[3] = trade.price
        bar[4] += trade.qty
        bar[5] += trade.qty * trade.price

    def change_rate(self) -> Decimal:
        if not self.open_price or self.last_price is None:
            return Decimal(0)
        return ((self.last_price - self.open_price) / self.open_price).quantize(unit(4))
