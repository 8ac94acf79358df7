"""Writes of the configuration: validated, versioned with who and why, audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from monitoring.services import audit_record

from .models import TradeConfig
from .selectors import config_current_version

EDITABLE_FIELDS = (
    "snipe_quote_usdt",
    "max_trade_usdt",
    "max_position_usdt",
    "auto_trade",
    "mode",
    "high_value_threshold_usdt",
    "max_trades_per_hour",
    "recv_window_ms",
    "quote_asset",
    "symbol_allowlist",
    "symbol_denylist",
    "kill_switch",
)


def config_update(
    *, actor: AbstractBaseUser | None, changes: dict[str, Any], reason: str
) -> TradeConfig:
    """Apply `changes` to the active config as one new version, or raise ValidationError.

    The row is locked so two operators editing at once produce two ordered versions, never a
    lost update. Nothing is written when validation fails.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the configuration changes."})
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "Not an editable setting." for name in unknown})

    with transaction.atomic():
        config = TradeConfig.objects.select_for_update().get(name="default")
        before = {name: getattr(config, name) for name in changes}
        for name, value in changes.items():
            setattr(config, name, value)
        config.full_clean()
        changed = {
            name: {"from": _plain(before[name]), "to": _plain(getattr(config, name))}
            for name in changes
            if before[name] != getattr(config, name)
        }
        config._change_reason = reason
        config._history_user = actor
        config.save()
        version = config_current_version(config=config)
        audit_record(
            actor=actor,
            action="config.update",
            target=f"TradeConfig:{config.name}",
            detail={"reason": reason, "changes": changed, "version": version.history_id},
        )
    return config


def _plain(value: Any) -> Any:
    return str(value) if not isinstance(value, bool | int | list | type(None)) else value
