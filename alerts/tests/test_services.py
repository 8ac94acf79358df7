import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import events
from alerts.models import Notification, NotificationStatus
from alerts.services import full_key, notification_record, notify
from alerts.tests.receiver import NotifyReceiver
from monitoring.metrics import notifications_total

TRADE = {
    "trade_id": 42,
    "symbol": "ABCUSDT",
    "side": "buy",
    "mode": "live",
    "quote_qty": "20",
    "executed_qty": "1234.5",
    "avg_price": "0.0162",
    "quote_spent": "19.99",
}


def _count(event: str, result: str) -> float:
    return notifications_total.labels(event=event, result=result)._value.get()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_buy_filled_reaches_receiver_once_within_2s(notify_receiver, notify_dispatcher, settings):
    settings.NOTIFY_DASHBOARD_URL = "https://bot.example.com"
    notify(events.BUY_FILLED, key=42, payload=TRADE)
    notify(events.BUY_FILLED, key=42, payload=TRADE)  # same fill reported twice: sent once
    messages = notify_receiver.wait_for(1, timeout=2.0)
    assert notify_dispatcher.wait_idle(timeout=5)
    assert len(notify_receiver.messages) == 1
    (message,) = messages
    assert "ABCUSDT" in message["title"] and "LIVE" in message["title"]
    assert "1234.5 @ 0.0162" in message["message"]
    assert "https://bot.example.com/dashboard/#trade-42" in message["message"]
    row = Notification.objects.get()
    assert (row.status, row.attempts, row.key) == (NotificationStatus.SENT, 1, "buy_filled:42")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_500_three_times_then_delivered_on_fourth_try(notify_receiver, notify_dispatcher):
    notify_receiver.fail_first = 3
    retries = _count(events.BUY_FILLED, events.RETRY)
    notify(events.BUY_FILLED, key=7, payload=TRADE)
    assert notify_dispatcher.wait_idle(timeout=10)
    assert notify_receiver.requests == 4 and len(notify_receiver.messages) == 1
    row = Notification.objects.get()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 4)
    # Backoff 1, 2, 4 s between tries (recorded, not slept); pacing waits are 0 here.
    assert [s for s in notify_dispatcher.slept if s] == [1.0, 2.0, 4.0]
    assert _count(events.BUY_FILLED, events.RETRY) - retries == 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_gives_up_after_max_attempts_and_counts(notify_receiver, notify_dispatcher, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    notify_receiver.fail_first = 99
    failed = _count(events.ORDER_UNKNOWN, events.FAILED)
    notify(events.ORDER_UNKNOWN, key=9, payload=TRADE)
    assert notify_dispatcher.wait_idle(timeout=10)
    row = Notification.objects.get()
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 2)
    assert "500" in row.last_error or row.last_error
    assert _count(events.ORDER_UNKNOWN, events.FAILED) - failed == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_notify_is_an_enqueue_even_when_the_channel_hangs(settings, notify_dispatcher):
    """The order path's cost: no query, no network, no wait on the caller's thread. The
    channel's send blocks until released; every notify() returns meanwhile."""
    release = threading.Event()
    started = threading.Event()

    def hanging_send(channel, *, title, body):
        started.set()
        release.wait(30)
        return True, ""

    notify_dispatcher.send = hanging_send
    settings.NOTIFY_URLS = "json://127.0.0.1:9/hang"
    with CaptureQueriesContext(connection) as queries:
        notify(events.BUY_FILLED, key=1, payload=TRADE)
        assert started.wait(5)  # the channel is now hanging in its own thread
        for i in range(2, 50):
            notify(events.BUY_FILLED, key=i, payload=TRADE)
    assert not release.is_set()
    assert len(queries) == 0  # the caller's thread touched no database
    release.set()
    assert notify_dispatcher.wait_idle(timeout=10)
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 49


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failing_or_hanging_channel_never_blocks_another(settings, notify_dispatcher):
    release = threading.Event()
    with NotifyReceiver() as good:
        hang_url = "json://127.0.0.1:9/hang"
        settings.NOTIFY_URLS = f"{hang_url} {good.url}"
        real_send = notify_dispatcher.send

        def send(channel, *, title, body):
            if channel.url == hang_url:
                release.wait(30)
                return False, "down"
            return real_send(channel, title=title, body=body)

        notify_dispatcher.send = send
        for i in range(3):
            notify(events.BUY_FILLED, key=i, payload=TRADE)
        assert len(good.wait_for(3, timeout=5)) == 3
        release.set()
        settings.NOTIFY_MAX_ATTEMPTS = 1
        assert notify_dispatcher.wait_idle(timeout=10)


@pytest.mark.django_db
def test_events_off_by_default_are_not_recorded(settings):
    settings.NOTIFY_URLS = "json://127.0.0.1:9/x"
    assert notification_record(event="listing_detected", key="1", payload={}, at=0) == []
    assert len(notification_record(event="buy_filled", key="1", payload={}, at=0)) == 1
    assert notification_record(event="buy_filled", key="1", payload={}, at=0) == []  # dedup


