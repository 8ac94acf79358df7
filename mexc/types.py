"""Typed REST results. Prices and quantities are Decimal; order ids are opaque strings.

Parsers tolerate extra and missing fields (MEXC adds fields without notice and documents
some that live payloads leave out); ``raw`` keeps the original dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

#: Order statuses after which nothing changes any more.
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "PARTIALLY_CANCELED", "REJECTED", "EXPIRED"})


def dec(value: Any) -> Decimal:
    """A Decimal from MEXC's string numbers; blanks, nulls and junk are zero."""
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def opt_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    symbol: str
    status: str  # "1" online, "2" pause, "3" offline (older payloads: "ENABLED")
    base_asset: str
    quote_asset: str
    spot_allowed: bool  # isSpotTradingAllowed
    order_types: tuple[str, ...] = ()
    quote_order_qty_market_allowed: bool = True
    base_asset_precision: int | None = None
    quote_precision: int | None = None
    min_qty: Decimal = Decimal(0)  # baseSizePrecision
    min_amount: Decimal = Decimal(0)  # quoteAmountPrecision
    min_amount_market: Decimal = Decimal(0)  # quoteAmountPrecisionMarket
    taker_commission: Decimal = Decimal(0)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def trading(self) -> bool:
        """Open for spot trading, as ccxt decides it (status "1" and spot allowed)."""
        return self.status in ("1", "ENABLED") and self.spot_allowed

    @staticmethod
    def trading_name(item: Any) -> str | None:
        """An exchangeInfo entry's symbol when it is open for spot trading (`trading`), read
        without building the whole SymbolInfo; None otherwise, or when unreadable."""
        if not isinstance(item, dict) or not isinstance(symbol := item.get("symbol"), str):
            return None
        status, spot = str(item.get("status", "")), bool(item.get("isSpotTradingAllowed", True))
        return symbol.upper() if status in ("1", "ENABLED") and spot and symbol else None

    @property
    def market_buy_allowed(self) -> bool:
        return (not self.order_types or "MARKET" in self.order_types) and (
            self.quote_order_qty_market_allowed
        )

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> SymbolInfo:
        order_types = item.get("orderTypes")
        return cls(
            symbol=str(item["symbol"]).upper(),
            status=str(item.get("status", "")),
            base_asset=str(item.get("baseAsset") or ""),
            quote_asset=str(item.get("quoteAsset") or ""),
            spot_allowed=bool(item.get("isSpotTradingAllowed", True)),
            order_types=tuple(map(str, order_types)) if isinstance(order_types, list) else (),
            quote_order_qty_market_allowed=bool(item.get("quoteOrderQtyMarketAllowed", True)),
            base_asset_precision=opt_int(item.get("baseAssetPrecision")),
            quote_precision=opt_int(item.get("quotePrecision")),
            min_qty=dec(item.get("baseSizePrecision")),
            min_amount=dec(item.get("quoteAmountPrecision")),
            min_amount_market=dec(item.get("quoteAmountPrecisionMarket")),
            taker_commission=dec(item.get("takerCommission")),
            raw=item,
        )


def _step(decimals: int | None) -> Decimal | None:
    return Decimal(1).scaleb(-decimals) if decimals is not None and decimals >= 0 else None


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """One symbol's trading rules from ``GET /api/v3/exchangeInfo?symbol=X``, for rounding an
    order before it goes out (``MexcRestClient.symbol_rules``, then ``place_order(rules=...)``).

    Precision follows ccxt (python/ccxt/mexc.py ``fetch_spot_markets``): the quantity step is
    10^-``baseAssetPrecision`` and the price (and quote amount) step 10^-``quoteAssetPrecision``
    (``quotePrecision`` is the deprecated twin, used when the other is absent);
    ``baseSizePrecision`` is the minimum quantity and ``quoteAmountPrecision`` the minimum quote
    amount (ccxt's ``limits.amount.min`` / ``limits.cost.min``, and MEXC's docs). ccxt sends
    ``quantity`` through ``amount_to_precision`` (truncation) in ``create_spot_order_request``;
    we truncate ``quantity`` and ``quoteOrderQty`` the same way (never more than the caller
    asked for) and move a price toward the caller's side of the book: DOWN for a BUY, UP for a
    SELL (ccxt rounds a price to the nearest step; we never cross the caller's limit).
    A precision MEXC leaves out is None: that value is sent as given.
    """

    symbol: str
    status: str  # "1" online, "2" pause, "3" offline (older payloads: "ENABLED")
    spot_allowed: bool  # isSpotTradingAllowed
    order_types: tuple[str, ...]
    trade_side_type: int | None  # 1 all, 2 buy only, 3 sell only, 4 close
    base_asset_precision: int | None  # decimals of quantity
    quote_precision: int | None  # decimals of price and quote amounts
    min_qty: Decimal  # baseSizePrecision
    min_quote: Decimal  # quoteAmountPrecision
    min_quote_market: Decimal  # quoteAmountPrecisionMarket
    max_quote: Decimal | None  # maxQuoteAmount
    max_quote_market: Decimal | None  # maxQuoteAmountMarket
    quote_order_qty_market_allowed: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def trading(self) -> bool:
        return self.status in ("1", "ENABLED") and self.spot_allowed

    @property
    def market_buy_allowed(self) -> bool:
        return (
            (not self.order_types or "MARKET" in self.order_types)
            and self.quote_order_qty_market_allowed
            and self.trade_side_type in (None, 1, 2)
        )

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """DOWN to ``baseAssetPrecision`` decimals."""
        step = _step(self.base_asset_precision)
        return quantity.quantize(step, ROUND_DOWN) if step is not None else quantity

    def round_quote(self, amount: Decimal) -> Decimal:
        """DOWN to the quote precision (what a MARKET BUY spends at most)."""
        step = _step(self.quote_precision)
        return amount.quantize(step, ROUND_DOWN) if step is not None else amount

    def round_price(self, price: Decimal, side: str) -> Decimal:
        """To the quote precision, never past the caller's limit: DOWN for BUY, UP for SELL."""
        step = _step(self.quote_precision)
        if step is None:
            return price
        return price.quantize(step, ROUND_FLOOR if side.upper() == "BUY" else ROUND_CEILING)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> SymbolRules:
        order_types = item.get("orderTypes")
        quote_precision = opt_int(item.get("quoteAssetPrecision"))
        if quote_precision is None:
            quote_precision = opt_int(item.get("quotePrecision"))
        max_quote, max_market = item.get("maxQuoteAmount"), item.get("maxQuoteAmountMarket")
        return cls(
            symbol=str(item["symbol"]).upper(),
            status=str(item.get("status", "")),
            spot_allowed=bool(item.get("isSpotTradingAllowed", False)),
            order_types=tuple(map(str, order_types)) if isinstance(order_types, list) else (),
            trade_side_type=opt_int(item.get("tradeSideType")),
            base_asset_precision=opt_int(item.get("baseAssetPrecision")),
            quote_precision=quote_precision,
            min_qty=dec(item.get("baseSizePrecision")),
            min_quote=dec(item.get("quoteAmountPrecision")),
            min_quote_market=dec(item.get("quoteAmountPrecisionMarket")),
            max_quote=dec(max_quote) if max_quote not in (None, "") else None,
            max_quote_market=dec(max_market) if max_market not in (None, "") else None,
            quote_order_qty_market_allowed=bool(item.get("quoteOrderQtyMarketAllowed", True)),
            raw=item,
        )


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    server_time: int
    symbols: list[SymbolInfo]
    skipped: int = 0  # symbol entries we could not read


