"""OrderGateway on the async MEXC REST client.

One event loop thread per process hosts one kept-alive client, so every order from this
process reuses a warm connection and a synced clock. Celery tasks (sync) call into it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from django.conf import settings

from mexc import errors as mexc_errors
from mexc.errors import MexcError
from mexc.rest import MexcRestClient
from monitoring.metrics import exchange_errors

from .entry import Rules
from .execution import OrderState

CALL_TIMEOUT_S = 30.0
# This process's share of MEXC_IP_WEIGHT_LIMIT (MEXC counts per IP; the monitor's public
# client, listings.mexc_feed, has the other 40 %). Orders keep the last 10 % of it.
IP_WEIGHT_SHARE = 0.6
SPIN_US = 2000  # the last stretch before a timed order is spun, not slept (loop timer slack)


class MexcGateway:
    def __init__(self, client_factory) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mexc-gateway", daemon=True
        )
        self._thread.start()
        self.client: MexcRestClient = self._run(self._create(client_factory))
        self._private = None  # MEXC's private orders stream, while watched (watch_orders)
        # Free balances as the private account stream last pushed them (asset -> free), kept
        # only while that stream is connected: a sell reads them instead of a REST round trip.
        self._free: dict[str, Decimal] = {}

    @staticmethod
    async def _create(client_factory) -> MexcRestClient:
        return client_factory()

    @classmethod
    def from_settings(cls) -> MexcGateway:
        return cls(
            lambda: MexcRestClient(
                base_url=settings.MEXC_REST_URL,
                api_key=settings.MEXC_API_KEY,
                secret_key=settings.MEXC_SECRET_KEY,
                timeout=settings.MEXC_HTTP_TIMEOUT_MS / 1000,
                ip_weight_limit=max(1, int(settings.MEXC_IP_WEIGHT_LIMIT * IP_WEIGHT_SHARE)),
            )
        )

    def _run(self, coro) -> Any:
        return self._result(asyncio.run_coroutine_threadsafe(coro, self._loop))

    @staticmethod
    def _result(future: Future) -> Any:
        try:
            return future.result(CALL_TIMEOUT_S)
        except MexcError as exc:
            exchange_errors.labels(
                code=str(exc.code) if exc.code is not None else type(exc).__name__
            ).inc()
            raise

    def warm(self) -> None:
        self._run(self.client.warm())

    def place_market_buy(
        self, *, symbol: str, quote_qty: Decimal, client_order_id: str, recv_window_ms: int
    ) -> str:
        # Never more decimals than needed (the row keeps 8; MEXC refuses a scale beyond the
        # symbol's), and rounded down to the symbol's precision when its rules are known.
        ack = self._run(
            self.client.place_order(
                symbol=symbol,
                side="BUY",
                type="MARKET",
                quote_order_qty=quote_qty.normalize(),
                client_order_id=client_order_id,
                recv_window=recv_window_ms,
                rules=self.client.cached_symbol_rules(symbol),
            )
        )
        return ack.order_id

    def query_order(self, *, symbol: str, client_order_id: str) -> OrderState:
        return _state(
            self._run(self.client.query_order(symbol=symbol, client_order_id=client_order_id))
        )

    async def _until(self, at_us: int) -> None:
        """Until `at_us` by the exchange's clock: asleep until SPIN_US before it (the loop's
        timers are that coarse), then spinning."""
        while (left := at_us - self.client.server_time_us()) > SPIN_US:
            await asyncio.sleep((left - SPIN_US) / 1e6)
        while self.client.server_time_us() < at_us:
            pass

    def place_market_buy_at(
        self,
        at_us: int,
        *,
        symbol: str,
        quote_qty: Decimal,
        client_order_id: str,
        recv_window_ms: int,
    ) -> tuple[str, int]:
        """Send the order at `at_us` by the exchange's clock: the wait happens on this
        gateway's loop (asleep until SPIN_US before it, then spinning), so nothing but the
        signing stands between the clock and the socket. Returns (order id, sent ns)."""

        async def at() -> tuple[str, int]:
            await self._until(at_us)
            sent_ns = time.time_ns()
            ack = await self.client.place_order(
                symbol=symbol,
                side="BUY",
                type="MARKET",
                quote_order_qty=quote_qty.normalize(),
                client_order_id=client_order_id,
                recv_window=recv_window_ms,
                rules=self.client.cached_symbol_rules(symbol),
            )
            return ack.order_id, sent_ns

        return self._run(at())

    def entry_inputs(self, symbol: str) -> tuple[Rules | None, Decimal | None]:
        return self._result(self.start_entry_inputs(symbol))

    def start_entry_inputs(self, symbol: str) -> Future:
        """`entry_inputs`, asked now on the gateway's loop (the caller collects it with
        `.result()` once it has decided: the exchange answers while the database works)."""
        return asyncio.run_coroutine_threadsafe(self._entry_inputs(symbol), self._loop)

    async def _entry_inputs(self, symbol: str) -> tuple[Rules | None, Decimal | None]:
        """The symbol's rules (exchangeInfo, read afresh: never a stale cache for a new
        symbol) and the first price seen (its last trade, else its best ask), asked together
        (one round trip's time). None for what the exchange does not show yet."""

        rules, last = await asyncio.gather(
            self.client.symbol_rules(symbol, refresh=True),
            self.client.ticker_price(symbol),
            return_exceptions=True,
        )
        for answer in (rules, last):  # refused for our request rate: never asked again now
            if isinstance(answer, mexc_errors.RateLimited | mexc_errors.IpBanned):
                raise answer
        # The first price seen: the last trade where there is one (at the open: the opening
        # trade), else the best ask (asked only then: every request weighs on MEXC's limit).
        price = None if isinstance(last, BaseException) or not last else last
        if price is None and not isinstance(rules, BaseException):
            try:
                price = (await self.client.book_ticker(symbol)).ask_price or None
            except MexcError:
                price = None
        return (None if isinstance(rules, BaseException) else plain_rules(rules), price)

    def place_ioc_buy(
        self,
        *,
        symbol: str,
        price: Decimal,
        quantity: Decimal,
        client_order_id: str,
        recv_window_ms: int,
        at_us: int | None = None,
    ) -> tuple[str, int]:
        """An IMMEDIATE_OR_CANCEL limit BUY (at `at_us` by the exchange's clock, if given):
        what does not fill at once is canceled by the exchange. (order id, sent ns)."""

        async def send() -> tuple[str, int]:
            if at_us is not None:
                await self._until(at_us)
            sent_ns = time.time_ns()
            ack = await self.client.place_order(
                symbol=symbol,
                side="BUY",
                type="IMMEDIATE_OR_CANCEL",
                price=price.normalize(),
                quantity=quantity.normalize(),
                client_order_id=client_order_id,
                recv_window=recv_window_ms,
            )
            return ack.order_id, sent_ns

        return self._run(send())

    def place_ioc_sell(
        self,
        *,
        symbol: str,
        price: Decimal,
        quantity: Decimal,
        client_order_id: str,
        recv_window_ms: int,
    ) -> tuple[str, int]:
        """An IMMEDIATE_OR_CANCEL limit SELL at `price` (the floor): what does not fill at
        once is canceled by the exchange. (order id, sent ns)."""

        async def send() -> tuple[str, int]:
            sent_ns = time.time_ns()
            ack = await self.client.place_order(
                symbol=symbol,
                side="SELL",
                type="IMMEDIATE_OR_CANCEL",
                price=price.normalize(),
                quantity=quantity.normalize(),
                client_order_id=client_order_id,
                recv_window=recv_window_ms,
            )
            return ack.order_id, sent_ns

        return self._run(send())

    def sell_inputs(
        self, symbol: str, asset: str, *, balance: bool, bid: Decimal | None = None
    ) -> Future:
        """The symbol's rules, its best bid and, with `balance`, the account's free `asset`:
        (Rules, bid or None, free or None). What is known already costs nothing: the rules
        once read, the bid the caller saw (`bid`), the free balance MEXC's private account
        stream last pushed (while that stream is up); the rest is asked together on the
        gateway's loop. A future: the caller works while the exchange answers."""
        rules = self.client.cached_symbol_rules(symbol)
        free = self._free.get(asset.upper()) if balance else None
        if rules is not None and bid and (free is not None or not balance):
            done: Future = Future()
            done.set_result((plain_rules(rules), bid, free))
            return done

        async def ask() -> tuple[Rules, Decimal | None, Decimal | None]:
            keys = balance and free is None and self.client.has_keys
            answers = await asyncio.gather(
                self.client.symbol_rules(symbol),
                asyncio.sleep(0) if bid else self.client.book_ticker(symbol),
                self.client.account() if keys else asyncio.sleep(0),
            )
            known = bid or answers[1].bid_price or None
            return plain_rules(answers[0]), known, answers[2].free(asset) if keys else free

        return asyncio.run_coroutine_threadsafe(ask(), self._loop)

    def know_symbol(self, symbol: str) -> None:
        """Read the symbol's rules now (kept), so its first sell does not wait for them."""
        asyncio.run_coroutine_threadsafe(self.client.symbol_rules(symbol), self._loop)

    def depth_bids(self, symbol: str) -> list[tuple[Decimal, Decimal]]:
        """The bid side of the book, best first (a dry-run sell walks it)."""
        return self._run(self.client.depth_bids(symbol))

    def depth_asks(self, symbol: str) -> list[tuple[Decimal, Decimal]]:
        """The ask side of the book, best first (the dry run walks it)."""
        return self._run(self.client.depth_asks(symbol))

    def listed_order(self, *, symbol: str, client_order_id: str) -> OrderState | None:
        """The order among the symbol's open orders, then its recent ones (allOrders)."""
        for ask in (self.client.open_orders, self.client.all_orders):
            for order in self._run(ask(symbol)):
                if order.client_order_id == client_order_id:
                    return _state(order)
        return None

    def free_balance(self, asset: str) -> Decimal:
        return self._run(self.client.account()).free(asset)

    def best_ask(self, symbol: str) -> Decimal | None:
        ticker = self._run(self.client.book_ticker(symbol))
        return ticker.ask_price

    def server_time_ms(self) -> int:
        return self.client.server_time_ms()

    def exchange_time_ms(self) -> int:
        """Ask the exchange for its time (a real round trip, unlike the synced clock)."""
        return self._run(self.client.server_time())

    def watch_orders(self, ws_url: str, on_order) -> None:
        """Keep MEXC's private stream open (listenKey) on this gateway's loop: `on_order(event)`
        for each order push (a witness of our orders); account pushes keep `_free`."""
        from mexc.codec import PrivateAccount, PrivateOrder
        from mexc.private import Disconnected, MexcPrivateStream

        async def watching() -> None:
            self._private = MexcPrivateStream(self.client, ws_url)
            async for event in self._private.events():
                if isinstance(event, PrivateOrder):
                    on_order(event)
                elif isinstance(event, PrivateAccount):
                    self._free[event.asset.upper()] = event.free
                elif isinstance(event, Disconnected):
                    self._free.clear()  # pushes may be missed until it is back

        self._watching = asyncio.run_coroutine_threadsafe(watching(), self._loop)

    def close(self) -> None:
        if self._private is not None:
            self._private.stop()
        self._run(self.client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)


def _state(order) -> OrderState:
    return OrderState(
        status=order.status,
        exchange_order_id=order.order_id,
        executed_qty=order.executed_qty,
        quote_spent=order.cummulative_quote_qty,
    )


def plain_rules(rules) -> Rules:
    """mexc.types.SymbolRules as the plain data trading.entry judges."""
    return Rules(
        status=str(rules.status),
        spot_allowed=bool(rules.spot_allowed),
        order_types=tuple(rules.order_types),
        trade_side_type=rules.trade_side_type if rules.trade_side_type is not None else 1,
        price_decimals=rules.quote_precision if rules.quote_precision is not None else 8,
        qty_decimals=rules.base_asset_precision if rules.base_asset_precision is not None else 8,
        min_qty=rules.min_qty or Decimal(0),
        min_quote=rules.min_quote or Decimal(0),
    )
