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


# --- Limits that make no sense are refused, naming the field and the limit ------------------


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"snipe_quote_usdt": "60", "max_trade_usdt": "50"},
            {"snipe_quote_usdt": ["Snipe amount (60) cannot exceed max trade (50)."]},
        ),
        (  # lowering max trade under the snipe amount in force (20) is the same mistake
            {"max_trade_usdt": "10"},
            {"snipe_quote_usdt": ["Snipe amount (20) cannot exceed max trade (10)."]},
        ),
        (
            {"open_retry_window_ms": 60_001},
            {"open_retry_window_ms": ["Ensure this value is less than or equal to 60000."]},
        ),
        (
            {"confirmation_ttl_s": 86_401},
            {"confirmation_ttl_s": ["Ensure this value is less than or equal to 86400."]},
        ),
        (
            {"quote_asset": "²b"},
            {
                "quote_asset": [
                    "A quote asset is 2-16 upper-case letters A-Z and digits, e.g. USDT."
                ]
            },
        ),
        (
            {"quote_asset": "usdt"},
            {
                "quote_asset": [
                    "A quote asset is 2-16 upper-case letters A-Z and digits, e.g. USDT."
                ]
            },
        ),
        (
            {"recv_window_ms": 1001},
            {"recv_window_ms": ["Ensure this value is less than or equal to 1000."]},
        ),
    ],
)
def test_put_refuses_limits_that_make_no_sense(operator, changes, errors):
    before = operator.get("/api/config/").json()
    response = operator.put("/api/config/", {**changes, "reason": "try"}, format="json")
    assert (response.status_code, response.json()) == (400, errors)
    assert operator.get("/api/config/").json() == before


def test_put_accepts_the_limits_at_their_bounds(operator):
    response = operator.put(
        "/api/config/",
        {
            "snipe_quote_usdt": "50",
            "max_trade_usdt": "50",
            "open_retry_window_ms": 60_000,
            "confirmation_ttl_s": 86_400,
            "recv_window_ms": 1000,
            "quote_asset": "USDC",
            "reason": "edges",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    config = config_get_active()
    assert (config.snipe_quote_usdt, config.max_trade_usdt) == (50, 50)
    assert (config.open_retry_window_ms, config.confirmation_ttl_s) == (60_000, 86_400)
    assert config.quote_asset == "USDC"


# --- Live mode needs the API keys in this process -------------------------------------------

NO_KEYS = {"MEXC_API_KEY": None, "MEXC_SECRET_KEY": None}


@pytest.mark.parametrize("auto_trade", [True, False])
@pytest.mark.parametrize(
    ("keys", "missing"),
    [
        (NO_KEYS, "MEXC_API_KEY and MEXC_SECRET_KEY are not set"),
        ({**NO_KEYS, "MEXC_API_KEY": "k"}, "MEXC_SECRET_KEY is not set"),
        ({**NO_KEYS, "MEXC_SECRET_KEY": "s"}, "MEXC_API_KEY is not set"),
    ],
)
def test_put_refuses_live_mode_without_api_keys(operator, settings, auto_trade, keys, missing):
    for name, value in keys.items():
        setattr(settings, name, value)
    before = operator.get("/api/config/").json()
    response = operator.put(
        "/api/config/",
        {"mode": "live", "auto_trade": auto_trade, "reason": "go live"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["mode"]
    assert missing in body["mode"][0]
    assert operator.get("/api/config/").json() == before
    assert config_get_active().mode == "dry_run"


def test_put_accepts_live_mode_with_api_keys(operator, settings):
    settings.MEXC_API_KEY, settings.MEXC_SECRET_KEY = "key", "secret"
    response = operator.put(
        "/api/config/", {"mode": "live", "auto_trade": True, "reason": "go live"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["mode"] == "live"
    assert b"secret" not in response.content  # the keys are never echoed


def test_a_live_config_stays_editable_without_keys(operator, settings):
    """Keys gone later (another host, a rotated secret): the kill switch must still work."""
    settings.MEXC_API_KEY, settings.MEXC_SECRET_KEY = "key", "secret"
    operator.put("/api/config/", {"mode": "live", "reason": "go live"}, format="json")
    settings.MEXC_API_KEY = settings.MEXC_SECRET_KEY = None
    response = operator.put(
        "/api/config/", {"kill_switch": True, "reason": "incident"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert config_get_active().kill_switch is True
    back = operator.put("/api/config/", {"mode": "dry_run", "reason": "no keys"}, format="json")
    assert back.status_code == 200


def test_the_schema_explains_the_allow_and_deny_lists_as_the_config_does(api_as, viewer_user):
    from risk.models import TradeConfig

    schema = api_as(viewer_user).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["paths"]["/api/config/"]["put"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][name]["properties"]
    for field in ("symbol_allowlist", "symbol_denylist"):
        help_text = TradeConfig._meta.get_field(field).help_text
        assert help_text and properties[field]["description"] == help_text
