"""Live trading needs API keys: processes that would trade refuse to start without them."""

from __future__ import annotations

from django.conf import settings

from .selectors import config_get_active


class LiveWithoutKeys(RuntimeError):
    """Live trading is configured but this process has no API keys."""


def ensure_live_has_keys(process: str) -> None:
    """Refuse to start a trading process in live mode without keys, with the fix in the error.

    Dry run needs no keys. The keys themselves are never logged or stored: only whether they
    are present.
    """
    config = config_get_active()
    if not (config.auto_trade and config.mode == "live"):
        return
    if settings.MEXC_API_KEY and settings.MEXC_SECRET_KEY:
        return
    missing = [
        name
        for name, value in (
            ("MEXC_API_KEY", settings.MEXC_API_KEY),
            ("MEXC_SECRET_KEY", settings.MEXC_SECRET_KEY),
        )
        if not value
    ]
    raise LiveWithoutKeys(
        f"Refusing to start the {process}: live mode is on (auto-trade on, mode live) but "
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Set them "
        "(or MEXC_API_KEY_FILE / MEXC_SECRET_KEY_FILE) in this process's environment, or switch "
        "the configuration back to dry run."
    )
