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
    "trade_confirm": "trade-confirm",
    "trade_cancel": "trade-cancel",
    "trade_export": "trade-export",
    "config": "config",
    "config_history": "config-history",
    "monitor_status": "monitor-status",
    "monitor_start": "monitor-start",
    "monitor_stop": "monitor-stop",
    "risk_metrics": "risk-metrics",
    "latency": "analytics-latency",
}
WEBSOCKET_PATH = "/ws/dashboard/"  # monitoring.routing


def dashboard_endpoints() -> dict[str, str]:
    def path(name: str) -> str:
        if name in ("trade-confirm", "trade-cancel"):
            return reverse(name, kwargs={"pk": 0}).replace("/0/", "/{id}/")
        return reverse(name)

    return {key: path(name) for key, name in DASHBOARD_URL_NAMES.items()} | {
        "websocket": WEBSOCKET_PATH
    }


POLL_INTERVAL_MS = 3000

# The editable TradeConfig fields, grouped as the form shows them. The API validates; these
# only say how to render each one. kind: decimal | integer | bool | mode | text | symbols.
CONFIG_FIELDSETS = [
    (
        "Trading",
        [
            ("mode", "Mode", "mode", "dry_run: simulated fills. live: real orders on MEXC."),
            ("auto_trade", "Auto-trade", "bool", "Off: every snipe is simulated, nothing live."),
            ("kill_switch", "Kill switch", "bool", "On: every trade is refused."),
        ],
    ),
    (
        "Amounts (quote asset)",
        [
            ("snipe_quote_usdt", "Snipe amount", "decimal", "Quote each snipe spends."),
            ("max_trade_usdt", "Max per trade", "decimal", "Largest single trade."),
            ("max_position_usdt", "Max exposure 24 h", "decimal", "Total spent, rolling 24 h."),
            (
                "high_value_threshold_usdt",
                "Confirm above",
                "decimal",
                "Larger trades wait for an operator.",
            ),
        ],
    ),
    (
        "Rates",
        [
            ("max_trades_per_hour", "Max trades / hour", "integer", "At least 1."),
            ("max_in_flight", "Max in flight", "integer", "Sent, not yet settled."),
            ("confirmation_ttl_s", "Confirmation TTL (s)", "integer", "Unconfirmed trades expire."),
        ],
    ),
    (
        "Symbols",
        [
            ("quote_asset", "Quote asset", "text", "e.g. USDT"),
            (
                "symbol_allowlist",
                "Allowlist",
                "symbols",
                "Comma-separated patterns (* any, ? one); empty: all.",
            ),
            (
                "symbol_denylist",
                "Denylist",
                "symbols",
                "Comma-separated patterns, e.g. *3LUSDT, *STOCK*; never traded.",
            ),
        ],
    ),
    (
        "Entry",
        [
            ("entry_order_type", "Entry order", "entry", "IOC limit at the cap, or MARKET."),
            (
                "entry_slippage_pct",
                "Entry cap (%)",
                "decimal",
                "Cap = first price x (1 + this / 100).",
            ),
        ],
    ),
    (
        "Notifications",
        [
            (
                "notify_events",
                "Events",
                "json",
                'Which events are sent, e.g. {"buy_filled": true, "heartbeat": false}.',
            ),
        ],
    ),
    (
        "Timing (ms)",
        [
            ("recv_window_ms", "recvWindow", "integer", "1..1000 ms, sent with orders."),
            ("signal_max_age_ms", "Max signal age", "integer", "Older detections are not traded."),
            ("open_retry_window_ms", "Open retry window", "integer", "Retry 'not yet tradable'."),
            ("open_retry_interval_ms", "Open retry interval", "integer", "Between those retries."),
        ],
    ),
]


@login_required
@ensure_csrf_cookie
def dashboard_view(request: HttpRequest) -> HttpResponse:
    push_enabled = bool(getattr(settings, "REDIS_URL", None))
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
                        {"name": n, "label": label, "kind": kind, "help": help_text}
                        for n, label, kind, help_text in fields
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
                "configFields": {
                    n: kind for _, fields in CONFIG_FIELDSETS for n, _, kind, _ in fields
                },
            },
        },
    )
