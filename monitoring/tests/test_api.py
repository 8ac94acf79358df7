"""Monitor control API and the OpenAPI schema."""

from __future__ import annotations

import pytest

from monitoring.models import AuditEvent, RunState
from monitoring.services import botrun_heartbeat, botrun_mark, health_set


@pytest.fixture
def operator(api_as, operator_user):
    return api_as(operator_user)


def test_start_and_stop_set_the_desired_state_and_are_audited(operator):
    assert operator.get("/api/monitor/status/").json()["desired_state"] == "stopped"
    started = operator.post("/api/monitor/start/").json()
    assert started["desired_state"] == "running" and started["started_by"] == "otto"
    assert started["actual_state"] == "stopped"  # until the monitor loop picks it up
    assert operator.post("/api/monitor/start/").json()["run_id"] == started["run_id"]
    stopped = operator.post("/api/monitor/stop/").json()
    assert stopped["desired_state"] == "stopped" and stopped["stopped_by"] == "otto"
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["monitor.start", "monitor.stop"]


def test_status_shows_the_running_monitor_and_component_health(operator):
    from monitoring.selectors import botrun_current

    operator.post("/api/monitor/start/")
    run = botrun_current()
    botrun_mark(run=run, actual_state=RunState.RUNNING, config_version=1)
    botrun_heartbeat(run=run)
    health_set(component="mexc_websocket", status="ok")
    body = operator.get("/api/monitor/status/").json()
    assert body["actual_state"] == "running" and body["monitor_alive"] is True
    assert body["components"]["mexc_websocket"]["status"] == "ok"


def test_a_health_change_is_pushed_once(monkeypatch, db, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("monitoring.events.publish", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        health_set(component="mexc_rest", status="ok")
        health_set(component="mexc_rest", status="ok")  # same status: no event
        health_set(component="mexc_rest", status="down")
    assert [event for event, _ in sent] == ["health.changed", "health.changed"]
    assert sent[-1][1]["components"]["mexc_rest"]["status"] == "down"


def test_schema_documents_every_endpoint(api_as, viewer_user):
    response = api_as(viewer_user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/listings/",
        "/api/listings/inject/",
        "/api/trade/history/",
        "/api/trade/execute/",
        "/api/trade/{id}/confirm/",
        "/api/trade/{id}/cancel/",
        "/api/trade/export.csv",
        "/api/config/",
        "/api/config/history/",
        "/api/monitor/status/",
        "/api/monitor/start/",
        "/api/monitor/stop/",
        "/api/risk/metrics/",
        "/api/analytics/latency/",
    ):
        assert path in paths, path
    assert "put" in paths["/api/config/"]


def test_swagger_ui_is_served_without_a_cdn(client, viewer_user):
    client.force_login(viewer_user)
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_publishing_never_waits_for_a_dead_channel_layer(monkeypatch):
    """Redis down: the push fails in the sender thread, the caller returns at once."""
    import threading
    import time

    from monitoring import events

    calls: list[str] = []
    release = threading.Event()

    class StuckLayer:
        async def group_send(self, group, msg):
            calls.append(msg["event"])
            release.wait(5)  # a layer hanging on a dead Redis
            raise ConnectionError("redis is down")

    monkeypatch.setattr(events, "get_channel_layer", lambda: StuckLayer())
    started = time.perf_counter()
    assert events.publish(events.TRADE_UPDATED, {"id": 1}) is True
    assert events.publish(events.TRADE_UPDATED, {"id": 2}) is True
    assert time.perf_counter() - started < 0.05
    release.set()
    assert events.flush(5)
    assert calls == ["trade.updated", "trade.updated"]


def test_an_unknown_event_is_a_programming_error():
    from monitoring import events

    with pytest.raises(ValueError, match="Unknown dashboard event"):
        events.publish("listing.deleted", {})


def test_an_unchanged_health_report_is_written_at_most_every_few_seconds(db, monkeypatch):
    from monitoring import services
    from monitoring.models import BotHealth

    clock = [1000.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: clock[0])
    assert health_set(component="mexc_rest", status="ok") is not None
    first = BotHealth.objects.get(component="mexc_rest").last_event_at
    clock[0] += 1
    assert health_set(component="mexc_rest", status="ok") is None  # skipped: nothing new
    assert health_set(component="mexc_rest", status="down") is not None  # a change: at once
    clock[0] += services.HEALTH_REFRESH_S + 0.1
    health_set(component="mexc_rest", status="down")
    assert BotHealth.objects.get(component="mexc_rest").last_event_at > first
