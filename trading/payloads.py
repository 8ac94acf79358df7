"""The `trade.updated` payload: TradeSerializer's output, built without DRF (hot path)."""

from __future__ import annotations

from typing import Any

from common.payloads import dec, iso

from .models import Trade
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
