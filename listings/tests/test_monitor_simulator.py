"""The real monitor loop against the simulator over loopback (WebSocket, REST, calendar)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from listings.mexc_feed import MexcFeed
from listings.models import Listing, ListingSource
from listings.monitor import ListingMonitor, MonitorConfig
from mexc.rest import MexcRestClient
from mexc.simulator import SimulatorConfig, run_simulator

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("close_thread_connections"),
]
FAST_SIM = SimulatorConfig(port=0, mini_tickers_interval_ms=50, market_tick_ms=100)


async def quick_sleep(seconds: float) -> None:
    """Backoff delays are asserted in mexc's tests; here they only need to keep their order."""
    await asyncio.sleep(min(seconds, 0.01))


class Handoffs:
    """Listings handed to trading, observable from the event loop without polling."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ids: list[int] = []
        self.changed = asyncio.Event()
        self.lock = threading.Lock()

    def __call__(self, **kwargs) -> None:  # runs in the DB thread, after commit
        with self.lock:
            self.ids.append(kwargs["listing_id"])
        self.loop.call_soon_threadsafe(self.changed.set)

    async def wait_for(self, count: int, timeout: float) -> list[int]:
        async def reach():
            while len(self.ids) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(reach(), timeout)
        return list(self.ids)


@pytest.fixture
async def handoffs(monkeypatch, trading_port):
    recorder = Handoffs(asyncio.get_running_loop())
    monkeypatch.setattr(trading_port, "listing_recorded", recorder)
    return recorder


@contextlib.asynccontextmanager
async def running_monitor(sim, *, ws_url=None, holder="t", **config):
    rest = MexcRestClient(base_url=sim.rest_url, timeout=1.0)
    feed = MexcFeed(
        rest=rest,
        ws_url=ws_url or sim.ws_url,
        calendar_url=sim.calendar_url,
        stream_options={"sleep": quick_sleep},
    )
    defaults = {
        "tick": 0.05,
        "rest_interval": 60.0,
        "calendar_interval": 60.0,
        "heartbeat_interval": 0.2,
    }
    monitor = ListingMonitor(
        feed=feed, config=MonitorConfig(**{**defaults, **config}), holder=holder
    )
    task = asyncio.create_task(monitor.run_forever())
    try:
        await wait_until(lambda: monitor.active and monitor.stats["rest_polls"] >= 1, 5)
        yield monitor
    finally:
        monitor.request_shutdown()
        await asyncio.wait_for(task, 5)


async def wait_until(predicate, timeout: float) -> None:
    """For in-memory state the loop owns (no event to await): check on each loop turn."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def rows(symbol=None):
    def read():
        qs = Listing.objects.order_by("id")
        if symbol:
            qs = qs.filter(symbol=symbol)
        return list(qs.values_list("symbol", "source", "listed_at"))

    return await sync_to_async(read, thread_sensitive=True)()


async def list_on_sim(sim, **body):
    async with httpx.AsyncClient(base_url=sim.rest_url) as h:
        response = await h.post("/_sim/listings", json=body)
        assert response.status_code == 201, response.text
        return response.json()


async def inject_fault(sim, **body):
    async with httpx.AsyncClient(base_url=sim.rest_url) as h:
        assert (await h.post("/_sim/faults", json=body)).status_code == 201


async def test_a_new_symbol_is_a_websocket_listing_within_a_second(handoffs):
    async with run_simulator(FAST_SIM) as sim, running_monitor(sim) as monitor:
        await wait_until(lambda: monitor.ws_connected, 5)
        started = asyncio.get_running_loop().time()
        await list_on_sim(sim, symbol="WSNEWUSDT", open_in_ms=0, price="0.0123")
        await handoffs.wait_for(1, timeout=1.0)
        assert asyncio.get_running_loop().time() - started < 1.0
    assert [(s, src) for s, src, _ in await rows()] == [("WSNEWUSDT", ListingSource.WEBSOCKET)]


async def test_with_the_websocket_failing_rest_finds_it(handoffs):
    async with (
        run_simulator(FAST_SIM) as sim,
        running_monitor(sim, ws_url="ws://127.0.0.1:9/ws", rest_interval=0.1) as monitor,
    ):
        await list_on_sim(sim, symbol="RESTNEWUSDT", open_in_ms=0, price="1")
        await handoffs.wait_for(1, timeout=3)
        assert not monitor.ws_connected
    assert [(s, src) for s, src, _ in await rows()] == [("RESTNEWUSDT", ListingSource.REST)]


async def test_ws_drops_during_a_burst_lose_nothing_and_duplicate_nothing(handoffs):
    burst = [f"BURST{i:02d}USDT" for i in range(50)]
    async with run_simulator(FAST_SIM) as sim, running_monitor(sim, rest_interval=0.5) as m:
        await wait_until(lambda: m.ws_connected, 5)
        await inject_fault(sim, kind="ws_drop", count=5, ms=30)
        for symbol in burst:
            await list_on_sim(sim, symbol=symbol, open_in_ms=0, price="0.5")
        await handoffs.wait_for(50, timeout=10)
    recorded = await rows()
    assert sorted(s for s, _, _ in recorded) == burst
    assert len(handoffs.ids) == len(set(handoffs.ids)) == 50


async def test_stop_then_start_by_command_within_two_seconds(handoffs):
    cmd = sync_to_async(call_command, thread_sensitive=True)
    async with run_simulator(FAST_SIM) as sim, running_monitor(sim) as monitor:
        await cmd("monitor", "stop")
        await wait_until(lambda: not monitor.active, 2)
        await list_on_sim(sim, symbol="WHILESTOPPEDUSDT", open_in_ms=0, price="1")
        await cmd("monitor", "start")
        await wait_until(lambda: monitor.active, 2)
        # started again: the one that opened while stopped is caught by the universe diff
        await handoffs.wait_for(1, timeout=3)
    assert [(s, src) for s, src, _ in await rows()] == [("WHILESTOPPEDUSDT", ListingSource.REST)]


async def test_a_calendar_listing_and_its_websocket_sighting_are_one_row(handoffs):
    async with (
        run_simulator(FAST_SIM) as sim,
        running_monitor(sim, calendar_interval=0.1, arm_lead=60),
    ):
        listed = await list_on_sim(sim, symbol="CALNEWUSDT", open_in_ms=800, price="0.2")
        await handoffs.wait_for(1, timeout=5)
    ((symbol, source, listed_at),) = await rows()
    assert (symbol, source) == ("CALNEWUSDT", ListingSource.WEBSOCKET)
    assert int(listed_at.timestamp() * 1000) == listed["open_at_ms"]


async def test_a_restart_catches_what_opened_while_down_once(handoffs):
    async with run_simulator(FAST_SIM) as sim:
        async with running_monitor(sim, holder="first"):
            pass
        await list_on_sim(sim, symbol="DOWNTIMEUSDT", open_in_ms=0, price="1")
        async with running_monitor(sim, holder="second"):
            await handoffs.wait_for(1, timeout=3)
        async with running_monitor(sim, holder="third"):
            pass
    assert [(s, src) for s, src, _ in await rows()] == [("DOWNTIMEUSDT", ListingSource.REST)]
    assert len(handoffs.ids) == 1
