"""The one table of which trade status may follow which, and the one way to change a status.

Every status change is a compare-and-set on the status the writer expects (`trade_transition`),
checked against `ALLOWED`. Two rules hold whoever writes:
- a final status (filled, canceled, rejected, failed) is never left;
- a trade whose order the exchange acknowledged (it has an `exchange_order_id`) is never
  rejected or failed: money it spent stays counted.

What each status means for money:
- `awaiting_confirmation`: held for an operator; counts against exposure while held.
- `pending`: decided and claimed by its sender (`held_until` is the sender's lease); the order
  may be leaving right now, so nobody but its sender may reject it, and a pending trade past
  its lease is settled by asking the exchange, never expired blindly.
- `submitted`: the exchange acknowledged the order; its fill is not known yet.
- `unknown`: the order may or may not exist (timeout, 5xx, a crash mid-send); settled by
  several witnesses (trading/settle.py).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import Q
from django.utils import timezone

from monitoring import events, metrics

from .models import Trade, TradeSide, TradeStatus

log = logging.getLogger(__name__)
S = TradeStatus

ALLOWED: dict[str, frozenset[str]] = {
    S.AWAITING_CONFIRMATION: frozenset({S.PENDING, S.REJECTED, S.CANCELED}),
    S.PENDING: frozenset(
        {
            S.PENDING,  # the sender renews its lease (a 10007 retry, a 429 wait)
            S.SUBMITTED,
            S.FILLED,
            S.PARTIALLY_FILLED,
            S.CANCELED,  # an IOC order the exchange canceled unfilled
            S.UNKNOWN,
            S.FAILED,  # the exchange refused it: no order exists
            S.REJECTED,  # its own sender's last check refused it before anything left
        }
    ),
    S.SUBMITTED: frozenset({S.SUBMITTED, S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.UNKNOWN}),
    S.UNKNOWN: frozenset(
        {
            S.UNKNOWN,
            S.PENDING,  # every witness said absent over the settle window: sent again
            S.SUBMITTED,
            S.FILLED,
            S.PARTIALLY_FILLED,
            S.CANCELED,
        }
    ),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
}
FINAL = frozenset(status for status, after in ALLOWED.items() if not after)
NEVER_WITH_AN_ORDER = frozenset({S.REJECTED, S.FAILED})
# Trades that did or may still commit money (or simulated money): they count against limits.
COMMITTED = frozenset(
    {
        S.AWAITING_CONFIRMATION,
        S.PENDING,
        S.SUBMITTED,
        S.UNKNOWN,
        S.FILLED,
        S.PARTIALLY_FILLED,
    }
)
IN_FLIGHT = frozenset({S.PENDING, S.SUBMITTED, S.UNKNOWN})
# Statuses counted by `trades_total` when reached.
COUNTED = frozenset({S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.FAILED, S.REJECTED, S.UNKNOWN})


class IllegalTransition(Exception):
    """A programming error: the table does not allow this change."""


def allowed(current: str, to: str) -> bool:
    return to in ALLOWED[current]


def trade_transition(
    trade: Trade,
    to: str,
    *,
    expect: str | None = None,
    publish: bool = True,
    **fields: Any,
) -> bool:
    """Move `trade` from `expect` (default: the status it holds in memory) to `to`, writing
    `fields` with it, if and only if the row still has that status. Returns False when another
    writer got there first (the row is then re-read). The push waits for the transaction.
    """
    current = expect or trade.status
    if not allowed(current, to):
        raise IllegalTransition(f"trade {trade.pk}: {current} -> {to} is not allowed")
    query = Trade.objects.filter(pk=trade.pk, status=current)
    if to in NEVER_WITH_AN_ORDER:
        query = query.filter(exchange_order_id="")
    now = timezone.now()
    fields = {**fields, "status": to, "updated_at": now}
    if query.update(**fields) != 1:
        trade.refresh_from_db()
        log.info(
            "trade.transition_lost",
            extra={"trade_id": trade.pk, "from": current, "to": to, "now": trade.status},
        )
        return False
    # The bot gives up settling when `order_unknown` is first written, often on a trade
    # already `unknown` since its send (unknown -> unknown): that is when the phone hears.
    gave_up = fields.get("reason_code") == "order_unknown" and trade.reason_code != "order_unknown"
    for name, value in fields.items():
        setattr(trade, name, value)
    if to != current and to in COUNTED:
        metrics.trades_total.labels(mode=trade.mode, status=to).inc()
    if to != current or gave_up:
        _notify(trade, to)
    if to != current:
        _positions(trade, to)
    if publish:
        from .payloads import trade_payload

        events.publish_on_commit(events.TRADE_UPDATED, trade_payload(trade))
    return True


def order_evidence_q() -> Q:
    """Rows whose order the exchange acknowledged."""
    return ~Q(exchange_order_id="")


def _positions(trade: Trade, to: str) -> None:
    """A buy's fill opens its position; a sell's outcome reaches its position (whoever
    recorded it: the sender, the reconciler, the private orders stream). A failure here never
    undoes the trade's own record: the reconciler opens positions a fill left without one."""
    from .positions import SELL_SETTLED, position_apply_sells, position_open

    try:
        if trade.side == TradeSide.BUY and to in (S.FILLED, S.PARTIALLY_FILLED):
            position_open(trade)
        elif trade.side == TradeSide.SELL and trade.position_id and to in SELL_SETTLED:
            position_apply_sells(trade.position_id)
    except Exception:
        log.exception("position.update_failed", extra={"trade_id": trade.pk, "to": to})


def _notify(trade: Trade, to: str) -> None:
    """The operator's phone hears of fills and of outcomes the bot could not settle (queued
    for the commit, delivered off this path: alerts.services.notify)."""
    from alerts.services import notify

    # A sell's fill is told as `exit_filled`, with its P&L (trading.positions).
    bought = to == TradeStatus.FILLED or (to == TradeStatus.PARTIALLY_FILLED and trade.executed_qty)
    if bought and trade.side == TradeSide.BUY:
        notify(
            "buy_filled",
            key=trade.pk,
            payload={
                "trade_id": trade.pk,
                "symbol": trade.symbol,
                "side": "buy",
                "mode": trade.mode,
                "quote_qty": trade.quote_qty,
                "executed_qty": trade.executed_qty,
                "avg_price": trade.avg_price,
                "quote_spent": trade.quote_spent,
                "reason": "" if to == TradeStatus.FILLED else "partial fill",
            },
        )
    elif to == TradeStatus.UNKNOWN and trade.reason_code == "order_unknown":
        notify(
            "order_unknown",
            key=trade.pk,
            payload={
                "trade_id": trade.pk,
                "symbol": trade.symbol,
                "side": trade.side.lower(),
                "mode": trade.mode,
                "reason": trade.error_message[:200],
            },
        )
