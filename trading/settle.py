"""Settle an order whose outcome is unknown (a timeout, a 5xx, a crash mid-send), by witnesses.

MEXC often answers `GET /api/v3/order` with -2013 "Order does not exist." for an order it has
just accepted (ccxt issue #21614), and documents no refusal of a reused client order id, so
one "does not exist" proves nothing and sending again on it could buy twice. The witnesses,
asked until the settle window since the last send has passed:
1. the order by client order id;
2. the symbol's open orders and recent orders (`openOrders`, `allOrders`);
3. the private orders stream, where the monitor keeps one open (`trade_adopt_order`): it
   writes what it sees onto the trade, so the row itself is re-read each round;
4. the account's free balance of the base asset (a new listing's asset held means a buy
   happened, even if no order lookup shows it yet).

Only when every witness says absent after the window, and the signal is still fresh, is the
order sent again (same client order id). Otherwise the trade stays `unknown`, is shown to the
operator, and a late-appearing order is adopted by the reconciler or the private stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

from mexc import errors as mexc_errors

from .execution import OrderGateway, OrderState, apply_order_state, lease, send_hold_s
from .models import Trade, TradeStatus
from .states import trade_transition

log = logging.getLogger(__name__)
SETTLE_WINDOW_S = 3.0
# The witnesses are asked 0.1 s apart, then twice as long each round up to 1 s: ~7 rounds in
# the window. One round weighs ~15 on MEXC's IP limit (the order 2, openOrders 3, allOrders
# 10): every 0.1 s that would be ~450 in 3 s, most of the 500 MEXC allows per 10 s.
POLL_S = 0.1
POLL_MAX_S = 1.0
UNSETTLED = (TradeStatus.PENDING, TradeStatus.UNKNOWN)


def witness(trade: Trade, gateway: OrderGateway) -> OrderState | None:
    """What the order witnesses say: its state, or None when none of them shows it.
    Raises MexcError when a witness could not be asked (that is not an absence)."""
    try:
        return gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id)
    except mexc_errors.UnknownOrder:
        pass
    return gateway.listed_order(symbol=trade.symbol, client_order_id=trade.client_order_id)


def settle(
    trade: Trade,
    gateway: OrderGateway,
    *,
    fresh_until_ms: int | None,
    window_s: float = SETTLE_WINDOW_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> str:
    """'found' (recorded), 'resend' (claimed again: the caller sends) or 'unknown'."""
    deadline = (trade.sent_ns or 0) / 1e9 + window_s
    blind = ""
    pause = POLL_S
    while True:
        trade.refresh_from_db()
        if trade.status not in UNSETTLED:  # adopted meanwhile (private stream, reconciler)
            return "found"
        try:
            state = witness(trade, gateway)
        except mexc_errors.MexcError as exc:
            state, blind = None, f"a witness could not be asked ({exc})"
        if state is not None:
            apply_order_state(trade, state)
            log.info("trade.settled", extra={"trade_id": trade.pk, "status": trade.status})
            return "found"
        if clock() >= deadline:
            break
        sleep(min(pause, max(0.0, deadline - clock())) or POLL_S)
        pause = min(pause * 2, POLL_MAX_S)
    if not blind:
        blind = _balance_says_bought(trade, gateway)
    now_ms = gateway.server_time_ms()
    fresh = fresh_until_ms is not None and now_ms <= fresh_until_ms
    if (
        not blind
        and fresh
        and trade.status == TradeStatus.UNKNOWN
        and trade_transition(
            trade,
            TradeStatus.PENDING,
            publish=False,
            held_until=lease(send_hold_s()),
            error_message="Every witness said absent over the settle window: sent again.",
        )
    ):
        log.warning("trade.resend", extra={"trade_id": trade.pk})
        return "resend"
    why = blind or (
        "every witness said absent, but the signal is no longer fresh: not sent again"
        if trade.attempts
        else "its sender stopped before the order left, or the order is not visible yet"
    )
    _stay_unknown(trade, why)
    return "unknown"


def _balance_says_bought(trade: Trade, gateway: OrderGateway) -> str:
    """A reason to stay unknown when the account holds the base asset, else ''."""
    from listings.services import split_symbol

    base, _ = split_symbol(trade.symbol)
    try:
        held = gateway.free_balance(base)
    except mexc_errors.MexcError as exc:
        return f"the balance could not be read ({exc})"
    if held > Decimal(0):
        return f"the account holds {held} {base}: an order may have filled"
    return ""


def _stay_unknown(trade: Trade, why: str) -> None:
    message = f"Outcome unknown: {why}. The reconciler keeps asking; check the exchange."
    if trade.status == TradeStatus.PENDING or trade.error_message != message:
        trade_transition(
            trade, TradeStatus.UNKNOWN, reason_code="order_unknown", error_message=message
        )
    log.warning("trade.unknown", extra={"trade_id": trade.pk, "why": why})
