"""Prometheus metrics made anywhere in the bot (monitor, worker, web).

Every process writes its samples to PROMETHEUS_MULTIPROC_DIR (settings set it before
prometheus_client is imported), and `/metrics` in the web process sums them, so the monitor's
and the workers' metrics are scraped from one place. Gauges say how processes combine.
"""

from collections.abc import Callable, Iterable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.decorators import sync_and_async_middleware
from prometheus_client import Counter, Gauge, Histogram

listings_detected = Counter(
    "listings_detected_total",
    "New listings recorded, by the source that saw them first",
    ["source"],
)
listing_dedup_hits = Counter(
    "listing_dedup_hits_total", "Sightings of a listing that was already recorded"
)
ws_reconnects = Counter("ws_reconnects_total", "MEXC WebSocket reconnects")
ws_connected = Gauge(
    "ws_connected", "1 while the MEXC WebSocket is connected", multiprocess_mode="livemax"
)
risk_rejections = Counter("risk_rejections_total", "Trades refused by a risk check", ["reason"])
trades_total = Counter(
    "trades_total", "Trade attempts by mode and final status", ["mode", "status"]
)
trade_stage_latency = Histogram(
    "trade_stage_latency_seconds",
    "Time spent per stage of a trade, detection to the exchange's ack (stage=total: all)",
    ["stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
config_updates = Counter("config_updates_total", "New versions of the trading configuration")
exchange_errors = Counter(
    "exchange_errors_total", "Errors from the exchange, by MEXC code (or error type)", ["code"]
)
circuit_breaker_open = Gauge(
    "circuit_breaker_open",
    "1 while the circuit breaker in front of the exchange is open",
    multiprocess_mode="livemax",
)
notifications_total = Counter(
    "notifications_total",
    "Operator notifications by event and result (sent/retry/failed per channel; deduped, "
    "disabled, no_channel, dropped before any send)",
    ["event", "result"],
)
positions_open = Gauge(
    "positions_open",
    "Positions the bot holds and watches (open or closing), by mode",
    ["mode"],
    multiprocess_mode="livemax",
)
exits_total = Counter(
    "exits_total",
    "Positions sold (in full or a ladder step), by exit reason and mode",
    ["reason", "mode"],
)
# P&L goes down as well as up: a gauge moved by each sell's realized part, summed over every
# process that ever sold (multiprocess "sum" keeps a finished process's share).
realized_pnl_quote_total = Gauge(
    "realized_pnl_quote_total",
    "Realized profit (negative: loss) in quote asset since the metrics began, by mode",
    ["mode"],
    multiprocess_mode="sum",
)

# Final statuses trading counts in trades_total (trading/execution.py, trading/inline.py).
TRADE_COUNTED_STATUSES = ("filled", "failed", "rejected")


def metrics_start_at_zero(
    *,
    rejection_reasons: Iterable[str] = (),
    trade_modes: Iterable[str] = (),
    listing_sources: Iterable[str] = (),
    latency_stages: Iterable[str] = (),
) -> None:
    """Every known label set exists from the start, at 0, so `rate()` and alerts on a reason
    or a mode see the first increment instead of a series appearing from nowhere.

    Monitoring knows no risk or trade vocabulary: the apps that own it pass it in at ready
    time (risk's AppConfig). Label sets only ever come from such closed lists.
    """
    for reason in rejection_reasons:
        risk_rejections.labels(reason=reason)
    for mode in trade_modes:
        for status in TRADE_COUNTED_STATUSES:
            trades_total.labels(mode=mode, status=status)
    for source in listing_sources:
        listings_detected.labels(source=source)
    for stage in latency_stages:
        trade_stage_latency.labels(stage=stage)


# Methods the bot answers; django-prometheus labels request series by method, so anything
# else would add series per made-up method (`curl -X M123 /health`).
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@sync_and_async_middleware
def known_methods_only(get_response: Callable) -> Callable:
    """405 for any other HTTP method; placed before django-prometheus's middleware."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            if request.method not in KNOWN_METHODS:
                return HttpResponseNotAllowed(KNOWN_METHODS)
            return await get_response(request)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            if request.method not in KNOWN_METHODS:
                return HttpResponseNotAllowed(KNOWN_METHODS)
            return get_response(request)

    return middleware
