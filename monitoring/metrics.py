"""Prometheus metrics made anywhere in the bot (monitor, worker, web)."""

from prometheus_client import Counter, Gauge

listings_detected = Counter(
    "listings_detected_total",
    "New listings recorded, by the source that saw them first",
    ["source"],
)
listing_dedup_hits = Counter(
    "listing_dedup_hits_total", "Sightings of a listing that was already recorded"
)
ws_reconnects = Counter("ws_reconnects_total", "MEXC WebSocket reconnects")
ws_connected = Gauge("ws_connected", "1 while the MEXC WebSocket is connected")
risk_rejections = Counter("risk_rejections_total", "Trades refused by a risk check", ["reason"])
trades_total = Counter(
    "trades_total", "Trade attempts by mode and final status", ["mode", "status"]
)
