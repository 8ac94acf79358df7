from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import TradeConfig
from .services import EDITABLE_FIELDS, config_update


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
