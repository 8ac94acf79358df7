"""When the bot sells a position: pure functions over plain data (no database, no clock, no
exchange).

MEXC spot has no resting stop orders, so the bot watches the symbol's price itself and feeds
every tick to `step`, which returns the new state of the position and what to sell now, if
anything. The sell itself is an IMMEDIATE_OR_CANCEL limit at `sell_price` under the best bid,
for `sell_quantity`. Priority on one tick: time exit, stop-loss (after it has held for
`stop_confirm_ms`, so one wick does not sell), trailing stop (immediate), take-profit ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, InvalidOperation

REASONS = ("stop_loss", "trailing_stop", "take_profit", "time_exit")
STOP_LOSS, TRAILING_STOP, TAKE_PROFIT, TIME_EXIT = REASONS

_MS_PER_MINUTE = 60_000
_HUNDRED = Decimal(100)


def _decimal(value: object, name: str) -> Decimal:
    """A JSON number or numeric string as a finite Decimal (floats through their repr, so
    0.1 is 0.1)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"{name}: {value!r} is not a number")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return number


def _int(value: object, name: str) -> int:
    number = _decimal(value, name)
    if number != number.to_integral_value():
        raise ValueError(f"{name}: {value!r} is not a whole number")
    return int(number)


@dataclass(frozen=True)
class ExitRules:
    """How a position is sold; the snapshot stored on a position at open (`to_json`)."""

    stop_loss_pct: Decimal = Decimal(20)
    """Sell all when the price is at/below entry x (1 - pct/100) ..."""
    stop_confirm_ms: int = 2000
    """... and has stayed at/below that level this long (one wick does not sell)."""
    trailing_activation_pct: Decimal = Decimal(30)
    """The trailing stop is active once the high reaches entry x (1 + pct/100) ..."""
    trailing_delta_pct: Decimal = Decimal(10)
    """... then sell all when the price is at/below high x (1 - delta/100)."""
    take_profit_ladder: tuple[tuple[Decimal, Decimal], ...] = ()
    """(gain_pct, fraction of the INITIAL quantity), ascending by gain."""
    max_hold_ms: int = 3_600_000
    """Sell all at opened_at_ms + max_hold_ms (0: no time limit)."""
    exit_slippage_pct: Decimal = Decimal(5)
    """The sell's limit price: best bid x (1 - pct/100)."""

    def __post_init__(self) -> None:
        if not 0 <= self.stop_loss_pct <= _HUNDRED:
            raise ValueError(f"stop_loss_pct {self.stop_loss_pct} is not within 0..100")
        if self.stop_confirm_ms < 0:
            raise ValueError(f"stop_confirm_ms {self.stop_confirm_ms} is negative")
        if self.trailing_activation_pct < 0:
            raise ValueError(f"trailing_activation_pct {self.trailing_activation_pct} is negative")
        if not 0 <= self.trailing_delta_pct <= _HUNDRED:
            raise ValueError(f"trailing_delta_pct {self.trailing_delta_pct} is not within 0..100")
        if self.max_hold_ms < 0:
            raise ValueError(f"max_hold_ms {self.max_hold_ms} is negative")
        if not 0 <= self.exit_slippage_pct < _HUNDRED:
            raise ValueError(f"exit_slippage_pct {self.exit_slippage_pct} is not within 0..<100")
        previous = None
        for gain, fraction in self.take_profit_ladder:
            if gain < 0 or fraction <= 0:
                raise ValueError(
                    f"take-profit step [{gain}, {fraction}]: the gain must be >= 0 and the "
                    "fraction > 0"
                )
            if previous is not None and gain < previous:
                raise ValueError("take_profit_ladder is not sorted ascending by gain")
            previous = gain

    @classmethod
    def from_json(cls, data: dict) -> ExitRules:
        """From the JSON snapshot stored on a position. Numbers may be strings, ints or
        floats; missing keys take the defaults; other keys are ignored (the snapshot may
        carry more of the config). `max_hold_minutes` gives max_hold_ms."""
        kwargs: dict = {}
        for name in (
            "stop_loss_pct",
            "trailing_activation_pct",
            "trailing_delta_pct",
            "exit_slippage_pct",
        ):
            if data.get(name) is not None:
                kwargs[name] = _decimal(data[name], name)
        if data.get("stop_confirm_ms") is not None:
            kwargs["stop_confirm_ms"] = _int(data["stop_confirm_ms"], "stop_confirm_ms")
        if data.get("max_hold_minutes") is not None:
            minutes = _decimal(data["max_hold_minutes"], "max_hold_minutes")
            kwargs["max_hold_ms"] = int((minutes * _MS_PER_MINUTE).to_integral_value())
        if data.get("take_profit_ladder") is not None:
            ladder = []
            for step_ in data["take_profit_ladder"]:
                if not isinstance(step_, list | tuple) or len(step_) != 2:
                    raise ValueError(f"take-profit step {step_!r} is not [gain, fraction]")
                ladder.append(
                    (
                        _decimal(step_[0], "take-profit gain"),
                        _decimal(step_[1], "take-profit fraction"),
                    )
                )
            kwargs["take_profit_ladder"] = tuple(ladder)
        return cls(**kwargs)

    def to_json(self) -> dict:
        """JSON-safe: decimals as strings, max_hold_minutes (an int when whole, else a float)
        instead of max_hold_ms; `from_json(to_json(r)) == r`."""
        whole, part = divmod(self.max_hold_ms, _MS_PER_MINUTE)
        return {
            "stop_loss_pct": str(self.stop_loss_pct),
            "stop_confirm_ms": self.stop_confirm_ms,
            "trailing_activation_pct": str(self.trailing_activation_pct),
            "trailing_delta_pct": str(self.trailing_delta_pct),
            "take_profit_ladder": [[str(g), str(f)] for g, f in self.take_profit_ladder],
            "max_hold_minutes": whole if not part else self.max_hold_ms / _MS_PER_MINUTE,
            "exit_slippage_pct": str(self.exit_slippage_pct),
        }


