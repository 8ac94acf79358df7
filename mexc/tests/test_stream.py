"""The WebSocket stream client against the simulator: pushes, drops, backoff, bad frames."""

import asyncio

import pytest

from mexc.codec import MalformedFrame, decode
from mexc.proto import push_pb2
from mexc.stream import (
    BACKOFF_S,
    Connected,
    Deals,
    Disconnected,
    MexcStream,
    MiniTickers,
    deals_channel,
    mini_tickers_channel,
)


class FastSleep:
    """Records the delays asked for and returns at once (so drop tests take milliseconds)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def next_event(events, kind, timeout=3.0):
    async def find():
        async for event in events:
            if isinstance(event, kind):
                return event
        return None

    return await asyncio.wait_for(find(), timeout)


async def test_a_new_symbols_first_mini_ticker_arrives(simulator, control):
    stream = MexcStream(simulator.ws_url, [mini_tickers_channel()])
    events = stream.events()
    await next_event(events, Connected)
    await control.post(
        "/_sim/listings", json={"symbol": "FRESHUSDT", "open_in_ms": 0, "price": "0.0123"}
    )

    async def seen():
        async for event in events:
            if isinstance(event, MiniTickers) and "FRESHUSDT" in event.symbols:
                return event

    event = await asyncio.wait_for(seen(), 3)
    assert event.prices[event.symbols.index("FRESHUSDT")].startswith("0.012")
    assert event.received_ns > 0 and event.send_time > 0
    stream.stop()
    await events.aclose()


async def test_per_symbol_deals_fire_at_the_open(simulator, control):
    open_at = simulator.exchange.now_ms() + 200
    await control.post(
        "/_sim/listings", json={"symbol": "OPENUSDT", "open_at_ms": open_at, "price": "1"}
    )
    stream = MexcStream(simulator.ws_url, [deals_channel("OPENUSDT")])
    events = stream.events()
    deals = await next_event(events, Deals)
    assert deals.symbol == "OPENUSDT" and deals.deals[0].price == 1
    assert deals.send_time >= open_at
    stream.stop()
    await events.aclose()


async def test_drops_reconnect_with_the_documented_backoff_and_resubscribe(simulator, control):
    sleep = FastSleep()
    stream = MexcStream(simulator.ws_url, [mini_tickers_channel()], sleep=sleep)
    events = stream.events()
    await next_event(events, Connected)
    await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 8})
    retries = []
    for _ in range(8):
        retries.append((await next_event(events, Disconnected)).retry_in)
        await next_event(events, Connected)
    assert retries == [1, 2, 4, 8, 16, 30, 30, 30]
    assert sleep.delays == retries
    # resubscribed after the last reconnect: a new listing still arrives
    await control.post("/_sim/listings", json={"symbol": "BACKUSDT", "price": "2"})

    async def seen():
        async for event in events:
            if isinstance(event, MiniTickers) and "BACKUSDT" in event.symbols:
                return True

    assert await asyncio.wait_for(seen(), 3)
    assert stream.reconnects == 8
    stream.stop()
    await events.aclose()


async def test_backoff_resets_after_a_stable_connection(simulator, control):
    clock = [0.0]
    sleep = FastSleep()
    stream = MexcStream(
        simulator.ws_url,
        [mini_tickers_channel()],
        sleep=sleep,
        clock=lambda: clock[0],
        stable_after_s=60,
    )
    events = stream.events()
    await next_event(events, Connected)
    await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 2})
    await next_event(events, Disconnected)
    await next_event(events, Connected)
    await next_event(events, Disconnected)
    await next_event(events, Connected)
    clock[0] += 61  # stable for a minute
    await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 1})
    assert (await next_event(events, Disconnected)).retry_in == BACKOFF_S[0]
    assert stream.delays == [1, 2, 1]
    stream.stop()
    await events.aclose()


async def test_malformed_frames_are_counted_and_skipped(simulator, control):
    stream = MexcStream(simulator.ws_url, [mini_tickers_channel()])
    events = stream.events()
    await next_event(events, Connected)
    await control.post("/_sim/faults", json={"kind": "ws_malformed", "count": 3})
    event = await next_event(events, MiniTickers)
    assert stream.malformed_frames == 3 and event.symbols
    stream.stop()
    await events.aclose()


async def test_subscriptions_beyond_thirty_are_refused_clearly():
    channels = [deals_channel(f"S{i}USDT") for i in range(30)]
    stream = MexcStream("ws://127.0.0.1:9/ws", channels)
    with pytest.raises(ValueError, match="30 subscriptions"):
        await stream.subscribe(deals_channel("ONEMOREUSDT"))
    with pytest.raises(ValueError, match="30 subscriptions"):
        MexcStream("ws://127.0.0.1:9/ws", [*channels, "x"])


async def test_proactive_reconnect_before_the_max_age(simulator):
    clock = [0.0]
    sleep = FastSleep()
    stream = MexcStream(
        simulator.ws_url,
        [mini_tickers_channel()],
        sleep=sleep,
        clock=lambda: clock[0],
        max_age_s=100,
        ping_interval_s=0.05,
    )
    events = stream.events()
    await next_event(events, Connected)
    clock[0] += 101
    gone = await next_event(events, Disconnected)
    assert gone.retry_in == 0 and "max age" in gone.reason
    await next_event(events, Connected)
    stream.stop()
    await events.aclose()


def test_codec_round_trip_and_garbage():
    wrapper = push_pb2.PushDataV3ApiWrapper(channel="c", symbol="ABCUSDT", sendTime=5)
    wrapper.publicAggreDeals.deals.add(price="1.5", quantity="2", tradeType=1, time=4)
    event = decode(wrapper.SerializeToString(), 9)
    assert isinstance(event, Deals) and event.deals[0].price == 1.5 and event.received_ns == 9
    with pytest.raises(MalformedFrame):
        decode(b"\xff\xff\xff\xff garbage", 0)
