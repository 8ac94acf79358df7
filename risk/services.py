"""Writes of the configuration: validated, versioned with who and why, audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from monitoring import events
from monitoring.metrics import config_updates, risk_rejections
from monitoring.services import audit_record

from .checks import Decision, Exposure, Intent, Limits, evaluate
from .models import TradeConfig
from .payloads import config_payload
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
    "max_in_flight",
    "signal_max_age_ms",
    "confirmation_ttl_s",
    "open_retry_window_ms",
    "open_retry_interval_ms",
    "entry_order_type",
    "entry_slippage_pct",
    "notify_events",
)


class StaleConfigVersion(Exception):
    """The change was made against a version that is no longer the one in force."""


def config_update(
    *,
    actor: AbstractBaseUser | None,
    changes: dict[str, Any],
    reason: str,
    expected_version: int | None = None,
) -> TradeConfig:
    """Apply `changes` to the active config as one new version, or raise ValidationError.

    The row is locked so two operators editing at once produce two ordered versions, never a
    lost update. With `expected_version`, a change made against an older version is refused
    (StaleConfigVersion) instead of silently overriding what someone else saved since.
    Nothing is written when validation fails.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the configuration changes."})
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "Not an editable setting." for name in unknown})

    with transaction.atomic():
        config = TradeConfig.objects.select_for_update().get(name="default")
        if expected_version is not None:
            current = config_current_version(config=config).history_id
            if current != expected_version:
                raise StaleConfigVersion(
                    f"The configuration is now version {current}, not {expected_version}: "
                    "reload it and apply your change again."
                )
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
        events.publish_on_commit(events.CONFIG_CHANGED, config_payload(config))
    config_updates.inc()
    return config


def _plain(value: Any) -> Any:
    return str(value) if not isinstance(value, bool | int | list | type(None)) else value


def risk_limits(config: TradeConfig) -> Limits:
    """The limits of a configuration as plain data for the pure checks."""
    return Limits(
        auto_trade=config.auto_trade,
        mode=config.mode,
        kill_switch=config.kill_switch,
        max_trade_usdt=config.max_trade_usdt,
        max_position_usdt=config.max_position_usdt,
        high_value_threshold_usdt=config.high_value_threshold_usdt,
        max_trades_per_hour=config.max_trades_per_hour,
        max_in_flight=config.max_in_flight,
        signal_max_age_ms=config.signal_max_age_ms,
        quote_asset=config.quote_asset,
        allowlist=tuple(config.symbol_allowlist or ()),
        denylist=tuple(config.symbol_denylist or ()),
    )


def risk_evaluate(
    *, limits: Limits, intent: Intent, exposure: Exposure, keys_present: bool
) -> Decision:
    """Run the checks and count the outcome; the caller stores it on the Trade."""
    decision = evaluate(limits=limits, intent=intent, exposure=exposure, keys_present=keys_present)
    if decision.reason is not None:
        risk_rejections.labels(reason=decision.reason.value).inc()
    return decision
