"""Writes of the configuration: validated, versioned with who and why, audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import JSONField

from monitoring import events
from monitoring.metrics import config_updates, risk_rejections
from monitoring.services import audit_record

from .checks import Decision, Exposure, Intent, Limits, evaluate
from .models import ACTIVE_CONFIG_NAME, ConfigPreset, TradeConfig
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
    "dry_run_max_position_usdt",
    "dry_run_max_trades_per_hour",
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
    "stop_loss_pct",
    "stop_confirm_ms",
    "trailing_activation_pct",
    "trailing_delta_pct",
    "take_profit_ladder",
    "max_hold_minutes",
    "exit_slippage_pct",
    "flatten_on_kill",
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


def risk_limits(config: TradeConfig, *, mode: str | None = None) -> Limits:
    """The limits of a configuration as plain data for the pure checks.

    Limits are per mode: `max_position_usdt` and `max_trades_per_hour` are those of `mode`
    (default: the mode snipes trade in now, `config.snipe_mode`), so dry-run trades are
    judged against the dry-run limits and never use the live budget. A caller deciding a
    trade whose mode differs from the snipe mode (a dry-run test trade while live) passes it.
    """
    per_mode = config.mode_limits(mode or config.snipe_mode)
    return Limits(
        auto_trade=config.auto_trade,
        mode=config.mode,
        kill_switch=config.kill_switch,
        max_trade_usdt=config.max_trade_usdt,
        max_position_usdt=per_mode.max_position_usdt,
        high_value_threshold_usdt=config.high_value_threshold_usdt,
        max_trades_per_hour=per_mode.max_trades_per_hour,
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


# --- presets --------------------------------------------------------------------------------


def _settings_of(config: TradeConfig) -> dict[str, Any]:
    """The editable settings of `config` as JSON (the API's shape: amounts as strings)."""
    from .payloads import config_payload

    payload = config_payload(config)
    return {name: payload[name] for name in EDITABLE_FIELDS}


def _as_changes(values: dict[str, Any]) -> dict[str, Any]:
    """A preset's JSON settings as model values; unknown names are refused."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({"settings": f"Not editable setting(s): {', '.join(unknown)}."})
    changes = {}
    for name, value in values.items():
        field = TradeConfig._meta.get_field(name)
        changes[name] = value if isinstance(field, JSONField) else field.to_python(value)
    return changes


def preset_save(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    description: str = "",
    values: dict[str, Any] | None = None,
) -> ConfigPreset:
    """Save `values` (default: the configuration in force) as the preset `name`.

    The settings are validated as a whole configuration would be (the config in force with
    them applied), so a preset that could never be applied is refused now, not later. Saving
    under an existing name replaces it (its history keeps the old settings). Audited.
    """
    with transaction.atomic():
        current = TradeConfig.objects.get(name=ACTIVE_CONFIG_NAME)
        if values is None:
            values = _settings_of(current)
        candidate = TradeConfig.objects.get(pk=current.pk)
        for field, value in _as_changes(values).items():
            setattr(candidate, field, value)
        candidate.full_clean(validate_unique=False, validate_constraints=False)
        stored = {k: v for k, v in _settings_of(candidate).items() if k in values}
        preset = ConfigPreset.objects.filter(name=name).first() or ConfigPreset(name=name)
        created = preset.pk is None
        preset.description = description
        preset.values = stored
        preset.created_by = preset.created_by if not created else actor
        preset.full_clean()
        preset._change_reason = "saved" if created else "replaced"
        preset._history_user = actor
        preset.save()
        audit_record(
            actor=actor,
            action="config.preset_save",
            target=f"ConfigPreset:{name}",
            detail={"created": created, "settings": stored, "description": description},
        )
    return preset


class PresetNotFound(Exception):
    pass


def preset_apply(
    *, actor: AbstractBaseUser | None, name: str, expected_version: int | None = None
) -> TradeConfig:
    """Apply the preset `name` as one new configuration version (through `config_update`:
    validated, versioned, audited, pushed); the version's reason names the preset."""
    preset = ConfigPreset.objects.filter(name=name).first()
    if preset is None:
        raise PresetNotFound(f"No preset named {name!r}.")
    with transaction.atomic():
        config = config_update(
            actor=actor,
            changes=_as_changes(preset.values),
            reason=f"preset {preset.name} applied",
            expected_version=expected_version,
        )
        audit_record(
            actor=actor,
            action="config.preset_apply",
            target=f"ConfigPreset:{preset.name}",
            detail={"version": config_current_version(config=config).history_id},
        )
    return config
