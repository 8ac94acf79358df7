"""The configuration API: read, change with validation and a reason, version history."""

from __future__ import annotations

import pytest

from monitoring.models import AuditEvent
from risk.selectors import config_get_active


@pytest.fixture
def operator(api_as, operator_user):
    return api_as(operator_user)


def test_get_config_shows_settings_and_version(api_as, viewer_user):
    body = api_as(viewer_user).get("/api/config/").json()
    assert body["auto_trade"] is False
    assert body["mode"] == "dry_run"
    assert body["max_trade_usdt"] == "100.00000000"
    assert isinstance(body["version"], int)


def test_put_changes_settings_as_a_new_version(operator):
    before = operator.get("/api/config/").json()["version"]
    response = operator.put(
        "/api/config/",
        {"max_trade_usdt": "25", "max_trades_per_hour": 4, "reason": "tighter limits"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] > before
    assert body["max_trade_usdt"] == "25.00000000"
    assert body["max_trades_per_hour"] == 4
    assert config_get_active().max_trade_usdt == 25
    audit = AuditEvent.objects.filter(action="config.update").latest("created_at")
    assert audit.actor.username == "otto"
    assert audit.detail["reason"] == "tighter limits"

    history = operator.get("/api/config/history/").json()
    latest = history["results"][0]
    assert latest["version"] == body["version"]
    assert latest["changed_by"] == "otto"
    assert latest["reason"] == "tighter limits"
    assert latest["changes"] == ["max_trade_usdt", "max_trades_per_hour"]
    assert history["count"] == 2  # the seeded version and this one


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"max_trade_usdt": "-5"}, "max_trade_usdt", "greater than or equal"),
        ({"snipe_quote_usdt": "0"}, "snipe_quote_usdt", "greater than or equal"),
        ({"max_trade_usdt": "2000"}, "max_trade_usdt", "cannot exceed max position"),
        ({"max_position_usdt": "50"}, "max_trade_usdt", "cannot exceed max position"),
        ({"recv_window_ms": 5000}, "recv_window_ms", "less than or equal to 1000"),
        ({"recv_window_ms": 0}, "recv_window_ms", "greater than or equal to 1"),
        ({"mode": "yolo"}, "mode", "not a valid choice"),
        ({"max_trades_per_hour": "many"}, "max_trades_per_hour", "valid integer"),
        ({"symbol_denylist": "SCAMUSDT"}, "symbol_denylist", "list"),
        ({"name": "other"}, "non_field_errors", "Nothing to change"),
    ],
)
def test_put_rejects_bad_values_per_field_and_keeps_the_config(operator, changes, field, words):
    before = operator.get("/api/config/").json()
    response = operator.put("/api/config/", {**changes, "reason": "try"}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert operator.get("/api/config/").json() == before


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_put_requires_a_reason(operator, reason):
    body = {"max_trades_per_hour": 3}
    if reason is not None:
        body["reason"] = reason
    response = operator.put("/api/config/", body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    assert config_get_active().max_trades_per_hour != 3


def test_put_announces_the_change_to_dashboards(
    operator, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("monitoring.events.publish", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        body = operator.put(
            "/api/config/", {"kill_switch": True, "reason": "incident"}, format="json"
        ).json()
    assert sent == [("config.changed", body)]


def test_a_change_made_against_an_old_version_is_refused(operator, api_as, db):
    from django.contrib.auth.models import User

    loaded = operator.get("/api/config/").json()["version"]
    other = api_as(User.objects.create_superuser("ada", password="x"))
    other.put("/api/config/", {"max_trades_per_hour": 2, "reason": "ada first"}, format="json")
    response = operator.put(
        "/api/config/",
        {"max_trades_per_hour": 9, "reason": "stale", "expected_version": loaded},
        format="json",
    )
    assert response.status_code == 409
    assert "reload" in response.json()["detail"]
    assert config_get_active().max_trades_per_hour == 2
    current = operator.get("/api/config/").json()["version"]
    fresh = operator.put(
        "/api/config/",
        {"max_trades_per_hour": 9, "reason": "fresh", "expected_version": current},
        format="json",
    )
    assert fresh.status_code == 200
