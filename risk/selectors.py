"""Reads of the active configuration and its versions."""

from __future__ import annotations

from .models import ACTIVE_CONFIG_NAME, TradeConfig


def config_get_active() -> TradeConfig:
    """The configuration in force. Seeded by a migration; its absence is a broken install."""
    return TradeConfig.objects.get(name=ACTIVE_CONFIG_NAME)


def config_current_version(*, config: TradeConfig | None = None):
    """The HistoricalTradeConfig row describing the configuration in force right now."""
    config = config or config_get_active()
    return config.history.order_by("-history_date", "-history_id").first()