@pytest.mark.django_db
def test_an_event_turned_on_in_the_config_is_recorded(settings):
    from risk.services import config_update

    settings.NOTIFY_URLS = "json://127.0.0.1:9/x json://127.0.0.1:9/y"
    config_update(actor=None, changes={}, reason="noop")  # make sure the API path works
    from risk.selectors import config_get_active

    config = config_get_active()
    config.notify_events = {"listing_detected": True, "buy_filled": False}
    config.save()
    assert len(notification_record(event="listing_detected", key="L1", payload={}, at=0)) == 2
    assert notification_record(event="buy_filled", key="T1", payload={}, at=0) == []


def test_refusals_once_per_limit_per_hour():
    hour = 3600 * 500_000
    k = full_key(events.BUY_REFUSED_BY_LIMIT, "max_trades_per_hour", hour + 10)
    assert k == full_key(events.BUY_REFUSED_BY_LIMIT, "max_trades_per_hour", hour + 3599)
    assert k != full_key(events.BUY_REFUSED_BY_LIMIT, "max_trades_per_hour", hour + 3600)
    assert k != full_key(events.BUY_REFUSED_BY_LIMIT, "kill_switch", hour + 10)
    assert full_key(events.BUY_FILLED, "42", 0) == "buy_filled:42"
    assert len(full_key(events.BUY_FILLED, "x" * 500, 0)) <= 200


def test_unknown_event_is_dropped_not_raised(settings):
    settings.NOTIFY_URLS = "json://127.0.0.1:9/x"
    before = _count("unknown", events.DROPPED)
    notify("buy_filed", key=1, payload={})
    assert _count("unknown", events.DROPPED) - before == 1


def test_no_channel_costs_nothing(settings):
    settings.NOTIFY_URLS = None
    before = _count(events.BUY_FILLED, events.NO_CHANNEL)
    notify(events.BUY_FILLED, key=1, payload=TRADE)
    assert _count(events.BUY_FILLED, events.NO_CHANNEL) - before == 1


@pytest.mark.django_db
def test_notify_inside_a_rolled_back_transaction_sends_nothing(
    settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_URLS = "json://127.0.0.1:9/x"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify(events.BUY_FILLED, key=1, payload=TRADE)
    assert len(callbacks) == 1  # queued only when the caller's transaction commits


@pytest.mark.django_db
def test_kill_switch_and_live_mode_are_noticed_from_config_versions(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    from alerts import delivery
    from risk.services import config_update

    settings.NOTIFY_URLS = "json://127.0.0.1:9/x"
    queued = []
    monkeypatch.setattr(delivery, "enqueue", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        config_update(actor=None, changes={"kill_switch": True}, reason="panic")
    with django_capture_on_commit_callbacks(execute=True):
        config_update(actor=None, changes={"auto_trade": True}, reason="go")
    assert [(i.event, i.payload.get("on")) for i in queued] == [
        ("kill_switch", True),
        ("live_mode_changed", None),
    ]
    assert queued[0].payload["reason"] == "panic"
    assert queued[1].payload["auto_trade"] is True


@pytest.mark.django_db
def test_monitor_down_when_heartbeat_is_stale(settings, monkeypatch):
    from alerts import services
    from monitoring.models import BotRun, RunState

    sent = []
    monkeypatch.setattr(services, "notify", lambda event, **kw: sent.append((event, kw)))
    now = timezone.now()
    BotRun.objects.create(
        desired_state=RunState.RUNNING,
        actual_state=RunState.RUNNING,
        heartbeat_at=now - timedelta(seconds=10),
    )
    assert services.monitor_down_check(now=now) is False
    later = now + timedelta(seconds=31)  # the heartbeat is now 41 s old
    assert services.monitor_down_check(now=later) is True
    assert services.monitor_down_check(now=later + timedelta(seconds=5)) is True
    (event, first), (_, second) = sent
    assert event == "monitor_down" and first["payload"]["age_s"] == 41
    assert first["key"] == second["key"]  # one outage, one key: delivered once per channel


@pytest.mark.django_db
def test_monitor_stopped_on_purpose_is_not_down(monkeypatch):
    from alerts import services
    from monitoring.models import BotRun, RunState

    BotRun.objects.create(
        desired_state=RunState.STOPPED, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert services.monitor_down_check() is False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_monitor_down_arrives_at_the_receiver_from_the_watch_tick(
    notify_receiver, notify_dispatcher
):
    from alerts.services import watch_tick
    from monitoring.models import BotHealth, BotRun, HealthStatus, RunState

    stale = timezone.now() - timedelta(seconds=45)
    BotRun.objects.create(
        desired_state=RunState.RUNNING, actual_state=RunState.RUNNING, heartbeat_at=stale
    )
    BotHealth.objects.create(component="monitor", status=HealthStatus.OK, last_event_at=stale)
    watch_tick()
    watch_tick()
    assert notify_dispatcher.wait_idle(timeout=10)
    titles = [m["title"] for m in notify_receiver.messages]
    assert titles.count("Monitor DOWN") == 1
