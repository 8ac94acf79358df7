"""Trading's readiness checks: the exchange answers, and live mode has its API keys.

Registered in `TradingConfig.ready`; `/ready` (common.readiness) runs them.
"""

from __future__ import annotations

import time

from django.conf import settings

from common.readiness import Check


def check_exchange() -> Check:
    from .runtime import get_gateway

    skew_ms = get_gateway().exchange_time_ms() - int(time.time() * 1000)
    return Check(True, f"reachable at {settings.MEXC_REST_URL}", {"clock_skew_ms": skew_ms})


def check_keys() -> Check:
    from risk.selectors import config_get_active

    from .services import keys_present

    config = config_get_active()
    live = config.auto_trade and config.mode == "live"
    if keys_present():
        return Check(True, "API keys present")
    if live:
        return Check(False, "live mode is on but MEXC_API_KEY / MEXC_SECRET_KEY are not set")
    return Check(True, "no API keys (fine: dry run)")


READINESS_CHECKS = {"exchange": check_exchange, "keys": check_keys}
