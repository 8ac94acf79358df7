"""Reads for trading: the exposure figures risk checks judge."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from risk.checks import Exposure
from sniperbot import fastsql

from .models import Trade, TradeStatus

# Trades that did or may still commit money at the exchange (or in the simulation).
COMMITTED = (
    TradeStatus.PENDING,
    TradeStatus.SUBMITTED,
    TradeStatus.FILLED,
    TradeStatus.PARTIALLY_FILLED,
    TradeStatus.UNKNOWN,
)
IN_FLIGHT = (TradeStatus.PENDING, TradeStatus.SUBMITTED, TradeStatus.UNKNOWN)


def exposure_for(*, mode: str) -> Exposure:
    """24 h spend, trades in the last hour and snipes in flight, for one mode.

    Dry-run trades count against dry-run exposure only, so a simulation respects the limits
    the way live trading would, without eating the live budget.
    """
    return decision_inputs(mode=mode)[1]


def decision_inputs(*, mode: str, client_order_id: str = "") -> tuple[int | None, Exposure]:
    """The trade already holding `client_order_id` (its id), and the exposure of `mode`."""
    return decision_inputs_from(
        fastsql.first_row(*decision_inputs_statement(mode=mode, client_order_id=client_order_id))
    )


def decision_inputs_from(row: tuple) -> tuple[int | None, Exposure]:
    exposure = Exposure(spent_24h=fastsql.money(row[1]), trades_last_hour=row[2], in_flight=row[3])
    return row[0], exposure


def decision_inputs_statement(*, mode: str, client_order_id: str = "") -> fastsql.Statement:
    """`decision_inputs` as one plain statement: every decision runs it under the config
    lock, on the path from a detection to its order (see sniperbot/fastsql.py)."""
    columns, column_params, where, where_params = _exposure_sql(mode)
    return (
        f"SELECT (SELECT id FROM trading_trade WHERE client_order_id = %s), {', '.join(columns)}"
        f" FROM trading_trade WHERE {where}",
        (client_order_id, *(p for own in column_params for p in own), *where_params),
    )


def exposure_within_statement(*, mode: str, exposure: Exposure) -> fastsql.Statement:
    """A condition (fastsql's `when`): `mode`'s exposure now is at most `exposure`."""
    columns, column_params, where, where_params = _exposure_sql(mode)
    limits = (exposure.spent_24h, exposure.trades_last_hour, exposure.in_flight)
    params = list(where_params)
    for own, limit in zip(column_params, limits, strict=True):
        params += [*own, limit]
    return (
        f"EXISTS (SELECT 1 FROM trading_trade WHERE {where} HAVING "
        + " AND ".join(f"{column} <= %s" for column in columns)
        + ")",
        params,
    )


def _exposure_sql(mode: str) -> tuple[list[str], list[tuple], str, tuple]:
    """The exposure's three figures as SQL (spent over 24 h, trades in the last hour, in
    flight) with each one's parameters, over the trades its WHERE (and parameters) picks."""
    now = timezone.now()
    committed = ", ".join(["%s"] * len(COMMITTED))
    in_flight = ", ".join(["%s"] * len(IN_FLIGHT))
    columns = [
        f"COALESCE(SUM(CASE WHEN status IN ({committed})"
        " THEN COALESCE(quote_spent, quote_qty) ELSE 0 END), 0)",
        f"COUNT(CASE WHEN status IN ({committed}) AND created_at >= %s THEN 1 END)",
        f"COUNT(CASE WHEN status IN ({in_flight}) THEN 1 END)",
    ]
    column_params = [
        tuple(COMMITTED),
        (*COMMITTED, fastsql.when(now - timedelta(hours=1))),
        tuple(IN_FLIGHT),
    ]
    where = "mode = %s AND created_at >= %s"
    return columns, column_params, where, (mode, fastsql.when(now - timedelta(hours=24)))


# Stage name -> (start stamp, end stamp), in pipeline order.
STAGE_SPANS = {
    "persist": ("detected_ns", "persisted_ns"),
    "dispatch": ("persisted_ns", "dispatched_ns"),
    "risk": ("dispatched_ns", "risk_done_ns"),
    "send": ("risk_done_ns", "sent_ns"),
    "ack": ("sent_ns", "acked_ns"),
}
_STAMP_ORDER = ("detected_ns", "persisted_ns", "dispatched_ns", "risk_done_ns", "sent_ns")


