"""Reads for trading: the exposure figures risk checks judge."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from risk.checks import Exposure

from .models import Trade, TradeSide, TradeStatus
from .rollups import exposure_inputs


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
    """The trade already holding `client_order_id` (its id, or None) and `mode`'s exposure:
    a decision reads both under the config's lock, flat in history (`trading.rollups`)."""
    return exposure_inputs(mode=mode, client_order_id=client_order_id, exclude_id=exclude_id)


# Stage name -> (start stamp, end stamp), in pipeline order.
STAGE_SPANS = {
    "persist": ("detected_ns", "persisted_ns"),
    "dispatch": ("persisted_ns", "dispatched_ns"),
    "risk": ("dispatched_ns", "risk_done_ns"),
    "send": ("risk_done_ns", "sent_ns"),
    "ack": ("sent_ns", "acked_ns"),
}
_STAMP_ORDER = ("detected_ns", "persisted_ns", "dispatched_ns", "risk_done_ns", "sent_ns")
# Figures the latency analytics report beside the bot's stages, never part of "total":
# a confirmed trade's wait for its operator (risk done -> confirmed: a human's time, not the
# bot's), and the bot-latency target's span, decision (or confirmation) -> ack, as each trade
# recorded it (`decision_to_ack_ms`).
OPERATOR_WAIT = ("risk_done_ns", "confirmed_ns")
ANALYTICS_STAGES = (*STAGE_SPANS, "total", "operator_wait", "decision_to_ack")


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


def trade_operator_wait_ms(trade: Trade) -> float | None:
    """How long a confirmed trade waited for its operator (risk done -> confirmed), in ms;
    None for a trade nobody confirmed. Reported on its own, never in the bot's figures."""
    start, end = (getattr(trade, stamp) for stamp in OPERATOR_WAIT)
    return round((end - start) / 1e6, 3) if start is not None and end is not None else None


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


def _stage_values_python(*, since, cap: int) -> tuple[int, int, dict[str, list[float]]]:
    """The embedded (SQLite) path: the newest `cap` trades' stages through `trade_latency_ms`."""
    rows = list(
        Trade.objects.filter(created_at__gte=since, side=TradeSide.BUY)
        .order_by("-created_at", "-id")
        .only(
            *(s for span in STAGE_SPANS.values() for s in span),
            "status",
            "acked_ns",
            "confirmed_ns",
            "decision_to_ack_ms",
        )[:cap]
    )
    per_stage: dict[str, list[float]] = {name: [] for name in ANALYTICS_STAGES}
    for trade in rows:
        figures = {
            **trade_latency_ms(trade),
            "operator_wait": trade_operator_wait_ms(trade),
            "decision_to_ack": trade.decision_to_ack_ms,
        }
        for stage, value in figures.items():
            if value is not None:
                per_stage[stage].append(value)
    errors = sum(1 for t in rows if t.status in (TradeStatus.FAILED, TradeStatus.UNKNOWN))
    return len(rows), errors, per_stage


def _latency_stats_python(*, since) -> dict:
    count, errors, per_stage = _stage_values_python(since=since, cap=LATENCY_SAMPLE_CAP)
    buckets = [0] * (len(HISTOGRAM_BOUNDS_MS) + 1)
    for value in per_stage["total"]:
        index = next(
            (i for i, bound in enumerate(HISTOGRAM_BOUNDS_MS) if value <= bound),
            len(HISTOGRAM_BOUNDS_MS),
        )
        buckets[index] += 1
    return _latency_result(
        count=count,
        errors=errors,
        stages={stage: _summary(values) for stage, values in per_stage.items()},
        buckets=buckets,
    )


def _latency_result(*, count: int, errors: int, stages: dict, buckets: list[int]) -> dict:
    return {
        "count": count,
        "errors": errors,
        "error_rate": round(errors / count, 4) if count else 0.0,
        "stages": stages,
        "histogram": [
            {"le_ms": bound, "count": n}
            for bound, n in zip((*HISTOGRAM_BOUNDS_MS, None), buckets, strict=True)
        ],
    }


