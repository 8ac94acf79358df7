"""The `config.changed` payload: ConfigSerializer's output, built without the API.

`risk.services` pushes it; the API's serializer imports the services (the editable fields),
so the services must not import the API back. `risk/tests/test_payloads.py` holds the two to
the same output.
"""

from __future__ import annotations

from typing import Any

from common.payloads import dec, iso

from .models import MONEY, TradeConfig
from .selectors import config_current_version

_PLACES = MONEY["decimal_places"]


def config_payload(config: TradeConfig) -> dict[str, Any]:
    version = config_current_version(config=config)
    return {
        "version": version.history_id if version else None,
        "updated_at": iso(config.updated_at),
        "snipe_quote_usdt": dec(config.snipe_quote_usdt, _PLACES),
        "max_trade_usdt": dec(config.max_trade_usdt, _PLACES),
        "max_position_usdt": dec(config.max_position_usdt, _PLACES),
        "auto_trade": config.auto_trade,
        "mode": config.mode,
        "high_value_threshold_usdt": dec(config.high_value_threshold_usdt, _PLACES),
        "max_trades_per_hour": config.max_trades_per_hour,
        "recv_window_ms": config.recv_window_ms,
        "quote_asset": config.quote_asset,
        "symbol_allowlist": config.symbol_allowlist,
        "symbol_denylist": config.symbol_denylist,
        "kill_switch": config.kill_switch,
        "max_in_flight": config.max_in_flight,
        "signal_max_age_ms": config.signal_max_age_ms,
        "confirmation_ttl_s": config.confirmation_ttl_s,
        "open_retry_window_ms": config.open_retry_window_ms,
        "open_retry_interval_ms": config.open_retry_interval_ms,
    }
