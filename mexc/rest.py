"""Async MEXC Spot V3 REST client on a small pool of kept-alive HTTP/1.1 connections.

Every request goes through ``mexc.http.HttpPool`` (asyncio streams, pre-encoded heads): on the
order path it costs a few tens of microseconds of CPU where httpx cost ~2 ms.

Signed requests are stamped with the local clock plus the measured server offset, so they
land inside recvWindow (and never more than 1 s ahead, which MEXC also rejects: no positive
skew is ever added). The offset is measured against ``/api/v3/time`` (midpoint of the round
trip, best of a few samples), refreshed in the background once it is older than
``time_sync_interval_s`` (a due refresh never delays an order), and re-measured at once after
a 700003, after which that request is sent once more (it was refused, so resending is safe).

Every request is first charged its IP weight against the client's ``WeightBudget``
(``mexc.weights``: MEXC's 500 / 10 s, a reserve kept for orders, fail-fast after a 429/418):
what would go over is refused here, before it leaves the process. ``symbol_rules`` calls that
arrive together share one ``exchangeInfo?symbols=A,B,...`` request (weight 10 for all).

Failure semantics for order placement: a connect error (or a full pool, or a send the kernel
refused outright) certainly sent nothing (``ExchangeUnavailable``); a timeout, a broken
read/write, an unreadable answer or a 5xx after the request was written may have placed the
order (``OrderOutcomeUnknown``, carrying the client order id). Keys and signatures never reach
a log line, a repr or an exception message: our request log names the path only, never the
query; httpx (still used elsewhere, e.g. by tests and tools) has its request log redacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, overload

from .errors import (
    BelowMinimumAmount,
    ExchangeUnavailable,
    InvalidApiKey,
    IpBanned,
    MexcApiError,
    MexcError,
    OrderOutcomeUnknown,
    RateLimited,
    SymbolNotTradable,
    TimestampOutsideWindow,
    error_from_response,
)
from .http import HttpPool, HttpResponse, MaybeSent, NotSent
from .jsonslices import array_items
from .signing import encode_params, signed_query
from .types import (
    Account,
    BookQuote,
    ExchangeInfo,
    Order,
    OrderAck,
    SymbolInfo,
    SymbolRules,
    dec,
)
from .weights import DEFAULT_IP_WEIGHT_LIMIT, WeightBudget

__all__ = ["MAX_RECV_WINDOW_MS", "MexcRestClient"]

log = logging.getLogger(__name__)
# An exchangeInfo answer larger than this is decoded a slice at a time (mexc.jsonslices).
SLICED_OVER_BYTES = 64 * 1024

EXCHANGE_MAX_RECV_WINDOW_MS = 60_000  # MEXC answers 700005 above this
# Our own cap: an order that waited longer than a second is stale for a sniper; the trading
# config (risk.TradeConfig) holds recvWindow in the same 1..1000 ms range.
MAX_RECV_WINDOW_MS = 1000
DEFAULT_RECV_WINDOW_MS = 1000  # 500 lost races under load (orders refused with 700003)
MAX_ALL_ORDERS_LIMIT = 1000  # allOrders: default 500, max 1000 (MEXC docs)
ORDER_SIDES = ("BUY", "SELL")
ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")


OPEN_EVIDENCE_TRADES = 1000
# symbol_rules: calls within this long of the last exchangeInfo sent wait for one shared
# request (a lone call goes out at once); at most this many symbols per request (MEXC
# documents `symbols=` without a maximum: ours keeps the URL short).
RULES_BATCH_WINDOW_S = 0.002
RULES_BATCH_MAX_SYMBOLS = 50


class MexcRestClient:
    """``async with MexcRestClient(base_url=..., api_key=..., secret_key=...) as c: ...``"""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 2.0,
        connect_timeout: float | None = None,
        recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
        time_sync_interval_s: float = 300.0,
        time_sync_samples: int = 3,
        clock_ns: Callable[[], int] = time.time_ns,
        max_connections: int = 20,
        keepalive_expiry_s: float = 60.0,
        ip_weight_limit: int = DEFAULT_IP_WEIGHT_LIMIT,
        ip_weight_reserve: int | None = None,
        weight_clock: Callable[[], float] = time.monotonic,
        weight_budget: WeightBudget | None = None,
        rules_batch_window_s: float = RULES_BATCH_WINDOW_S,
    ) -> None:
        """``ip_weight_limit`` / ``ip_weight_reserve``: this client's share of MEXC's IP
        weight per 10 s and the part of it only orders may use (default 10 %);
        ``weight_budget``: one shared by several clients of the process instead."""
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self._secret = secret_key or None
        self.recv_window_ms = _check_recv_window(recv_window_ms)
        self.time_sync_interval_s = time_sync_interval_s
        self.time_sync_samples = max(1, time_sync_samples)
        self._clock_ns = clock_ns
        self.offset_us = 0  # server clock minus local clock
        self.last_rtt_ms: float | None = None
        self._synced_at_ns: int | None = None
        self._sync_generation = 0
        self._sync_lock = asyncio.Lock()
        self._sync_task: asyncio.Task[None] | None = None
        self._warm_task: asyncio.Task[None] | None = None
        self._key_header = _key_header(self._api_key)
        self._rules: dict[str, SymbolRules] = {}
        self.weight_budget = weight_budget or WeightBudget(
            ip_weight_limit, reserve=ip_weight_reserve, clock=weight_clock
        )
        self.rules_batch_window_s = rules_batch_window_s
        self._rules_wanted: dict[str, asyncio.Future[SymbolRules]] = {}  # for the next read
        self._rules_asked: dict[str, asyncio.Future[SymbolRules]] = {}  # being read
        self._rules_timer: asyncio.Handle | None = None
        self._rules_sent_at = -math.inf  # loop time of the last exchangeInfo read sent
        self._rules_reads: set[asyncio.Task[None]] = set()
        self._http = HttpPool(
            self.base_url,
            timeout=timeout,
            connect_timeout=connect_timeout or timeout,
            max_connections=max_connections,
            keepalive_expiry_s=keepalive_expiry_s,
            headers={"Content-Type": "application/json"},
        )

    @property
    def has_keys(self) -> bool:
        """Signed endpoints can be asked (API key and secret given)."""
        return bool(self._api_key and self._secret)

    def weight_used(self) -> int:
        """IP weight this client (its budget) spent in the last 10 s, for health."""
        return self.weight_budget.weight_used()

    @property
    def weight_limit(self) -> int:
        return self.weight_budget.limit

    def __repr__(self) -> str:  # never the keys
        keyed = "keyed" if self.has_keys else "public"
        return f"MexcRestClient({self.base_url!r}, {keyed}, offset_ms={self.offset_ms})"

    async def __aenter__(self) -> MexcRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._rules_timer is not None:
            self._rules_timer.cancel()
            self._rules_timer = None
        for future in (*self._rules_wanted.values(), *self._rules_asked.values()):
            future.cancel()
        self._rules_wanted.clear()
        tasks = [t for t in (self._sync_task, self._warm_task) if t is not None and not t.done()]
        tasks += [t for t in self._rules_reads if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._http.aclose()

    async def warm(self, keep_warm_s: float | None = None) -> None:
        """Open a pooled connection and sync the clock, so a first order pays neither.

        With ``keep_warm_s``, keep it so: a background ping every ``keep_warm_s`` seconds
        (choose it below ``keepalive_expiry_s`` and the server's idle timeout) that also
        refreshes a due time sync.
        """
        await self.sync_time()
        if keep_warm_s and (self._warm_task is None or self._warm_task.done()):
            self._warm_task = asyncio.create_task(self._keep_warm(keep_warm_s))

    async def _keep_warm(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.ping()
                await self._fresh_clock()
            except MexcError as exc:
                log.warning("mexc.keep_warm_failed", extra={"error": type(exc).__name__})

    # --- time -----------------------------------------------------------------------------

    @property
    def offset_ms(self) -> int:
        return round(self.offset_us / 1000)

    @offset_ms.setter
    def offset_ms(self, value: int) -> None:
        self.offset_us = value * 1000

    def server_time_ms(self) -> int:
        """The exchange's clock as we estimate it now (the timestamp signed requests get)."""
        return self.server_time_us() // 1000

    def server_time_us(self) -> int:
        """The exchange's clock in µs, as finely as the sync could bound it."""
        return self._clock_ns() // 1000 + self.offset_us

    @property
    def synced(self) -> bool:
        return self._synced_at_ns is not None

    async def sync_time(self, samples: int | None = None) -> int:
        """Measure the offset: ``/api/v3/time`` against the midpoint of each round trip; the
        sample with the shortest round trip wins. Returns the offset in ms."""
        return await self._sync(samples)

    async def _sync(self, samples: int | None = None, *, unless_after: int | None = None) -> int:
        """One sync at a time; with ``unless_after`` (a sync generation), skip it when another
        sync finished since, so a burst of callers shares one measurement."""
        async with self._sync_lock:
            if unless_after is not None and self._sync_generation != unless_after:
                return self.offset_ms
            # MEXC's serverTime is whole ms: each sample bounds the offset (µs) to
            # [serverTime - received, serverTime + 1 ms - sent); the samples' bounds
            # intersect to well under a millisecond. If they disagree (a clock step), the
            # sample with the shortest round trip decides.
            low, high = -(2**62), 2**62
            best: tuple[int, int] | None = None  # (rtt_ns, offset_us)
            for _ in range(samples or self.time_sync_samples):
                sent = self._clock_ns() // 1000
                body = await self._request("GET", "/api/v3/time")
                received = self._clock_ns() // 1000
                try:
                    server_us = int(body["serverTime"]) * 1000
                except (KeyError, TypeError, ValueError):
                    raise MexcApiError("time: no serverTime in the answer") from None
                low, high = max(low, server_us - received), min(high, server_us + 1000 - sent)
                rtt = (received - sent) * 1000
                if best is None or rtt < best[0]:
                    best = (rtt, server_us + 500 - (sent + received) // 2)
            assert best is not None
            self.offset_us = (low + high) // 2 if low <= high else best[1]
            self.last_rtt_ms = best[0] / 1e6
            self._synced_at_ns = self._clock_ns()
            self._sync_generation += 1
        log.info(
            "mexc.time_sync",
            extra={"offset_ms": self.offset_ms, "rtt_ms": round(self.last_rtt_ms, 3)},
        )
        return self.offset_ms

    async def _fresh_clock(self) -> None:
        """Sync now if never synced; if merely due, refresh in the background."""
        if self._synced_at_ns is None:
            await self._sync(unless_after=self._sync_generation)
            return
        age_s = (self._clock_ns() - self._synced_at_ns) / 1e9
        if age_s >= self.time_sync_interval_s and (
            self._sync_task is None or self._sync_task.done()
        ):
            self._sync_task = asyncio.create_task(self._background_sync())

    async def _background_sync(self) -> None:
        try:
            await self.sync_time()
        except MexcError as exc:  # keep the old offset; the next request tries again
            log.warning("mexc.time_sync_failed", extra={"error": type(exc).__name__})

    # --- public market data ---------------------------------------------------------------

    async def ping(self) -> None:
        await self._request("GET", "/api/v3/ping")

    async def server_time(self) -> int:
        body = await self._request("GET", "/api/v3/time")
        return int(body["serverTime"])

    async def exchange_info(self, symbols: list[str] | None = None) -> ExchangeInfo:
        params: list[tuple[str, object]] = []
        if symbols and len(symbols) == 1:
            params = [("symbol", symbols[0].upper())]
        elif symbols:
            params = [("symbols", ",".join(s.upper() for s in symbols))]
        body = await self._request("GET", "/api/v3/exchangeInfo", encode_params(params))
        parsed, skipped = [], 0
        for item in body.get("symbols") or []:
            try:
                parsed.append(SymbolInfo.from_json(item))
            except (KeyError, TypeError, AttributeError, ValueError):
                skipped += 1  # partial data: skip what we cannot read
        if skipped:
            log.warning("mexc.exchange_info_skipped", extra={"skipped": skipped})
        server_time = body.get("serverTime")
        return ExchangeInfo(int(server_time or 0), parsed, skipped)

    async def trading_symbol_names(self) -> set[str]:
        """The symbols open for spot trading (exchangeInfo), by name only.

        For a poll that only diffs the universe, on the monitor's event loop: MEXC lists a
        few thousand symbols (~2 MB), so the answer is decoded a slice at a time
        (`mexc.jsonslices`), and no SymbolInfo is built for each.
        """
        path = "/api/v3/exchangeInfo"
        response = await self._exchange("GET", path, encode_params([]))
        if response.status_code < 400 and len(response.content) > SLICED_OVER_BYTES:
            try:  # a slice at a time: the event loop is never held for the whole decode
                items = array_items(response.content.decode("utf-8", "replace"), "symbols")
                return {name async for item in items if (name := SymbolInfo.trading_name(item))}
            except ValueError:
                pass  # not the usual document: decoded whole below, errors reported as such
        items = self._body(response, "GET", path).get("symbols") or []
        return {name for item in items if (name := SymbolInfo.trading_name(item))}

    async def default_symbols(self) -> list[str]:
        """Symbols tradable through the API (anything else gets 10007)."""
        body = await self._request("GET", "/api/v3/defaultSymbols")
        return [s.upper() for s in body.get("data") or [] if isinstance(s, str)]

    async def symbol_rules(self, symbol: str, *, refresh: bool = False) -> SymbolRules:
        """The symbol's trading rules (``GET /api/v3/exchangeInfo?symbol=X``), cached per symbol.

        Fetch them ahead of the order (e.g. when a listing is armed) and pass them to
        ``place_order(rules=...)``: the order path then makes no extra round trip.
        ``refresh=True`` reads them again. Only rules of a symbol open for trading are kept:
        a symbol read before its open is read afresh next time, so a new symbol never comes
        from a stale cache. Raises SymbolNotTradable when the exchange does not list it.

        Reads are shared: calls made together (the same loop turn, or within
        ``rules_batch_window_s`` of the last read sent) go out as ONE
        ``exchangeInfo?symbols=A,B,...`` (weight 10 for all); a call for a symbol already
        being read waits for that answer. A lone call goes out at once.
        """
        name = symbol.upper()
        cached = None if refresh else self._rules.get(name)
        if cached is not None:
            return cached
        future = self._rules_asked.get(name) or self._rules_wanted.get(name)
        if future is None:
            future = self._want_rules(name)
        return await asyncio.shield(future)  # one caller giving up never cancels the others

    def _want_rules(self, name: str) -> asyncio.Future[SymbolRules]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SymbolRules] = loop.create_future()
        future.add_done_callback(_retrieved)
        self._rules_wanted[name] = future
        if self._rules_timer is None:
            delay = self._rules_sent_at + self.rules_batch_window_s - loop.time()
            self._rules_timer = (
                loop.call_later(delay, self._send_rules)
                if delay > 0
                else loop.call_soon(self._send_rules)  # after the callers of this loop turn
            )
        return future

    def _send_rules(self) -> None:
        self._rules_timer = None
        wanted, self._rules_wanted = self._rules_wanted, {}
        loop = asyncio.get_running_loop()
        self._rules_sent_at = loop.time()
        names = [n for n, f in wanted.items() if not f.done()]
        for start in range(0, len(names), RULES_BATCH_MAX_SYMBOLS):
            chunk = {n: wanted[n] for n in names[start : start + RULES_BATCH_MAX_SYMBOLS]}
            self._rules_asked.update(chunk)
            task = loop.create_task(self._read_rules(chunk))
            self._rules_reads.add(task)
            task.add_done_callback(self._rules_reads.discard)

    async def _read_rules(self, chunk: dict[str, asyncio.Future[SymbolRules]]) -> None:
        """One exchangeInfo read for the symbols of ``chunk``; each future gets its rules."""
        names = list(chunk)
        try:
            key = "symbol" if len(names) == 1 else "symbols"
            query = encode_params([(key, ",".join(names))])
            try:
                body = await self._request("GET", "/api/v3/exchangeInfo", query)
            except SymbolNotTradable as exc:  # -1121: none listed, or (maybe) one of them not
                if len(names) == 1:
                    _settle(chunk[names[0]], error=exc)
                    return
                # MEXC may refuse a whole symbols= read for one name it does not list yet
                # (undocumented; Binance does): each is asked on its own, so a listed symbol
                # read beside a not-yet-listed one still gets its rules
                await asyncio.gather(*(self._read_rules({n: f}) for n, f in chunk.items()))
                return
            except MexcError as exc:
                for future in chunk.values():
                    _settle(future, error=exc)
                return
            items = {
                str(i.get("symbol", "")).upper(): i
                for i in body.get("symbols") or []
                if isinstance(i, dict)
            }
            for name, future in chunk.items():
                item = items.get(name)
                if item is None:
                    _settle(future, error=SymbolNotTradable(f"exchangeInfo does not list {name}"))
                    continue
                try:
                    rules = SymbolRules.from_json(item)
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    error = MexcApiError(f"exchangeInfo: unreadable rules for {name}")
                    _settle(future, error=error)
                    continue
                if rules.trading:
                    self._rules[name] = rules
                else:
                    self._rules.pop(name, None)
                _settle(future, rules)
        finally:
            for name, future in chunk.items():
                future.cancel()  # no-op when settled; else (cancelled read) its callers stop
                if self._rules_asked.get(name) is future:
                    del self._rules_asked[name]

    def cached_symbol_rules(self, symbol: str) -> SymbolRules | None:
        """The cached rules of ``symbol`` (no request), or None."""
        return self._rules.get(symbol.upper())

    @overload
    async def ticker_price(self, symbol: str) -> Decimal: ...
    @overload
    async def ticker_price(self, symbol: None = None) -> dict[str, Decimal]: ...

    async def ticker_price(self, symbol: str | None = None) -> Decimal | dict[str, Decimal]:
        """Last price of one symbol, or {symbol: price} of all."""
        if symbol:
            query = encode_params([("symbol", symbol.upper())])
            return dec((await self._request("GET", "/api/v3/ticker/price", query)).get("price"))
        body = await self._request("GET", "/api/v3/ticker/price", shape=list)
        return {
            str(t["symbol"]): dec(t.get("price"))
            for t in body
            if isinstance(t, dict) and t.get("symbol")
        }

    @overload
    async def book_ticker(self, symbol: str) -> BookQuote: ...
    @overload
    async def book_ticker(self, symbol: None = None) -> dict[str, BookQuote]: ...

    async def book_ticker(self, symbol: str | None = None) -> BookQuote | dict[str, BookQuote]:
        """Best bid/ask of one symbol, or {symbol: quote} of all."""
        if symbol:
            query = encode_params([("symbol", symbol.upper())])
            body = await self._request("GET", "/api/v3/ticker/bookTicker", query)
            return BookQuote.from_json({"symbol": symbol.upper(), **body})
        body = await self._request("GET", "/api/v3/ticker/bookTicker", shape=list)
        quotes = (BookQuote.from_json(t) for t in body if isinstance(t, dict))
        return {q.symbol: q for q in quotes if q.symbol}

    async def depth_asks(self, symbol: str, limit: int = 100) -> list[tuple[Decimal, Decimal]]:
        """GET /api/v3/depth: the ask side, best (lowest) first, as (price, quantity)."""
        return sorted(await self._depth_side(symbol, "asks", limit))

    async def depth_bids(self, symbol: str, limit: int = 100) -> list[tuple[Decimal, Decimal]]:
        """GET /api/v3/depth: the bid side, best (highest) first, as (price, quantity)."""
        return sorted(await self._depth_side(symbol, "bids", limit), reverse=True)

    async def _depth_side(
        self, symbol: str, side: str, limit: int
    ) -> list[tuple[Decimal, Decimal]]:
        query = encode_params([("symbol", symbol.upper()), ("limit", limit)])
        body = await self._request("GET", "/api/v3/depth", query)
        levels = []
        for level in body.get(side) or []:
            if isinstance(level, list | tuple) and len(level) >= 2:
                levels.append((dec(level[0]), dec(level[1])))
        return levels

    async def open_evidence(self, symbol: str) -> tuple[int, str] | None:
        """When the symbol opened, by the exchange's own records (ms, and which record):
        the oldest of its recent trades when that list holds its whole history (fewer than
        the limit), else the open of its first 1m kline. None: no trade yet.
        Sources: GET /api/v3/trades (limit max 1000), GET /api/v3/klines (mexc-api.md 8:
        take the open time from trades or klines, not from metadata)."""
        query = encode_params([("symbol", symbol.upper()), ("limit", OPEN_EVIDENCE_TRADES)])
        trades = await self._request("GET", "/api/v3/trades", query, shape=list)
        times = [int(t["time"]) for t in trades if isinstance(t, dict) and t.get("time")]
        if times and len(trades) < OPEN_EVIDENCE_TRADES:
            return min(times), "first_trade"
        query = encode_params(
            [("symbol", symbol.upper()), ("interval", "1m"), ("startTime", 0), ("limit", 1)]
        )
        klines = await self._request("GET", "/api/v3/klines", query, shape=list)
        if klines and isinstance(klines[0], list) and klines[0]:
            return int(klines[0][0]), "first_kline"
        return (min(times), "first_trade") if times else None

    # --- signed ---------------------------------------------------------------------------

    async def place_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quote_order_qty: Decimal | None = None,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        client_order_id: str | None = None,
        recv_window: int | None = None,
        rules: SymbolRules | None = None,
    ) -> OrderAck:
        """POST /api/v3/order. MARKET BUY: ``quote_order_qty``; LIMIT: ``quantity`` + ``price``.

        With ``rules`` (``symbol_rules(symbol)``, fetched ahead), the amounts are first rounded
        to the symbol's precision (see ``SymbolRules``); BelowMinimumAmount, before anything is
        sent, when that leaves nothing or less than the symbol's minimum.
        Raises OrderOutcomeUnknown when the order may exist (look it up by client order id).
        """
        if rules is not None:
            quote_order_qty, quantity, price = _rounded(
                rules, side, type, quote_order_qty, quantity, price, client_order_id
            )
        params = _order_params(symbol, side, type, quote_order_qty, quantity, price)
        params.append(("newClientOrderId", client_order_id))
        body = await self._signed(
            "POST", "/api/v3/order", params, recv_window, placing=True, coid=client_order_id
        )
        return OrderAck.from_json(body, symbol=symbol.upper(), client_order_id=client_order_id)

    async def test_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quote_order_qty: Decimal | None = None,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        client_order_id: str | None = None,
        recv_window: int | None = None,
        rules: SymbolRules | None = None,
    ) -> None:
        """POST /api/v3/order/test: validated, never sent to the matching engine."""
        if rules is not None:
            quote_order_qty, quantity, price = _rounded(
                rules, side, type, quote_order_qty, quantity, price, client_order_id
            )
        params = _order_params(symbol, side, type, quote_order_qty, quantity, price)
        params.append(("newClientOrderId", client_order_id))
        await self._signed("POST", "/api/v3/order/test", params, recv_window)

    async def query_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        recv_window: int | None = None,
    ) -> Order:
        """GET /api/v3/order by ``orderId`` or ``origClientOrderId``; UnknownOrder if absent."""
        params = _id_params(symbol, order_id, client_order_id)
        return Order.from_json(await self._signed("GET", "/api/v3/order", params, recv_window))

    async def cancel_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        recv_window: int | None = None,
    ) -> Order:
        params = _id_params(symbol, order_id, client_order_id)
        return Order.from_json(await self._signed("DELETE", "/api/v3/order", params, recv_window))

    async def open_orders(self, symbol: str, recv_window: int | None = None) -> list[Order]:
        """GET /api/v3/openOrders: the symbol's orders still working (a witness of existence)."""
        body = await self._signed(
            "GET", "/api/v3/openOrders", [("symbol", symbol.upper())], recv_window, shape=list
        )
        return [Order.from_json(o) for o in body if isinstance(o, dict)]

    async def all_orders(
        self,
        symbol: str,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        limit: int | None = None,
        recv_window: int | None = None,
    ) -> list[Order]:
        """GET /api/v3/allOrders: the symbol's orders, open or done (MEXC: the last 24 h by
        default, 7 days at most; ``limit`` 1..1000, default 500). Each has ``client_order_id``."""
        if limit is not None and not 0 < int(limit) <= MAX_ALL_ORDERS_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_ALL_ORDERS_LIMIT}, got {limit}")
        params: list[tuple[str, object]] = [
            ("symbol", symbol.upper()),
            ("startTime", start_time_ms),
            ("endTime", end_time_ms),
            ("limit", limit),
        ]
        body = await self._signed("GET", "/api/v3/allOrders", params, recv_window, shape=list)
        return [Order.from_json(o) for o in body if isinstance(o, dict)]

    async def account(self) -> Account:
        """GET /api/v3/account: ``balances`` is ``{asset: Balance(asset, free, locked)}``."""
        return Account.from_json(await self._signed("GET", "/api/v3/account", []))

    # --- user data stream (listen keys) ---------------------------------------------------

    async def create_listen_key(self) -> str:
        """POST /api/v3/userDataStream: a listenKey for the private WebSocket (valid 60 min;
        ``keepalive_listen_key`` extends it by 60 min)."""
        body = await self._signed("POST", "/api/v3/userDataStream", [])
        return _listen_key(body)

    async def keepalive_listen_key(self, listen_key: str) -> None:
        """PUT /api/v3/userDataStream: extend the key by 60 minutes."""
        await self._signed("PUT", "/api/v3/userDataStream", [("listenKey", listen_key)])

    async def close_listen_key(self, listen_key: str) -> None:
        """DELETE /api/v3/userDataStream: close the key (its connections end)."""
        await self._signed("DELETE", "/api/v3/userDataStream", [("listenKey", listen_key)])

    async def _signed(
        self,
        method: str,
        path: str,
        params: list[tuple[str, object]],
        recv_window: int | None = None,
        *,
        placing: bool = False,
        coid: str | None = None,
        shape: type = dict,
    ) -> Any:
        if not self._api_key or not self._secret:
            raise InvalidApiKey("API key and secret are required for signed endpoints.")
        if not self._key_header:
            raise InvalidApiKey("The API key holds characters that cannot go in a header.")
        window = _check_recv_window(recv_window) if recv_window else self.recv_window_ms
        await self._fresh_clock()
        for attempt in (1, 2):
            generation = self._sync_generation
            stamped = [*params, ("recvWindow", window), ("timestamp", self.server_time_ms())]
            query = signed_query(self._secret, stamped)
            try:
                return await self._request(
                    method, path, query, signed=True, placing=placing, coid=coid, shape=shape
                )
            except TimestampOutsideWindow:
                if attempt == 2:
                    raise
                log.warning("mexc.clock_resync", extra={"path": path, "offset_ms": self.offset_ms})
                await self._sync(unless_after=generation)  # once, however many were refused
        raise AssertionError("unreachable")

    # --- transport ------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, query: str = "", *, shape: type = dict, **how: Any
    ) -> Any:
        """One request; the answer must be JSON of ``shape`` (dict or list).

        `how`: `_exchange`'s options (signed, placing, coid)."""
        response = await self._exchange(method, path, query, **how)
        placing, coid = how.get("placing", False), how.get("coid")
        return self._body(response, method, path, placing=placing, coid=coid, shape=shape)

    async def _exchange(
        self,
        method: str,
        path: str,
        query: str = "",
        *,
        signed: bool = False,
        placing: bool = False,
        coid: str | None = None,
    ) -> HttpResponse:
        """Send one request and return its answer, whatever the status."""
        # Charged before it leaves: refused here (nothing sent) over the budget or while
        # backing off after a 429/418.
        self.weight_budget.charge(method, path, query, signed=signed, coid=coid)
        target = f"{path}?{query}" if query else path
        headers = self._key_header if signed else b""
        started = time.perf_counter_ns()
        try:
            response = await self._http.request(method, target, headers=headers)
        except NotSent as exc:  # nothing left the process: safe to resend, even an order
            log.warning("mexc.unreachable", extra={"path": path, "error": exc.kind})
            raise ExchangeUnavailable(
                f"{method} {path}: {exc.kind}", client_order_id=coid
            ) from None
        except MaybeSent as exc:  # timeout or broken connection after sending
            log.warning("mexc.transport_error", extra={"path": path, "error": exc.kind})
            kind = OrderOutcomeUnknown if placing else ExchangeUnavailable
            raise kind(f"{method} {path}: {exc.kind}", client_order_id=coid) from None
        status = response.status_code
        log.debug(
            "mexc.request",
            extra={
                "method": method,
                "path": path,
                "status": status,
                "elapsed_ms": round((time.perf_counter_ns() - started) / 1e6, 3),
            },
        )
        return response

    def _body(
        self,
        response: HttpResponse,
        method: str,
        path: str,
        *,
        placing: bool = False,
        coid: str | None = None,
        shape: type = dict,
    ) -> Any:
        """The answer's JSON of ``shape``; an error status or error envelope raises."""
        status = response.status_code
        try:
            body = json.loads(response.content) if response.content else {}
        except ValueError:
            body = {"msg": response.text[:200]}
        if status >= 400 or _is_error_body(body):
            error = error_from_response(
                status, body, response.headers, placing_order=placing, client_order_id=coid
            )
            if isinstance(error, RateLimited | IpBanned):
                self.weight_budget.back_off(error)  # nothing more goes out until Retry-After
            log.info(
                "mexc.error",
                extra={
                    "path": path,
                    "status": status,
                    "code": error.code,
                    "kind": type(error).__name__,
                },
            )
            raise error
        if not isinstance(body, shape):
            raise MexcApiError(
                f"{method} {path}: expected a JSON {shape.__name__}", http_status=status
            )
        return body


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a shared future's error as seen: every caller may have left before it came."""
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None):
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _key_header(api_key: str | None) -> bytes:
    """``X-MEXC-APIKEY: <key>\\r\\n``, encoded once; empty when there is no usable key (none, or
    one with characters a header cannot carry, which would let it inject header lines)."""
    if not api_key or not api_key.isascii() or not api_key.isprintable():
        return b""
    return f"X-MEXC-APIKEY: {api_key}\r\n".encode("ascii")


