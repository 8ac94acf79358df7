"""The monitor's steps, called directly (no sleeps), on a scripted feed."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from listings.feed import Announcement, Sighting, StreamState
from listings.models import Listing, ListingSource, UpcomingListing, UpcomingStatus
from listings.monitor import ListingMonitor, MonitorConfig
from listings.tests.fakes import ScriptedFeed
from monitoring.models import BotHealth, BotRun, RunState
from monitoring.services import monitor_request_start, monitor_request_stop

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("close_thread_connections"),
]


@pytest.fixture
def armed(trading_port):
    return trading_port.armed


def _db(fn, *args, **kwargs):
    return sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)


async def _listings():
    return await _db(lambda: list(Listing.objects.order_by("id").values_list("symbol", "source")))


async def _health(component):
    return (await _db(BotHealth.objects.get, component=component)).status


async def _started_monitor(feed, **config):
    monitor = ListingMonitor(feed=feed, config=MonitorConfig(**config), holder="test-1")
    await _db(monitor_request_start, actor=None, actor_label="test")
    await monitor.step_control()
    assert monitor.active
    return monitor


async def test_existing_symbols_are_never_new_and_a_new_one_is_recorded_once(dispatched):
    feed = ScriptedFeed()
    monitor = await _started_monitor(feed)
    await monitor.on_sighting(Sighting(["BTCUSDT", "ETHUSDT"], time.time_ns()))
    assert await _listings() == []
    await monitor.on_sighting(Sighting(["BTCUSDT", "NEWUSDT"], time.time_ns()))
    await monitor.on_sighting(Sighting(["NEWUSDT"], time.time_ns()))
    assert await _listings() == [("NEWUSDT", ListingSource.WEBSOCKET)]
    feed.symbols.add("NEWUSDT")
    await monitor.step_rest()  # REST sees it too: still one row
    assert await _listings() == [("NEWUSDT", ListingSource.WEBSOCKET)]
    assert [c["listing_id"] for c in dispatched] == [(await _db(Listing.objects.get)).pk]
    await monitor.stop_session(reason="test")


async def test_rest_fallback_finds_listings_while_the_stream_is_down(dispatched):
    feed = ScriptedFeed()
    monitor = await _started_monitor(feed)
    await monitor.on_stream_state(StreamState(connected=False, reason="drop", retry_in=1))
    feed.symbols.add("RESTUSDT")
    await monitor.step_rest()
    assert await _listings() == [("RESTUSDT", ListingSource.REST)]
    assert await _health("monitor") == "degraded"
    assert await _health("mexc_websocket") == "down"
    await monitor.on_stream_state(StreamState(connected=True))
    assert await _health("monitor") == "ok"
    await monitor.stop_session(reason="test")


async def test_a_listing_found_by_rest_is_recorded_before_the_universe_is_synced(
    dispatched, monkeypatch
):
    from listings import monitor as monitor_module

    feed = ScriptedFeed()
    monitor = await _started_monitor(feed)
    recorded_at_sync: list[list] = []
    sync = monitor_module.universe_sync

    def watched_sync(**kwargs):
        recorded_at_sync.append(list(Listing.objects.values_list("symbol", flat=True)))
        return sync(**kwargs)

    monkeypatch.setattr(monitor_module, "universe_sync", watched_sync)
    feed.symbols.add("FIRSTUSDT")
    await monitor.step_rest()
    assert recorded_at_sync == [["FIRSTUSDT"]]  # the listing did not wait for the bookkeeping
    assert await _listings() == [("FIRSTUSDT", ListingSource.REST)] and len(dispatched) == 1
    await monitor.step_rest()  # the next snapshot: nothing new
    assert len(await _listings()) == 1
    await monitor.stop_session(reason="test")


async def test_a_snapshot_missing_most_symbols_is_not_believed_even_for_new_ones(dispatched):
    feed = ScriptedFeed({f"S{i:02d}USDT" for i in range(10)})
    monitor = await _started_monitor(feed)
    feed.symbols = {"S00USDT", "ODDUSDT"}  # nine of ten known symbols gone at once
    await monitor.step_rest()
    assert await _listings() == [] and dispatched == []
    feed.symbols = {f"S{i:02d}USDT" for i in range(10)} | {"ODDUSDT"}
    await monitor.step_rest()  # a whole snapshot again: the new symbol is a listing
    assert await _listings() == [("ODDUSDT", ListingSource.REST)]
    await monitor.stop_session(reason="test")


async def test_an_unchanged_snapshot_leaves_the_database_alone_until_the_sync_is_due(
    dispatched, monkeypatch
):
    from listings import monitor as monitor_module

    syncs: list[set] = []
    sync = monitor_module.universe_sync

    def counted_sync(**kwargs):
        syncs.append(set(kwargs["symbols"]))
        return sync(**kwargs)

    monkeypatch.setattr(monitor_module, "universe_sync", counted_sync)
    feed = ScriptedFeed({f"S{i:02d}USDT" for i in range(10)})
    monitor = await _started_monitor(feed, universe_sync_interval=3600)
    assert len(syncs) == 1  # on start
    await monitor.step_rest()
    await monitor.step_rest()
    assert len(syncs) == 1
    feed.symbols.discard("S09USDT")  # delisted on the exchange: the database must hear of it
    await monitor.step_rest()
    assert len(syncs) == 2 and "S09USDT" not in monitor.known
    monitor.config.universe_sync_interval = 0  # due again: a full sync even when unchanged
    await monitor.step_rest()
    assert len(syncs) == 3
    await monitor.stop_session(reason="test")


async def test_stop_and_start_are_followed_on_the_next_control_step(dispatched):
    feed = ScriptedFeed()
    monitor = await _started_monitor(feed)
    run = await _db(BotRun.objects.get)
    assert run.actual_state == RunState.RUNNING and run.config_version is not None
    await _db(monitor_request_stop, actor=None, actor_label="ops")
    await monitor.step_control()
    assert not monitor.active and monitor._stream_task is None
    assert (await _db(BotRun.objects.get)).actual_state == RunState.STOPPED
    feed.symbols.add("LATEUSDT")
    await monitor.step_once()  # stopped: no detection, no trade
    assert await _listings() == []
    await _db(monitor_request_start, actor=None, actor_label="ops")
    await monitor.step_control()
    assert monitor.active
    await monitor.stop_session(reason="test")


async def test_a_listing_that_opened_while_the_monitor_was_down_is_found_on_start(dispatched):
    feed = ScriptedFeed()
    first = await _started_monitor(feed)
    await first.stop_session(reason="restart")
    feed.symbols.add("MISSEDUSDT")
    second = ListingMonitor(feed=feed, holder="test-2")
    await second.step_control()
    assert await _listings() == [("MISSEDUSDT", ListingSource.REST)]
    await second.stop_session(reason="test")
    third = ListingMonitor(feed=feed, holder="test-3")
    await third.step_control()
    assert await _listings() == [("MISSEDUSDT", ListingSource.REST)]
    await third.stop_session(reason="test")


async def test_without_rest_on_first_start_nothing_is_detected_blindly(dispatched):
    feed = ScriptedFeed()
    feed.rest_down = True
    monitor = ListingMonitor(feed=feed, holder="t")
    await _db(monitor_request_start, actor=None)
    await monitor.step_control()
    assert not monitor.active  # no baseline: every ticker would look new
    feed.rest_down = False
    await monitor.step_control()
    assert monitor.active
    await monitor.stop_session(reason="test")


async def test_a_second_monitor_waits_on_the_lease(dispatched):
    feed = ScriptedFeed()
    first = ListingMonitor(feed=feed, holder="first", config=MonitorConfig(lease_ttl=30))
    await first.wait_for_lease()
    second = ListingMonitor(
        feed=feed, holder="second", config=MonitorConfig(heartbeat_interval=0.01)
    )
    waiting = asyncio.create_task(second.wait_for_lease())
    await asyncio.sleep(0.05)  # several lease attempts by the second monitor
    assert not waiting.done()
    from monitoring.services import lease_release

    await _db(lease_release, name="listing-monitor", holder="first")
    await asyncio.wait_for(waiting, timeout=2)


async def test_announced_listing_is_armed_before_its_open(dispatched, armed, trading_port):
    feed = ScriptedFeed()
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    feed.calendar = [
        Announcement(symbol="SOONUSDT", open_at=opens, full_name="Soon"),
        Announcement(symbol="LATERUSDT", open_at=opens + timedelta(hours=2)),
    ]
    monitor = await _started_monitor(feed, arm_lead=60, record_after_price=0.2)
    await monitor.step_calendar()
    await monitor.step_arm()
    assert feed.watched == ["SOONUSDT"]
    soon = await _db(UpcomingListing.objects.get, symbol="SOONUSDT")
    assert soon.status == UpcomingStatus.ARMED
    assert armed == [soon.pk]
    # its first trade on the per-symbol stream: one listing, at the announced open time, and
    # its price handed to trading (the armed entry is priced from it)
    first = Sighting(["SOONUSDT"], time.time_ns(), channel="deals", price=Decimal("0.7"))
    await monitor.on_sighting(first)
    assert trading_port.prices == [("SOONUSDT", Decimal("0.7"))]
    await monitor.on_sighting(Sighting(["NOTARMEDUSDT"], time.time_ns(), price=Decimal("1")))
    assert trading_port.prices == [("SOONUSDT", Decimal("0.7"))]  # armed symbols only
    # its order goes first: the row is written a moment later, with the sighting's stamps
    await monitor.on_sighting(Sighting(["SOONUSDT"], time.time_ns(), price=Decimal("0.8")))
    assert not await _db(Listing.objects.filter(symbol="SOONUSDT").exists)
    for _ in range(100):  # recorded 0.2 s later (record_after_price)
        if await _db(Listing.objects.filter(symbol="SOONUSDT").exists):
            break
        await asyncio.sleep(0.05)
    listing = await _db(Listing.objects.get, symbol="SOONUSDT")
    assert listing.detected_at.timestamp() == pytest.approx(first.received_ns / 1e9, abs=1e-3)
    assert listing.listed_at == opens
    await monitor.step_calendar()
    await monitor.step_arm()
    assert feed.watched == ["SOONUSDT"]  # armed once
    await monitor.stop_session(reason="test")


async def test_a_burst_of_fifty_in_one_second_loses_nothing(dispatched):
    feed = ScriptedFeed()
    monitor = await _started_monitor(feed)
    burst = [f"B{i:02d}USDT" for i in range(50)]
    await monitor.on_sighting(Sighting(burst, time.time_ns()))
    feed.symbols.update(burst)
    await monitor.step_rest()
    assert sorted(s for s, _ in await _listings()) == burst
    assert len(dispatched) == 50
    await monitor.stop_session(reason="test")


async def test_the_monitor_asks_trading_to_reconcile_periodically(dispatched, reconciles):
    monitor = await _started_monitor(ScriptedFeed(), reconcile_interval=3600)
    await monitor.step_once()
    await monitor.step_once()
    assert reconciles == [1]  # due once per interval, not per tick
    await monitor.stop_session(reason="test")


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="the server dropping a connection: PostgreSQL",
)
async def test_the_monitors_database_thread_connects_again_after_the_server_dropped_it():
    import psycopg
    from django.db import OperationalError, connection

    from listings.monitor import _db as on_monitor_thread

    count = on_monitor_thread(lambda: Listing.objects.count())  # no transaction to roll back
    assert await count() == 0
    info = await on_monitor_thread(lambda: connection.connection.info)()
    password = connection.settings_dict["PASSWORD"]
    async with await psycopg.AsyncConnection.connect(info.dsn, password=password) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (info.backend_pid,))  # a restart

    with pytest.raises(OperationalError):
        await count()
    assert await count() == 0  # connected again, not "the connection is closed" from now on


async def test_sixty_announced_symbols_in_a_minute_never_run_out_of_subscriptions(armed):
    """MEXC allows 30 subscriptions per connection: an armed symbol's own stream is dropped
    once its open has passed, so the next announcements still get theirs."""
    feed = ScriptedFeed()
    now = datetime.now(UTC).replace(microsecond=0)
    feed.calendar = [
        Announcement(symbol=f"A{i:02d}USDT", open_at=now + timedelta(seconds=i)) for i in range(60)
    ]
    monitor = await _started_monitor(feed, arm_lead=120, watch_after_open=0)
    await monitor.step_calendar()
    await monitor.step_arm()
    assert len(feed.watched) == 60 and len(armed) == 60
    feed.now = now + timedelta(seconds=61)  # a minute later every open has passed
    await monitor.step_arm()
    assert sorted(feed.unwatched) == sorted(feed.watched)
    await monitor.stop_session(reason="test")


async def test_a_refused_calendar_is_shown_as_unavailable_not_as_no_listings():
    from monitoring.models import BotHealth

    feed = ScriptedFeed()
    feed.calendar_error = ConnectionError("403 Forbidden (HTML page)")
    monitor = await _started_monitor(feed)
    await monitor.step_calendar()
    health = await _db(BotHealth.objects.get, component="mexc_calendar")
    assert health.status == "down" and "403" in health.detail["detail"]
    feed.calendar_error = None
    await monitor.step_calendar()
    health = await _db(BotHealth.objects.get, component="mexc_calendar")
    assert health.status == "ok"
    await monitor.stop_session(reason="test")


async def test_a_listing_seen_late_is_recorded_at_its_real_open(dispatched):
    """The REST diff saw it 9.9 s after it opened: its first trade says when, and the listing
    says so (freshness then counts from the open, not from the sighting)."""
    feed = ScriptedFeed()
    monitor = await _started_monitor(feed)
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=9.9)
    feed.opened["LATEUSDT"] = (opened, "first_trade")
    feed.symbols.add("LATEUSDT")
    await monitor.step_rest()
    listing = await _db(Listing.objects.get, symbol="LATEUSDT")
    assert (listing.listed_at, listing.listed_at_source) == (opened, "first_trade")
    assert listing.detected_at - listing.listed_at >= timedelta(seconds=9)
    await monitor.stop_session(reason="test")
