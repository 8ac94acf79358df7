"""REST: ``/api/v3/...`` (mexc-api.md §2) and the website calendar, plus the middlewares.

Middleware order (outermost first): arrival stamp -> errors -> order log -> faults -> rate
limit -> handler.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation

from aiohttp import web

from .auth import check_signed, parse_params, strip_signature
from .errors import ApiError, invalid_symbol, missing_param
from .faults import Fault
from .host import RestHost
from .market import fmt, unit
from .models import Order, OrderRequest, Symbol

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ORDER_PATH = "/api/v3/order"
USER_STREAM_PATH = "/api/v3/userDataStream"
CALENDAR_PATH = "/api/operation/new_coin_calendar"
# IP weights (mexc-api.md §2, §4); (weight with symbol, weight without) where they differ.
IP_WEIGHTS: dict[tuple[str, str], int | tuple[int, int]] = {
    ("GET", "/api/v3/exchangeInfo"): 10,
    ("GET", "/api/v3/ticker/24hr"): (1, 40),
    ("GET", "/api/v3/ticker/price"): (1, 2),
    ("GET", "/api/v3/order"): 2,
    ("GET", "/api/v3/openOrders"): 3,
    ("GET", "/api/v3/allOrders"): 10,
    ("GET", "/api/v3/account"): 10,
    ("GET", "/api/v3/trades"): 5,
}
KLINE_INTERVALS_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "60m": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
WAF_HTML = (
    "<html><head><title>403 Forbidden</title></head><body><h1>Access Denied</h1>"
    "<p>You don't have permission to access this resource. (simulated WAF block)</p>"
    "</body></html>"
)
UID_WEIGHTS = {("POST", ORDER_PATH): 1, ("DELETE", ORDER_PATH): 1}
ORDER_KEY = web.RequestKey("order", Order)  # the order a request created (order log)
FAULT_KEY = web.RequestKey("fault", str)  # the injected fault kind that hit a request
ARRIVAL_KEY = web.RequestKey("arrival_us", int)  # exchange clock (us) as the request arrived


def dumps(body: object) -> str:
    return json.dumps(body, separators=(",", ":"))


def ok(body: object) -> web.Response:
    return web.json_response(body, dumps=dumps)


def raw_query(request: web.Request) -> str:
    """The query string exactly as sent (aiohttp keeps the raw request target)."""
    return request.raw_path.partition("?")[2].partition("#")[0]


async def raw_body(request: web.Request) -> str:
    if not request.body_exists:
        return ""
    return (await request.read()).decode("utf-8", "surrogateescape")


def decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise missing_param(name) from None
    if not result.is_finite():
        raise missing_param(name)
    return result


class RestApi:
    def __init__(self, sim: RestHost) -> None:
        self.sim = sim

    @property
    def exchange(self):
        return self.sim.exchange

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v3/ping", self.ping),
            web.get("/api/v3/time", self.time),
            web.get("/api/v3/defaultSymbols", self.default_symbols),
            web.get("/api/v3/exchangeInfo", self.exchange_info),
            web.get("/api/v3/ticker/price", self.ticker_price),
            web.get("/api/v3/ticker/bookTicker", self.book_ticker),
            web.get("/api/v3/ticker/24hr", self.ticker_24hr),
            web.get("/api/v3/depth", self.depth),
            web.post(ORDER_PATH, self.new_order),
            web.post("/api/v3/order/test", self.test_order),
            web.get(ORDER_PATH, self.query_order),
            web.delete(ORDER_PATH, self.cancel_order),
            web.get("/api/v3/openOrders", self.open_orders),
            web.delete("/api/v3/openOrders", self.cancel_open_orders),
            web.get("/api/v3/allOrders", self.all_orders),
            web.get("/api/v3/account", self.account),
            web.get("/api/v3/selfSymbols", self.self_symbols),
            web.get("/api/v3/klines", self.klines),
            web.get("/api/v3/trades", self.trades),
            web.post(USER_STREAM_PATH, self.create_listen_key),
            web.get(USER_STREAM_PATH, self.list_listen_keys),
            web.put(USER_STREAM_PATH, self.keep_listen_key),
            web.delete(USER_STREAM_PATH, self.close_listen_key),
            web.get(CALENDAR_PATH, self.calendar),
        ]

    # -- middlewares --------------------------------------------------------------------------
    def middlewares(self) -> list:
        return [self.stamp_mw, self.error_mw, self.order_log_mw, self.fault_mw, self.rate_limit_mw]

    @web.middleware
    async def stamp_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The arrival time, first thing (benchmarks measure "open -> order received")."""
        request[ARRIVAL_KEY] = self.sim.clock.now_us()
        return await handler(request)

    @web.middleware
    async def error_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return web.json_response(
                exc.body(), status=exc.status, headers=exc.headers, dumps=dumps
            )
        except web.HTTPNotFound:
            return web.json_response({"code": 404, "msg": "Not Found"}, status=404)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"code": 405, "msg": "Method Not Allowed"}, status=405)

    @web.middleware
    async def order_log_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path != ORDER_PATH:
            return await handler(request)
        query, _ = strip_signature(raw_query(request))
        body, _ = strip_signature(await raw_body(request))
        params = parse_params(query, body)
        arrival_us = request[ARRIVAL_KEY]
        entry = OrderRequest(
            received_at_ms=arrival_us // 1000,
            received_at_us=arrival_us,
            symbol=params.get("symbol"),
            side=params.get("side"),
            type=params.get("type"),
            quantity=params.get("quantity"),
            quote_order_qty=params.get("quoteOrderQty"),
            price=params.get("price"),
            client_order_id=params.get("newClientOrderId"),
        )
        self.exchange.order_requests.append(entry)
        try:
            response = await handler(request)
        except ApiError as exc:
            entry.order = request.get(ORDER_KEY)
            if entry.order is None:
                entry.error_code, entry.error_msg = exc.code, exc.msg
            entry.http_status = exc.status
            entry.fault = request.get(FAULT_KEY)
            raise
        entry.order = request.get(ORDER_KEY)
        entry.http_status = response.status
        entry.fault = request.get(FAULT_KEY)
        return response

    @web.middleware
    async def fault_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim") or request.path == "/ws":
            return await handler(request)
        latency, outcome = self.sim.faults.take(request.method, request.path)
        if outcome is not None:
            request[FAULT_KEY] = outcome.kind
        delay_before = sum(f.ms for f in latency if f.effect == "before")
        delay_after = sum(f.ms for f in latency if f.effect == "after")
        if delay_before:
            await self.sim.sleep(delay_before / 1000)
        if outcome is not None and outcome.effect == "before":
            if outcome.kind == "timeout":
                await self.sim.sleep(outcome.ms / 1000)
                raise ApiError(504, "Gateway Timeout", status=504)
            if outcome.kind == "waf_403":
                return self._waf_response()
            raise self._fault_error(outcome)
        error: ApiError | None = None
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
        except ApiError as exc:
            error = exc
        if outcome is not None:  # effect "after": processed, then the client is let down
            if outcome.kind == "timeout":
                await self.sim.sleep(outcome.ms / 1000)
            elif outcome.kind == "waf_403":
                return self._waf_response()
            else:
                raise self._fault_error(outcome)
        if delay_after:
            await self.sim.sleep(delay_after / 1000)
        if error is not None:
            raise error
        assert response is not None
        return response

    @staticmethod
    def _waf_response() -> web.Response:
        """A WAF block (mexc-api.md section 3: HTTP 403): HTML, not MEXC's JSON error body."""
        return web.Response(status=403, text=WAF_HTML, content_type="text/html")

    @staticmethod
    def _fault_error(fault: Fault) -> ApiError:
        if fault.kind == "http_429":
            retry = max(1, math.ceil(fault.ms / 1000))
            return ApiError(
                429, "Too Many Requests", status=429, headers={"Retry-After": str(retry)}
            )
        text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return ApiError(fault.status, text.get(fault.status, "Server Error"), status=fault.status)

    @web.middleware
    async def rate_limit_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/api/v3/"):
            key = (request.method, path)
            weight = IP_WEIGHTS.get(key, 1)
            if isinstance(weight, tuple):
                weight = weight[0] if request.query.get("symbol") else weight[1]
            uid_weight = UID_WEIGHTS.get(key, 0)
            uid = None
            if uid_weight and request.headers.get("X-MEXC-APIKEY") == self.sim.config.api_key:
                uid = "1"
            self.sim.ratelimiter.check(request.remote or "?", weight, uid, uid_weight)
        return await handler(request)

    # -- public -------------------------------------------------------------------------------
    async def ping(self, request: web.Request) -> web.Response:
        return ok({})

    async def time(self, request: web.Request) -> web.Response:
        return ok({"serverTime": self.sim.clock.now_ms()})

    def _api_symbols(self) -> list[str]:
        now = self.sim.clock.now_ms()
        return [s.symbol for s in self.exchange.listed() if s.api_enabled(now)]

    async def default_symbols(self, request: web.Request) -> web.Response:
        return ok({"code": 200, "data": self._api_symbols(), "msg": None})

    def _symbol_info(self, sym: Symbol, now: int) -> dict:
        cfg = self.sim.config
        market = sym.market
        min_quote = fmt(cfg.min_quote_amount)
        return {
            "symbol": sym.symbol,
            "status": "1" if sym.is_open(now) else "2",
            "baseAsset": sym.base,
            "baseAssetPrecision": market.qty_scale,
            "quoteAsset": sym.quote,
            "quotePrecision": market.price_scale,
            "quoteAssetPrecision": market.price_scale,
            "baseCommissionPrecision": market.qty_scale,
            "quoteCommissionPrecision": market.price_scale,
            "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
            "isSpotTradingAllowed": sym.api_enabled(now),
            "isMarginTradingAllowed": False,
            "quoteAmountPrecision": min_quote,
            "baseSizePrecision": fmt(unit(market.qty_scale)),
            "permissions": ["SPOT"],
            "filters": [],
            "maxQuoteAmount": "2000000",
            "makerCommission": fmt(cfg.maker_commission),
            "takerCommission": fmt(cfg.taker_commission),
            "quoteAmountPrecisionMarket": min_quote,
            "maxQuoteAmountMarket": fmt(cfg.max_quote_amount_market),
            "fullName": sym.full_name,
            "tradeSideType": sym.trade_side_type,
            "quoteOrderQtyMarketAllowed": True,
        }

    async def exchange_info(self, request: web.Request) -> web.Response:
        now = self.sim.clock.now_ms()
        pre_open = self.sim.config.exchange_info_pre_open
        visible = {s.symbol: s for s in self.exchange.listed() if pre_open or s.is_open(now)}
        wanted: list[str] | None = None
        if request.query.get("symbol"):
            wanted = [request.query["symbol"].upper()]
        elif request.query.get("symbols"):
            wanted = [s.strip().upper() for s in request.query["symbols"].split(",") if s.strip()]
        if wanted is not None:
            chosen = [visible[s] for s in wanted if s in visible]
            strict = self.sim.config.exchange_info_batch_strict
            if not chosen or (strict and len(chosen) < len(set(wanted))):
                raise invalid_symbol()
        else:
            chosen = list(visible.values())
        return ok(
            {
                "timezone": "CST",
                "serverTime": now,
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": [self._symbol_info(s, now) for s in chosen],
            }
        )

    def _one_or_all(self, request: web.Request, render: Callable[[Symbol], dict]) -> web.Response:
        symbol = request.query.get("symbol")
        if symbol:
            return ok(render(self.exchange.market_symbol(symbol)))
        return ok([render(s) for s in self.exchange.open_symbols()])

    async def ticker_price(self, request: web.Request) -> web.Response:
        return self._one_or_all(
            request, lambda s: {"symbol": s.symbol, "price": fmt(s.market.last_price)}
        )

    @staticmethod
    def _book_top(sym: Symbol) -> dict:
        bid, ask = sym.market.best_bid(), sym.market.best_ask()
        return {
            "symbol": sym.symbol,
            "bidPrice": fmt(bid.price) if bid else "0",
            "bidQty": fmt(bid.qty) if bid else "0",
            "askPrice": fmt(ask.price) if ask else "0",
            "askQty": fmt(ask.qty) if ask else "0",
        }

    async def book_ticker(self, request: web.Request) -> web.Response:
        return self._one_or_all(request, self._book_top)

    def _ticker_24hr(self, sym: Symbol) -> dict:
        market = sym.market
        now = self.sim.clock.now_ms()
        last = market.last_price or Decimal(0)
        open_price = market.open_price or Decimal(0)
        change = last - open_price
        top = self._book_top(sym)
        return {
            "symbol": sym.symbol,
            "priceChange": fmt(change),
            "priceChangePercent": fmt(market.change_rate()),
            "prevClosePrice": fmt(open_price),
            "lastPrice": fmt(last),
            "bidPrice": top["bidPrice"],
            "bidQty": top["bidQty"],
            "askPrice": top["askPrice"],
            "askQty": top["askQty"],
            "openPrice": fmt(open_price),
            "highPrice": fmt(market.high),
            "lowPrice": fmt(market.low),
            "volume": fmt(market.volume),
            "quoteVolume": fmt(market.quote_volume.quantize(market.tick)),
            "openTime": max(sym.open_at_ms, now - 86_400_000),
            "closeTime": now,
            "count": market.count,
        }

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        return self._one_or_all(request, self._ticker_24hr)

    async def depth(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        if not symbol:
            raise missing_param("symbol")
        try:
            limit = min(max(int(request.query.get("limit", 100)), 1), 5000)
        except ValueError:
            raise missing_param("limit") from None
        market = self.exchange.market_symbol(symbol).market
        return ok(
            {
                "lastUpdateId": market.version,
                "bids": [[fmt(lv.price), fmt(lv.qty)] for lv in market.bids[:limit]],
                "asks": [[fmt(lv.price), fmt(lv.qty)] for lv in market.asks[:limit]],
            }
        )

    @staticmethod
    def _limit(request: web.Request, default: int = 500, most: int = 1000) -> int:
        try:
            return min(max(int(request.query.get("limit", default)), 1), most)
        except ValueError:
            raise missing_param("limit") from None

    async def klines(self, request: web.Request) -> web.Response:
        """1m bars from the symbol's trades (minutes without a trade are absent)."""
        query = request.query
        if not query.get("symbol"):
            raise missing_param("symbol")
        span = KLINE_INTERVALS_MS.get(query.get("interval", ""))
        if span is None:
            raise missing_param("interval")
        try:
            start = int(query["startTime"]) if query.get("startTime") else None
            end = int(query["endTime"]) if query.get("endTime") else None
        except ValueError:
            raise missing_param("startTime") from None
        limit = self._limit(request)
        market = self.exchange.market_symbol(query["symbol"]).market
        bars: dict[int, list[Decimal]] = {}
        for minute in sorted(market.klines):
            o, h, low, c, vol, qvol = market.klines[minute]
            at = minute - minute % span
            bar = bars.get(at)
            if bar is None:
                bars[at] = [o, h, low, c, vol, qvol]
            else:
                bar[1], bar[2], bar[3] = max(bar[1], h), min(bar[2], low), c
                bar[4] += vol
                bar[5] += qvol
        chosen = [
            at for at in bars if (start is None or at >= start) and (end is None or at <= end)
        ]
        chosen = chosen[:limit] if start is not None else chosen[-limit:]
        return ok(
            [
                [
                    at,
                    *(fmt(v) for v in bars[at][:4]),
                    fmt(bars[at][4]),
                    at + span,
                    fmt(bars[at][5].quantize(market.tick)),
                ]
                for at in chosen
            ]
        )

    async def trades(self, request: web.Request) -> web.Response:
        """Recent trades, oldest first; ``id`` is null as in MEXC's doc example."""
        if not request.query.get("symbol"):
            raise missing_param("symbol")
        limit = self._limit(request)
        market = self.exchange.market_symbol(request.query["symbol"]).market
        recent = list(market.trades)[-limit:]
        return ok(
            [
                {
                    "id": None,
                    "price": fmt(t.price),
                    "qty": fmt(t.qty),
                    "quoteQty": fmt(t.price * t.qty),
                    "time": t.time_ms,
                    "isBuyerMaker": t.side == 2,  # the taker sold
                    "isBestMatch": True,
                }
                for t in recent
            ]
        )

    async def calendar(self, request: web.Request) -> web.Response:
        return ok({"data": {"newCoins": self.exchange.calendar()}})

    # -- signed -------------------------------------------------------------------------------
    async def _signed(self, request: web.Request) -> dict[str, str]:
        cfg = self.sim.config
        return check_signed(
            api_key=request.headers.get("X-MEXC-APIKEY"),
            expected_key=cfg.api_key,
            secret=cfg.secret_key,
            raw_query=raw_query(request),
            raw_body=await raw_body(request),
            server_ms=self.sim.clock.now_ms(),
        )

    def _place(self, params: dict[str, str], *, test: bool) -> Order | None:
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise missing_param(name)
        return self.exchange.place_order(
            symbol=params["symbol"],
            side=params["side"].upper(),
            type_=params["type"].upper(),
            quantity=decimal_param(params, "quantity"),
            quote_qty=decimal_param(params, "quoteOrderQty"),
            price=decimal_param(params, "price"),
            client_order_id=params.get("newClientOrderId") or None,
            test=test,
        )

    async def new_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        order = self._place(params, test=False)
        assert order is not None
        lag_ms = self.sim.faults.take_lookup_lag() or self.sim.config.lookup_lag_ms
        if lag_ms:
            order.visible_at_ms = order.time_ms + lag_ms
        request[ORDER_KEY] = order
        return ok(order.ack())

    async def test_order(self, request: web.Request) -> web.Response:
        self._place(await self._signed(request), test=True)
        return ok({})

    @staticmethod
    def _ids(params: dict[str, str]) -> tuple[str | None, str | None]:
        return params.get("orderId") or None, params.get("origClientOrderId") or None

    async def query_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        order = self.exchange.find_order(
            params.get("symbol"), *self._ids(params), visible_only=True
        )
        return ok(order.query())

    async def cancel_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if not params.get("symbol"):
            raise missing_param("symbol")
        order = self.exchange.cancel_order(params["symbol"], *self._ids(params), visible_only=True)
        return ok(order.cancel_body())

    async def open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        orders = self.exchange.open_orders(params.get("symbol") or None, visible_only=True)
        return ok([o.query() for o in orders])

    async def cancel_open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        symbols = [s for s in (params.get("symbol") or "").upper().split(",") if s]
        if not symbols:
            raise missing_param("symbol")
        canceled = []
        for symbol in symbols[:5]:
            for order in self.exchange.open_orders(symbol):
                canceled.append(self.exchange.cancel_order(symbol, order.order_id, None))
        return ok([o.cancel_body() for o in canceled])

    async def all_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if not params.get("symbol"):
            raise missing_param("symbol")
        orders = self.exchange.all_orders(params["symbol"], visible_only=True)
        return ok([o.query() for o in orders])

    async def account(self, request: web.Request) -> web.Response:
        await self._signed(request)
        balances = [
            {"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
            for asset, b in sorted(self.exchange.balances.items())
            if b.free or b.locked
        ]
        return ok(
            {
                "makerCommission": None,
                "takerCommission": None,
                "buyerCommission": None,
                "sellerCommission": None,
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "updateTime": None,
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
            }
        )

    # -- user data stream (DOC-EN "Websocket User Data Streams") -----------------------------
    async def create_listen_key(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return ok({"listenKey": self.sim.listen_keys.create()})

    async def list_listen_keys(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return ok({"listenKey": self.sim.listen_keys.valid()})

    async def keep_listen_key(self, request: web.Request) -> web.Response:
        key = self._listen_key(await self._signed(request))
        self.sim.listen_keys.keep_alive(key)
        return ok({"listenKey": key})

    async def close_listen_key(self, request: web.Request) -> web.Response:
        key = self._listen_key(await self._signed(request))
        self.sim.listen_keys.close(key)
        self.sim.hub.close_listen_key(key)
        return ok({"listenKey": key})

    @staticmethod
    def _listen_key(params: dict[str, str]) -> str:
        key = params.get("listenKey")
        if not key:
            raise missing_param("listenKey")
        return key

    async def self_symbols(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return ok({"code": 200, "data": self._api_symbols(), "msg": None})
