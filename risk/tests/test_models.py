from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from risk.models import TradeConfig, TradingMode
from risk.selectors import config_current_version, config_get_active

pytestmark = pytest.mark.django_db


def test_seeded_defaults_are_safe():
    config = config_get_active()
    assert config.auto_trade is False
    assert config.mode == TradingMode.DRY_RUN
    assert config.max_trade_usdt == Decimal("100")
    assert config.max_position_usdt == Decimal("1000")
    assert config.kill_switch is False
    version = config_current_version()
    assert version is not None and version.max_trade_usdt == Decimal("100")


@pytest.mark.parametrize(
    "changes",
    [
        {"max_trade_usdt": Decimal("-1")},
        {"snipe_quote_usdt": Decimal("0")},
        {"max_position_usdt": Decimal("0")},
        {"high_value_threshold_usdt": Decimal("-5")},
        {"max_trade_usdt": Decimal("2000")},  # above max position (1000)
        {"recv_window_ms": 0},
        {"recv_window_ms": 1001},
        {"max_trades_per_hour": 0},
        {"mode": "yolo"},
    ],
)
def test_database_rejects_an_invalid_config_even_bypassing_validation(changes):
    with pytest.raises(IntegrityError), transaction.atomic():
        TradeConfig.objects.filter(name="default").update(**changes)
    assert config_get_active().max_trade_usdt == Decimal("100")


def test_validation_names_the_field_to_fix():
    config = config_get_active()
    config.max_trade_usdt = Decimal("5000")
    with pytest.raises(ValidationError) as exc:
        config.full_clean()
    assert "cannot exceed max position" in exc.value.message_dict["max_trade_usdt"][0]


def test_symbol_lists_are_normalised_and_garbage_is_refused():
    config = config_get_active()
    config.symbol_allowlist = [" abcusdt", "ABCUSDT", "xyzUSDT"]
    config.full_clean()
    assert config.symbol_allowlist == ["ABCUSDT", "XYZUSDT"]
    config.symbol_denylist = "SCAMUSDT"
    with pytest.raises(ValidationError) as exc:
        config.full_clean()
    assert "list of symbols" in exc.value.message_dict["symbol_denylist"][0]