@dataclass(frozen=True)
class Held:
    """What the watcher knows of one open position."""

    entry_price: Decimal
    initial_qty: Decimal  # base quantity at open
    qty: Decimal  # base quantity still held (> 0 while open)
    high_price: Decimal  # highest price seen since entry (starts at entry_price)
    opened_at_ms: int
    ladder_done: int = 0  # ladder steps already sold
    below_stop_since_ms: int | None = None  # first tick of the current stay at/below the stop


@dataclass(frozen=True)
class Tick:
    price: Decimal
    at_ms: int


@dataclass(frozen=True)
class Exit:
    qty: Decimal  # base quantity to sell (> 0, <= held.qty)
    reason: str  # one of REASONS
    ladder_done: int  # ladder steps done once this sell is made (unchanged unless take_profit)


@dataclass(frozen=True)
class Levels:
    stop: Decimal  # stop-loss price
    trailing: Decimal | None  # trailing stop price, None while not activated
    next_take_profit: Decimal | None  # price of the next ladder step not done, None if none left
    expires_at_ms: int | None  # time exit, None if max_hold_ms == 0


def _stop(held: Held, rules: ExitRules) -> Decimal:
    return held.entry_price * (1 - rules.stop_loss_pct / _HUNDRED)


def _trailing(held: Held, rules: ExitRules) -> Decimal | None:
    if held.high_price < held.entry_price * (1 + rules.trailing_activation_pct / _HUNDRED):
        return None
    return held.high_price * (1 - rules.trailing_delta_pct / _HUNDRED)


def _take_profit_price(held: Held, gain_pct: Decimal) -> Decimal:
    return held.entry_price * (1 + gain_pct / _HUNDRED)


def levels(held: Held, rules: ExitRules) -> Levels:
    """The prices (and time) at which the position would be sold, for display and logs."""
    ladder = rules.take_profit_ladder
    next_tp = (
        _take_profit_price(held, ladder[held.ladder_done][0])
        if 0 <= held.ladder_done < len(ladder)
        else None
    )
    return Levels(
        stop=_stop(held, rules),
        trailing=_trailing(held, rules),
        next_take_profit=next_tp,
        expires_at_ms=held.opened_at_ms + rules.max_hold_ms if rules.max_hold_ms else None,
    )


