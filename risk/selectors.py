"""Reads of the active configuration and its versions."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from .models import ACTIVE_CONFIG_NAME, ConfigPreset, TradeConfig


def config_get_active() -> TradeConfig:
    """The configuration in force. Seeded by a migration; its absence is a broken install."""
    return TradeConfig.objects.get(name=ACTIVE_CONFIG_NAME)


def config_current_version(*, config: TradeConfig | None = None):
    """The HistoricalTradeConfig row describing the configuration in force right now."""
    config = config or config_get_active()
    return config.history.order_by("-history_date", "-history_id").first()


def config_lock() -> tuple[TradeConfig, int]:
    """The configuration in force and its version id, in one statement, its row locked until
    the caller's transaction ends: decisions queue here, so each sees the exposure of those
    before it."""
    latest = (
        TradeConfig.history.model.objects.filter(id=OuterRef("pk"))
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    config = (
        TradeConfig.objects.select_for_update(of=("self",))
        .annotate(version_id=Subquery(latest))
        .get(name=ACTIVE_CONFIG_NAME)
    )
    return config, config.version_id


def config_version_id() -> int:
    """The version in force now (one read, no lock)."""
    return config_current_version().history_id


def preset_list():
    """Saved presets, by name."""
    return ConfigPreset.objects.select_related("created_by").order_by("name")
