"""Config validation lives on the model: the admin form and the API refuse the same things."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from risk.models import TradeConfig
from risk.selectors import config_current_version, config_get_active
from risk.tests.factories import admin_form_data

pytestmark = pytest.mark.django_db


def _post_admin(admin_client, **overrides):
    config = config_get_active()
    return admin_client.post(
        f"/admin/risk/tradeconfig/{config.pk}/change/",
        admin_form_data(config, change_reason="admin edit", **overrides),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"snipe_quote_usdt": "60", "max_trade_usdt": "50"},
            "Snipe amount (60) cannot exceed max trade (50).",
        ),
        ({"open_retry_window_ms": "60001"}, "less than or equal to 60000"),
        ({"confirmation_ttl_s": "86401"}, "less than or equal to 86400"),
        ({"quote_asset": "²b"}, "upper-case letters A-Z and digits"),
        ({"recv_window_ms": "1001"}, "less than or equal to 1000"),
    ],
)
def test_the_admin_refuses_what_the_api_refuses(admin_client, overrides, message):
    before = config_current_version().history_id
    response = _post_admin(admin_client, **overrides)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert config_current_version().history_id == before


def test_the_admin_refuses_live_mode_without_keys(admin_client, settings):
    settings.MEXC_API_KEY = settings.MEXC_SECRET_KEY = None
    response = _post_admin(admin_client, mode="live")
    assert response.status_code == 200
    assert "MEXC_API_KEY and MEXC_SECRET_KEY are not set" in response.content.decode()
    assert config_get_active().mode == "dry_run"


def test_the_admin_turns_live_mode_on_with_keys(admin_client, settings):
    settings.MEXC_API_KEY, settings.MEXC_SECRET_KEY = "key", "secret"
    response = _post_admin(admin_client, mode="live")
    assert response.status_code == 302, response.content
    assert config_get_active().mode == "live"


def test_recv_window_defaults_to_1000_ms():
    assert TradeConfig._meta.get_field("recv_window_ms").default == 1000
    assert TradeConfig().recv_window_ms == 1000


@pytest.mark.parametrize(
    "changes",
    [
        {"open_retry_window_ms": 60_001},
        {"confirmation_ttl_s": 86_401},
        {"confirmation_ttl_s": 0},
    ],
)
def test_database_refuses_timing_settings_out_of_bounds(changes):
    with pytest.raises(IntegrityError), transaction.atomic():
        TradeConfig.objects.filter(name="default").update(**changes)
    assert config_get_active().confirmation_ttl_s == 300


def test_symbol_lists_refuse_non_ascii_symbols():
    from django.core.exceptions import ValidationError

    config = config_get_active()
    config.symbol_denylist = ["²BUSDT"]
    with pytest.raises(ValidationError) as exc:
        config.full_clean()
    assert "not a symbol" in exc.value.message_dict["symbol_denylist"][0]
    assert config_get_active().max_trade_usdt == Decimal("100")
