"""Typed results of the MEXC client. Prices and quantities are Decimal; ids are opaque strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


def dec(value: Any) -> Decimal:
    """A Decimal from MEXC's string numbers; blanks and nulls are zero."""
    if value in (None, ""):
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    spot_allowed: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def trading(self) -> bool:
        return self.status in ("1", "ENABLED") and self.spot_allowed


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    server_time: int
    symbols: list[SymbolInfo]


@dataclass(frozen=True, slots=True)
class BookTicker:
    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal


@dataclass(frozen=True, slots=True)
class OrderAck:
    symbol: str
    order_id: str
    client_order_id: str | None
    transact_time: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Order:
    symbol: str
    order_id: str
    client_order_id: str | None
    status: str
    side: str
    type: str
    executed_qty: Decimal
    cummulative_quote_qty: Decimal
    orig_quote_order_qty: Decimal
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def avg_price(self) -> Decimal | None:
        if not self.executed_qty:
            return None
        return self.cummulative_quote_qty / self.executed_qty


def order_from(body: dict[str, Any]) -> Order:
    return Order(
        symbol=str(body.get("symbol", "")),
        order_id=str(body.get("orderId", "")),
        client_order_id=body.get("clientOrderId") or body.get("origClientOrderId"),
        status=str(body.get("status", "")),
        side=str(body.get("side", "")),
        type=str(body.get("type", "")),
        executed_qty=dec(body.get("executedQty")),
        cummulative_quote_qty=dec(body.get("cummulativeQuoteQty")),
        orig_quote_order_qty=dec(body.get("origQuoteOrderQty")),
        raw=body,
    )
