"""The pushed `config.changed` payload is exactly what the API returns for the config."""

from decimal import Decimal

import pytest

from risk.api.serializers import ConfigSerializer
from risk.models import TradeConfig
from risk.payloads import config_payload
from risk.selectors import config_get_active
from risk.services import config_update

pytestmark = pytest.mark.django_db


def test_the_seeded_config():
    config = config_get_active()
    assert config_payload(config) == ConfigSerializer(config).data


def test_a_changed_config_with_every_kind_of_value():
    config_update(
        actor=None,
        changes={
            "snipe_quote_usdt": Decimal("12.5"),
            "max_trade_usdt": Decimal("99.12345678"),
            "high_value_threshold_usdt": Decimal("0.00000001"),
            "auto_trade": True,
            "symbol_allowlist": ["ABCUSDT", "XYZUSDT"],
            "symbol_denylist": ["SCAMUSDT"],
            "recv_window_ms": 500,
        },
        reason="payload test",
    )
    config = TradeConfig.objects.get(pk=config_get_active().pk)
    payload = config_payload(config)
    assert payload == ConfigSerializer(config).data
    assert list(payload) == list(ConfigSerializer(config).data)
