"""Prometheus metrics made anywhere in the bot (monitor, worker, web).

Every process writes its samples to PROMETHEUS_MULTIPROC_DIR (settings set it before
prometheus_client is imported), and `/metrics` in the web process sums them, so the monitor's
and the workers' metrics are scraped from one place. Gauges say how processes combine.
"""

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
