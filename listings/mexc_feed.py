"""ExchangeFeed on the MEXC adapter: REST universe, calendar, protobuf stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from django.conf import settings

from mexc import stream as mexc_stream
from mexc.calendar import fetch_new_coins
from mexc.rest import MexcRestClient

from .feed import Announcement, Sighting, StreamState

# The monitor's share of MEXC_IP_WEIGHT_LIMIT (MEXC counts per IP; the trading gateway,
# trading.gateway, has the other 60 %: its orders come first).
IP_WEIGHT_SHARE = 0.4


class MexcFeed:
    def __init__(
        self,
        *,
        rest: MexcRestClient,
        ws_url: str,
        calendar_url: str,
        quote_asset: str = "USDT",
        mini_tickers_tz: str = "UTC+8",
        stream_options: dict | None = None,
    ) -> None:
        self.rest = rest
        self.ws_url = ws_url
        self.calendar_url = calendar_url
        self.quote_asset = quote_asset
        self.channels = [mexc_stream.mini_tickers_channel(mini_tickers_tz)]
        self.stream_options = stream_options or {}
        self._stream: mexc_stream.MexcStream | None = None

    @classmethod
    def from_settings(cls) -> MexcFeed:
        rest = MexcRestClient(
            base_url=settings.MEXC_REST_URL,
            timeout=settings.MEXC_HTTP_TIMEOUT_MS / 1000,
            ip_weight_limit=max(1, int(settings.MEXC_IP_WEIGHT_LIMIT * IP_WEIGHT_SHARE)),
        )  # public data only: the monitor never holds keys
        return cls(
            rest=rest,
            ws_url=settings.MEXC_WS_URL,
            calendar_url=settings.MEXC_CALENDAR_URL,
            mini_tickers_tz=settings.MEXC_MINI_TICKERS_TZ,
            stream_options={"backoff_s": settings.MEXC_WS_BACKOFF_S},
        )

    async def trading_symbols(self) -> set[str]:
        symbols = await self.rest.trading_symbol_names()
        symbols |= set(await self.rest.default_symbols())
        return symbols

    async def announcements(self) -> list[Announcement]:
        coins = await fetch_new_coins(self.calendar_url, quote_asset=self.quote_asset)
        return [
            Announcement(
                symbol=c.symbol,
                open_at=c.open_time,
                base_asset=c.base_asset,
                quote_asset=self.quote_asset,
                full_name=c.full_name or "",
                raw=c.raw,
            )
            for c in coins
            if c.open_time is not None
        ]

    async def stream(self) -> AsyncIterator[Sighting | StreamState]:
        self._stream = mexc_stream.MexcStream(
            self.ws_url, subscriptions=list(self.channels), **self.stream_options
        )
        async for event in self._stream.events():
            now_ns = time.time_ns()
            if isinstance(event, mexc_stream.MiniTickers):
                yield Sighting(event.symbols, now_ns, event.channel)
            elif isinstance(event, mexc_stream.Deals):
                price = event.deals[0].price if event.deals else None
                yield Sighting([event.symbol], now_ns, event.channel, price)
            elif isinstance(event, mexc_stream.BookTicker):  # a book is no trade: no price
                yield Sighting([event.symbol], now_ns, event.channel)
            elif isinstance(event, mexc_stream.Connected):
                yield StreamState(connected=True, connection=event.connection)
            elif isinstance(event, mexc_stream.Disconnected):
                yield StreamState(
                    connected=False,
                    reason=event.reason,
                    retry_in=event.retry_in,
                    connection=event.connection,
                )

    async def watch_symbol(self, symbol: str) -> None:
        channel = mexc_stream.deals_channel(symbol, "10ms")
        if self._stream is not None:
            await self._stream.subscribe(channel)  # kept across reconnects by the stream
        elif channel not in self.channels:
            self.channels.append(channel)

    async def unwatch_symbol(self, symbol: str) -> None:
        channel = mexc_stream.deals_channel(symbol, "10ms")
        if channel in self.channels:
            self.channels.remove(channel)
        if self._stream is not None:
            await self._stream.unsubscribe(channel)

    async def open_time(self, symbol: str) -> tuple[datetime, str] | None:
        evidence = await self.rest.open_evidence(symbol)
        if evidence is None:
            return None
        return datetime.fromtimestamp(evidence[0] / 1000, UTC), evidence[1]

    def server_now(self) -> datetime:
        """Local clock corrected by the offset the REST client measured (synced on demand)."""
        return datetime.fromtimestamp(self.rest.server_time_ms() / 1000, UTC)

    async def aclose(self) -> None:
        if self._stream is not None:
            self._stream.stop()
        await self.rest.aclose()
