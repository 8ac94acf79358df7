"""The WebSocket stream client against the simulator: pushes, acks, drops, backoff, bad frames."""

import asyncio
import contextlib

import websockets

from mexc.stream import (
    BACKOFF_S,
    BookTicker,
    Connected,
    Deals,
    Disconnected,
    MexcStream,
    MiniTickers,
    book_ticker_channel,
    deals_channel,
    mini_tickers_channel,
)

REFUSED_URL = "ws://127.0.0.1:9/ws"  # nothing listens on the discard port


class FastSleep:
    """Records the delays asked for and returns at once (so drop tests take milliseconds)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def until(events, predicate, timeout=3.0):
    """The first event for which ``predicate(event)`` holds (events keep flowing meanwhile)."""

    async def find():
        async for event in events:
            if predicate(event):
                return event
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(find(), timeout)


async def eventually(condition, timeout=5.0):
    """Poll ``condition()`` (the stream's tasks keep working while nobody iterates)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def next_event(events, kind, timeout=3.0):
    return await until(events, lambda e: isinstance(e, kind), timeout)


def has_symbol(symbol):
    return lambda e: isinstance(e, MiniTickers) and symbol in e.symbols


@contextlib.asynccontextmanager
async def streaming(url, channels, **kw):
    stream = MexcStream(url, channels, **kw)
    events = stream.events()
    try:
        yield stream, events
    finally:
        stream.stop()
        await events.aclose()


async def test_a_new_symbols_first_mini_ticker_arrives(simulator, control):
    async with streaming(simulator.ws_url, [mini_tickers_channel()]) as (stream, events):
        connected = await next_event(events, Connected)
        assert connected.subscriptions == 1 and stream.connected
        await control.post(
            "/_sim/listings", json={"symbol": "FRESHUSDT", "open_in_ms": 0, "price": "0.0123"}
        )
        event = await until(events, has_symbol("FRESHUSDT"))
        assert event.prices[event.symbols.index("FRESHUSDT")].startswith("0.012")
        assert event.received_ns > 0 and event.send_time > 0 and event.received_mono_ns > 0
        assert abs(event.received_ns // 1_000_000 - event.send_time) < 1000
        assert mini_tickers_channel() in stream.acked and stream.refused == {}


async def test_per_symbol_deals_fire_at_the_open(simulator, control):
    # Subscribed (and acked) before the symbol exists, as the monitor arms it: the first deal
    # on the channel is then the opening trade.
    channels = [mini_tickers_channel(), deals_channel("openusdt")]  # tickers keep events coming
    async with streaming(simulator.ws_url, channels) as (stream, events):
        await until(events, lambda e: deals_channel("OPENUSDT") in stream.acked)
        open_at = simulator.exchange.now_ms() + 100
        await control.post(
            "/_sim/listings", json={"symbol": "OPENUSDT", "open_at_ms": open_at, "price": "1"}
        )
        deals = await next_event(events, Deals)
        assert deals.symbol == "OPENUSDT" and deals.deals[0].price == 1
        assert deals.send_time >= open_at and deals.channel == deals_channel("OPENUSDT")


async def test_runtime_subscribe_and_unsubscribe_are_acked(simulator):
    async with streaming(simulator.ws_url, [mini_tickers_channel()]) as (stream, events):
        await next_event(events, Connected)
        await stream.subscribe(deals_channel("BTCUSDT"))
        await stream.subscribe(book_ticker_channel("BTCUSDT"))
        await until(events, lambda e: isinstance(e, Deals) and e.symbol == "BTCUSDT")
        await until(events, lambda e: book_ticker_channel("BTCUSDT") in stream.acked)
        await stream.unsubscribe(deals_channel("BTCUSDT"))
        await until(events, lambda e: stream.pending_controls == 0)  # the UNSUBSCRIPTION ack is in
        assert deals_channel("BTCUSDT") not in stream.acked
        rounds, deals = 0, []
        while rounds < 3:  # three mini-ticker rounds (100 ms apart): no deal push any more
            event = await next_event(events, MiniTickers | Deals)
            rounds += isinstance(event, MiniTickers)
            deals += [event] if isinstance(event, Deals) else []
        assert deals == []


async def test_a_refused_channel_is_recorded_and_the_rest_still_streams(simulator):
    bogus = "spot@public.nothing.v3.api.pb@BTCUSDT"
    async with streaming(simulator.ws_url, [bogus, mini_tickers_channel()]) as (stream, events):
        await until(events, lambda e: bogus in stream.refused)
        assert "Not Subscribed" in stream.refused[bogus]
        assert stream.acked == {mini_tickers_channel()}
        await next_event(events, MiniTickers)


async def test_drops_reconnect_with_the_documented_backoff_and_resubscribe(simulator, control):
    sleep = FastSleep()
    states = []
    async with streaming(
        simulator.ws_url, [mini_tickers_channel()], sleep=sleep, on_state=states.append
    ) as (stream, events):
        await next_event(events, Connected)
        await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 8})
        retries = []
        for _ in range(8):
            retries.append((await next_event(events, Disconnected)).retry_in)
            await next_event(events, Connected)
        assert retries == [1, 2, 4, 8, 16, 30, 30, 30]
        assert sleep.delays == retries == stream.delays
        assert [type(s).__name__ for s in states] == ["Connected"] + [
            "Disconnected",
            "Connected",
        ] * 8
        # resubscribed after the last reconnect: a new listing still arrives
        await control.post("/_sim/listings", json={"symbol": "BACKUSDT", "price": "2"})
        await until(events, has_symbol("BACKUSDT"))
        assert stream.reconnects == 8


