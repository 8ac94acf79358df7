"""The private (user-data) stream client against a tiny local WebSocket server that speaks
MEXC's protocol: listenKey in the URL, JSON acks, protobuf pushes built with push_pb2."""

import asyncio
import contextlib
import json

import pytest
import websockets

from mexc import codec
from mexc.errors import MexcApiError
from mexc.private import PRIVATE_CHANNELS, MexcPrivateStream
from mexc.proto.push_pb2 import PushDataV3ApiWrapper
from mexc.stream import Connected, Disconnected


class Keys:
    """Stands in for MexcRestClient's listen-key methods; records every call."""

    def __init__(self, refuse_keepalive: bool = False, refuse_create: int = 0) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.refuse_keepalive = refuse_keepalive
        self.refuse_create = refuse_create
        self.n = 0

    async def create_listen_key(self) -> str:
        if self.refuse_create:
            self.refuse_create -= 1
            self.calls.append(("create", None))
            raise MexcApiError("no key for you", code=700007)
        self.n += 1
        key = f"key{self.n}"
        self.calls.append(("create", key))
        return key

    async def keepalive_listen_key(self, listen_key: str) -> None:
        self.calls.append(("keepalive", listen_key))
        if self.refuse_keepalive:
            raise MexcApiError("listenKey does not exist", code=730706)

    async def close_listen_key(self, listen_key: str) -> None:
        self.calls.append(("close", listen_key))


def order_frame(coid: str) -> bytes:
    wrapper = PushDataV3ApiWrapper(channel=PRIVATE_CHANNELS[0], symbol="BTCUSDT", sendTime=1)
    order = wrapper.privateOrders
    order.id, order.clientId, order.price, order.quantity = "C02__1", coid, "0", "0"
    order.amount, order.avgPrice, order.orderType, order.tradeType = "20", "61000", 5, 1
    order.status, order.cumulativeQuantity, order.cumulativeAmount = 2, "0.000327", "19.947"
    order.createTime = 1700000000000
    return wrapper.SerializeToString()


def account_frame() -> bytes:
    wrapper = PushDataV3ApiWrapper(channel=PRIVATE_CHANNELS[1], sendTime=2)
    account = wrapper.privateAccount
    account.vcoinName, account.balanceAmount, account.frozenAmount = "USDT", "980.05", "0"
    account.balanceAmountChange, account.frozenAmountChange, account.time = "-19.95", "0", 3
    return wrapper.SerializeToString()


@contextlib.asynccontextmanager
async def private_server():
    """Acks SUBSCRIPTION, answers PING, then pushes one order and one account frame."""
    seen: dict[str, list] = {"paths": [], "subscribed": []}

    async def handler(ws):
        seen["paths"].append(ws.request.path)
        async for message in ws:
            request = json.loads(message)
            if request.get("method") == "PING":
                await ws.send(json.dumps({"id": request["id"], "code": 0, "msg": "PONG"}))
                continue
            params = request.get("params", [])
            seen["subscribed"].append(params)
            await ws.send(json.dumps({"id": request["id"], "code": 0, "msg": ",".join(params)}))
            await ws.send(order_frame(f"coid-{len(seen['paths'])}"))
            await ws.send(account_frame())

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws", seen


async def fast_sleep(seconds):
    await asyncio.sleep(0)


async def collect(events, n, timeout=3.0):
    out = []
    async with asyncio.timeout(timeout):
        async for event in events:
            out.append(event)
            if len(out) == n:
                return out
    return out


async def test_frames_only_pass_through_decode_and_come_out_as_it_returns():
    decoded = []

    def decode(frame, received_ns, received_mono_ns):
        wrapper = PushDataV3ApiWrapper.FromString(frame)
        decoded.append(wrapper)
        return wrapper

    keys = Keys()
    async with private_server() as (url, seen):
        stream = MexcPrivateStream(keys, url, decode=decode)
        events = stream.events()
        connected, order, account = await collect(events, 3)
        stream.stop()
        await events.aclose()
    assert isinstance(connected, Connected) and "key1" not in connected.url
    assert [order, account] == decoded
    assert order.privateOrders.clientId == "coid-1" and account.privateAccount.vcoinName == "USDT"
    assert seen["paths"] == ["/ws?listenKey=key1"]
    assert seen["subscribed"] == [list(PRIVATE_CHANNELS)]
    assert keys.calls == [("create", "key1"), ("close", "key1")]  # closed on the way out


@pytest.mark.skipif(
    not hasattr(codec, "PrivateOrder"), reason="mexc.codec has no private decoding yet"
)
async def test_the_codec_turns_them_into_private_orders_and_accounts():
    async with private_server() as (url, _seen):
        stream = MexcPrivateStream(Keys(), url)
        events = stream.events()
        _, order, account = await collect(events, 3)
        stream.stop()
        await events.aclose()
    assert isinstance(order, codec.PrivateOrder) and isinstance(account, codec.PrivateAccount)
    assert order.client_order_id == "coid-1" and order.symbol == "BTCUSDT"
    assert account.asset == "USDT"


async def test_the_key_is_kept_alive_every_interval():
    keys = Keys()
    async with private_server() as (url, _seen):
        stream = MexcPrivateStream(keys, url, keepalive_s=0.05, decode=lambda *a: None)
        events = stream.events()
        await collect(events, 1)  # Connected
        async with asyncio.timeout(2):
            while stream.keepalives < 3:
                await asyncio.sleep(0.02)
        stream.stop()
        await events.aclose()
    assert [c for c in keys.calls if c[0] == "keepalive"][:3] == [("keepalive", "key1")] * 3
    assert stream.renewals == 0


async def test_a_refused_keepalive_gets_a_new_key_and_reconnects_with_it():
    keys = Keys(refuse_keepalive=True)
    async with private_server() as (url, seen):
        stream = MexcPrivateStream(
            keys, url, keepalive_s=0.1, sleep=fast_sleep, decode=lambda *a: None
        )
        events = stream.events()
        first, gone, again = await collect(events, 3)
        stream.stop()
        await events.aclose()
    assert isinstance(first, Connected) and isinstance(again, Connected)
    assert isinstance(gone, Disconnected) and "renewed" in gone.reason
    assert seen["paths"][:2] == ["/ws?listenKey=key1", "/ws?listenKey=key2"]
    assert ("keepalive", "key1") in keys.calls and ("close", "key1") in keys.calls
    assert stream.renewals >= 1


async def test_no_key_at_the_start_is_retried_on_the_backoff_schedule():
    keys = Keys(refuse_create=2)
    async with private_server() as (url, seen):
        stream = MexcPrivateStream(keys, url, sleep=fast_sleep, decode=lambda *a: None)
        events = stream.events()
        one, two, up = await collect(events, 3)
        stream.stop()
        await events.aclose()
    assert (one.retry_in, two.retry_in) == (1, 2) and "MexcApiError" in one.reason
    assert isinstance(up, Connected) and seen["paths"] == ["/ws?listenKey=key1"]