@dataclass(frozen=True, slots=True)
class BookQuote:
    """GET /api/v3/ticker/bookTicker: best bid/ask (blank sides are zero)."""

    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> BookQuote:
        return cls(
            symbol=str(body.get("symbol", "")),
            bid_price=dec(body.get("bidPrice")),
            bid_qty=dec(body.get("bidQty")),
            ask_price=dec(body.get("askPrice")),
            ask_qty=dec(body.get("askQty")),
        )


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    can_trade: bool
    balances: dict[str, Balance]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def free(self, asset: str) -> Decimal:
        balance = self.balances.get(asset.upper())
        return balance.free if balance else Decimal(0)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Account:
        balances = {}
        for b in body.get("balances") or []:
            if isinstance(b, dict) and b.get("asset"):
                asset = str(b["asset"]).upper()
                balances[asset] = Balance(asset, dec(b.get("free")), dec(b.get("locked")))
        return cls(can_trade=bool(body.get("canTrade", True)), balances=balances, raw=body)


@dataclass(frozen=True, slots=True)
class OrderAck:
    """POST /api/v3/order answer. It carries no status: query the order to learn fills."""

    symbol: str
    order_id: str
    client_order_id: str | None
    price: Decimal
    orig_qty: Decimal
    type: str
    side: str
    transact_time: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(
        cls, body: dict[str, Any], *, symbol: str, client_order_id: str | None
    ) -> OrderAck:
        return cls(
            symbol=str(body.get("symbol") or symbol),
            order_id=str(body.get("orderId") or ""),
            client_order_id=opt_str(body.get("clientOrderId")) or client_order_id,
            price=dec(body.get("price")),
            orig_qty=dec(body.get("origQty")),
            type=str(body.get("type") or ""),
            side=str(body.get("side") or ""),
            transact_time=opt_int(body.get("transactTime")),
            raw=body,
        )


@dataclass(frozen=True, slots=True)
class Order:
    """GET/DELETE /api/v3/order, openOrders."""

    symbol: str
    order_id: str
    client_order_id: str | None
    status: str
    side: str
    type: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cummulative_quote_qty: Decimal  # sic (MEXC's spelling)
    orig_quote_order_qty: Decimal
    time: int | None
    update_time: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def avg_price(self) -> Decimal | None:
        """cummulativeQuoteQty / executedQty; None before anything executed."""
        if self.executed_qty <= 0:
            return None
        return self.cummulative_quote_qty / self.executed_qty

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Order:
        return cls(
            symbol=str(body.get("symbol") or ""),
            order_id=str(body.get("orderId") or ""),
            client_order_id=opt_str(body.get("clientOrderId"))
            or opt_str(body.get("origClientOrderId")),
            status=str(body.get("status") or ""),
            side=str(body.get("side") or ""),
            type=str(body.get("type") or ""),
            price=dec(body.get("price")),
            orig_qty=dec(body.get("origQty", body.get("Qty"))),  # the doc example says "Qty"
            executed_qty=dec(body.get("executedQty")),
            cummulative_quote_qty=dec(body.get("cummulativeQuoteQty")),
            orig_quote_order_qty=dec(body.get("origQuoteOrderQty")),
            time=opt_int(body.get("time")),
            update_time=opt_int(body.get("updateTime")),
            raw=body,
        )
