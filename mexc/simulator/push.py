"""Protobuf push frames (mexc-api.md §5.3-5.4): ``PushDataV3ApiWrapper`` serialized."""

from __future__ import annotations

from mexc.proto import push_pb2

from .market import Trade, fmt
from .models import Symbol

#: Bytes that no protobuf parser accepts (wire type 7 is invalid), for ``ws_malformed``.
GARBAGE_BYTES = b"\xff\xff\xff\xff\x0f<simulated garbage>"
GARBAGE_TEXT = '{"id":0,"code":0,"msg":<simulated garbage'


def _wrapper(channel: str, now_ms: int, symbol: str | None = None) -> push_pb2.PushDataV3ApiWrapper:
    wrapper = push_pb2.PushDataV3ApiWrapper(channel=channel, sendTime=now_ms, createTime=now_ms)
    if symbol is not None:
        wrapper.symbol = symbol
    return wrapper


def deals(channel: str, sym: Symbol, trades: list[Trade], now_ms: int) -> bytes:
    wrapper = _wrapper(channel, now_ms, sym.symbol)
    body = wrapper.publicAggreDeals
    body.eventType = channel.rsplit("@", 1)[0]
    for t in trades:
        body.deals.add(
            price=fmt(t.price),
            quantity=fmt(t.qty),
            tradeType=t.side,
            time=t.time_ms,
            tradeId=t.trade_id,
        )
    return wrapper.SerializeToString()


def book_ticker(channel: str, sym: Symbol, now_ms: int) -> bytes | None:
    bid, ask = sym.market.best_bid(), sym.market.best_ask()
    if bid is None and ask is None:
        return None
    wrapper = _wrapper(channel, now_ms, sym.symbol)
    body = wrapper.publicAggreBookTicker
    if bid is not None:
        body.bidPrice, body.bidQuantity = fmt(bid.price), fmt(bid.qty)
    if ask is not None:
        body.askPrice, body.askQuantity = fmt(ask.price), fmt(ask.qty)
    return wrapper.SerializeToString()


def _fill_mini(item: push_pb2.PublicMiniTickerV3Api, sym: Symbol) -> None:
    market = sym.market
    rate = fmt(market.change_rate())
    item.symbol = sym.symbol
    item.price = fmt(market.last_price)
    item.rate = rate
    item.zonedRate = rate
    item.high = fmt(market.high)
    item.low = fmt(market.low)
    item.volume = fmt(market.quote_volume.quantize(market.tick))
    item.quantity = fmt(market.volume)


def mini_tickers(channel: str, symbols: list[Symbol], now_ms: int) -> bytes:
    wrapper = _wrapper(channel, now_ms)
    body = wrapper.publicMiniTickers
    for sym in symbols:
        _fill_mini(body.items.add(), sym)
    return wrapper.SerializeToString()


def mini_ticker(channel: str, sym: Symbol, now_ms: int) -> bytes:
    wrapper = _wrapper(channel, now_ms, sym.symbol)
    _fill_mini(wrapper.publicMiniTicker, sym)
    return wrapper.SerializeToString()
