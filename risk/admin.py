from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from .models import ConfigPreset, TradeConfig
from .services import EDITABLE_FIELDS, config_update, preset_apply, preset_save


class TradeConfigForm(forms.ModelForm):
    change_reason = forms.CharField(
        max_length=100,
        help_text="Required: why this change (kept in the version history).",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = TradeConfig
        fields = (*EDITABLE_FIELDS, "change_reason")


@admin.register(TradeConfig)
class TradeConfigAdmin(SimpleHistoryAdmin):
    """Edits go through `config_update`, so the admin versions and audits like the API does.

    Reverting from the history view posts this same form, so a revert needs a reason too.
    """

    form = TradeConfigForm
    list_display = (
        "name",
        "mode",
        "auto_trade",
        "kill_switch",
        "snipe_quote_usdt",
        "max_trade_usdt",
        "max_position_usdt",
        "updated_at",
    )
    history_list_display = ("mode", "auto_trade", "max_trade_usdt", "max_position_usdt")
    fieldsets = (
        ("Trading", {"fields": ("auto_trade", "mode", "kill_switch", "snipe_quote_usdt")}),
        (
            "Limits",
            {
                "fields": (
                    "max_trade_usdt",
                    "max_position_usdt",
                    "high_value_threshold_usdt",
                    "max_trades_per_hour",
                    "dry_run_max_position_usdt",
                    "dry_run_max_trades_per_hour",
                    "recv_window_ms",
                    "max_in_flight",
                    "signal_max_age_ms",
                    "confirmation_ttl_s",
                )
            },
        ),
        ("At the open", {"fields": ("open_retry_window_ms", "open_retry_interval_ms")}),
        ("Symbols", {"fields": ("quote_asset", "symbol_allowlist", "symbol_denylist")}),
        ("Entry", {"fields": ("entry_order_type", "entry_slippage_pct")}),
        (
            "Exits (each position keeps the rules it opened with)",
            {
                "fields": (
                    "stop_loss_pct",
                    "stop_confirm_ms",
                    "trailing_activation_pct",
                    "trailing_delta_pct",
                    "take_profit_ladder",
                    "max_hold_minutes",
                    "exit_slippage_pct",
                    "flatten_on_kill",
                )
            },
        ),
        ("Notifications", {"fields": ("notify_events",)}),
        ("Why", {"fields": ("change_reason",)}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # one active configuration, seeded by a migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        changes = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
        saved = config_update(
            actor=request.user, changes=changes, reason=form.cleaned_data["change_reason"]
        )
        obj.pk = saved.pk


class ConfigPresetForm(forms.ModelForm):
    save_current = forms.BooleanField(
        required=False,
        initial=True,
        label="Save the configuration in force",
        help_text="On: the preset takes the settings in force now (the Settings box is "
        "ignored). Off: the Settings box is saved (validated as a whole configuration).",
    )

    class Meta:
        model = ConfigPreset
        fields = ("name", "description", "save_current", "values")


@admin.register(ConfigPreset)
class ConfigPresetAdmin(SimpleHistoryAdmin):
    """Saves go through `preset_save`, applying through `preset_apply` (a new config version,
    audited): the admin does what the API and the dashboard do."""

    form = ConfigPresetForm
    list_display = ("name", "description", "created_by", "updated_at")
    search_fields = ("name", "description")
    actions = ("apply_preset",)

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        saved = preset_save(
            actor=request.user,
            name=data["name"],
            description=data.get("description", ""),
            values=None if data.get("save_current") else data.get("values") or {},
        )
        obj.pk = saved.pk

    @admin.action(description="Apply the selected preset (one) as a new config version")
    def apply_preset(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one preset to apply.", messages.ERROR)
            return
        preset = queryset.get()
        try:
            config = preset_apply(actor=request.user, name=preset.name)
        except ValidationError as exc:
            self.message_user(request, f"Not applied: {'; '.join(exc.messages)}", messages.ERROR)
            return
        self.message_user(request, f"Preset {preset.name} applied ({config}).", messages.SUCCESS)