def _check_recv_window(value: int) -> int:
    if not 0 < int(value) <= MAX_RECV_WINDOW_MS:
        raise ValueError(
            f"recv_window_ms must be 1..{MAX_RECV_WINDOW_MS} ms (our cap; MEXC allows up to "
            f"{EXCHANGE_MAX_RECV_WINDOW_MS}), got {value}"
        )
    return int(value)


#: Keys an error envelope may carry: MEXC adds ``"_extend": null`` at times (ccxt #21614).
_ERROR_KEYS = frozenset({"code", "msg", "data", "_extend"})


def _is_error_body(body: Any) -> bool:
    """A 2xx answer that is really an error envelope ({"code": 700003, "msg": ...})."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), int)
        and body["code"] not in (0, 200)
        and set(body) <= _ERROR_KEYS
    )


def _listen_key(body: dict[str, Any]) -> str:
    key = body.get("listenKey")
    if not isinstance(key, str) or not key:
        raise MexcApiError("userDataStream: no listenKey in the answer")
    return key


def _rounded(
    rules: SymbolRules,
    side: str,
    type: str,
    quote_order_qty: Decimal | None,
    quantity: Decimal | None,
    price: Decimal | None,
    coid: str | None,
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """The amounts rounded to the symbol's precision; BelowMinimumAmount (nothing was sent)
    when one is left at zero or under the symbol's minimum."""

    def short(what: str, value: Decimal, minimum: Decimal) -> BelowMinimumAmount:
        return BelowMinimumAmount(
            f"{rules.symbol}: {what} {value} after rounding is below the minimum {minimum}",
            client_order_id=coid,
        )

    if quote_order_qty is not None:
        quote_order_qty = rules.round_quote(quote_order_qty)
        minimum = rules.min_quote_market if type.upper() == "MARKET" else rules.min_quote
        if quote_order_qty <= 0 or quote_order_qty < minimum:
            raise short("quoteOrderQty", quote_order_qty, minimum)
    if quantity is not None:
        quantity = rules.round_quantity(quantity)
        if quantity <= 0 or quantity < rules.min_qty:
            raise short("quantity", quantity, rules.min_qty)
    if price is not None:
        price = rules.round_price(price, side)
        if price <= 0:
            raise short("price", price, Decimal(0))
    return quote_order_qty, quantity, price


