"""Protobuf push decoding: round trips built with push_pb2, the fallbacks, and garbage."""

from decimal import Decimal

import pytest

from mexc import codec
from mexc.codec import BookTicker, Deals, MalformedFrame, MiniTickers, decode
from mexc.proto import push_pb2

MINIS = "spot@public.miniTickers.v3.api.pb@UTC+8"
DEALS = "spot@public.aggre.deals.v3.api.pb@10ms@ABCUSDT"
BOOK = "spot@public.aggre.bookTicker.v3.api.pb@10ms@ABCUSDT"


def wrapper(channel, **kw):
    return push_pb2.PushDataV3ApiWrapper(channel=channel, sendTime=1736409765052, **kw)


def mini_frame(n=3, *, price=lambda i: f"0.{i + 1}"):
    w = wrapper(MINIS)
    for i in range(n):
        item = w.publicMiniTickers.items.add(symbol=f"S{i}USDT", rate="0.01", high="2", low="0.1")
        if price(i):
            item.price = price(i)
        item.volume, item.quantity = "1000.5", "42"
    return w.SerializeToString()


def deals_frame(*deals):
    w = wrapper(DEALS, symbol="ABCUSDT")
    w.publicAggreDeals.eventType = "spot@public.aggre.deals.v3.api.pb@10ms"
    for price, qty, side, t in deals:
        w.publicAggreDeals.deals.add(price=price, quantity=qty, tradeType=side, time=t, tradeId="x")
    return w.SerializeToString()


def test_mini_tickers_become_columns_with_both_receive_stamps():
    event = decode(mini_frame(3), 111, 222)
    assert isinstance(event, MiniTickers)
    assert event.channel == MINIS and event.send_time == 1736409765052
    assert event.symbols == ["S0USDT", "S1USDT", "S2USDT"]
    assert event.prices == ["0.1", "0.2", "0.3"]
    assert (event.received_ns, event.received_mono_ns) == (111, 222)
    assert event.price("S1USDT") == Decimal("0.2") and event.price("NOPE") is None


def test_mini_tickers_full_items_on_demand():
    (first, *_rest) = decode(mini_frame(2), 0).tickers()
    assert first.symbol == "S0USDT" and first.price == Decimal("0.1")
    assert (first.rate, first.high, first.low) == (Decimal("0.01"), 2, Decimal("0.1"))
    assert (first.volume, first.quantity, first.zoned_rate) == (Decimal("1000.5"), 42, 0)


def test_fast_path_is_used_for_well_formed_frames(monkeypatch):
    def boom(frame):
        raise AssertionError("slow path used")

    monkeypatch.setattr(codec, "_exact_mini", boom)
    monkeypatch.setattr(codec, "_exact_deals", boom)
    assert len(decode(mini_frame(50), 0).symbols) == 50
    assert len(decode(deals_frame(("1", "2", 1, 3), ("4", "5", 2, 6)), 0).deals) == 2


def test_an_item_without_price_falls_back_to_the_exact_decode():
    event = decode(mini_frame(3, price=lambda i: "" if i == 1 else "7"), 0)
    assert event.symbols == ["S0USDT", "S1USDT", "S2USDT"]
    assert event.prices == ["7", "", "7"]
    assert event.price("S1USDT") == 0


def test_deals_round_trip():
    event = decode(deals_frame(("93220.00", "0.04438243", 2, 1736409765051)), 5, 6)
    assert isinstance(event, Deals)
    assert (event.channel, event.symbol, event.send_time) == (DEALS, "ABCUSDT", 1736409765052)
    (deal,) = event.deals
    assert deal.price == Decimal("93220.00") and deal.quantity == Decimal("0.04438243")
    assert (deal.side, deal.time) == (2, 1736409765051)
    assert (event.received_ns, event.received_mono_ns) == (5, 6)


def test_several_deals_keep_their_order_and_a_ragged_one_falls_back():
    event = decode(deals_frame(("1.5", "2", 1, 10), ("1.6", "3", 2, 11), ("1.7", "4", 1, 12)), 0)
    assert [(d.price, d.quantity, d.side, d.time) for d in event.deals] == [
        (Decimal("1.5"), 2, 1, 10),
        (Decimal("1.6"), 3, 2, 11),
        (Decimal("1.7"), 4, 1, 12),
    ]
    ragged = decode(deals_frame(("1", "2", 1, 10), ("", "3", 2, 11)), 0)
    assert [d.price for d in ragged.deals] == [1, 0]


def test_book_ticker_round_trip_and_an_empty_side_is_zero():
    w = wrapper(BOOK, symbol="ABCUSDT")
    w.publicAggreBookTicker.bidPrice, w.publicAggreBookTicker.bidQuantity = "0.99", "10"
    w.publicAggreBookTicker.askPrice, w.publicAggreBookTicker.askQuantity = "1.01", "20"
    event = decode(w.SerializeToString(), 1, 2)
    assert isinstance(event, BookTicker) and event.symbol == "ABCUSDT"
    assert (event.bid_price, event.bid_qty, event.ask_price, event.ask_qty) == (
        Decimal("0.99"),
        10,
        Decimal("1.01"),
        20,
    )
    half = wrapper(BOOK, symbol="ABCUSDT")
    half.publicAggreBookTicker.askPrice = "1.01"
    event = decode(half.SerializeToString(), 0)
    assert event.bid_price == 0 and event.ask_price == Decimal("1.01")