def trade_latency_ms(trade: Trade) -> dict[str, float | None]:
    """Per-stage and total latency of one trade from its stamps (None where not reached)."""
    out: dict[str, float | None] = {}
    for stage, (start, end) in STAGE_SPANS.items():
        a, b = getattr(trade, start), getattr(trade, end)
        out[stage] = round((b - a) / 1e6, 3) if a is not None and b is not None else None
    first = next((getattr(trade, s) for s in _STAMP_ORDER if getattr(trade, s) is not None), None)
    acked = trade.acked_ns
    out["total"] = round((acked - first) / 1e6, 3) if first is not None and acked else None
    return out


# Upper bounds (ms) of the latency histogram the dashboard charts; the last bucket is open.
HISTOGRAM_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
LATENCY_SAMPLE_CAP = 20_000  # newest trades in the window; enough for a stable p99


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without floats drifting
    return sorted_values[int(rank) - 1]


def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    values = sorted(values)
    return {
        "count": len(values),
        "p50": round(_percentile(values, 50), 3),
        "p95": round(_percentile(values, 95), 3),
        "p99": round(_percentile(values, 99), 3),
        "max": round(values[-1], 3),
    }


def latency_stats(*, since) -> dict:
    """P50/P95/P99 per stage and a histogram of total latency, over trades since `since`.

    Rejections never reach the exchange: they count in `count` and in no stage. Errors are
    trades that failed or whose outcome is unknown.
    """
    rows = list(
        Trade.objects.filter(created_at__gte=since)
        .order_by("-created_at")
        .only(*(s for span in STAGE_SPANS.values() for s in span), "status", "acked_ns")[
            :LATENCY_SAMPLE_CAP
        ]
    )
    per_stage: dict[str, list[float]] = {name: [] for name in (*STAGE_SPANS, "total")}
    for trade in rows:
        for stage, value in trade_latency_ms(trade).items():
            if value is not None:
                per_stage[stage].append(value)
    errors = sum(1 for t in rows if t.status in (TradeStatus.FAILED, TradeStatus.UNKNOWN))
    buckets = [0] * (len(HISTOGRAM_BOUNDS_MS) + 1)
    for value in per_stage["total"]:
        index = next(
            (i for i, bound in enumerate(HISTOGRAM_BOUNDS_MS) if value <= bound),
            len(HISTOGRAM_BOUNDS_MS),
        )
        buckets[index] += 1
    return {
        "count": len(rows),
        "errors": errors,
        "error_rate": round(errors / len(rows), 4) if rows else 0.0,
        "stages": {stage: _summary(values) for stage, values in per_stage.items()},
        "histogram": [
            {"le_ms": bound, "count": n}
            for bound, n in zip((*HISTOGRAM_BOUNDS_MS, None), buckets, strict=True)
        ],
    }


def trade_history():
    return Trade.objects.select_related("config_version").order_by("-created_at", "-id")


def risk_metrics() -> dict:
    """What the risk panel shows: exposure against limits, breaches, breaker, kill switch.

    Figures are for the mode snipes trade in right now (live only when auto-trade is on and
    the mode is live). The breaker state comes from BotHealth, which every process updates,
    so the web process reports the breaker the monitor and workers actually use.
    """
    from monitoring.models import BotHealth
    from risk.selectors import config_get_active

    config = config_get_active()
    mode = config.mode if config.auto_trade else "dry_run"
    exposure = exposure_for(mode=mode)
    breaker = BotHealth.objects.filter(component="circuit_breaker").first()
    breaker_state = (breaker.detail or {}).get("state", "closed") if breaker else "closed"
    since = timezone.now() - timedelta(hours=24)
    rejections = dict(
        Trade.objects.filter(status=TradeStatus.REJECTED, created_at__gte=since)
        .values_list("reason_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    breaches = []
    if exposure.spent_24h >= config.max_position_usdt:
        breaches.append("max_position")
    if exposure.trades_last_hour >= config.max_trades_per_hour:
        breaches.append("max_trades_per_hour")
    if exposure.in_flight >= config.max_in_flight:
        breaches.append("max_in_flight")
    return {
        "mode": mode,
        "exposure_24h": exposure.spent_24h,
        "max_position_usdt": config.max_position_usdt,
        "exposure_ratio": float(exposure.spent_24h / config.max_position_usdt),
        "trades_last_hour": exposure.trades_last_hour,
        "max_trades_per_hour": config.max_trades_per_hour,
        "in_flight": exposure.in_flight,
        "max_in_flight": config.max_in_flight,
        "rejections_24h": rejections,
        "breaches": breaches,
        "breaker": {"state": breaker_state},
        "kill_switch": config.kill_switch,
        "auto_trade": config.auto_trade,
    }
