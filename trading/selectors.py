"""Reads for trading: the exposure figures risk checks judge."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from risk.checks import Exposure

from .models import Trade, TradeStatus
from .states import COMMITTED, IN_FLIGHT


def exposure_for(*, mode: str, exclude_id: int | None = None) -> Exposure:
    """24 h spend, trades in the last hour and snipes in flight, for one mode.

    Held (awaiting confirmation) and pending trades count: they may still spend. Dry-run
    trades count against dry-run exposure only, so a simulation respects the limits the way
    live trading would, without eating the live budget. `exclude_id`: the trade being decided
    again (a confirmation) does not count against itself.
    """
    return decision_inputs(mode=mode, exclude_id=exclude_id)[1]


def decision_inputs(
    *, mode: str, client_order_id: str = "", exclude_id: int | None = None
) -> tuple[int | None, Exposure]:
    """The trade already holding `client_order_id` (its id, or None) and `mode`'s exposure,
    in one statement: a decision reads both under the config's lock."""
    now = timezone.now()
    recent = Q(mode=mode, created_at__gte=now - timedelta(hours=24))
    if exclude_id is not None:
        recent &= ~Q(pk=exclude_id)
    committed = recent & Q(status__in=COMMITTED)
    same_id = Q(client_order_id=client_order_id)
    figures = Trade.objects.filter(recent | same_id).aggregate(
        spent=Sum(Coalesce("quote_spent", "quote_qty"), filter=committed, default=Decimal(0)),
        last_hour=Count("id", filter=committed & Q(created_at__gte=now - timedelta(hours=1))),
        in_flight=Count("id", filter=recent & Q(status__in=IN_FLIGHT)),
        existing=Max("id", filter=same_id),
    )
    exposure = Exposure(
        spent_24h=figures["spent"],
        trades_last_hour=figures["last_hour"],
        in_flight=figures["in_flight"],
    )
    return figures["existing"], exposure


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
    """Per-stage and total latency of one trade from its stamps (None where not reached).

    The bot's time only: a held trade's wait for its operator (decided -> confirmed) is its
    own figure, not part of "send" or "total".
    """
    out: dict[str, float | None] = {}
    for stage, (start, end) in STAGE_SPANS.items():
        a, b = getattr(trade, start), getattr(trade, end)
        if stage == "send" and trade.confirmed_ns is not None:
            a = trade.confirmed_ns
        out[stage] = round((b - a) / 1e6, 3) if a is not None and b is not None else None
    first = next((getattr(trade, s) for s in _STAMP_ORDER if getattr(trade, s) is not None), None)
    acked = trade.acked_ns
    human = 0
    if trade.confirmed_ns is not None and trade.risk_done_ns is not None:
        human = trade.confirmed_ns - trade.risk_done_ns
    out["total"] = round((acked - first - human) / 1e6, 3) if first is not None and acked else None
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
        .only(
            *(s for span in STAGE_SPANS.values() for s in span),
            "status",
            "acked_ns",
            "confirmed_ns",
        )[:LATENCY_SAMPLE_CAP]
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
    mode = config.snipe_mode
    limits = config.mode_limits(mode)  # limits are per mode: dry run has its own
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
    if exposure.spent_24h >= limits.max_position_usdt:
        breaches.append("max_position")
    if exposure.trades_last_hour >= limits.max_trades_per_hour:
        breaches.append("max_trades_per_hour")
    if exposure.in_flight >= config.max_in_flight:
        breaches.append("max_in_flight")
    return {
        "mode": mode,
        "exposure_24h": exposure.spent_24h,
        "max_position_usdt": limits.max_position_usdt,
        "exposure_ratio": float(exposure.spent_24h / limits.max_position_usdt),
        "trades_last_hour": exposure.trades_last_hour,
        "max_trades_per_hour": limits.max_trades_per_hour,
        "in_flight": exposure.in_flight,
        "max_in_flight": config.max_in_flight,
        "rejections_24h": rejections,
        "breaches": breaches,
        "breaker": {"state": breaker_state},
        "kill_switch": config.kill_switch,
        "auto_trade": config.auto_trade,
    }
