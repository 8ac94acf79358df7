"""Simulator: injected faults (``POST /_sim/faults``) on REST and the WebSocket."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from google.protobuf.message import DecodeError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mexc.proto import push_pb2

ORDER = "/api/v3/order"
DEALS = "spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT"
BOOK = "spot@public.aggre.bookTicker.v3.api.pb@10ms@BTCUSDT"


def buy(client_id: str) -> dict[str, object]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quoteOrderQty": "10",
        "newClientOrderId": client_id,
    }


async def fault(control: httpx.AsyncClient, **spec: object) -> dict:
    r = await control.post("/_sim/faults", json=spec)
    assert r.status_code == 201, r.text
    return r.json()


async def test_429_on_orders_only_then_recovers(simulator, control, signed) -> None:
    await fault(control, kind="http_429", count=1, ms=2500, path=ORDER)
    assert (await control.get("/api/v3/time")).status_code == 200  # other paths untouched
    r = await signed("POST", ORDER, buy("t429-a"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.json() == {"code": 429, "msg": "Too Many Requests"}
    assert (await signed("POST", ORDER, buy("t429-b"))).status_code == 200
    log = (await control.get("/_sim/orders")).json()["orders"]
    assert [(o["clientOrderId"], o["orderId"] is None, o["error_code"]) for o in log] == [
        ("t429-a", True, 429),
        ("t429-b", False, None),
    ]


async def test_5xx_before_means_no_order(simulator, control, signed) -> None:
    await fault(control, kind="http_5xx", path=ORDER)
    r = await signed("POST", ORDER, buy("x-before"))
    assert r.status_code == 500 and r.json()["code"] == 500
    q = await signed("GET", ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "x-before"})
    assert q.json()["code"] == -2013


async def test_5xx_after_means_the_order_exists(simulator, control, signed) -> None:
    await fault(control, kind="http_5xx", status=503, effect="after", path=ORDER)
    r = await signed("POST", ORDER, buy("x-after"))
    assert r.status_code == 503 and r.json()["code"] == 503
    q = await signed("GET", ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "x-after"})
    assert q.json()["status"] == "FILLED"
    (entry,) = (await control.get("/_sim/orders")).json()["orders"]
    assert entry["orderId"] == q.json()["orderId"] and entry["error_code"] is None
    assert (entry["http_status"], entry["fault"]) == (503, "http_5xx")


async def test_timeout_after_places_the_order_while_the_client_gives_up(
    simulator, control, signed
) -> None:
    await fault(control, kind="timeout", ms=5000, path=ORDER)
    query = simulator.signed_query(buy("slow-1"))
    async with httpx.AsyncClient(base_url=simulator.rest_url, timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(f"{ORDER}?{query}", headers={"X-MEXC-APIKEY": simulator.api_key})
    q = await signed("GET", ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "slow-1"})
    assert q.json()["status"] == "FILLED"


async def test_timeout_before_answers_504_without_an_order(simulator, control, signed) -> None:
    await fault(control, kind="timeout", ms=100, effect="before", path=ORDER)
    started = time.monotonic()
    r = await signed("POST", ORDER, buy("slow-2"))
    assert r.status_code == 504 and time.monotonic() - started >= 0.1
    assert simulator.exchange.orders == {}


async def test_latency_applies_to_the_next_n_responses(simulator, control) -> None:
    await fault(control, kind="latency", ms=150, count=2, path="/api/v3/time")
    listed = (await control.get("/_sim/faults")).json()["faults"]
    assert [(f["kind"], f["remaining"]) for f in listed] == [("latency", 2)]
    for expected_slow in (True, True, False):
        started = time.monotonic()
        assert (await control.get("/api/v3/time")).status_code == 200
        assert (time.monotonic() - started >= 0.15) is expected_slow
    assert (await control.get("/_sim/faults")).json()["faults"] == []


async def test_bad_fault_spec_is_refused(control) -> None:
    r = await control.post("/_sim/faults", json={"kind": "meteor"})
    assert r.status_code == 400


async def subscribed(url: str, channels: list[str]):
    ws = await connect(url)
    await ws.send(json.dumps({"method": "SUBSCRIPTION", "params": channels, "id": 1}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 2))
    assert ack["code"] == 0
    return ws


async def closed_code(ws) -> int | None:
    with pytest.raises(ConnectionClosed) as exc:
        while True:
            await asyncio.wait_for(ws.recv(), 2)
    return exc.value.rcvd.code if exc.value.rcvd else None


async def test_ws_drop_now_then_on_the_next_subscription(simulator, control) -> None:
    first = await subscribed(simulator.ws_url, [DEALS])
    second = await subscribed(simulator.ws_url, [BOOK])
    await fault(control, kind="ws_drop", count=2)
    assert await closed_code(first) is None  # abrupt: no close frame (1006 on the client)
    assert await closed_code(second) is None
    third = await connect(simulator.ws_url)
    await third.send(json.dumps({"method": "SUBSCRIPTION", "params": [DEALS], "id": 2}))
    ack = json.loads(await asyncio.wait_for(third.recv(), 2))
    assert ack["code"] == 0  # the ack goes out, then the connection drops
    assert await closed_code(third) is None
    fourth = await subscribed(simulator.ws_url, [DEALS])
    await asyncio.wait_for(fourth.recv(), 2)  # this one lives
    assert (await control.get("/_sim/faults")).json()["faults"] == []
    await fourth.close()


async def test_ws_drop_every_ms(simulator, control) -> None:
    ws = await subscribed(simulator.ws_url, [DEALS])
    await fault(control, kind="ws_drop", count=2, ms=100)
    await closed_code(ws)
    again = await subscribed(simulator.ws_url, [DEALS])
    await closed_code(again)  # dropped by the timer ~100 ms later
    assert (await control.get("/_sim/faults")).json()["faults"] == []


async def test_ws_malformed_frames_then_valid_ones(simulator, control) -> None:
    ws = await subscribed(simulator.ws_url, [BOOK])
    await fault(control, kind="ws_malformed", count=2)

    def parses(frame: bytes) -> bool:
        try:
            push_pb2.PushDataV3ApiWrapper().ParseFromString(frame)
        except DecodeError:
            return False
        return True

    frames = [await asyncio.wait_for(ws.recv(), 2)]
    while parses(frames[-1]):  # pushes already on the wire when the fault landed
        frames.append(await asyncio.wait_for(ws.recv(), 2))
    frames.append(await asyncio.wait_for(ws.recv(), 2))
    frames.append(await asyncio.wait_for(ws.recv(), 2))
    assert [parses(f) for f in frames[-3:]] == [False, False, True]
    await ws.close()


async def test_ws_malformed_json_replies(simulator, control) -> None:
    async with connect(simulator.ws_url) as ws:
        await fault(control, kind="ws_malformed", count=1, frames="all")
        await ws.send(json.dumps({"method": "PING"}))
        with pytest.raises(json.JSONDecodeError):
            json.loads(await asyncio.wait_for(ws.recv(), 2))
        await ws.send(json.dumps({"method": "PING"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 2))["msg"] == "PONG"
