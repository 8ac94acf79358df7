"""Plain records of the exchange: symbols (listings), balances, orders, order requests.

Each knows how to render itself the way MEXC does on the wire.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from .market import Market, Trade, fmt
from .paths import DEFAULT_PATH_STEP_MS, PricePath

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


class ExchangeListener(Protocol):
    def on_trades(self, sym: Symbol, trades: list[Trade]) -> None: ...
    def on_book(self, sym: Symbol) -> None: ...
    def on_order(self, order: Order) -> None: ...
    def on_balance(self, change: BalanceChange) -> None: ...


@dataclass
class Symbol:
    symbol: str
    base: str
    quote: str
    price: Decimal  # listing / seed price
    open_at_ms: int
    api_enabled_at_ms: int | None  # None: never API-tradable
    created_at_ms: int
    vcoin_id: str
    full_name: str
    market: Market
    empty_book_ms: int = 0
    seeded: bool = False
    opened: bool = False
    book_ready: bool = False
    timer: asyncio.TimerHandle | None = None
    # Scripted first minutes (``paths``): the last trade price follows ``path`` from
    # ``path_start_ms`` (the first trade), one step (trade + new book) every ``path_step_ms``.
    path: PricePath | None = None
    path_step_ms: int = DEFAULT_PATH_STEP_MS
    path_start_ms: int | None = None
    path_step: int = -1  # last step applied
    path_done: bool = False
    path_ended_by: str | None = None  # "clock" (ran its course) or "trade" (/_sim/trades)
    market_block_ms: int = 0  # MARKET orders refused until open_at_ms + this
    # LIMIT/IOC/FOK/LIMIT_MAKER price band around the last price, in %; None: the config's
    # default_price_band_pct (itself None = no band). ``band_set``: the listing chose (even null).
    max_price_band_pct: Decimal | None = None
    band_set: bool = False
    trade_side_type: int = 1  # exchangeInfo tradeSideType: 1 all, 2 buy only, 3 sell only, 4 close
    # When the first trade was pushed on its deals streams (exchange clock, µs): the moment the
    # first price became visible to a subscriber (benchmarks: first price -> order received).
    first_push_us: int | None = None

    def is_open(self, now_ms: int) -> bool:
        return now_ms >= self.open_at_ms

    def api_enabled(self, now_ms: int) -> bool:
        return (
            self.is_open(now_ms)
            and self.api_enabled_at_ms is not None
            and now_ms >= self.api_enabled_at_ms
        )

    def market_blocked(self, now_ms: int) -> bool:
        return now_ms < self.open_at_ms + self.market_block_ms

    def path_dict(
        self, *, at_ms: list[int] | None = None, schedule_step_ms: int = 1000
    ) -> dict | None:
        if self.path is None:
            return None
        body = self.path.describe(
            self.price,
            self.market.tick,
            start_ms=self.path_start_ms,
            step_ms=self.path_step_ms,
            fmt=fmt,
            at_ms=at_ms,
            schedule_step_ms=schedule_step_ms,
        )
        body["planned_start_ms"] = self.open_at_ms + self.empty_book_ms
        body["done"] = self.path_done
        body["ended_by"] = self.path_ended_by
        return body

    def as_dict(
        self, now_ms: int, *, at_ms: list[int] | None = None, schedule_step_ms: int = 1000
    ) -> dict:
        return {
            "symbol": self.symbol,
            "base_asset": self.base,
            "quote_asset": self.quote,
            "price": fmt(self.price),
            "open_at_ms": self.open_at_ms,
            "api_enabled_at_ms": self.api_enabled_at_ms,
            "created_at_ms": self.created_at_ms,
            "open": self.is_open(now_ms),
            "api_enabled": self.api_enabled(now_ms),
            "seeded": self.seeded,
            "vcoin_id": self.vcoin_id,
            "last_price": fmt(self.market.last_price) if self.market.last_price else None,
            "empty_book_ms": self.empty_book_ms,
            "market_block_ms": self.market_block_ms,
            "market_blocked": self.market_blocked(now_ms),
            "max_price_band_pct": (
                fmt(self.max_price_band_pct) if self.max_price_band_pct is not None else None
            ),
            "trade_side_type": self.trade_side_type,
            "first_push_us": self.first_push_us,
            "path": self.path_dict(at_ms=at_ms, schedule_step_ms=schedule_step_ms),
        }

    def calendar_item(self) -> dict:
        return {
            "vcoinId": self.vcoin_id,
            "vcoinName": self.base,
            "vcoinNameFull": self.full_name,
            "firstOpenTime": self.open_at_ms,
            "zone": "NEW",
            "introductionEn": f"{self.full_name} ({self.base}) is listed on the simulator.",
            "introductionCn": "",
        }


@dataclass
class Balance:
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


@dataclass
class BalanceChange:
    """One asset's new free/locked amounts and their changes (a privateAccount push)."""

    asset: str
    free: Decimal
    locked: Decimal
    free_change: Decimal
    locked_change: Decimal
    kind: str  # MEXC's change type: ENTRUST, ENTRUST_PLACE, ENTRUST_CANCEL, DEPOSIT...
    time_ms: int


