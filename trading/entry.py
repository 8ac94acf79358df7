"""How a buy enters: pure functions over plain data (no database, no clock, no exchange).

The first seconds of a listing routinely trade several times above where they settle, so the
bot enters with an IMMEDIATE_OR_CANCEL limit at a cap over the reference price (the first
price it sees: the pre-open best ask, an operator's max entry price, or the first price after
the open), never blind; MARKET is the operator's explicit choice. It never buys what it could
not sell: the symbol's exchangeInfo must allow spot trading of the chosen type and selling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

LIMIT_IOC = "limit_ioc"
MARKET = "market"
IOC_TYPE = "IMMEDIATE_OR_CANCEL"  # MEXC's type name
SELLABLE_SIDE_TYPES = (1,)  # tradeSideType 1: both sides; 2 buy only, 3 sell only, 4 close


@dataclass(frozen=True)
class Rules:
    """What entry needs of a symbol's exchangeInfo (mexc.types.SymbolRules, as plain data)."""

    status: str
    spot_allowed: bool
    order_types: tuple[str, ...]
    trade_side_type: int
    price_decimals: int
    qty_decimals: int
    min_qty: Decimal = Decimal(0)
    min_quote: Decimal = Decimal(0)


@dataclass(frozen=True)
class Entry:
    """The order to send: an IOC limit (`price`, `quantity`) or a MARKET (`quote`)."""

    type: str
    quote: Decimal
    reference: Decimal | None = None
    cap: Decimal | None = None
    quantity: Decimal | None = None


def refused_for_good(rules: Rules, entry_order_type: str) -> str | None:
    """What about the symbol will not change at its open: the order type, and selling."""
    wanted = "MARKET" if entry_order_type == MARKET else "LIMIT"
    if wanted not in rules.order_types:
        return f"exchangeInfo orderTypes {list(rules.order_types)} lacks {wanted}"
    if rules.trade_side_type not in SELLABLE_SIDE_TYPES:
        return (
            f"exchangeInfo tradeSideType is {rules.trade_side_type}: it could not be sold "
            "(1 = both sides)"
        )
    return None


def not_tradable(rules: Rules, entry_order_type: str) -> str | None:
    """Why the symbol must not be bought now (naming the exchangeInfo field), or None."""
    if rules.status != "1":
        return f'exchangeInfo status is "{rules.status}", not "1" (online)'
    if not rules.spot_allowed:
        return "exchangeInfo isSpotTradingAllowed is false"
    return refused_for_good(rules, entry_order_type)


def not_open_yet(rules: Rules | None) -> bool:
    """The exchange does not (yet) let the API trade it: not listed, paused, or API spot
    trading not enabled. At a listing's open this passes within moments (MEXC's 10007)."""
    return rules is None or rules.status != "1" or not rules.spot_allowed


def priced_ahead(
    rules: Rules | None, ask: Decimal | None, reference: Decimal | None, entry_order_type: str
) -> bool:
    """Can the entry be priced before the open (so that only memory stands between the
    open and the socket)? A MARKET needs no price; an IOC needs the symbol's rules and a
    reference: the pre-open best ask or the operator's max entry price. The rules may be the
    pre-open ones (status "2"): their precision is what pricing needs."""
    if entry_order_type == MARKET:
        return True
    return rules is not None and bool(ask or reference)


def _down(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def entry_for(
    *,
    entry_order_type: str,
    quote: Decimal,
    reference: Decimal | None,
    slippage_pct: Decimal,
    rules: Rules | None,
) -> Entry:
    """The entry order for `quote` at a cap of reference x (1 + slippage), rounded down to
    the symbol's price precision, for `quote / cap` rounded down to its quantity precision.
    Raises ValueError when an IOC entry cannot be priced (no reference or rules) or leaves
    nothing to buy."""
    if entry_order_type == MARKET:
        return Entry(type="MARKET", quote=quote, reference=reference)
    if reference is None or reference <= 0 or rules is None:
        raise ValueError("no reference price or symbol rules to cap the entry")
    cap = _down(reference * (1 + slippage_pct / 100), rules.price_decimals)
    if cap <= 0:
        raise ValueError(f"the cap rounds to nothing at {rules.price_decimals} decimals")
    quantity = _down(quote / cap, rules.qty_decimals)
    if quantity <= 0 or quantity < rules.min_qty or quantity * cap < rules.min_quote:
        raise ValueError(f"{quote} buys {quantity} at {cap}: below the symbol's minimum")
    return Entry(type=IOC_TYPE, quote=quote, reference=reference, cap=cap, quantity=quantity)


def at_max_price(entry: Entry, maximum: Decimal, rules: Rules) -> Entry | None:
    """The same entry at the exchange's stated maximum price (30010), if that is under the
    cap; None when it is not (the entry stops there)."""
    if entry.cap is None or maximum >= entry.cap:
        return None
    price = _down(maximum, rules.price_decimals)
    quantity = _down(entry.quote / price, rules.qty_decimals) if price > 0 else Decimal(0)
    if quantity <= 0:
        return None
    return Entry(
        type=entry.type, quote=entry.quote, reference=entry.reference, cap=price, quantity=quantity
    )


_MAX_PRICE = re.compile(r"cannot exceed\s*([0-9]+(?:\.[0-9]+)?)")


def max_price_in(message: str) -> Decimal | None:
    """The maximum in MEXC's 30010 "Order price cannot exceed X USDT" (with or without the
    space before the asset), or None."""
    found = _MAX_PRICE.search(message or "")
    return Decimal(found.group(1)) if found else None


def walk_asks(
    asks: list[tuple[Decimal, Decimal]],
    *,
    cap: Decimal | None,
    quote: Decimal,
    quantity: Decimal | None = None,
) -> tuple[Decimal, Decimal]:
    """What an order fills against `asks` (ascending), at prices up to `cap` (None: any):
    (quantity, quote spent). An IOC limit buys up to its `quantity`; a MARKET by quote
    spends up to `quote`. The dry run's fill, as the exchange walks the book."""
    filled_qty = spent = Decimal(0)
    for price, qty in asks:
        if cap is not None and price > cap:
            break
        want = (quote - spent) / price if quantity is None else quantity - filled_qty
        if want <= 0:
            break
        take = min(qty, want)
        filled_qty += take
        spent += take * price
    return filled_qty, spent