def _order_params(
    symbol: str,
    side: str,
    type: str,
    quote_order_qty: Decimal | None,
    quantity: Decimal | None,
    price: Decimal | None,
) -> list[tuple[str, object]]:
    side, type = side.upper(), type.upper()
    if side not in ORDER_SIDES:
        raise ValueError(f"side must be one of {ORDER_SIDES}, got {side!r}")
    if type not in ORDER_TYPES:
        raise ValueError(f"type must be one of {ORDER_TYPES}, got {type!r}")
    if type == "MARKET" and quantity is None and quote_order_qty is None:
        raise ValueError("a MARKET order needs quantity or quote_order_qty")
    if type != "MARKET" and (quantity is None or price is None):
        raise ValueError(f"a {type} order needs quantity and price")
    return [
        ("symbol", symbol.upper()),
        ("side", side),
        ("type", type),
        ("quantity", quantity),
        ("quoteOrderQty", quote_order_qty),
        ("price", price),
    ]


def _id_params(
    symbol: str, order_id: str | None, client_order_id: str | None
) -> list[tuple[str, object]]:
    if not order_id and not client_order_id:
        raise ValueError("order_id or client_order_id is required")
    return [
        ("symbol", symbol.upper()),
        ("orderId", order_id or None),
        ("origClientOrderId", client_order_id or None),
    ]


class _RedactSignatures(logging.Filter):
    """httpx logs every request URL at INFO; signed URLs carry the signature. Scrub it.

    Our own transport (mexc.http) logs no URLs; httpx is not on the client's path any more,
    but raw signed requests through httpx (tests, tools) still get scrubbed."""

    _pattern = re.compile(r"(signature=)[0-9a-fA-F]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("signature=" in str(a) for a in record.args):
            record.args = tuple(
                self._pattern.sub(r"\1<redacted>", str(a)) if "signature=" in str(a) else a
                for a in record.args
            )
        return True


def _install_redaction() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactSignatures) for f in logger.filters):
        logger.addFilter(_RedactSignatures())


_install_redaction()