# The same spans as `trade_latency_ms`, in SQL (nanoseconds): "send" starts at the operator's
# confirmation when there is one, and "total" leaves out the operator's wait (confirmed -
# risk done), which is its own figure, "operator_wait"; a trade never acked (acked null or 0)
# has no total. "decision_to_ack" is each trade's recorded `decision_to_ack_ms`, in ns here.
_SPAN_SQL = {
    "persist": "persisted_ns - detected_ns",
    "dispatch": "dispatched_ns - persisted_ns",
    "risk": "risk_done_ns - dispatched_ns",
    "send": "sent_ns - COALESCE(confirmed_ns, risk_done_ns)",
    "ack": "acked_ns - sent_ns",
    "total": (
        "CASE WHEN acked_ns <> 0 THEN acked_ns"
        " - COALESCE(detected_ns, persisted_ns, dispatched_ns, risk_done_ns, sent_ns)"
        " - CASE WHEN confirmed_ns IS NOT NULL AND risk_done_ns IS NOT NULL"
        " THEN confirmed_ns - risk_done_ns ELSE 0 END END"
    ),
    "operator_wait": "confirmed_ns - risk_done_ns",
    "decision_to_ack": "decision_to_ack_ms * 1000000",
}


def _latency_stats_postgres(*, since) -> dict:
    """One statement: the newest trades of the window (index on created_at), nearest-rank
    percentiles with percentile_disc and the histogram with width_bucket, in the database."""
    table = connection.ops.quote_name(Trade._meta.db_table)
    spans = ",\n".join(f"({sql}) AS {name}" for name, sql in _SPAN_SQL.items())
    per_stage = ",\n".join(
        f"count({name}), percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY {name}),"
        f" max({name})"
        for name in _SPAN_SQL
    )
    # A total in ms rounds to <= bound while below bound ms + 0.5 us: the bucket edges in ns.
    edges = [int(bound * 1_000_000) + 500 for bound in HISTOGRAM_BOUNDS_MS]
    sql = f"""
        WITH t AS (
            SELECT status, {spans}
            FROM {table}
            WHERE created_at >= %s AND side = %s
            ORDER BY created_at DESC, id DESC
            LIMIT %s
        )
        SELECT count(*), count(*) FILTER (WHERE status IN (%s, %s)),
            {per_stage},
            (SELECT array_agg(ARRAY[b, n]) FROM (
                SELECT width_bucket(total, %s::bigint[]) AS b, count(*) AS n
                FROM t WHERE total IS NOT NULL GROUP BY b) AS h)
        FROM t
    """
    params = [
        since,
        TradeSide.BUY,
        LATENCY_SAMPLE_CAP,
        TradeStatus.FAILED,
        TradeStatus.UNKNOWN,
        edges,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    count, errors, rest = row[0], row[1], list(row[2:])
    stages = {}
    for name in _SPAN_SQL:
        n, (p50, p95, p99), top = rest[0], rest[1] or (None, None, None), rest[2]
        rest = rest[3:]
        ms = [None if v is None else round(v / 1e6, 3) for v in (p50, p95, p99, top)]
        stages[name] = dict(zip(("count", "p50", "p95", "p99", "max"), (n, *ms), strict=True))
        if not n:
            stages[name] = _summary([])
    buckets = [0] * (len(HISTOGRAM_BOUNDS_MS) + 1)
    for bucket, n in rest[0] or ():
        buckets[bucket] = n
    return _latency_result(count=count, errors=errors, stages=stages, buckets=buckets)


def latency_stats(*, since) -> dict:
    """P50/P95/P99 per stage and a histogram of total latency, over buys since `since`
    (the newest LATENCY_SAMPLE_CAP of them; a sell's path is the exit benchmark's).

    Beside the bot's stages and "total": "operator_wait" (a confirmed trade's human wait,
    risk done -> confirmed, in no other figure) and "decision_to_ack" (the bot-latency
    target's span, as each trade recorded it). Rejections never reach the exchange: they
    count in `count` and in no stage. Errors are trades that failed or whose outcome is
    unknown. On PostgreSQL the figures are computed in
    the database; the embedded database computes them here from `trade_latency_ms`.
    """
    if connection.vendor == "postgresql":
        return _latency_stats_postgres(since=since)
    return _latency_stats_python(since=since)


def trade_history():
    """Every trade, newest first (the index trade_recent: created_at, id descending)."""
    return Trade.objects.select_related("config_version").order_by("-created_at", "-id")


EXPORT_COLUMNS = (
    "trade_id",
    "created_at",
    "symbol",
    "side",
    "mode",
    "status",
    "reason_code",
    "quote_qty",
    "quote_spent",
    "executed_qty",
    "avg_price",
    "client_order_id",
    "exchange_order_id",
    "manual",
    "requested_by",
    "confirmed_by",
    "latency_total_ms",
    "config_version",
    "config_changed_at",
    "config_changed_by",
    "config_change_reason",
    "cfg_auto_trade",
    "cfg_mode",
    "cfg_max_trade_usdt",
    "cfg_max_position_usdt",
    "cfg_high_value_threshold_usdt",
    "cfg_max_trades_per_hour",
    "error_message",
)
EXPORT_BATCH = 2000


def _total_ns():
    """`trade_latency_ms`'s total in nanoseconds, as an expression (None where not reached)."""
    first = Coalesce("detected_ns", "persisted_ns", "dispatched_ns", "risk_done_ns", "sent_ns")
    human = Case(
        When(
            confirmed_ns__isnull=False,
            risk_done_ns__isnull=False,
            then=F("confirmed_ns") - F("risk_done_ns"),
        ),
        default=Value(0),
        output_field=BigIntegerField(),
    )
    return Case(
        When(Q(acked_ns__isnull=True) | Q(acked_ns=0), then=None),
        default=F("acked_ns") - first - human,
        output_field=BigIntegerField(),
    )


def trade_export_chunks(
    *, trades: QuerySet[Trade], batch_size: int = EXPORT_BATCH
) -> Iterator[str]:
    """The audit export as CSV text, one chunk per batch of `batch_size` trades, newest first.

    Each batch is its own short query, resumed after the last (created_at, id) seen, so memory
    stays one batch whatever the table's size and no cursor stays open between chunks. Every
    trade is listed with the configuration version (and limits) it was decided under.
    """
    user_field = get_user_model().USERNAME_FIELD
    fields = (
        "pk",
        "created_at",
        "symbol",
        "side",
        "mode",
        "status",
        "reason_code",
        "quote_qty",
        "quote_spent",
        "executed_qty",
        "avg_price",
        "client_order_id",
        "exchange_order_id",
        "manual",
        "requested_by",
        "confirmed_by",
        "export_total_ns",
        "config_version__history_id",
        "config_version__history_date",
        f"config_version__history_user__{user_field}",
        "config_version__history_change_reason",
        "config_version__auto_trade",
        "config_version__mode",
        "config_version__max_trade_usdt",
        "config_version__max_position_usdt",
        "config_version__high_value_threshold_usdt",
        "config_version__max_trades_per_hour",
        "error_message",
    )
    rows = (
        trades.select_related(None)
        .annotate(export_total_ns=_total_ns())
        .order_by("-created_at", "-pk")
        .values_list(*fields)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    after = None
    while True:
        page = rows
        if after is not None:
            created, pk = after
            page = rows.filter(created_at__lte=created).filter(
                Q(created_at__lt=created) | Q(pk__lt=pk)
            )
        batch = list(page[:batch_size])
        for row in batch:
            row = list(row)
            row[1] = row[1].isoformat()
            total = row[16]
            row[16] = (round(total / 1e6, 3) or "") if total is not None else ""
            if row[18] is not None:
                row[18] = row[18].isoformat()
            if row[20] is None:
                row[20] = ""
            writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(batch) < batch_size:
            return
        after = (batch[-1][1], batch[-1][0])


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


# --- positions ---------------------------------------------------------------------------------


def position_list() -> QuerySet:
    """Every position, newest first (opened_at, id descending)."""
    from .models import Position

    # The buy's precision rides in each position's payload: one join, not a query per row.
    return Position.objects.select_related("buy_trade").order_by("-opened_at", "-id")


POSITION_EXPORT_COLUMNS = (
    "id",
    "symbol",
    "mode",
    "status",
    "opened_at",
    "closed_at",
    "entry_price",
    "quantity",
    "initial_qty",
    "cost_quote",
    "proceeds_quote",
    "fees_quote",
    "realized_pnl",
    "exit_reason",
    "dust_qty",
)


def position_export_chunks(*, positions: QuerySet, batch_size: int = EXPORT_BATCH) -> Iterator[str]:
    """Positions as CSV text, one chunk per batch of `batch_size`, newest first.

    Like `trade_export_chunks`: each batch is its own short query resumed after the last
    (opened_at, id) seen, so memory stays one batch and no cursor stays open between chunks.
    """
    fields = ("pk", *POSITION_EXPORT_COLUMNS[1:])
    rows = positions.order_by("-opened_at", "-pk").values_list(*fields)
    opened, closed = fields.index("opened_at"), fields.index("closed_at")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(POSITION_EXPORT_COLUMNS)
    after = None
    while True:
        page = rows
        if after is not None:
            at, pk = after
            page = rows.filter(opened_at__lte=at).filter(Q(opened_at__lt=at) | Q(pk__lt=pk))
        batch = list(page[:batch_size])
        for row in batch:
            row = list(row)
            row[opened] = row[opened].isoformat()
            row[closed] = row[closed].isoformat() if row[closed] is not None else ""
            writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(batch) < batch_size:
            return
        after = (batch[-1][opened], batch[-1][0])


def pnl_summary(*, since) -> dict[str, dict]:
    """P&L per mode (every mode present, never added across modes).

    The positions with activity in the window (`since`; None: all time) are those closed in
    it (closed_at >= since) and those still open or closing that were opened in it
    (opened_at >= since). `realized_pnl` and `fees_quote` sum their realized P&L (for an
    open one, what its partial sells realized so far) and fees; `closed` and `wins`
    (realized_pnl > 0) count the closed ones; `win_rate` is wins / closed (None if none
    closed). `unrealized_pnl` and `open` are now, whatever the window: every open or closing
    position at its last best bid (`trading.positions.unrealized`); `open_unpriced` of them
    have no price yet and are not in the sum.
    """
    from risk.models import TradingMode

    from .models import Position, PositionStatus
    from .positions import unrealized

    held = (PositionStatus.OPEN, PositionStatus.CLOSING)
    closed = Q(status=PositionStatus.CLOSED)
    still_held = Q(status__in=held)
    if since is not None:
        closed &= Q(closed_at__gte=since)
        still_held &= Q(opened_at__gte=since)
    figures = {
        row["mode"]: row
        for row in Position.objects.filter(closed | still_held)
        .values("mode")
        .annotate(
            realized=Sum("realized_pnl", default=Decimal(0)),
            fees=Sum("fees_quote", default=Decimal(0)),
            closed=Count("id", filter=closed),
            wins=Count("id", filter=closed & Q(realized_pnl__gt=0)),
        )
        .order_by()
    }
    out = {}
    for mode in TradingMode.values:
        row = figures.get(mode, {})
        n_closed, wins = row.get("closed", 0), row.get("wins", 0)
        out[mode] = {
            "realized_pnl": row.get("realized", Decimal(0)),
            "unrealized_pnl": Decimal(0),
            "fees_quote": row.get("fees", Decimal(0)),
            "closed": n_closed,
            "wins": wins,
            "win_rate": round(wins / n_closed, 4) if n_closed else None,
            "open": 0,
            "open_unpriced": 0,
        }
    for position in Position.objects.filter(status__in=held).order_by():
        mode = out[position.mode]
        mode["open"] += 1
        pnl, _ = unrealized(position)
        if pnl is None:
            mode["open_unpriced"] += 1
        else:
            mode["unrealized_pnl"] += pnl
    return out
