"""The private orders stream as a witness: what MEXC pushes about our orders is written onto
their trades (an order that appeared late is adopted; a fill lands without a lookup).

It runs in a process that trades live (the monitor, serving trades itself) on the gateway's
event loop (`MexcGateway.watch_orders`); each push is applied on a thread of its own, through
the same `apply_order_state` as every other witness, so the transition table decides.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from .execution import OrderState, apply_order_state
from .models import Trade
from .states import FINAL

log = logging.getLogger(__name__)
# MEXC's private order status codes (websocket-proto PrivateOrdersV3Api.status)
PUSHED_STATUS = {
    1: "NEW",
    2: "FILLED",
    3: "PARTIALLY_FILLED",
    4: "CANCELED",
    5: "PARTIALLY_CANCELED",
}
_apply = ThreadPoolExecutor(max_workers=1, thread_name_prefix="order-witness")


def trade_adopt_order(
    *,
    client_order_id: str,
    order_id: str,
    status: int,
    executed_qty,
    quote_spent,
) -> bool:
    """Record a pushed order state on its trade. True if the trade changed."""
    trade = Trade.objects.filter(client_order_id=client_order_id).first()
    if trade is None or trade.status in FINAL or status not in PUSHED_STATUS:
        return False
    state = OrderState(
        status=PUSHED_STATUS[status],
        exchange_order_id=order_id,
        executed_qty=executed_qty,
        quote_spent=quote_spent,
    )
    before = trade.status
    apply_order_state(trade, state)
    if trade.status != before:
        log.info(
            "trade.adopted_from_stream",
            extra={"trade_id": trade.pk, "from": before, "to": trade.status},
        )
    return trade.status != before


def on_pushed_order(event) -> None:
    """Called on the gateway's loop for each PrivateOrder push: applied off the loop."""
    if not event.client_order_id:
        return
    _apply.submit(
        _applied,
        client_order_id=event.client_order_id,
        order_id=event.order_id,
        status=event.status,
        executed_qty=event.cumulative_quantity,
        quote_spent=event.cumulative_amount,
    )


def _applied(**kwargs) -> None:
    try:
        trade_adopt_order(**kwargs)
    except Exception:
        log.exception("trade.adopt_failed", extra={"client_order_id": kwargs["client_order_id"]})
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
