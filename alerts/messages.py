"""Short messages for a phone: what happened, symbol, side, amount, price, mode, reason, link."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from . import events


def _mode(payload: dict[str, Any]) -> str:
    mode = str(payload.get("mode") or "")
    return {"live": "LIVE", "dry_run": "DRY"}.get(mode, mode.upper() or "?")


def _num(value: Any) -> str:
    if value in (None, ""):
        return "?"
    try:
        return f"{Decimal(str(value)).normalize():f}"
    except InvalidOperation:
        return str(value)


def trade_link(trade_id: Any) -> str:
    """The dashboard's trades row (static/dashboard/alerts.js scrolls to it and highlights
    it, or says when it is not on the page)."""
    return _dashboard_link("trade", trade_id)


def position_link(position_id: Any) -> str:
    """The dashboard's positions row (open or closed), as `trade_link`."""
    return _dashboard_link("position", position_id)


def _dashboard_link(kind: str, row_id: Any) -> str:
    base = getattr(settings, "NOTIFY_DASHBOARD_URL", None)
    if not base or row_id in (None, ""):
        return ""
    return f"{base}/dashboard/#{kind}-{row_id}"


def _summary_line(label: str, p: dict[str, Any], prefix: str) -> str:
    return (
        f"{label}: P&L {_num(p.get(prefix + 'pnl_usdt'))} USDT,"
        f" fills {p.get(prefix + 'fills', '?')}, refusals {p.get(prefix + 'refusals', '?')}"
    )


def render(event: str, payload: dict[str, Any]) -> tuple[str, str]:
    """(title, body) for one event; unknown fields are ignored, missing ones show `?`."""
    p = payload
    sym = p.get("symbol") or "?"
    mode = _mode(p)
    lines: list[str]
    if event == events.BUY_FILLED:
        title = f"BUY filled {sym} [{mode}]"
        lines = [
            f"{_num(p.get('executed_qty'))} @ {_num(p.get('avg_price'))}"
            f" = {_num(p.get('quote_spent') or p.get('quote_qty'))} USDT"
        ]
    elif event == events.EXIT_FILLED:
        title = f"SELL filled {sym} [{mode}]"
        lines = [
            f"{_num(p.get('executed_qty'))} @ {_num(p.get('avg_price'))}",
            f"P&L {_num(p.get('pnl_usdt'))} USDT"
            + (f" ({_num(p.get('pnl_pct'))} %)" if p.get("pnl_pct") not in (None, "") else ""),
        ]
    elif event == events.BUY_REFUSED_BY_LIMIT:
        title = f"BUY refused {sym} [{mode}]"
        lines = [f"limit: {p.get('reason') or '?'}"]
        if p.get("quote_qty") not in (None, ""):
            lines.append(f"asked {_num(p.get('quote_qty'))} USDT")
    elif event == events.ORDER_UNKNOWN:
        title = f"UNKNOWN outcome {sym} {str(p.get('side') or '').upper()} [{mode}]"
        lines = ["The bot could not settle this order: check it on MEXC."]
    elif event == events.BREAKER_OPEN:
        title = "Circuit breaker OPEN"
        lines = [f"{p.get('failures', '?')} exchange failures; orders paused"]
        if p.get("cooldown_s"):
            lines.append(f"retry in {p['cooldown_s']} s")
    elif event == events.BREAKER_CLOSED:
        title = "Circuit breaker closed"
        lines = ["orders resume"]
    elif event == events.KILL_SWITCH:
        on = bool(p.get("on"))
        title = f"Kill switch {'ON: every trade refused' if on else 'off'}"
        lines = []
    elif event == events.LIVE_MODE_CHANGED:
        title = f"Mode now {mode}" + ("" if p.get("auto_trade", True) else " (auto-trade off)")
        lines = []
    elif event == events.MONITOR_DOWN:
        title = "Monitor DOWN"
        lines = [f"no heartbeat for {p.get('age_s', '?')} s (last {p.get('last_heartbeat_at')})"]
        if p.get("run_id") is not None:
            lines.append(f"run #{p['run_id']}")
    elif event == events.LISTING_DETECTED:
        title = f"New listing {sym}"
        lines = [f"source: {p.get('source') or '?'}"]
        if p.get("listed_at"):
            lines.append(f"opens {p['listed_at']}")
    elif event == events.DAILY_SUMMARY:
        title = f"Daily summary {p.get('date', '')}".strip()
        lines = [_summary_line("LIVE", p, "")]
        if any(name.startswith("dry_") for name in p):  # the dry run's, never added to live
            lines.append(_summary_line("DRY", p, "dry_"))
        lines.append(f"monitor uptime {p.get('uptime', '?')}")
    elif event == events.HEARTBEAT:
        title = "sniperbot alive"
        lines = [f"monitor: {'up' if p.get('monitor_alive') else 'DOWN'}"]
    elif event == events.TEST:
        title = "sniperbot test notification"
        lines = [f"asked by {p.get('by') or 'operator'}; this channel works."]
    else:
        title, lines = event, []
    if p.get("reason") and event not in (events.BUY_REFUSED_BY_LIMIT,):
        lines.append(f"reason: {p['reason']}")
    if p.get("by") and event in (events.KILL_SWITCH, events.LIVE_MODE_CHANGED):
        lines.append(f"by {p['by']}")
    link = trade_link(p.get("trade_id")) or position_link(p.get("position_id"))
    if link:
        lines.append(link)
    return title[:120], "\n".join(lines)[:1000]