def _take_profit(held: Held, rules: ExitRules, price: Decimal) -> Exit | None:
    """Every ladder step not yet done whose price the tick reached, as one sell of
    fraction x initial_qty each, capped at what is held. A step at which the fractions
    (done steps included) reach 1 sells whatever is left."""
    ladder = rules.take_profit_ladder
    done = max(held.ladder_done, 0)
    cumulative = sum((fraction for _, fraction in ladder[:done]), Decimal(0))
    want = Decimal(0)
    reached = done
    sell_all = False
    for gain, fraction in ladder[done:]:
        if price < _take_profit_price(held, gain):
            break
        reached += 1
        cumulative += fraction
        want += fraction * held.initial_qty
        sell_all = sell_all or cumulative >= 1
    if reached == done:
        return None
    qty = held.qty if sell_all else min(want, held.qty)
    if qty <= 0:
        return None
    return Exit(qty=qty, reason=TAKE_PROFIT, ladder_done=reached)


def step(held: Held, rules: ExitRules, tick: Tick) -> tuple[Held, Exit | None]:
    """The new state after the tick (high_price = max(high, price): it only rises;
    below_stop_since_ms set on the first tick at/below the stop, cleared on a tick above it),
    and what to sell now, if anything. Priority: time exit, stop-loss (after confirm), trailing
    stop (immediate, no confirm) -> all of held.qty; else take-profit: every ladder step whose
    price (entry*(1+gain/100)) the tick reached, summed into one Exit of fraction*initial_qty
    each, capped at held.qty (the last step sells whatever is left when fractions sum to >= 1);
    the returned state's ladder_done is NOT advanced by step() (the caller records progress
    when the sell is made: Exit.ladder_done carries the new value)."""
    if held.qty <= 0:
        return held, None
    price, now = tick.price, tick.at_ms
    stop = _stop(held, rules)
    if price <= stop:
        since = held.below_stop_since_ms if held.below_stop_since_ms is not None else now
    else:
        since = None
    state = replace(held, high_price=max(held.high_price, price), below_stop_since_ms=since)

    def sell_all(reason: str) -> tuple[Held, Exit]:
        return state, Exit(qty=state.qty, reason=reason, ladder_done=state.ladder_done)

    if rules.max_hold_ms and now >= held.opened_at_ms + rules.max_hold_ms:
        return sell_all(TIME_EXIT)
    if since is not None and now - since >= rules.stop_confirm_ms:
        return sell_all(STOP_LOSS)
    trailing = _trailing(state, rules)
    if trailing is not None and price <= trailing:
        return sell_all(TRAILING_STOP)
    return state, _take_profit(state, rules, price)


def sell_price(best_bid: Decimal, rules: ExitRules, price_decimals: int) -> Decimal:
    """IOC limit price of a sell: best_bid*(1-exit_slippage_pct/100), rounded UP to
    price_decimals (never lower than the stated slippage allows)."""
    floor = best_bid * (1 - rules.exit_slippage_pct / _HUNDRED)
    return floor.quantize(Decimal(1).scaleb(-price_decimals), rounding=ROUND_CEILING)


def sell_quantity(
    free: Decimal,
    want: Decimal,
    *,
    qty_decimals: int,
    min_qty: Decimal,
    min_quote: Decimal,
    price: Decimal,
) -> tuple[Decimal, Decimal]:
    """(quantity to sell, dust): min(free, want) rounded DOWN to qty_decimals; if the result
    is below min_qty or result*price below min_quote, nothing can be sold: (0, min(free,
    want)) -- the remainder is dust. When want >= free (selling everything), dust is what
    rounding leaves."""
    amount = max(min(free, want), Decimal(0))
    qty = amount.quantize(Decimal(1).scaleb(-qty_decimals), rounding=ROUND_DOWN)
    if qty <= 0 or qty < min_qty or qty * price < min_quote:
        return Decimal(0), amount
    dust = amount - qty if want >= free else Decimal(0)
    return qty, dust
