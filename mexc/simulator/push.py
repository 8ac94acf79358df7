"""Protobuf push frames (mexc-api.md §5.3-5.4): ``PushDataV3ApiWrapper`` serialized."""

from __future__ import annotations

from decimal import Decimal

from mexc.proto import push_pb2

from .market import Trade, fmt
from .models import BalanceChange, Order, Symbol

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


ORDER_TYPES = {
    "LIMIT": 1,
    "LIMIT_MAKER": 2,
    "IMMEDIATE_OR_CANCEL": 3,
    "FILL_OR_KILL": 4,
    "MARKET": 5,
}
ORDER_STATUSES = {
    "NEW": 1,
    "FILLED": 2,
    "PARTIALLY_FILLED": 3,
    "CANCELED": 4,
    "PARTIALLY_CANCELED": 5,
}


def private_order(channel: str, order: Order, now_ms: int) -> bytes:
    """privateOrders (304), shaped like DOC-EN "Spot Account Orders" (a MARKET order shows its
    protective price and amount "0" unless it was sent by quoteOrderQty)."""
    wrapper = _wrapper(channel, now_ms, order.symbol)
    body = wrapper.privateOrders
    body.id = order.order_id
    if order.client_order_id:
        body.clientId = order.client_order_id
    price = order.price if order.price is not None else order.protect_price
    qty = order.orig_qty or Decimal(0)
    if order.orig_quote_qty is not None:
        amount = order.orig_quote_qty
    elif order.price is not None:
        amount = order.price * qty
    else:
        amount = Decimal(0)
    body.price = fmt(price)
    body.quantity = fmt(qty)
    body.amount = fmt(amount)
    body.avgPrice = fmt(order.cum_quote / order.executed_qty) if order.executed_qty else "0"
    body.orderType = ORDER_TYPES.get(order.type, 1)
    body.tradeType = 1 if order.side == "BUY" else 2
    body.isMaker = False
    body.remainQuantity = fmt(
        max(qty - order.executed_qty, Decimal(0)) if order.is_open else Decimal(0)
    )
    body.remainAmount = fmt(
        max(amount - order.cum_quote, Decimal(0)) if order.is_open else Decimal(0)
    )
    if order.fills:
        body.lastDealQuantity = fmt(order.fills[-1][1])
    body.cumulativeQuantity = fmt(order.executed_qty)
    body.cumulativeAmount = fmt(order.cum_quote)
    body.status = ORDER_STATUSES[order.status]
    body.createTime = order.time_ms
    return wrapper.SerializeToString()


def private_account(channel: str, change: BalanceChange, now_ms: int) -> bytes:
    """privateAccount (307), DOC-EN "Spot Account Update"."""
    wrapper = _wrapper(channel, now_ms)
    body = wrapper.privateAccount
    body.vcoinName = change.asset
    body.balanceAmount = fmt(change.free)
    body.balanceAmountChange = fmt(change.free_change)
    body.frozenAmount = fmt(change.locked)
    body.frozenAmountChange = fmt(change.locked_change)
    body.type = change.kind
    body.time = change.time_ms
    return wrapper.SerializeToString()
