"""Decode MEXC protobuf pushes into typed events (hot path: keep per-message work small)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from google.protobuf.message import DecodeError

from .proto.push_pb2 import PushDataV3ApiWrapper


class MalformedFrame(ValueError):
    """The frame is not a PushDataV3ApiWrapper we can read."""


@dataclass(frozen=True, slots=True)
class MiniTickers:
    channel: str
    symbols: list[str]
    prices: list[str]
    send_time: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class Deal:
    price: Decimal
    quantity: Decimal
    side: int  # 1 buy, 2 sell
    time: int


@dataclass(frozen=True, slots=True)
class Deals:
    channel: str
    symbol: str
    deals: list[Deal]
    send_time: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class BookTicker:
    channel: str
    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    send_time: int
    received_ns: int


PushEvent = MiniTickers | Deals | BookTicker


def decode(frame: bytes, received_ns: int) -> PushEvent | None:
    """One binary frame -> one event; None for a body we do not use; MalformedFrame if broken."""
    wrapper = PushDataV3ApiWrapper()
    try:
        wrapper.ParseFromString(frame)
    except DecodeError as exc:
        raise MalformedFrame(str(exc)) from None
    body = wrapper.WhichOneof("body")
    if body == "publicMiniTickers":
        items = wrapper.publicMiniTickers.items
        return MiniTickers(
            wrapper.channel,
            [i.symbol for i in items],
            [i.price for i in items],
            wrapper.sendTime,
            received_ns,
        )
    if body == "publicMiniTicker":
        item = wrapper.publicMiniTicker
        return MiniTickers(
            wrapper.channel, [item.symbol], [item.price], wrapper.sendTime, received_ns
        )
    if body == "publicAggreDeals":
        deals = [
            Deal(Decimal(d.price), Decimal(d.quantity), d.tradeType, d.time)
            for d in wrapper.publicAggreDeals.deals
        ]
        return Deals(wrapper.channel, wrapper.symbol, deals, wrapper.sendTime, received_ns)
    if body == "publicAggreBookTicker":
        b = wrapper.publicAggreBookTicker
        return BookTicker(
            wrapper.channel,
            wrapper.symbol,
            Decimal(b.bidPrice or 0),
            Decimal(b.bidQuantity or 0),
            Decimal(b.askPrice or 0),
            Decimal(b.askQuantity or 0),
            wrapper.sendTime,
            received_ns,
        )
    if body is None and not wrapper.channel:
        raise MalformedFrame("empty frame")
    return None
