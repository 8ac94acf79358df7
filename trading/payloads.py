"""The `trade.updated` and `position.updated` payloads: the API's output, built without DRF
(hot path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from common.payloads import dec, iso

from .models import Position, Trade
from .selectors import trade_latency_ms


def trade_payload(trade: Trade) -> dict[str, Any]:
    return {
        "id": trade.pk,
        "listing": trade.listing_id,
        "symbol": trade.symbol,
        "side": trade.side,
        "quote_qty": dec(trade.quote_qty, 8),
        "mode": trade.mode,
        "status": trade.status,
        "reason_code": trade.reason_code,
        "error_message": trade.error_message,
        "client_order_id": trade.client_order_id,
        "exchange_order_id": trade.exchange_order_id,
        "executed_qty": dec(trade.executed_qty, 18),
        "avg_price": dec(trade.avg_price, 18),
        "quote_spent": dec(trade.quote_spent, 8),
        "price_decimals": trade.price_decimals,
        "qty_decimals": trade.qty_decimals,
        "config_version": trade.config_version_id,
        "decision_to_ack_ms": trade.decision_to_ack_ms,
        "latency_ms": trade_latency_ms(trade),
        "attempts": trade.attempts,
        "manual": trade.manual,
        "requested_by": trade.requested_by,
        "confirmed_by": trade.confirmed_by,
        "expires_at": iso(trade.expires_at),
        "created_at": iso(trade.created_at),
        "updated_at": iso(trade.updated_at),
    }


def position_payload(position: Position) -> dict[str, Any]:
    """A position as the API and the `position.updated` push show it: its figures and the
    levels the watcher sells at (stop, trailing, next take-profit, time exit)."""
    from .exits import ExitRules, levels
    from .positions import held_of, unrealized

    rules = ExitRules.from_json(position.rules)
    lv = levels(held_of(position), rules)
    pnl, pct = unrealized(position)
    expires = lv.expires_at_ms
    return {
        "id": position.pk,
        "symbol": position.symbol,
        "mode": position.mode,
        "status": position.status,
        "buy_trade": position.buy_trade_id,
        # The symbol's precision its buy was made at: the dashboard shows prices to it.
        "price_decimals": position.buy_trade.price_decimals,
        "qty_decimals": position.buy_trade.qty_decimals,
        "quantity": dec(position.quantity, 18),
        "initial_qty": dec(position.initial_qty, 18),
        "cost_quote": dec(position.cost_quote, 8),
        "entry_price": dec(position.entry_price, 18),
        "high_price": dec(position.high_price, 18),
        "last_price": dec(position.last_price, 18),
        "last_price_at": iso(position.last_price_at),
        "unrealized_pnl": dec(pnl, 8),
        "unrealized_pct": None if pct is None else round(float(pct), 2),
        "stop_price": dec(lv.stop, 18),
        "trailing_price": dec(lv.trailing, 18),
        "next_take_profit_price": dec(lv.next_take_profit, 18),
        "expires_at": iso(datetime.fromtimestamp(expires / 1000, UTC)) if expires else None,
        "ladder_done": position.ladder_done,
        "sold_qty": dec(position.sold_qty, 18),
        "proceeds_quote": dec(position.proceeds_quote, 8),
        "fees_quote": dec(position.fees_quote, 8),
        "dust_qty": dec(position.dust_qty, 18),
        "realized_pnl": dec(position.realized_pnl, 8),
        "exit_reason": position.exit_reason,
        "rules": position.rules,
        "opened_at": iso(position.opened_at),
        "closed_at": iso(position.closed_at),
    }
