"""Simulator: the private user-data stream (listenKey REST + ``/ws?listenKey=``), over loopback."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mexc.codec import PrivateAccount, PrivateOrder, decode

ORDERS = "spot@private.orders.v3.api.pb"
ACCOUNT = "spot@private.account.v3.api.pb"
STREAM = "/api/v3/userDataStream"


async def listen_key(signed) -> str:
    r = await signed("POST", STREAM)
    assert r.status_code == 200, r.text
    return r.json()["listenKey"]


async def subscribe(ws, *channels: str) -> dict:
    await ws.send(json.dumps({"method": "SUBSCRIPTION", "params": list(channels), "id": 1}))
    return json.loads(await asyncio.wait_for(ws.recv(), 2))


async def events(ws, n: int, timeout: float = 2) -> list:
    out = []
    while len(out) < n:
        frame = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(frame, bytes):
            out.append(decode(frame, 0))
    return out


async def test_listen_key_lifecycle(simulator, signed) -> None:
    key = await listen_key(signed)
    assert len(key) == 64
    assert (await signed("GET", STREAM)).json() == {"listenKey": [key]}
    assert (await signed("PUT", STREAM, {"listenKey": key})).json() == {"listenKey": key}
    assert (await signed("DELETE", STREAM, {"listenKey": key})).json() == {"listenKey": key}
    r = await signed("PUT", STREAM, {"listenKey": key})
    assert r.status_code == 400 and r.json()["code"] == -1125
    assert (await signed("PUT", STREAM)).json()["code"] == 700004
    assert (await signed("GET", STREAM)).json() == {"listenKey": []}


async def test_invalid_or_expired_key_is_refused(simulator_factory) -> None:
    sim = await simulator_factory(listen_key_ttl_s=0.2)
    with pytest.raises(InvalidStatus):
        async with connect(f"{sim.ws_url}?listenKey=nope"):
            pass
    key = sim.listen_keys.create()
    async with connect(f"{sim.ws_url}?listenKey={key}") as ws:
        assert (await subscribe(ws, ORDERS))["code"] == 0
        with pytest.raises(ConnectionClosed):  # the key expires without keep-alive
            await asyncio.wait_for(ws.recv(), 2)
    with pytest.raises(InvalidStatus):
        async with connect(f"{sim.ws_url}?listenKey={key}"):
            pass


async def test_private_channels_need_a_listen_key(simulator) -> None:
    async with connect(simulator.ws_url) as ws:
        ack = await subscribe(ws, ORDERS)
        assert ack["code"] != 0 and "listenKey" in ack["msg"]


async def test_order_and_balance_pushes_beat_a_lookup_lag(simulator, control, signed) -> None:
    key = await listen_key(signed)
    async with connect(f"{simulator.ws_url}?listenKey={key}") as ws:
        assert (await subscribe(ws, ORDERS, ACCOUNT))["msg"] == f"{ORDERS},{ACCOUNT}"
        await control.post("/_sim/faults", json={"kind": "lookup_lag", "ms": 5000})
        order = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1"}
        ack = (await signed("POST", "/api/v3/order", {**order, "price": "100"})).json()
        q = await signed("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": ack["orderId"]})
        assert q.json()["code"] == -2013  # hidden from REST...
        created, locked = await events(ws, 2)  # ...but pushed at once
        assert isinstance(created, PrivateOrder) and created.order_id == ack["orderId"]
        assert (created.status, created.order_type, created.trade_type) == (1, 1, 1)
        assert (
            created.symbol == "ETHUSDT"
            and created.price == 100
            and created.quantity == 1 / (Decimal(10))
        )
        assert isinstance(locked, PrivateAccount) and locked.asset == "USDT"
        assert locked.locked_change == Decimal(10) and locked.free_change == -10
        await signed("DELETE", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": ack["orderId"]})
        # (DELETE is hidden by the lag too: nothing changes, nothing is pushed)
        await control.delete("/_sim/faults")
        simulator.exchange.orders[ack["orderId"]].visible_at_ms = 0
        await signed("DELETE", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": ack["orderId"]})
        canceled, unlocked = await events(ws, 2)
        assert canceled.status == 4 and unlocked.locked == 0 and unlocked.free == 10000
        await signed(
            "POST",
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quoteOrderQty": "20",
                "newClientOrderId": "m1",
            },
        )
        new, filled, *balances = await events(ws, 4)
        assert (new.status, filled.status, filled.order_type) == (1, 2, 5)
        assert filled.client_order_id == "m1" and filled.cumulative_quantity > 0
        assert filled.avg_price == filled.cumulative_amount / filled.cumulative_quantity
        assert {b.asset for b in balances} == {"BTC", "USDT"}


async def test_delete_closes_the_stream(simulator, signed) -> None:
    key = await listen_key(signed)
    async with connect(f"{simulator.ws_url}?listenKey={key}") as ws:
        await subscribe(ws, ACCOUNT)
        await signed("DELETE", STREAM, {"listenKey": key})
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)
