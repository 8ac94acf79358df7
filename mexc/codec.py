"""Decode MEXC protobuf pushes (mexc-api.md section 5.4) into typed events. Hot path.

Speed comes from a private, slimmed copy of the wire schema built at import time: the
repeated item messages of miniTickers and aggre.deals are declared as ONE singular message
whose fields are repeated. Protobuf merges repeated occurrences of a singular message field
and appends their repeated fields, so a single C-level parse turns ``items[i].symbol`` into
one column ``symbol[i]`` with no Python object per item. Columns of unequal length (a
sender omitted a default value in some item) fall back to the exact per-item decode with
``mexc.proto.push_pb2``. Event objects are non-frozen slotted dataclasses (four times
cheaper to create than frozen ones); treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from .proto.push_pb2 import PushDataV3ApiWrapper

__all__ = [
    "BookTicker",
    "Deal",
    "Deals",
    "MalformedFrame",
    "MiniTicker",
    "MiniTickers",
    "PrivateAccount",
    "PrivateOrder",
    "PushEvent",
    "decode",
]

ZERO = Decimal(0)


class MalformedFrame(ValueError):
    """The frame is not a PushDataV3ApiWrapper we can read."""


# --- events -------------------------------------------------------------------------------


@dataclass(slots=True)
class MiniTicker:
    """One symbol of a miniTicker(s) push, every number a Decimal (built on demand)."""

    symbol: str
    price: Decimal
    rate: Decimal
    zoned_rate: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal  # quote turnover
    quantity: Decimal  # base volume


@dataclass(slots=True)
class MiniTickers:
    """A miniTickers push (or a one-symbol miniTicker push), as parallel columns.

    ``symbols[i]`` traded at ``prices[i]`` (the wire string; ``price(symbol)`` gives a Decimal,
    ``tickers()`` every field of every item). Every event carries ``send_time``, the
    exchange's ``sendTime`` (epoch ms, 0 when absent), and two local receive stamps taken
    when the frame came off the socket: ``received_ns`` (wall clock, epoch ns, comparable
    with ``send_time``) and ``received_mono_ns`` (monotonic, for latency between stages).
    """

    channel: str
    symbols: list[str]
    prices: list[str]
    send_time: int
    received_ns: int
    received_mono_ns: int
    frame: bytes = field(default=b"", repr=False)

    def price(self, symbol: str) -> Decimal | None:
        try:
            return _dec(self.prices[self.symbols.index(symbol)])
        except (ValueError, InvalidOperation):
            return None

    def tickers(self) -> list[MiniTicker]:
        """Full per-item decode (slow path: call it only when the extra fields matter)."""
        wrapper = PushDataV3ApiWrapper.FromString(self.frame)
        if wrapper.WhichOneof("body") == "publicMiniTicker":
            items = [wrapper.publicMiniTicker]
        else:
            items = list(wrapper.publicMiniTickers.items)
        return [
            MiniTicker(
                i.symbol,
                _dec(i.price),
                _dec(i.rate),
                _dec(i.zonedRate),
                _dec(i.high),
                _dec(i.low),
                _dec(i.volume),
                _dec(i.quantity),
            )
            for i in items
        ]


@dataclass(slots=True)
class Deal:
    price: Decimal
    quantity: Decimal
    side: int  # 1 buy, 2 sell
    time: int  # epoch ms


@dataclass(slots=True)
class Deals:
    """An aggre.deals push: one or more trades of ``symbol``."""

    channel: str
    symbol: str
    deals: list[Deal]
    send_time: int
    received_ns: int
    received_mono_ns: int


@dataclass(slots=True)
class BookTicker:
    """An aggre.bookTicker push: best bid/ask (an empty side is zero)."""

    channel: str
    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    send_time: int
    received_ns: int
    received_mono_ns: int


@dataclass(slots=True)
class PrivateOrder:
    """A privateOrders push (user-data stream): one order's state after a change.

    ``order_type``: 1 LIMIT, 2 POST_ONLY, 3 IOC, 4 FOK, 5 MARKET, 100 SL/TP; ``trade_type``:
    1 buy, 2 sell; ``status``: 1 new, 2 filled, 3 partially filled, 4 canceled, 5 partially
    canceled. ``client_order_id`` is "" when the order has none."""

    symbol: str
    order_id: str
    client_order_id: str
    price: Decimal
    quantity: Decimal
    amount: Decimal
    avg_price: Decimal
    order_type: int
    trade_type: int
    status: int
    cumulative_quantity: Decimal
    cumulative_amount: Decimal
    create_time: int
    channel: str = ""
    send_time: int = 0
    received_ns: int = 0
    received_mono_ns: int = 0


@dataclass(slots=True)
class PrivateAccount:
    """A privateAccount push: one asset's balance after a change (``free`` is MEXC's
    balanceAmount, ``locked`` its frozenAmount)."""

    asset: str
    free: Decimal
    locked: Decimal
    free_change: Decimal
    locked_change: Decimal
    time: int
    change_type: str = ""
    channel: str = ""
    send_time: int = 0
    received_ns: int = 0
    received_mono_ns: int = 0


PushEvent = MiniTickers | Deals | BookTicker | PrivateOrder | PrivateAccount


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else ZERO


# --- the slim schema ----------------------------------------------------------------------


def _build_slim_wrapper() -> type:
    f = descriptor_pb2.FieldDescriptorProto
    string, int32, int64, message = f.TYPE_STRING, f.TYPE_INT32, f.TYPE_INT64, f.TYPE_MESSAGE
    one, many = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    proto = descriptor_pb2.FileDescriptorProto(
        name="mexc_codec_slim.proto", package="mexc_codec_slim", syntax="proto3"
    )

    def add(name: str, *fields: tuple) -> descriptor_pb2.DescriptorProto:
        msg = proto.message_type.add(name=name)
        for fname, number, ftype, label, *type_name in fields:
            fd = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = f".mexc_codec_slim.{type_name[0]}"
        return msg

    # Only the columns we read are declared; the rest stay unknown fields (cheaper to skip).
    add("MiniCols", ("symbol", 1, string, many), ("price", 2, string, many))
    add("MiniBody", ("items", 1, message, one, "MiniCols"))
    add(
        "DealCols",
        ("price", 1, string, many),
        ("quantity", 2, string, many),
        ("tradeType", 3, int32, many),
        ("time", 4, int64, many),
    )
    add("DealBody", ("deals", 1, message, one, "DealCols"))
    add(
        "Book",
        ("bidPrice", 1, string, one),
        ("bidQuantity", 2, string, one),
        ("askPrice", 3, string, one),
        ("askQuantity", 4, string, one),
    )
    add(
        "PrivOrder",
        ("id", 1, string, one),
        ("clientId", 2, string, one),
        ("price", 3, string, one),
        ("quantity", 4, string, one),
        ("amount", 5, string, one),
        ("avgPrice", 6, string, one),
        ("orderType", 7, int32, one),
        ("tradeType", 8, int32, one),
        ("cumulativeQuantity", 13, string, one),
        ("cumulativeAmount", 14, string, one),
        ("status", 15, int32, one),
        ("createTime", 16, int64, one),
    )
    add(
        "PrivAccount",
        ("vcoinName", 1, string, one),
        ("balanceAmount", 3, string, one),
        ("balanceAmountChange", 4, string, one),
        ("frozenAmount", 5, string, one),
        ("frozenAmountChange", 6, string, one),
        ("type", 7, string, one),
        ("time", 8, int64, one),
    )
    wrapper = add(
        "Wrapper",
        ("channel", 1, string, one),
        ("symbol", 3, string, one),
        ("sendTime", 6, int64, one),
        ("privateOrders", 304, message, one, "PrivOrder"),
        ("privateAccount", 307, message, one, "PrivAccount"),
        ("publicMiniTicker", 309, message, one, "MiniCols"),
        ("publicMiniTickers", 310, message, one, "MiniBody"),
        ("publicAggreDeals", 314, message, one, "DealBody"),
        ("publicAggreBookTicker", 315, message, one, "Book"),
    )
    wrapper.oneof_decl.add(name="body")
    for fd in wrapper.field:
        if fd.number > 300:
            fd.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mexc_codec_slim.Wrapper"))


_parse = _build_slim_wrapper().FromString


# --- decode -------------------------------------------------------------------------------


def decode(frame: bytes, received_ns: int, received_mono_ns: int = 0) -> PushEvent | None:
    """One binary frame -> one event; None for a body we do not use; MalformedFrame if broken.

    ``received_ns`` / ``received_mono_ns``: the wall-clock and monotonic receive stamps."""
    try:
        wrapper = _parse(frame)
        body = wrapper.WhichOneof("body")
        if body == "publicAggreDeals":
            return _deals(wrapper, frame, received_ns, received_mono_ns)
        if body == "publicMiniTickers":
            cols = wrapper.publicMiniTickers.items
            symbols = list(cols.symbol)
            prices = list(cols.price)
            if len(prices) != len(symbols):
                symbols, prices = _exact_mini(frame)
            return MiniTickers(
                wrapper.channel,
                symbols,
                prices,
                wrapper.sendTime,
                received_ns,
                received_mono_ns,
                frame,
            )
        if body == "publicAggreBookTicker":
            b = wrapper.publicAggreBookTicker
            channel = wrapper.channel
            return BookTicker(
                channel,
                wrapper.symbol or _channel_symbol(channel),
                _dec(b.bidPrice),
                _dec(b.bidQuantity),
                _dec(b.askPrice),
                _dec(b.askQuantity),
                wrapper.sendTime,
                received_ns,
                received_mono_ns,
            )
        if body == "publicMiniTicker":
            item = wrapper.publicMiniTicker  # singular on the wire: the last value wins
            symbols = list(item.symbol)[-1:]
            prices = (list(item.price)[-1:] or [""]) if symbols else []
            return MiniTickers(
                wrapper.channel,
                symbols,
                prices,
                wrapper.sendTime,
                received_ns,
                received_mono_ns,
                frame,
            )
        if body == "privateOrders":
            o = wrapper.privateOrders
            return PrivateOrder(
                wrapper.symbol,
                o.id,
                o.clientId,
                _dec(o.price),
                _dec(o.quantity),
                _dec(o.amount),
                _dec(o.avgPrice),
                o.orderType,
                o.tradeType,
                o.status,
                _dec(o.cumulativeQuantity),
                _dec(o.cumulativeAmount),
                o.createTime,
                wrapper.channel,
                wrapper.sendTime,
                received_ns,
                received_mono_ns,
            )
        if body == "privateAccount":
            a = wrapper.privateAccount
            return PrivateAccount(
                a.vcoinName,
                _dec(a.balanceAmount),
                _dec(a.frozenAmount),
                _dec(a.balanceAmountChange),
                _dec(a.frozenAmountChange),
                a.time,
                a.type,
                wrapper.channel,
                wrapper.sendTime,
                received_ns,
                received_mono_ns,
            )
    except (DecodeError, InvalidOperation, ValueError) as exc:
        raise MalformedFrame(f"{type(exc).__name__}: {exc}"[:200]) from None
    if body is None and not wrapper.channel:
        raise MalformedFrame("neither a channel nor a known body")
    return None  # a body we do not subscribe to


def _deals(wrapper, frame: bytes, received_ns: int, received_mono_ns: int) -> Deals:
    cols = wrapper.publicAggreDeals.deals
    prices, qtys, sides, times = cols.price, cols.quantity, cols.tradeType, cols.time
    n = len(prices)
    if n == len(qtys) == len(sides) == len(times):
        if n == 1:  # the usual 10 ms aggregate
            deals = [Deal(_dec(prices[0]), _dec(qtys[0]), sides[0], times[0])]
        else:
            deals = list(map(Deal, map(_dec, prices), map(_dec, qtys), sides, times))
    else:
        deals = _exact_deals(frame)
    channel = wrapper.channel
    symbol = wrapper.symbol or _channel_symbol(channel)
    return Deals(channel, symbol, deals, wrapper.sendTime, received_ns, received_mono_ns)


def _channel_symbol(channel: str) -> str:
    """``...@10ms@BTCUSDT`` -> ``BTCUSDT`` (when the optional wrapper symbol is absent)."""
    return channel.rpartition("@")[2]


def _exact_mini(frame: bytes) -> tuple[list[str], list[str]]:
    items = PushDataV3ApiWrapper.FromString(frame).publicMiniTickers.items
    return [i.symbol for i in items], [i.price for i in items]


def _exact_deals(frame: bytes) -> list[Deal]:
    items = PushDataV3ApiWrapper.FromString(frame).publicAggreDeals.deals
    return [Deal(_dec(d.price), _dec(d.quantity), d.tradeType, d.time) for d in items]
