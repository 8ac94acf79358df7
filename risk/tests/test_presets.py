"""Presets: save the configuration (or given settings) under a name, apply it as a version."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitoring.models import AuditEvent
from risk.models import ConfigPreset
from risk.selectors import config_current_version, config_get_active
from risk.services import config_update, preset_apply, preset_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(api_as, operator_user):
    return api_as(operator_user)


def test_save_the_config_in_force_and_apply_it_later(operator, operator_user):
    config_update(actor=None, changes={"max_trade_usdt": Decimal("40")}, reason="before")
    saved = operator.post(
        "/api/config/presets/", {"name": "quiet", "description": "small"}, format="json"
    )
    assert saved.status_code == 201, saved.content
    assert saved.json()["settings"]["max_trade_usdt"] == "40.00000000"
    assert saved.json()["created_by"] == "otto"
    config_update(actor=None, changes={"max_trade_usdt": Decimal("90")}, reason="later")

    applied = operator.post("/api/config/presets/quiet/apply/", {}, format="json")
    assert applied.status_code == 200, applied.content
    assert applied.json()["max_trade_usdt"] == "40.00000000"
    version = config_current_version()
    assert version.history_change_reason == "preset quiet applied"
    assert version.history_user == operator_user
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"config.preset_save", "config.preset_apply", "config.update"} <= actions
    listed = operator.get("/api/config/presets/").json()
    assert [p["name"] for p in listed] == ["quiet"]


def test_a_preset_of_given_settings_is_validated_as_a_whole_config(operator):
    bad = operator.post(
        "/api/config/presets/",
        {"name": "wild", "settings": {"max_trade_usdt": "5000"}},
        format="json",
    )
    assert bad.status_code == 400
    assert "max_trade_usdt" in bad.json()
    unknown = operator.post(
        "/api/config/presets/", {"name": "odd", "settings": {"colour": "red"}}, format="json"
    )
    assert unknown.status_code == 201 and unknown.json()["settings"] == {}  # unknown: ignored
    ok = operator.post(
        "/api/config/presets/",
        {"name": "demo-fast", "settings": {"dry_run_max_trades_per_hour": 5000}},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    operator.post("/api/config/presets/demo-fast/apply/", {}, format="json")
    assert config_get_active().dry_run_max_trades_per_hour == 5000


def test_preset_names_are_slugs_and_saving_again_replaces(operator):
    assert (
        operator.post("/api/config/presets/", {"name": "Bad Name"}, format="json").status_code
        == 400
    )
    preset_save(actor=None, name="p1", values={"max_in_flight": 2})
    preset_save(actor=None, name="p1", values={"max_in_flight": 4})
    preset = ConfigPreset.objects.get(name="p1")
    assert preset.values == {"max_in_flight": 4}
    assert preset.history.count() == 2


def test_viewers_read_presets_but_cannot_save_or_apply(api_as, viewer_user):
    preset_save(actor=None, name="p1", values={"max_in_flight": 2})
    viewer = api_as(viewer_user)
    assert viewer.get("/api/config/presets/").status_code == 200
    assert viewer.post("/api/config/presets/", {"name": "x"}, format="json").status_code == 403
    assert viewer.post("/api/config/presets/p1/apply/", {}, format="json").status_code == 403


def test_apply_unknown_or_stale(operator):
    assert operator.post("/api/config/presets/nope/apply/", {}, format="json").status_code == 404
    preset_save(actor=None, name="p1", values={"max_in_flight": 2})
    stale = operator.post("/api/config/presets/p1/apply/", {"expected_version": -1}, format="json")
    assert stale.status_code == 409


def test_the_admin_saves_and_applies_presets(admin_client):
    response = admin_client.post(
        "/admin/risk/configpreset/add/",
        {"name": "from-admin", "description": "d", "save_current": "on", "values": "{}"},
    )
    assert response.status_code == 302, response.content
    preset = ConfigPreset.objects.get(name="from-admin")
    assert preset.values["max_trade_usdt"] == "100.00000000"
    response = admin_client.post(
        "/admin/risk/configpreset/",
        {"action": "apply_preset", "_selected_action": [preset.pk]},
    )
    assert response.status_code == 302
    assert config_current_version().history_change_reason == "preset from-admin applied"


def test_preset_apply_service_names_the_preset():
    preset_save(actor=None, name="x1", values={"max_in_flight": 7})
    preset_apply(actor=None, name="x1")
    assert config_get_active().max_in_flight == 7


def test_limits_are_per_mode():
    from risk.services import risk_limits

    config = config_get_active()
    dry = risk_limits(config)  # auto-trade off: snipes are dry runs
    assert dry.max_trades_per_hour == config.dry_run_max_trades_per_hour == 1000
    assert dry.max_position_usdt == config.dry_run_max_position_usdt
    live = risk_limits(config, mode="live")
    assert live.max_trades_per_hour == config.max_trades_per_hour == 10
    assert live.max_position_usdt == config.max_position_usdt
