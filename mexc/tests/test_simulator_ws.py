"""Simulator: the ``/ws`` market streams (mexc-api.md §5) with a raw websockets client."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mexc.proto import push_pb2

MINI_TICKERS = "spot@public.miniTickers.v3.api.pb@UTC+8"


def deals(symbol: str, interval: str = "10ms") -> str:
    return f"spot@public.aggre.deals.v3.api.pb@{interval}@{symbol}"


def book(symbol: str) -> str:
    return f"spot@public.aggre.bookTicker.v3.api.pb@100ms@{symbol}"


async def request(ws: ClientConnection, method: str, params=None, req_id: int = 1) -> dict:
    payload = {"method": method, "id": req_id}
    if params is not None:
        payload["params"] = params
    await ws.send(json.dumps(payload))
    while True:  # skip pushes already in flight
        frame = await asyncio.wait_for(ws.recv(), 2)
        if isinstance(frame, str):
            return json.loads(frame)


async def next_push(ws: ClientConnection, timeout: float = 2) -> push_pb2.PushDataV3ApiWrapper:
    while True:
        frame = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(frame, bytes):
            wrapper = push_pb2.PushDataV3ApiWrapper()
            wrapper.ParseFromString(frame)
            return wrapper


async def test_subscription_ack_ping_and_unsubscription(simulator) -> None:
    async with connect(simulator.ws_url) as ws:
        ack = await request(ws, "SUBSCRIPTION", [MINI_TICKERS, deals("BTCUSDT")], req_id=7)
        assert ack == {"id": 7, "code": 0, "msg": f"{MINI_TICKERS},{deals('BTCUSDT')}"}
        assert await request(ws, "PING", req_id=0) == {"id": 0, "code": 0, "msg": "PONG"}
        ack = await request(ws, "UNSUBSCRIPTION", [MINI_TICKERS], req_id=8)
        assert ack == {"id": 8, "code": 0, "msg": MINI_TICKERS}
        bad = await request(ws, "SUBSCRIPTION", ["spot@public.nope.v3.api.pb@BTCUSDT"])
        assert bad["code"] != 0 and "Not Subscribed" in bad["msg"]
        lower = await request(ws, "SUBSCRIPTION", [deals("btcusdt")])
        assert lower["code"] != 0


async def test_thirty_subscriptions_per_connection(simulator) -> None:
    channels = [deals(f"S{i}USDT") for i in range(31)]
    async with connect(simulator.ws_url) as ws:
        ack = await request(ws, "SUBSCRIPTION", channels[:30])
        assert ack["code"] == 0 and len(ack["msg"].split(",")) == 30
        extra = await request(ws, "SUBSCRIPTION", channels[30:])
        assert extra["code"] != 0 and "limit" in extra["msg"] and channels[30] in extra["msg"]
        again = await request(ws, "SUBSCRIPTION", channels[:1])  # already held: fine
        assert again["code"] == 0


async def test_mini_tickers_push_includes_a_new_symbol_right_after_open(simulator) -> None:
    async with connect(simulator.ws_url) as ws:
        assert (await request(ws, "SUBSCRIPTION", [MINI_TICKERS]))["code"] == 0
        first = await next_push(ws)
        assert first.channel == MINI_TICKERS and first.sendTime > 0
        assert "FRESHUSDT" not in {i.symbol for i in first.publicMiniTickers.items}
        sym = simulator.exchange.list_symbol("FRESHUSDT", "0.0123", open_in_ms=0)
        await simulator.exchange.wait_open("FRESHUSDT", timeout=2)
        while True:
            push = await next_push(ws)
            if push.sendTime >= sym.open_at_ms:
                break
        items = {i.symbol: i for i in push.publicMiniTickers.items}
        assert abs(Decimal(items["FRESHUSDT"].price) / Decimal("0.0123") - 1) < Decimal("0.1")


async def test_pre_open_deals_subscription_streams_the_opening_trade_at_once(
    simulator_factory,
) -> None:
    # No market ticks or miniTickers rounds for a minute: only the open itself can push.
    simulator = await simulator_factory(market_tick_ms=60_000, mini_tickers_interval_ms=60_000)
    sym = simulator.exchange.list_symbol("OPENUSDT", "0.25", open_in_ms=300)
    async with connect(simulator.ws_url) as ws:
        ack = await request(ws, "SUBSCRIPTION", [deals("OPENUSDT"), book("OPENUSDT")])
        assert ack["code"] == 0  # accepted before the open
        assert simulator.clock.now_ms() < sym.open_at_ms
        push = await next_push(ws)
        arrived_ms = time.time_ns() // 1_000_000
        assert push.channel == deals("OPENUSDT") and push.symbol == "OPENUSDT"
        (deal,) = push.publicAggreDeals.deals
        assert deal.price == "0.25" and deal.tradeType == 1
        assert deal.time >= sym.open_at_ms and push.sendTime >= deal.time
        assert 0 <= arrived_ms - sym.open_at_ms < 1000
        ticker = await next_push(ws)
        assert ticker.channel == book("OPENUSDT")
        assert ticker.publicAggreBookTicker.bidPrice < ticker.publicAggreBookTicker.askPrice


async def test_fills_are_pushed_on_the_deals_stream(simulator, signed) -> None:
    async with connect(simulator.ws_url) as ws:
        await request(ws, "SUBSCRIPTION", [deals("ETHUSDT", "100ms")])
        r = await signed(
            "POST",
            "/api/v3/order",
            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "50"},
        )
        order = simulator.exchange.orders[r.json()["orderId"]]
        fill_price, fill_qty = order.fills[0]
        for _ in range(20):
            push = await next_push(ws)
            if any(
                Decimal(d.price) == fill_price and Decimal(d.quantity) == fill_qty
                for d in push.publicAggreDeals.deals
            ):
                break
        else:
            pytest.fail("the fill never reached the deals stream")


async def test_idle_connection_is_closed(simulator_factory) -> None:
    sim = await simulator_factory(ws_idle_timeout_s=0.15)
    async with connect(sim.ws_url) as idle, connect(sim.ws_url) as busy:
        await request(busy, "SUBSCRIPTION", [deals("BTCUSDT")])
        await asyncio.wait_for(idle.wait_closed(), 2)
        assert busy.state.name == "OPEN"


async def test_connection_closed_at_max_age(simulator_factory) -> None:
    sim = await simulator_factory(ws_max_age_s=0.15)
    async with connect(sim.ws_url) as ws:
        await request(ws, "SUBSCRIPTION", [deals("BTCUSDT")])
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 2)


async def test_subscribed_connection_without_data_is_dropped_despite_pings(
    simulator_factory,
) -> None:
    sim = await simulator_factory(ws_no_data_timeout_s=0.4)
    sim.exchange.list_symbol("QUIETUSDT", price="1", open_in_ms=3_600_000)  # never trades
    async with connect(sim.ws_url) as quiet, connect(sim.ws_url) as busy:
        await request(quiet, "SUBSCRIPTION", [deals("QUIETUSDT")])
        await request(busy, "SUBSCRIPTION", [book("BTCUSDT")])  # pushed every market tick
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while True:  # a PING is no data: the connection still goes
                assert await request(quiet, "PING") == {"id": 1, "code": 0, "msg": "PONG"}
                await asyncio.sleep(0.1)
        assert 0.35 < time.monotonic() - started < 2
        assert busy.state.name == "OPEN"
