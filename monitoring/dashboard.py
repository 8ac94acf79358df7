"""The operator dashboard: one server-rendered page; the data comes from the API and the push.

The page itself holds no data. It is told whether push can work (`push_enabled`: only with a
shared channel layer, i.e. Redis, do the monitor's events reach this web process; otherwise it
polls), whether the user may change things (`can_write`), and where the API lives.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from monitoring.permissions import is_operator

# URL names of the API the page talks to (the script fills `{id}` in).
DASHBOARD_URL_NAMES = {
    "listings": "listing-list",
    "listing_inject": "listing-inject",
    "trades": "trade-history",
    "trade_execute": "trade-execute",
    "trade_detail": "trade-detail",
    "trade_confirm": "trade-confirm",
    "trade_cancel": "trade-cancel",
    "trade_export": "trade-export",
    "config": "config",
    "config_history": "config-history",
    "config_presets": "config-presets",
    "config_preset_apply": "config-preset-apply",
    "monitor_status": "monitor-status",
    "monitor_start": "monitor-start",
    "monitor_stop": "monitor-stop",
    "risk_metrics": "risk-metrics",
    "latency": "analytics-latency",
    "positions": "position-list",
    "position_close": "position-close",
    "position_detail": "position-detail",
    "position_export": "position-export",
    "pnl_summary": "pnl-summary",
}
WEBSOCKET_PATH = "/ws/dashboard/"  # monitoring.routing


def dashboard_endpoints() -> dict[str, str]:
    def path(name: str) -> str:
        if name in (
            "trade-detail",
            "trade-confirm",
            "trade-cancel",
            "position-detail",
            "position-close",
        ):
            return reverse(name, kwargs={"pk": 0}).replace("/0/", "/{id}/")
        if name == "config-preset-apply":
            return reverse(name, kwargs={"name": "_"}).replace("/_/", "/{name}/")
        return reverse(name)

    return {key: path(name) for key, name in DASHBOARD_URL_NAMES.items()} | {
        "websocket": WEBSOCKET_PATH
    }


POLL_INTERVAL_MS = 3000

# The editable TradeConfig fields, grouped as the form shows them. The API validates; these
# only say how to render each one. kind: decimal | integer | bool | mode | entry | text |
# symbols | json. Labels and help come from the model (verbose_name, help_text): one name per
# setting in the dashboard, the admin and the API.
CONFIG_FIELDSETS = [
    ("Trading", [("mode", "mode"), ("auto_trade", "bool"), ("kill_switch", "bool")]),
    (
        "Amounts (quote asset)",
        [
            ("snipe_quote_usdt", "decimal"),
            ("max_trade_usdt", "decimal"),
            ("high_value_threshold_usdt", "decimal"),
        ],
    ),
    (
        "Limits per mode",
        [
            ("max_position_usdt", "decimal"),
            ("max_trades_per_hour", "integer"),
            ("dry_run_max_position_usdt", "decimal"),
            ("dry_run_max_trades_per_hour", "integer"),
        ],
    ),
    ("Rates", [("max_in_flight", "integer"), ("confirmation_ttl_s", "integer")]),
    (
        "Symbols",
        [("quote_asset", "text"), ("symbol_allowlist", "symbols"), ("symbol_denylist", "symbols")],
    ),
    ("Entry", [("entry_order_type", "entry"), ("entry_slippage_pct", "decimal")]),
    (
        "Exits (new positions)",
        [
            ("stop_loss_pct", "decimal"),
            ("stop_confirm_ms", "integer"),
            ("trailing_activation_pct", "decimal"),
            ("trailing_delta_pct", "decimal"),
            ("take_profit_ladder", "json"),
            ("max_hold_minutes", "integer"),
            ("exit_slippage_pct", "decimal"),
            ("flatten_on_kill", "bool"),
        ],
    ),
    ("Notifications", [("notify_events", "json")]),
    (
        "Timing (ms)",
        [
            ("recv_window_ms", "integer"),
            ("signal_max_age_ms", "integer"),
            ("open_retry_window_ms", "integer"),
            ("open_retry_interval_ms", "integer"),
        ],
    ),
]


def config_field_labels() -> dict[str, tuple[str, str]]:
    """name -> (label, help) of each editable setting, from the model."""
    from risk.models import TradeConfig

    labels = {}
    for _, fields in CONFIG_FIELDSETS:
        for name, _kind in fields:
            field = TradeConfig._meta.get_field(name)
            labels[name] = (str(field.verbose_name), str(field.help_text))
    return labels


@login_required
@ensure_csrf_cookie
def dashboard_view(request: HttpRequest) -> HttpResponse:
    push_enabled = bool(getattr(settings, "REDIS_URL", None))
    labels = config_field_labels()
    can_write = is_operator(request.user)
    return render(
        request,
        "dashboard/index.html",
        {
            "push_enabled": push_enabled,
            "can_write": can_write,
            "username": request.user.get_username(),
            "config_fieldsets": [
                {
                    "legend": legend,
                    "fields": [
                        {"name": n, "label": labels[n][0], "kind": kind, "help": labels[n][1]}
                        for n, kind in fields
                    ],
                }
                for legend, fields in CONFIG_FIELDSETS
            ],
            "dashboard_config": {
                "pushEnabled": push_enabled,
                "canWrite": can_write,
                "username": request.user.get_username(),
                "pollIntervalMs": POLL_INTERVAL_MS,
                # Rows per API page: pushed rows are prepended on page 1 and trimmed to it.
                "pageSize": getattr(settings, "REST_FRAMEWORK", {}).get("PAGE_SIZE") or 0,
                "endpoints": dashboard_endpoints(),
                "configFields": {n: kind for _, fields in CONFIG_FIELDSETS for n, kind in fields},
                "configLabels": {n: label for n, (label, _) in labels.items()},
            },
        },
    )
