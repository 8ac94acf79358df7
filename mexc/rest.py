"""Async MEXC Spot V3 REST client on one kept-alive httpx connection pool.

Signed requests are stamped with the local clock corrected by the measured server offset, so
they land inside recvWindow; the offset is re-measured periodically and after a 700003.
Order placement that times out or gets a 5xx raises OrderOutcomeUnknown: the order may exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from .errors import (
    ExchangeUnavailable,
    InvalidApiKey,
    MexcError,
    OrderOutcomeUnknown,
    TimestampOutsideWindow,
    error_from_response,
)
from .signing import encode_params, signed_query
from .types import BookTicker, ExchangeInfo, Order, OrderAck, SymbolInfo, dec, order_from

log = logging.getLogger(__name__)
MAX_RECV_WINDOW_MS = 60_000


class MexcRestClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 2.0,
        recv_window_ms: int = 1000,
        time_sync_interval_s: float = 300.0,
        clock_ms: Callable[[], int] | None = None,
        max_connections: int = 20,
    ) -> None:
        if recv_window_ms > MAX_RECV_WINDOW_MS or recv_window_ms < 1:
            raise ValueError(
                f"recv_window_ms must be 1..{MAX_RECV_WINDOW_MS}, got {recv_window_ms}"
            )
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._secret = secret_key
        self.recv_window_ms = recv_window_ms
        self.time_sync_interval_s = time_sync_interval_s
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.offset_ms = 0
        self._synced_at: float | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"Content-Type": "application/json"},
        )

    def __repr__(self) -> str:  # never show keys
        return f"MexcRestClient({self.base_url!r}, keys={'yes' if self._api_key else 'no'})"

    async def __aenter__(self) -> MexcRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- time ---------------------------------------------------------------------------

    def server_time_ms(self) -> int:
        """The exchange's clock as we estimate it now."""
        return self._clock_ms() + self.offset_ms

    async def sync_time(self, samples: int = 3) -> int:
        """Measure the server offset: the sample with the shortest round trip wins."""
        best: tuple[int, int] | None = None
        for _ in range(samples):
            sent = self._clock_ms()
            body = await self._send("GET", "/api/v3/time")
            received = self._clock_ms()
            rtt = received - sent
            offset = int(body["serverTime"]) - (sent + rtt // 2)
            if best is None or rtt < best[0]:
                best = (rtt, offset)
        assert best is not None
        self.offset_ms = best[1]
        self._synced_at = time.monotonic()
        log.info("mexc.time_synced", extra={"offset_ms": self.offset_ms, "rtt_ms": best[0]})
        return self.offset_ms

    async def _ensure_synced(self) -> None:
        if (
            self._synced_at is None
            or time.monotonic() - self._synced_at > self.time_sync_interval_s
        ):
            await self.sync_time()

    async def warm(self) -> None:
        """Open the connection and sync the clock so the first order pays no handshake."""
        await self.sync_time()

    # --- public -------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._send("GET", "/api/v3/ping")

    async def server_time(self) -> int:
        return int((await self._send("GET", "/api/v3/time"))["serverTime"])

    async def exchange_info(self, symbols: list[str] | None = None) -> ExchangeInfo:
        params = [("symbols", ",".join(symbols))] if symbols else []
        body = await self._send("GET", "/api/v3/exchangeInfo", params)
        parsed = []
        for item in body.get("symbols") or []:
            if not isinstance(item, dict) or not item.get("symbol"):
                continue  # partial data: skip what we cannot read
            parsed.append(
                SymbolInfo(
                    symbol=str(item["symbol"]).upper(),
                    status=str(item.get("status", "")),
                    base_asset=str(item.get("baseAsset", "")),
                    quote_asset=str(item.get("quoteAsset", "")),
                    spot_allowed=bool(item.get("isSpotTradingAllowed", True)),
                    raw=item,
                )
            )
        return ExchangeInfo(server_time=int(body.get("serverTime") or 0), symbols=parsed)

    async def default_symbols(self) -> list[str]:
        body = await self._send("GET", "/api/v3/defaultSymbols")
        return [str(s).upper() for s in body.get("data") or [] if isinstance(s, str)]

    async def ticker_price(self, symbol: str) -> Decimal:
        body = await self._send("GET", "/api/v3/ticker/price", [("symbol", symbol)])
        return dec(body.get("price"))

    async def book_ticker(self, symbol: str) -> BookTicker:
        b = await self._send("GET", "/api/v3/ticker/bookTicker", [("symbol", symbol)])
        return BookTicker(
            symbol=str(b.get("symbol", symbol)),
            bid_price=dec(b.get("bidPrice")),
            bid_qty=dec(b.get("bidQty")),
            ask_price=dec(b.get("askPrice")),
            ask_qty=dec(b.get("askQty")),
        )

    # --- signed -------------------------------------------------------------------------

    async def place_order(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        quote_order_qty: Decimal | None = None,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        client_order_id: str | None = None,
        recv_window: int | None = None,
        test: bool = False,
    ) -> OrderAck:
        params: list[tuple[str, object]] = [
            ("symbol", symbol),
            ("side", side),
            ("type", type),
            ("quantity", quantity),
            ("quoteOrderQty", quote_order_qty),
            ("price", price),
            ("newClientOrderId", client_order_id),
        ]
        path = "/api/v3/order/test" if test else "/api/v3/order"
        body = await self._signed(
            "POST",
            path,
            params,
            recv_window,
            placing_order=not test,
            client_order_id=client_order_id,
        )
        return OrderAck(
            symbol=str(body.get("symbol", symbol)),
            order_id=str(body.get("orderId", "")),
            client_order_id=body.get("clientOrderId") or client_order_id,
            transact_time=body.get("transactTime"),
            raw=body,
        )

    async def test_order(self, **kwargs: Any) -> None:
        await self.place_order(test=True, **kwargs)

    async def query_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        params = [("symbol", symbol), ("orderId", order_id), ("origClientOrderId", client_order_id)]
        return order_from(await self._signed("GET", "/api/v3/order", params))

    async def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        params = [("symbol", symbol), ("orderId", order_id), ("origClientOrderId", client_order_id)]
        return order_from(await self._signed("DELETE", "/api/v3/order", params))

    async def open_orders(self, symbol: str) -> list[Order]:
        body = await self._signed("GET", "/api/v3/openOrders", [("symbol", symbol)])
        return [order_from(o) for o in body if isinstance(o, dict)]

    async def account(self) -> dict[str, Any]:
        return await self._signed("GET", "/api/v3/account", [])

    async def _signed(
        self,
        method: str,
        path: str,
        params: list[tuple[str, object]],
        recv_window: int | None = None,
        *,
        placing_order: bool = False,
        client_order_id: str | None = None,
    ) -> Any:
        if not self._api_key or not self._secret:
            raise InvalidApiKey("MEXC API key and secret are required for this request.")
        await self._ensure_synced()
        window = recv_window or self.recv_window_ms
        for attempt in (1, 2):
            stamped = [*params, ("recvWindow", window), ("timestamp", self.server_time_ms())]
            query = signed_query(self._secret, stamped)
            try:
                return await self._send(
                    method,
                    path,
                    query=query,
                    signed=True,
                    placing_order=placing_order,
                    client_order_id=client_order_id,
                )
            except TimestampOutsideWindow:
                if attempt == 2:
                    raise
                log.warning("mexc.clock_resync", extra={"path": path})
                await self.sync_time()  # rejected outright, so resending is safe
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        params: list[tuple[str, object]] | None = None,
        *,
        query: str | None = None,
        signed: bool = False,
        placing_order: bool = False,
        client_order_id: str | None = None,
    ) -> Any:
        if query is None:
            query = encode_params(params or [])
        url = f"{path}?{query}" if query else path
        headers = {"X-MEXC-APIKEY": self._api_key} if signed and self._api_key else None
        try:
            response = await self._http.request(method, url, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ExchangeUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:  # timeout or broken read after sending
            if placing_order:
                raise OrderOutcomeUnknown(
                    f"{method} {path}: {type(exc).__name__}", client_order_id=client_order_id
                ) from None
            raise ExchangeUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {"msg": response.text[:200]}
        if response.status_code >= 400 or (
            isinstance(body, dict)
            and isinstance(body.get("code"), int)
            and body["code"] not in (0, 200)
            and "msg" in body
            and len(body) <= 3
        ):
            raise error_from_response(
                response.status_code,
                body,
                response.headers,
                placing_order=placing_order,
                client_order_id=client_order_id,
            )
        return body


__all__ = ["MexcError", "MexcRestClient"]
