"""The in-memory exchange: symbols and scheduled listings, balances, orders, matching.

Time comes from the (offset) server clock. A listing opens on an asyncio timer, and every
accessor also applies any due transition first, so a request that arrives at ``open_at`` is
never refused because the timer fired a millisecond late.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from .config import MARKET_BLOCK_CODES, Clock, SimulatorConfig
from .errors import ApiError, invalid_symbol, missing_param, symbol_not_supported
from .market import PATH_BOOK, Market, Trade, fmt, unit
from .models import Balance, BalanceChange, ExchangeListener, Order, OrderRequest, Symbol
from .paths import DEFAULT_PATH_SEED, DEFAULT_PATH_STEP_MS, PricePath

QUOTE_ASSETS = ("USDT", "USDC", "USDE", "BTC", "ETH")
ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
FEE_UNIT = Decimal("0.00000001")
#: The live text for a quoteOrderQty with too many decimals, leading space included
#: (HTTP 400, code 400; hummingbot PR #7348).
AMOUNT_SCALE_INVALID = " amount scale is invalid"
#: Order types the protective price band applies to (MEXC 2025-08-05: limit, IOC, FOK).
BANDED_TYPES = ("LIMIT", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
TRADE_SIDE_TYPES = (1, 2, 3, 4)  # exchangeInfo tradeSideType: all, buy only, sell only, close
_UNSET = object()


def _decimals(value: Decimal) -> int:
    return max(0, -value.normalize().as_tuple().exponent)


class Exchange:
    def __init__(self, config: SimulatorConfig, clock: Clock, rng: random.Random) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng
        self.listeners: list[ExchangeListener] = []
        self.symbols: dict[str, Symbol] = {}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self._order_base = rng.randrange(10**20, 9 * 10**20)
        self.reset()

    # -- lifecycle ----------------------------------------------------------------------------
    def reset(self) -> None:
        for sym in self.symbols.values():
            if sym.timer:
                sym.timer.cancel()
        self.symbols = {}
        self.orders: dict[str, Order] = {}
        self.orders_by_client: dict[str, list[Order]] = {}  # oldest first
        self.order_requests: list[OrderRequest] = []
        self.balances: dict[str, Balance] = {
            asset: Balance(free=amount) for asset, amount in self.config.balances.items()
        }
        self.changed: set[str] = set()
        self._open_events: dict[str, asyncio.Event] = {}
        for symbol, price in self.config.seed_symbols.items():
            self.list_symbol(symbol, price=price, seeded=True)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # -- listings -----------------------------------------------------------------------------
    def list_symbol(
        self,
        symbol: str,
        price: str | Decimal,
        *,
        open_at_ms: int | None = None,
        open_in_ms: int | None = None,
        api_enable_delay_ms: int | None = 0,
        base_asset: str | None = None,
        quote_asset: str | None = None,
        full_name: str | None = None,
        empty_book_ms: int = 0,
        seeded: bool = False,
        path: str | None = None,
        seed: int | None = None,
        path_step_ms: int | None = None,
        market_block_ms: int = 0,
        max_price_band_pct: object = _UNSET,
        trade_side_type: int = 1,
    ) -> Symbol:
        """Schedule (or, for ``seeded``, create already-open) a symbol.

        ``api_enable_delay_ms=None`` means the symbol trades but is never API-enabled.
        ``path`` (``paths.PATH_KINDS``) scripts the first minutes' trade prices (``seed``);
        ``max_price_band_pct`` unset = the config's default band, None = no band.
        """
        symbol = symbol.upper()
        existing = self.symbols.get(symbol)
        if existing is not None:
            raise ValueError(f"{symbol} is already listed; delist it first")
        quote = (quote_asset or next((q for q in QUOTE_ASSETS if symbol.endswith(q)), "")).upper()
        if not quote or not symbol.endswith(quote) or symbol == quote:
            raise ValueError(f"cannot tell the quote asset of {symbol}; pass quote_asset")
        base = (base_asset or symbol[: -len(quote)]).upper()
        price_d = Decimal(str(price))
        if price_d <= 0:
            raise ValueError("price must be > 0")
        now = self.now_ms()
        if seeded:
            open_at = now - 86_400_000
        elif open_at_ms is not None:
            open_at = int(open_at_ms)
        else:
            open_at = now + int(open_in_ms or 0)
        api_at = None if api_enable_delay_ms is None else open_at + int(api_enable_delay_ms)
        price_path = None
        if path is not None:
            price_path = PricePath(str(path), DEFAULT_PATH_SEED if seed is None else int(seed))
        step_ms = DEFAULT_PATH_STEP_MS if path_step_ms is None else int(path_step_ms)
        if step_ms < 1:
            raise ValueError("path_step_ms must be >= 1")
        if int(market_block_ms) < 0 or int(empty_book_ms) < 0:
            raise ValueError("market_block_ms and empty_book_ms must be >= 0")
        band: Decimal | None = None
        if max_price_band_pct is not _UNSET and max_price_band_pct is not None:
            band = Decimal(str(max_price_band_pct))
            if not band > 0:
                raise ValueError("max_price_band_pct must be > 0 (or null: no band)")
        if int(trade_side_type) not in TRADE_SIDE_TYPES:
            raise ValueError("trade_side_type must be 1 (all), 2 (buy), 3 (sell) or 4 (close)")
        market = Market(
            price_d,
            volatility=0.001 if seeded else 0.01,
            rng=self.rng,
            **({"shape": PATH_BOOK} if price_path is not None else {}),
        )
        sym = Symbol(
            symbol=symbol,
            base=base,
            quote=quote,
            price=price_d,
            open_at_ms=open_at,
            api_enabled_at_ms=api_at,
            created_at_ms=now,
            vcoin_id=secrets.token_hex(16),
            full_name=full_name or f"{base} Token",
            market=market,
            empty_book_ms=int(empty_book_ms),
            seeded=seeded,
            path=price_path,
            path_step_ms=step_ms,
            market_block_ms=int(market_block_ms),
            max_price_band_pct=band,
            band_set=max_price_band_pct is not _UNSET,
            trade_side_type=int(trade_side_type),
        )
        self.symbols[symbol] = sym
        if seeded:
            sym.opened = sym.book_ready = True
            market.rebuild_book()
            market.record(price_d, Decimal(0))
            market.count = 0
            self.changed.add(symbol)
        else:
            self._schedule(sym, open_at, self._on_open_timer)
        return sym

    def list_from_spec(self, spec: dict) -> Symbol:
        """``list_symbol`` from a JSON listing (control API, scenario files)."""
        if not spec.get("symbol") or spec.get("price") in (None, ""):
            raise ValueError("'symbol' and 'price' are required")
        delay = spec.get("api_enable_delay_ms", 0)
        if spec.get("api_enabled") is False:
            delay = None
        return self.list_symbol(
            str(spec["symbol"]),
            price=str(spec["price"]),
            open_at_ms=spec.get("open_at_ms"),
            open_in_ms=spec.get("open_in_ms"),
            api_enable_delay_ms=None if delay is None else int(delay),
            base_asset=spec.get("base_asset"),
            quote_asset=spec.get("quote_asset"),
            full_name=spec.get("full_name"),
            empty_book_ms=int(spec.get("empty_book_ms", 0)),
            path=spec.get("path"),
            seed=spec.get("seed"),
            path_step_ms=spec.get("path_step_ms"),
            market_block_ms=int(spec.get("market_block_ms", 0)),
            max_price_band_pct=spec.get("max_price_band_pct", _UNSET),
            trade_side_type=int(spec.get("trade_side_type", 1)),
        )

    def delist(self, symbol: str) -> Symbol:
        """Remove a symbol (open orders are canceled and refunded); it may be listed again."""
        sym = self.symbols.get(symbol.upper())
        if sym is None:
            raise KeyError(symbol)
        if sym.timer:
            sym.timer.cancel()
        for order in self.open_orders(sym.symbol):
            self._finish_cancel(order)
        del self.symbols[sym.symbol]
        self.changed.discard(sym.symbol)
        self._open_events.pop(sym.symbol, None)
        return sym

    def _schedule(self, sym: Symbol, at_ms: int, callback: Callable[[Symbol], None]) -> None:
        delay = max(0.0, (at_ms - self.now_ms()) / 1000)
        sym.timer = asyncio.get_running_loop().call_later(delay, callback, sym)

    def _on_open_timer(self, sym: Symbol) -> None:
        sym.timer = None
        if self.symbols.get(sym.symbol) is not sym:
            return
        if not sym.is_open(self.now_ms()):  # loop clock ran a hair ahead of the wall clock
            self._schedule(sym, sym.open_at_ms, self._on_open_timer)
            return
        self._ensure(sym)

    def _on_book_timer(self, sym: Symbol) -> None:
        sym.timer = None
        if self.symbols.get(sym.symbol) is sym:
            self._ensure(sym)

    def _ensure(self, sym: Symbol) -> None:
        """Apply due transitions (open, book filled, path steps); cheap when there are none."""
        if sym.book_ready:
            if sym.path is not None and not sym.path_done:
                self._path_advance(sym, self.now_ms())
            return
        now = self.now_ms()
        if not sym.is_open(now):
            return
        if not sym.opened:
            sym.opened = True
            self._open_event(sym.symbol).set()
        if now < sym.open_at_ms + sym.empty_book_ms:
            if sym.timer is None:
                self._schedule(sym, sym.open_at_ms + sym.empty_book_ms, self._on_book_timer)
            return
        if sym.timer:
            sym.timer.cancel()
            sym.timer = None
        sym.book_ready = True
        if sym.path is not None:
            # Offset 0 is the planned first trade (a late timer doesn't shift the path).
            sym.path_start_ms = sym.open_at_ms + sym.empty_book_ms
            self._path_advance(sym, sym.path_start_ms)  # step 0: the open price
            self._path_advance(sym, now)
            return
        market = sym.market
        market.rebuild_book()
        # The opening trade: pushed at once on the deals stream (how a sniper sees the open).
        qty = max(market.qty_q(Decimal(50) / sym.price), unit(market.qty_scale))
        self._trade(sym, sym.price, qty, 1, now)
        self._notify_book(sym)

    def _path_advance(self, sym: Symbol, now: int) -> None:
        """Apply the path's current step: mid = the path's price, a new book, one trade there.

        Steps are ``path_step_ms`` apart from ``path_start_ms``; steps nobody looked at are
        skipped (the price jumps to the current step's). The book's quantities come from
        ``Random("book/<kind>/<seed>/<step>")``: the same seed gives the same books.
        """
        path, start = sym.path, sym.path_start_ms
        assert path is not None and start is not None
        step = (now - start) // sym.path_step_ms
        if step <= sym.path_step:
            return
        sym.path_step = step
        at = step * sym.path_step_ms
        market = sym.market
        price = path.price(sym.price, at, market.tick)
        before = market.last_price
        market.mid = price
        rng = random.Random(f"book/{path.kind}/{path.seed}/{step}")
        market.rebuild_book(rng)
        notional = Decimal(str(round(rng.uniform(20, 500), 2)))
        qty = max(market.qty_q(notional / price), unit(market.qty_scale))
        side = 2 if before is not None and price < before else 1
        self._trade(sym, price, qty, side, now)
        if path.ended(at):
            sym.path_done, sym.path_ended_by = True, "clock"
        self._match_resting(sym)
        self._notify_book(sym)

    def _open_event(self, symbol: str) -> asyncio.Event:
        return self._open_events.setdefault(symbol, asyncio.Event())

    async def wait_open(self, symbol: str, timeout: float | None = None) -> Symbol:
        """Wait until ``symbol`` has opened (tests; no polling)."""
        sym = self.symbols[symbol.upper()]
        self._ensure(sym)
        if not sym.opened:
            await asyncio.wait_for(self._open_event(sym.symbol).wait(), timeout)
        return self.symbols[symbol.upper()]

    def listed(self) -> list[Symbol]:
        for sym in self.symbols.values():
            self._ensure(sym)
        return list(self.symbols.values())

    def open_symbols(self) -> list[Symbol]:
        now = self.now_ms()
        return [s for s in self.listed() if s.is_open(now)]

    def market_symbol(self, symbol: str) -> Symbol:
        """An open symbol for market-data endpoints, else -1121."""
        return self._symbol_if(symbol, Symbol.is_open, invalid_symbol)

    def tradable(self, symbol: str) -> Symbol:
        """An API-tradable symbol, else 10007 (unknown, not open yet, or not API-enabled)."""
        return self._symbol_if(symbol, Symbol.api_enabled, symbol_not_supported)

    def _symbol_if(
        self, symbol: str, ready: Callable[[Symbol, int], bool], error: Callable[[], Exception]
    ) -> Symbol:
        sym = self.symbols.get(symbol.upper())
        if sym is None:
            raise error()
        self._ensure(sym)
        if not ready(sym, self.now_ms()):
            raise error()
        return sym

    def calendar(self) -> list[dict]:
        now = self.now_ms()
        keep = self.config.calendar_keep_ms
        items = [
            s.calendar_item()
            for s in self.symbols.values()
            if not s.seeded and s.open_at_ms >= now - keep
        ]
        return sorted(items, key=lambda item: item["firstOpenTime"])

    def pop_changed(self) -> list[Symbol]:
        """Symbols whose price changed since the last call (the miniTickers rule)."""
        changed = [self.symbols[s] for s in sorted(self.changed) if s in self.symbols]
        self.changed.clear()
        return [s for s in changed if s.market.last_price is not None]

    # -- balances -----------------------------------------------------------------------------
    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset.upper(), Balance())

    def set_balance(self, asset: str, free: str | Decimal) -> None:
        bal = self.balance(asset)
        before = {asset.upper(): (bal.free, bal.locked)}
        bal.free = Decimal(str(free))
        self._notify_balances(before, "DEPOSIT")

    # -- orders -------------------------------------------------------------------------------
    def _new_order_id(self) -> str:
        return f"C02__{self._order_base + next(self._order_seq):021d}"

    def find_order(
        self,
        symbol: str | None,
        order_id: str | None,
        client_order_id: str | None,
        *,
        visible_only: bool = False,
    ) -> Order:
        """One order by id, or the MOST RECENT (visible) order with that client order id."""
        if not order_id and not client_order_id:
            raise ApiError(
                700004,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null",
            )
        now = self.now_ms()
        if order_id:
            candidates = [self.orders[order_id]] if order_id in self.orders else []
        else:
            candidates = self.orders_by_client.get(client_order_id or "", [])
        for order in reversed(candidates):
            if symbol and order.symbol != symbol.upper():
                continue
            if visible_only and not order.visible(now):
                continue
            return order
        raise ApiError(-2013, "Order does not exist.")

    def open_orders(self, symbol: str | None = None, *, visible_only: bool = False) -> list[Order]:
        now = self.now_ms()
        return [
            o
            for o in self.orders.values()
            if o.is_open
            and (symbol is None or o.symbol == symbol.upper())
            and (not visible_only or o.visible(now))
        ]

    def all_orders(self, symbol: str, *, visible_only: bool = False) -> list[Order]:
        now = self.now_ms()
        symbol = symbol.upper()
        return [
            o
            for o in self.orders.values()
            if o.symbol == symbol and (not visible_only or o.visible(now))
        ]

    def cancel_order(
        self,
        symbol: str,
        order_id: str | None,
        client_order_id: str | None,
        *,
        visible_only: bool = False,
    ) -> Order:
        order = self.find_order(symbol, order_id, client_order_id, visible_only=visible_only)
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        self._finish_cancel(order)
        return order

    def place_order(
        self,
        *,
        symbol: str,
        side: str,
        type_: str,
        quantity: Decimal | None,
        quote_qty: Decimal | None,
        price: Decimal | None,
        client_order_id: str | None,
        test: bool = False,
    ) -> Order | None:
        """Validate, then (unless ``test``) create and execute an order. Raises ApiError."""
        sym = self.tradable(symbol)
        market = sym.market
        cfg = self.config
        if side not in ("BUY", "SELL"):
            raise missing_param("side")
        if type_ not in ORDER_TYPES:
            raise missing_param("type")
        is_market = type_ == "MARKET"
        self._check_side_allowed(sym, side)
        if is_market and sym.market_blocked(self.now_ms()):
            code = cfg.market_block_code
            raise ApiError(code, MARKET_BLOCK_CODES[code])
        if is_market:
            if quantity is None and quote_qty is None:
                raise missing_param("quantity")
            price = None
        else:
            if price is None:
                raise missing_param("price")
            if quantity is None:
                raise missing_param("quantity")
            quote_qty = None
        if quantity is not None:
            quote_qty = None  # quantity wins when both are sent
            if quantity <= 0:
                raise missing_param("quantity")
            if _decimals(quantity) > market.qty_scale:  # baseAssetPrecision
                raise ApiError(400, "quantity scale is invalid")
        if quote_qty is not None:
            if quote_qty <= 0:
                raise missing_param("quoteOrderQty")
            if _decimals(quote_qty) > market.price_scale:  # quoteAssetPrecision
                raise ApiError(400, AMOUNT_SCALE_INVALID)
        if price is not None:
            if price <= 0:
                raise missing_param("price")
            if _decimals(price) > market.price_scale:
                raise ApiError(400, "price scale is invalid")
            if type_ in BANDED_TYPES:
                self._check_price_band(sym, side, price)
        if (
            client_order_id
            and cfg.duplicate_client_ids == "reject"
            and client_order_id in self.orders_by_client
        ):
            raise ApiError(26, "Duplicate client order id.")

        # Extra quote a BUY pays on top of its notional (0 when the fee comes out of the base).
        fee_rate = cfg.taker_commission if cfg.fee_mode == "quote" else Decimal(0)
        min_quote = cfg.min_quote_amount
        too_small = ApiError(
            30002, f"The minimum transaction volume cannot be less than:{fmt(min_quote)}{sym.quote}"
        )
        protect: Decimal | None = None
        by_quote = quote_qty is not None
        if is_market:
            if not sym.book_ready:
                raise ApiError(30010, "no valid trade price")
            if quote_qty is not None:
                if quote_qty < min_quote:
                    raise too_small
                if quote_qty > cfg.max_quote_amount_market:
                    raise ApiError(
                        30003,
                        "The maximum transaction volume cannot be greater than:"
                        f"{fmt(cfg.max_quote_amount_market)}{sym.quote}",
                    )
            protect = self._protect_price(sym, side)
            if protect is not None and quote_qty is not None:
                # MEXC turns the quote amount into a base quantity at the protective price.
                quantity = market.qty_q(quote_qty / protect)
                if quantity <= 0:
                    raise too_small
            if quantity is not None:
                plan, _ = market.take(side, qty=quantity, limit_price=protect, dry=True)
            else:
                assert quote_qty is not None
                budget = quote_qty / (1 + fee_rate) if side == "BUY" else quote_qty
                plan, _ = market.take(side, quote=budget, dry=True)
            if not plan:
                raise ApiError(30025, "no exist opponent order")
            if not by_quote and quantity is not None and quantity * plan[0][0] < min_quote:
                raise too_small
        else:
            assert price is not None and quantity is not None
            if price * quantity < min_quote:
                raise too_small
            plan, _ = market.take(side, qty=quantity, limit_price=price, dry=True)

        # Funds
        if side == "BUY":
            have = self.balance(sym.quote).free
            if is_market:
                need = (
                    quote_qty
                    if quote_qty is not None
                    else sum(p * q for p, q in plan) * (1 + fee_rate)
                )
            else:
                need = price * quantity * (1 + fee_rate)
        else:
            have = self.balance(sym.base).free
            need = quantity if quantity is not None else sum(q for _, q in plan)
        if need > have:
            raise ApiError(30004, "Insufficient position")
        if test:
            return None

        now = self.now_ms()
        order = Order(
            order_id=self._new_order_id(),
            client_order_id=client_order_id,
            symbol=sym.symbol,
            side=side,
            type=type_,
            price=price,
            orig_qty=quantity,
            orig_quote_qty=quote_qty,
            time_ms=now,
            update_ms=now,
            protect_price=protect,
            show_protect_price=cfg.market_ack_price == "protect",
        )
        self.orders[order.order_id] = order
        if client_order_id:
            self.orders_by_client.setdefault(client_order_id, []).append(order)
        before = self._snapshot(sym)
        self._notify_order(order)  # created: status NEW
        self._execute(sym, order, need)
        if order.status != "NEW":
            self._notify_order(order)
        self._notify_balances(before)
        return order

    @staticmethod
    def _check_side_allowed(sym: Symbol, side: str) -> None:
        """tradeSideType 2 buy only, 3 sell only, 4 close (neither): 30001 (DOC-EN codes)."""
        kind = sym.trade_side_type
        if kind == 4 or (kind == 2 and side == "SELL") or (kind == 3 and side == "BUY"):
            raise ApiError(30001, "current transaction direction not allowed")

    def price_band_pct(self, sym: Symbol) -> Decimal | None:
        """The band in force for ``sym``: its own, else the config's default (None: none)."""
        return sym.max_price_band_pct if sym.band_set else self.config.default_price_band_pct

    def _check_price_band(self, sym: Symbol, side: str, price: Decimal) -> None:
        """Limit-type prices beyond last x (1 +- band/100) are refused with 30010.

        The bound is rounded to the price precision inward (BUY floor, SELL ceiling), so the
        bound quoted in the message is itself accepted. No last price yet: no band.
        """
        band = self.price_band_pct(sym)
        market = sym.market
        last = market.last_price
        if band is None or last is None:
            return
        if side == "BUY":
            highest = market.price_q(last * (1 + band / 100), ROUND_FLOOR)
            if price > highest:
                raise ApiError(30010, f"Order price cannot exceed {fmt(highest)}{sym.quote}")
        else:
            lowest = max(market.price_q(last * (1 - band / 100), ROUND_CEILING), market.tick)
            if price < lowest:
                raise ApiError(30010, f"Order price cannot be lower than {fmt(lowest)}{sym.quote}")

    def _protect_price(self, sym: Symbol, side: str) -> Decimal | None:
        """The price band a MARKET order may not cross (best ask/bid +- the markup)."""
        markup = self.config.market_quote_markup
        if markup <= 0:
            return None
        market = sym.market
        top = market.best_ask() if side == "BUY" else market.best_bid()
        if top is None:
            raise ApiError(30025, "no exist opponent order")
        if side == "BUY":
            return market.price_q(top.price * (1 + markup), ROUND_CEILING)
        return max(market.price_q(top.price * (1 - markup)), market.tick)

    def _execute(self, sym: Symbol, order: Order, need: Decimal) -> None:
        market = sym.market
        side = order.side
        fee_rate = self.config.taker_commission if self.config.fee_mode == "quote" else 0
        if order.type == "MARKET":
            if order.orig_qty is not None:
                fills, exhausted = market.take(
                    side, qty=order.orig_qty, limit_price=order.protect_price
                )
            else:
                assert order.orig_quote_qty is not None
                budget = order.orig_quote_qty
                if side == "BUY":
                    budget = budget / (1 + fee_rate)
                fills, exhausted = market.take(side, quote=budget)
            self._apply_fills(sym, order, fills, maker=False)
            if order.orig_qty is not None:
                exhausted = order.executed_qty < order.orig_qty
            order.status = "PARTIALLY_CANCELED" if exhausted else "FILLED"
        else:
            assert order.orig_qty is not None and order.price is not None
            if order.type == "LIMIT_MAKER":
                crossing, _ = market.take(
                    side, qty=order.orig_qty, limit_price=order.price, dry=True
                )
                if crossing:
                    order.status = "CANCELED"
                    return
                fills: list[tuple[Decimal, Decimal]] = []
            elif order.type == "FILL_OR_KILL":
                plan, _ = market.take(side, qty=order.orig_qty, limit_price=order.price, dry=True)
                if sum(q for _, q in plan) < order.orig_qty:
                    order.status = "CANCELED"
                    return
                fills, _ = market.take(side, qty=order.orig_qty, limit_price=order.price)
            else:
                fills, _ = market.take(side, qty=order.orig_qty, limit_price=order.price)
            # Lock the worst case for the whole order first, then settle fills from it.
            asset = sym.quote if side == "BUY" else sym.base
            bal = self.balance(asset)
            bal.free -= need
            bal.locked += need
            order.locked = need
            self._apply_fills(sym, order, fills, maker=False)
            remaining = order.orig_qty - order.executed_qty
            if remaining <= 0:
                order.status = "FILLED"
            elif order.type == "IMMEDIATE_OR_CANCEL":
                order.status = "PARTIALLY_CANCELED" if order.executed_qty else "CANCELED"
            else:
                order.status = "PARTIALLY_FILLED" if order.executed_qty else "NEW"
            if not order.is_open:
                self._release(sym, order)
        if fills:
            self._notify_book(sym)

    def _apply_fills(
        self, sym: Symbol, order: Order, fills: list[tuple[Decimal, Decimal]], *, maker: bool
    ) -> None:
        rate = self.config.maker_commission if maker else self.config.taker_commission
        quote, base = self.balance(sym.quote), self.balance(sym.base)
        now = self.now_ms()
        trade_side = (
            (1 if order.side == "BUY" else 2) if not maker else (2 if order.side == "BUY" else 1)
        )
        trades = []
        for price, qty in fills:
            notional = price * qty
            fee = (notional * rate).quantize(FEE_UNIT, rounding=ROUND_DOWN)
            if order.side == "BUY" and self.config.fee_mode == "received":
                self._debit(quote, order, notional)
                base.free += qty - (qty * rate).quantize(FEE_UNIT, rounding=ROUND_DOWN)
            elif order.side == "BUY":
                self._debit(quote, order, notional + fee)
                base.free += qty
            else:
                self._debit(base, order, qty)
                quote.free += notional - fee
            order.executed_qty += qty
            order.cum_quote += notional
            order.fills.append((price, qty))
            trades.append(self._make_trade(sym, price, qty, trade_side, now))
        order.update_ms = now
        if trades:
            self._notify_trades(sym, trades)

    @staticmethod
    def _debit(bal: Balance, order: Order, amount: Decimal) -> None:
        if order.locked > 0:
            order.locked -= amount
            bal.locked -= amount
        else:
            bal.free -= amount

    def _release(self, sym: Symbol, order: Order) -> None:
        if order.locked > 0:
            bal = self.balance(sym.quote if order.side == "BUY" else sym.base)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = Decimal(0)

    def _finish_cancel(self, order: Order) -> None:
        sym = self.symbols[order.symbol]
        before = self._snapshot(sym)
        order.status = "PARTIALLY_CANCELED" if order.executed_qty else "CANCELED"
        order.update_ms = self.now_ms()
        self._release(sym, order)
        self._notify_order(order)
        self._notify_balances(before, "ENTRUST_CANCEL")

    # -- market process -----------------------------------------------------------------------
    def tick(self) -> None:
        """One market step for every open market: walk, rebuild book, trade, match resting."""
        now = self.now_ms()
        for sym in self.listed():
            if not sym.book_ready or (sym.path is not None and not sym.path_done):
                continue  # a path moves in listed() (_ensure), not by the random walk
            market = sym.market
            market.walk()
            market.rebuild_book()
            trade = market.synthetic_trade()
            if trade is not None and self.rng.random() < 0.7:
                self._trade(sym, *trade, now)
            self._match_resting(sym)
            self._notify_book(sym)

    def inject_trade(
        self, symbol: str, *, price: Decimal, qty: Decimal | None = None, side: str = "BUY"
    ) -> Trade:
        """Move an open market to ``price`` with a trade there (control API, tests)."""
        sym = self.symbols.get(symbol.upper())
        if sym is None or not sym.book_ready:
            raise ValueError(f"{symbol} is not trading")
        market = sym.market
        price = market.price_q(price)
        if price <= 0:
            raise ValueError("price must be > 0")
        if sym.path is not None and not sym.path_done:
            sym.path_done, sym.path_ended_by = True, "trade"  # the hand takes over
        qty = (
            market.qty_q(qty)
            if qty
            else max(market.qty_q(Decimal(50) / price), unit(market.qty_scale))
        )
        market.mid = price
        market.rebuild_book()
        trade = self._make_trade(sym, price, qty, 1 if side == "BUY" else 2, self.now_ms())
        trade.made_at_us = self.clock.now_us()  # before any push: benchmarks measure from here
        self._notify_trades(sym, [trade])
        self._match_resting(sym)
        self._notify_book(sym)
        return trade

    def _match_resting(self, sym: Symbol) -> None:
        market = sym.market
        bid, ask = market.best_bid(), market.best_ask()
        for order in self.open_orders(sym.symbol):
            assert order.price is not None and order.orig_qty is not None
            crossed = (order.side == "BUY" and ask is not None and ask.price <= order.price) or (
                order.side == "SELL" and bid is not None and bid.price >= order.price
            )
            if not crossed:
                continue
            before = self._snapshot(sym)
            self._apply_fills(
                sym, order, [(order.price, order.orig_qty - order.executed_qty)], maker=True
            )
            order.status = "FILLED"
            self._release(sym, order)
            self._notify_order(order)
            self._notify_balances(before)

    def _make_trade(self, sym: Symbol, price: Decimal, qty: Decimal, side: int, now: int) -> Trade:
        before = sym.market.last_price
        trade = Trade(price, qty, side, now, str(next(self._trade_seq)))
        sym.market.record(price, qty)
        sym.market.remember(trade)
        if price != before:
            self.changed.add(sym.symbol)
        return trade

    def _trade(self, sym: Symbol, price: Decimal, qty: Decimal, side: int, now: int) -> None:
        self._notify_trades(sym, [self._make_trade(sym, price, qty, side, now)])

    def _snapshot(self, sym: Symbol) -> dict[str, tuple[Decimal, Decimal]]:
        snap = {}
        for asset in (sym.base, sym.quote):
            bal = self.balance(asset)
            snap[asset] = (bal.free, bal.locked)
        return snap

    def _notify_balances(
        self, before: dict[str, tuple[Decimal, Decimal]], kind: str = "ENTRUST"
    ) -> None:
        """One privateAccount event per asset whose free or locked amount moved."""
        now = self.now_ms()
        for asset, (free, locked) in before.items():
            bal = self.balance(asset)
            change = BalanceChange(
                asset, bal.free, bal.locked, bal.free - free, bal.locked - locked, kind, now
            )
            if change.free_change or change.locked_change:
                for listener in self.listeners:
                    listener.on_balance(change)

    def _notify_order(self, order: Order) -> None:
        for listener in self.listeners:
            listener.on_order(order)

    def _notify_trades(self, sym: Symbol, trades: list[Trade]) -> None:
        for listener in self.listeners:
            listener.on_trades(sym, trades)

    def _notify_book(self, sym: Symbol) -> None:
        for listener in self.listeners:
            listener.on_book(sym)