@dataclass
class Order:
    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    price: Decimal | None
    orig_qty: Decimal | None
    orig_quote_qty: Decimal | None
    time_ms: int
    update_ms: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)  # still locked for this order (quote for BUY, base for SELL)
    fills: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    visible_at_ms: int = 0  # lookup_lag: invisible to GET order/openOrders/allOrders until then
    protect_price: Decimal | None = None  # MARKET: the protective price its quantity came from
    show_protect_price: bool = False  # MARKET ack/query show protect_price instead of "0"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def visible(self, now_ms: int) -> bool:
        return now_ms >= self.visible_at_ms

    def _price_text(self) -> str:
        if self.price is not None:
            return fmt(self.price)
        if self.show_protect_price and self.protect_price is not None:
            return fmt(self.protect_price)
        return "0"

    def ack(self) -> dict:
        """POST /api/v3/order response (mexc-api.md §2.7): no status."""
        body = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": self._price_text(),
            "origQty": fmt(self.orig_qty) if self.orig_qty is not None else "0",
            "type": self.type,
            "side": self.side,
            "transactTime": self.time_ms,
        }
        if self.client_order_id is not None:
            body["clientOrderId"] = self.client_order_id
        return body

    def query(self) -> dict:
        """GET /api/v3/order response (mexc-api.md §2.9)."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": self._price_text(),
            "origQty": fmt(self.orig_qty) if self.orig_qty is not None else "0",
            "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),
            "status": self.status,
            "timeInForce": None,
            "type": self.type,
            "side": self.side,
            "stopPrice": None,
            "icebergQty": None,
            "time": self.time_ms,
            "updateTime": self.update_ms,
            "isWorking": True,
            "stpMode": "",
            "origQuoteOrderQty": fmt(self.orig_quote_qty) if self.orig_quote_qty else "0",
        }

    def cancel_body(self) -> dict:
        """DELETE /api/v3/order response (mexc-api.md section 2.10): the query's core fields."""
        query = self.query()
        fields = (
            "symbol",
            "orderId",
            "clientOrderId",
            "price",
            "origQty",
            "executedQty",
            "cummulativeQuoteQty",
            "status",
            "timeInForce",
            "type",
            "side",
        )
        return {"origClientOrderId": self.client_order_id, **{k: query[k] for k in fields}}


@dataclass
class OrderRequest:
    """One POST /api/v3/order as received (accepted or not), for ``GET /_sim/orders``."""

    received_at_ms: int
    received_at_us: int  # exchange clock, stamped when the request handler starts
    symbol: str | None
    side: str | None
    type: str | None
    quantity: str | None
    quote_order_qty: str | None
    price: str | None
    client_order_id: str | None
    order: Order | None = None
    error_code: int | None = None
    error_msg: str | None = None
    http_status: int | None = None
    fault: str | None = None

    def as_dict(self) -> dict:
        return {
            "clientOrderId": self.client_order_id,
            "orderId": self.order.order_id if self.order else None,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "quoteOrderQty": self.quote_order_qty,
            "quantity": self.quantity,
            "price": self.price,
            "status": self.order.status if self.order else "REJECTED",
            "error_code": self.error_code,
            "error_msg": self.error_msg,
            "http_status": self.http_status,
            "fault": self.fault,
            "received_at_ms": self.received_at_ms,
            "received_at_us": self.received_at_us,
        }