async def test_backoff_resets_after_a_stable_connection(simulator, control):
    clock = [0.0]
    sleep = FastSleep()
    async with streaming(
        simulator.ws_url,
        [mini_tickers_channel()],
        sleep=sleep,
        clock=lambda: clock[0],
        stable_after_s=60,
    ) as (stream, events):
        await next_event(events, Connected)
        await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 2})
        for _ in range(2):
            await next_event(events, Disconnected)
            await next_event(events, Connected)
        clock[0] += 61  # stable for a minute
        await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 1})
        assert (await next_event(events, Disconnected)).retry_in == BACKOFF_S[0]
        assert stream.delays == [1, 2, 1]
        await next_event(events, Connected)
        assert sleep.delays == [1, 2, 1]


async def test_it_never_gives_up_on_an_unreachable_server():
    sleep = FastSleep()
    async with streaming(REFUSED_URL, [mini_tickers_channel()], sleep=sleep) as (stream, events):
        retries = [(await next_event(events, Disconnected)).retry_in for _ in range(9)]
        assert retries == [1, 2, 4, 8, 16, 30, 30, 30, 30]
        assert not stream.connected and stream.reconnects == 9


async def test_stop_cuts_a_backoff_sleep_short():
    stream = MexcStream(REFUSED_URL, [mini_tickers_channel()], backoff_s=[30])
    events = stream.events()
    assert (await next_event(events, Disconnected)).retry_in == 30
    stream.stop()  # the generator is about to sleep 30 s (real asyncio.sleep)
    rest = await asyncio.wait_for(_drain(events), 2)
    assert rest == []


async def _drain(events):
    return [event async for event in events]


async def test_malformed_frames_are_counted_and_skipped(simulator, control):
    async with streaming(simulator.ws_url, [mini_tickers_channel()]) as (stream, events):
        await next_event(events, Connected)
        await control.post("/_sim/faults", json={"kind": "ws_malformed", "count": 3})
        for _ in range(10):  # a push already on its way may come before the garbage
            event = await next_event(events, MiniTickers)
            if stream.malformed_frames:
                break
        assert stream.malformed_frames == 3 and event.symbols


async def test_malformed_json_replies_are_counted_and_skipped(simulator, control):
    await control.post("/_sim/faults", json={"kind": "ws_malformed", "count": 2, "frames": "all"})
    async with streaming(simulator.ws_url, [mini_tickers_channel()]) as (stream, events):
        event = await next_event(events, MiniTickers)  # the ack and one push were garbage
        assert stream.malformed_frames == 2 and event.symbols and stream.connected


def test_channels_beyond_thirty_go_to_another_connection_offline():
    channels = [deals_channel(f"S{i}USDT") for i in range(31)]
    stream = MexcStream(REFUSED_URL, channels)
    assert stream.connections == 2 and len(stream.subscriptions) == 31
    assert stream.subscriptions == channels  # nothing lost, order kept


async def sim_connections(control):
    return sorted(
        (len(c["subscriptions"]) for c in (await control.get("/_sim/state")).json()["connections"]),
        reverse=True,
    )


async def test_sixty_channels_are_spread_over_two_connections_and_all_stream(simulator, control):
    symbols = [f"M{i}USDT" for i in range(59)]
    for symbol in symbols:
        await control.post("/_sim/listings", json={"symbol": symbol, "price": "1"})
    async with streaming(simulator.ws_url, [mini_tickers_channel()]) as (stream, events):
        await next_event(events, Connected)
        for symbol in symbols:  # as the monitor arms them, one after the other
            await stream.subscribe(book_ticker_channel(symbol))
        everything = set(stream.subscriptions)
        assert len(everything) == 60 and stream.connections == 2
        await until(events, lambda e: stream.acked == everything, timeout=5)
        assert stream.refused == {} and stream.connected
        assert await sim_connections(control) == [30, 30]
        # a push from a channel on the second connection reaches the one iterator
        last = symbols[-1]
        await control.post("/_sim/trades", json={"symbol": last, "price": "1.5"})
        await until(events, lambda e: isinstance(e, BookTicker) and e.symbol == last)