def test_single_symbol_mini_ticker():
    w = wrapper("spot@public.miniTicker.v3.api.pb@ABCUSDT@UTC+8", symbol="ABCUSDT")
    w.publicMiniTicker.symbol, w.publicMiniTicker.price = "ABCUSDT", "0.5"
    event = decode(w.SerializeToString(), 0)
    assert isinstance(event, MiniTickers) and event.symbols == ["ABCUSDT"]
    assert event.prices == ["0.5"] and event.tickers()[0].price == Decimal("0.5")


def test_a_body_we_do_not_use_is_ignored():
    assert (
        decode(wrapper("spot@public.kline.v3.api.pb@ABCUSDT@Min1").SerializeToString(), 0) is None
    )
    other_body = wrapper("spot@public.limit.depth.v3.api.pb@ABCUSDT@5").SerializeToString()
    other_body += b"\x92\x13\x00"  # field 306 (privateDeals, undeclared), empty
    assert decode(other_body, 0) is None


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xff\xff\xff\x0f<simulated garbage>",
        b"",
        b"\x0a\x05ab",  # truncated channel
        b"\x0a\x02\xff\xfe",  # channel is not UTF-8
        b'{"id":0,"code":0,"msg":"PONG"}',
    ],
)
def test_garbage_is_malformed(frame):
    with pytest.raises(MalformedFrame):
        decode(frame, 0)


def test_a_non_numeric_price_is_malformed():
    with pytest.raises(MalformedFrame):
        decode(deals_frame(("abc", "1", 1, 1)), 0)


def test_the_symbol_falls_back_to_the_channel_suffix():
    w = wrapper(DEALS)  # no optional wrapper.symbol
    w.publicAggreDeals.deals.add(price="1", quantity="1", tradeType=1, time=1)
    assert decode(w.SerializeToString(), 0).symbol == "ABCUSDT"
    b = wrapper(BOOK)
    b.publicAggreBookTicker.bidPrice = "1"
    assert decode(b.SerializeToString(), 0).symbol == "ABCUSDT"


def test_private_order_push_decodes_every_field():
    w = push_pb2.PushDataV3ApiWrapper(
        channel="spot@private.orders.v3.api.pb", symbol="MXUSDT", sendTime=1736417034281
    )
    o = w.privateOrders
    o.id, o.clientId = "C02__505979017439002624115", "my-1"
    o.price, o.quantity, o.amount, o.avgPrice = "3.5121", "1", "0", "3.6962"
    o.orderType, o.tradeType, o.status = 5, 2, 2
    o.cumulativeQuantity, o.cumulativeAmount = "1", "3.6962"
    o.remainQuantity, o.lastDealQuantity = "0", "1"
    o.createTime = 1736417034259
    event = decode(w.SerializeToString(), 7, 8)
    assert isinstance(event, codec.PrivateOrder) and "PrivateOrder" in codec.__all__
    assert (event.symbol, event.order_id, event.client_order_id) == (
        "MXUSDT",
        "C02__505979017439002624115",
        "my-1",
    )
    assert (event.price, event.quantity, event.amount) == (Decimal("3.5121"), 1, 0)
    assert event.avg_price == Decimal("3.6962") and event.cumulative_amount == Decimal("3.6962")
    assert (event.order_type, event.trade_type, event.status) == (5, 2, 2)
    assert event.cumulative_quantity == 1 and event.create_time == 1736417034259
    assert (event.send_time, event.received_ns, event.received_mono_ns) == (1736417034281, 7, 8)


def test_private_account_push_decodes_every_field():
    w = push_pb2.PushDataV3ApiWrapper(channel="spot@private.account.v3.api.pb", sendTime=5)
    a = w.privateAccount
    a.vcoinName, a.coinId = "USDT", "128f589271cb4951b03e71e6323eb7be"
    a.balanceAmount, a.balanceAmountChange = "21.94210356004384", "10"
    a.frozenAmount, a.frozenAmountChange = "1.5", "-0.5"
    a.type, a.time = "CONTRACT_TRANSFER", 1736416910000
    event = decode(w.SerializeToString(), 0)
    assert isinstance(event, codec.PrivateAccount) and "PrivateAccount" in codec.__all__
    assert event.asset == "USDT" and event.free == Decimal("21.94210356004384")
    assert (event.locked, event.free_change, event.locked_change) == (
        Decimal("1.5"),
        10,
        Decimal("-0.5"),
    )
    assert event.time == 1736416910000 and event.change_type == "CONTRACT_TRANSFER"


def test_private_order_with_empty_fields_is_zero_not_an_error():
    w = push_pb2.PushDataV3ApiWrapper(channel="spot@private.orders.v3.api.pb")
    w.privateOrders.id = "x"
    event = decode(w.SerializeToString(), 0)
    assert event.order_id == "x" and event.price == 0 and event.client_order_id == ""