async def test_unsubscribe_frees_room_and_an_emptied_connection_closes(simulator, control):
    sleep = FastSleep()
    first = [deals_channel(f"A{i}USDT") for i in range(30)]
    second = [deals_channel(f"B{i}USDT") for i in range(5)]
    async with streaming(simulator.ws_url, first + second, sleep=sleep) as (stream, events):
        await next_event(events, Connected)  # iterating starts the connections
        await eventually(lambda: stream.acked == set(first + second))
        assert await sim_connections(control) == [30, 5]
        states = []
        stream.on_state = states.append
        await stream.unsubscribe(first[0])
        await stream.subscribe(deals_channel("CUSDT"))  # the room on the first connection
        assert stream.connections == 2
        for channel in second:
            await stream.unsubscribe(channel)
        assert stream.connections == 1 and len(stream.subscriptions) == 30
        await eventually(lambda: deals_channel("CUSDT") in stream.acked)
        for _ in range(50):
            if await sim_connections(control) == [30]:
                break
            await asyncio.sleep(0.02)
        assert await sim_connections(control) == [30]
        assert states == []  # closing an unused connection is no disconnection
        state = (await control.get("/_sim/state")).json()["connections"][0]["subscriptions"]
        assert first[0] not in state and deals_channel("CUSDT") in state


async def test_an_unsubscribed_channel_stays_gone_after_a_reconnect(simulator, control):
    sleep = FastSleep()
    channels = [mini_tickers_channel(), deals_channel("BTCUSDT")]
    async with streaming(simulator.ws_url, channels, sleep=sleep) as (stream, events):
        await until(events, lambda e: stream.acked == set(channels))
        await stream.unsubscribe(deals_channel("BTCUSDT"))
        await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 1})
        await next_event(events, Disconnected)
        await next_event(events, Connected)
        await until(events, lambda e: stream.pending_controls == 0)
        (conn,) = (await control.get("/_sim/state")).json()["connections"]
        assert conn["subscriptions"] == [mini_tickers_channel()]
        assert stream.subscriptions == [mini_tickers_channel()]


async def test_a_drop_of_the_second_connection_is_named_and_recovered(simulator, control):
    sleep = FastSleep()
    channels = [deals_channel(f"D{i}USDT") for i in range(31)]
    async with streaming(simulator.ws_url, channels, sleep=sleep) as (stream, events):
        ups = {(await next_event(events, Connected)).connection for _ in range(2)}
        assert ups == {0, 1}
        await eventually(lambda: stream.acked == set(channels))
        await control.post("/_sim/faults", json={"kind": "ws_drop", "count": 1})  # all, once
        downs = {(await next_event(events, Disconnected)).connection for _ in range(2)}
        assert downs == {0, 1}
        ups = {(await next_event(events, Connected)).connection for _ in range(2)}
        assert ups == {0, 1} and stream.connected
        await eventually(lambda: stream.pending_controls == 0)
        assert stream.acked == set(channels)
        assert await sim_connections(control) == [30, 1]


async def test_proactive_make_before_break_rollover_before_the_max_age(simulator, control):
    clock = [0.0]
    sleep = FastSleep()
    async with streaming(
        simulator.ws_url,
        [mini_tickers_channel()],
        sleep=sleep,
        clock=lambda: clock[0],
        max_age_s=100,
        ping_interval_s=0.05,
    ) as (stream, events):
        await next_event(events, Connected)
        clock[0] += 101
        gone = await next_event(events, Disconnected)
        assert gone.retry_in == 0 and "max age" in gone.reason
        await next_event(events, Connected)
        assert sleep.delays == [] and stream.reconnects == 1  # nothing slept
        await control.post("/_sim/listings", json={"symbol": "ROLLUSDT", "price": "3"})
        await until(events, has_symbol("ROLLUSDT"))  # the new connection is subscribed
        assert len((await control.get("/_sim/state")).json()["connections"]) == 1


async def test_a_silent_connection_is_declared_dead_and_replaced():
    async def silent(ws):
        async for _ in ws:  # reads everything, answers nothing
            pass

    async with websockets.serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        sleep = FastSleep()
        async with streaming(
            f"ws://127.0.0.1:{port}/ws",
            [mini_tickers_channel()],
            sleep=sleep,
            ping_interval_s=0.05,
            liveness_timeout_s=0.2,
        ) as (stream, events):
            await next_event(events, Connected)
            gone = await next_event(events, Disconnected)
            assert gone.reason.startswith("dead: nothing received") and gone.retry_in == 1
            await next_event(events, Connected)
            assert stream.acked == set()  # nobody acked anything
