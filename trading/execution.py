"""Execute a decided Trade: dry-run fill model or a live MARKET BUY, never a duplicate.

Rules (design.md section 1):
- work is claimed with a conditional update (pending -> submitted), so a second delivery of
  the same task, or a second worker, does nothing;
- the client order id is fixed before the first send; every retry reuses it;
- an order whose outcome is unknown (timeout, 5xx) is settled by asking the exchange for that
  client order id; it is sent again only when the exchange says no such order exists, and at
  most MAX_ATTEMPTS times in all;
- 10007 ("not tradable by API yet") right after the open is retried at a short interval
  inside the configured window; 429 waits for Retry-After.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from django.conf import settings
from django.db.models import F
from django.db.models.expressions import Combinable
from django.utils import timezone

from mexc import errors as mexc_errors
from monitoring import events, metrics
from risk.guards import CircuitBreaker, RateLimiter

from .models import Trade, TradeStatus
from .payloads import trade_payload
from .selectors import trade_latency_ms

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2
FINAL_POLL_S = 5.0
ORDER_FINAL = {"FILLED", "CANCELED", "PARTIALLY_CANCELED", "REJECTED", "EXPIRED"}
STATUS_FROM_EXCHANGE = {
    "NEW": TradeStatus.SUBMITTED,
    "PARTIALLY_FILLED": TradeStatus.PARTIALLY_FILLED,
    "FILLED": TradeStatus.FILLED,
    "CANCELED": TradeStatus.CANCELED,
    "PARTIALLY_CANCELED": TradeStatus.PARTIALLY_FILLED,
    "REJECTED": TradeStatus.FAILED,
    "EXPIRED": TradeStatus.CANCELED,
}


@dataclass(frozen=True)
class OrderState:
    status: str  # MEXC order status, e.g. FILLED
    exchange_order_id: str
    executed_qty: Decimal
    quote_spent: Decimal

    @property
    def avg_price(self) -> Decimal | None:
        return self.quote_spent / self.executed_qty if self.executed_qty else None


class OrderGateway(Protocol):
    """The exchange as trading sees it (sync; implemented on the async MEXC client)."""

    def place_market_buy(
        self, *, symbol: str, quote_qty: Decimal, client_order_id: str, recv_window_ms: int
    ) -> str:
        """Send the order; return the exchange order id. Raises mexc.errors types."""

    def start_market_buy(
        self, *, symbol: str, quote_qty: Decimal, client_order_id: str, recv_window_ms: int
    ) -> Future:
        """Send the order without waiting for its answer (see `order_id_of`)."""

    def order_id_of(self, order: Future) -> str:
        """The answer to a started order, as `place_market_buy` returns it."""

    def query_order(self, *, symbol: str, client_order_id: str) -> OrderState:
        """Raises mexc.errors.UnknownOrder when the exchange has no such order."""

    def best_ask(self, symbol: str) -> Decimal | None: ...

    def server_time_ms(self) -> int: ...


@dataclass(frozen=True)
class SendPolicy:
    """How to send one order: recvWindow, and the 10007 retry window after the open."""

    recv_window_ms: int
    open_at_ms: int | None = None
    open_retry_window_ms: int = 0
    open_retry_interval_ms: int = 50


@dataclass
class Guards:
    limiter: RateLimiter
    breaker: CircuitBreaker
    max_wait_s: float = 10.0
    # The breaker's check and a slot in one call, where the store can (Redis: one round trip).
    admission: Callable[[float], tuple[bool, float | None]] | None = None


def _update(
    trade: Trade,
    *,
    expect: tuple[str, ...] | None = None,
    publish: bool = True,
    hold_s: float = 0.0,
    **fields: Any,
) -> bool:
    """Write fields (conditionally on the current status) and push the new state.

    `publish=False` keeps the push off the path to the exchange (a later update pushes).
    `hold_s`: the sender is busy with this trade for up to that long (see `_hold`).
    """
    query = Trade.objects.filter(pk=trade.pk)
    if expect is not None:
        query = query.filter(status__in=expect)
    now = timezone.now() + timedelta(seconds=hold_s)
    if trade.sent_unsaved:  # stamped in memory as the order left
        fields.setdefault("sent_ns", trade.sent_ns)
    if query.update(**fields, updated_at=now) != 1:
        return False
    trade.sent_unsaved = False
    if any(isinstance(value, Combinable) for value in fields.values()):
        trade.refresh_from_db()  # an expression (e.g. attempts + 1): read the result
    else:
        for name, value in fields.items():
            setattr(trade, name, value)
        trade.updated_at = now
    if publish:  # inside a transaction (the inline snipe), the push waits for its commit
        events.publish_on_commit(events.TRADE_UPDATED, trade_payload(trade))
    if trade.status in (TradeStatus.FILLED, TradeStatus.FAILED, TradeStatus.REJECTED):
        metrics.trades_total.labels(mode=trade.mode, status=trade.status).inc()
    if "acked_ns" in fields:
        for stage, ms in trade_latency_ms(trade).items():
            if ms is not None:
                metrics.trade_stage_latency.labels(stage=stage).observe(ms / 1000)
    return True


def send_hold_s() -> float:
    """How long one send may keep a trade busy: the HTTP timeout, and a margin."""
    return settings.MEXC_HTTP_TIMEOUT_MS / 1000 + 1.0


def _hold(trade: Trade, seconds: float) -> None:
    """Tell the reconciler this trade's sender is alive and busy for `seconds` more.

    The reconciler only touches trades whose row has been quiet for a while; a sender about to
    wait (Retry-After, the open) or to send pushes `updated_at` past that wait, so the
    reconciler never resends an order while its own sender may still send it.
    """
    until = timezone.now() + timedelta(seconds=seconds)
    Trade.objects.filter(pk=trade.pk).update(updated_at=until)
    trade.updated_at = until


def _fail(trade: Trade, reason: str, message: str, status: str = TradeStatus.FAILED) -> None:
    _update(trade, status=status, reason_code=reason, error_message=message[:2000])
    log.warning("trade.failed", extra={"trade_id": trade.pk, "reason": reason, "status": status})


# --- dry run --------------------------------------------------------------------------------


def execute_dry_run(trade: Trade, gateway: OrderGateway) -> None:
    """Simulate the fill at the current best ask plus slippage: clearly labelled, never free."""
    if not _update(
        trade, expect=(TradeStatus.PENDING,), status=TradeStatus.SUBMITTED, sent_ns=time.time_ns()
    ):
        return
    try:
        ask = gateway.best_ask(trade.symbol)
    except mexc_errors.MexcError as exc:
        ask = None
        log.warning("dry_run.no_price", extra={"trade_id": trade.pk, "error": repr(exc)})
    if not ask or ask <= 0:
        _fail(trade, "no_price", f"No price for {trade.symbol} to simulate the fill.")
        return
    slippage = Decimal(settings.DRY_RUN_SLIPPAGE_BPS) / Decimal(10_000)
    price = ask * (1 + slippage)
    fee = Decimal(settings.DRY_RUN_TAKER_FEE)
    qty = (trade.quote_qty * (1 - fee) / price).quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
    acked = time.time_ns()
    _update(
        trade,
        status=TradeStatus.FILLED,
        exchange_order_id=f"dry-{trade.client_order_id}",
        executed_qty=qty,
        avg_price=price,
        quote_spent=trade.quote_qty,
        acked_ns=acked,
        decision_to_ack_ms=(acked - trade.risk_done_ns) / 1e6 if trade.risk_done_ns else None,
    )


# --- live -----------------------------------------------------------------------------------


DEFER_OVER_S = 0.02  # a longer wait for a rate-limit slot frees the worker meanwhile


def execute_live(
    trade: Trade,
    gateway: OrderGateway,
    guards: Guards,
    policy: SendPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_s: float | None = None,
    defer: Callable[[float], None] | None = None,
    reserved: bool = False,
) -> None:
    """Send one decided live trade, once.

    The order's rate-limit slot is reserved first. When it lies in the future and `defer` is
    given, the send is handed to `defer(wait_s)` (which calls back with `reserved=True`) and
    this worker is free to decide the next listing of a burst instead of sleeping.
    """
    if admit_live(
        trade, guards, sleep=sleep, max_wait_s=max_wait_s, defer=defer, reserved=reserved
    ):
        send_until_settled(trade, gateway, guards, policy, sleep=sleep)


@dataclass(frozen=True)
class Admission:
    """May an order go now? Refused (reason), or after `wait_s` (its rate-limit slot)."""

    wait_s: float = 0.0
    reason: str = ""
    message: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.reason)

    @property
    def deferred(self) -> bool:
        """Its slot is further away than DEFER_OVER_S: the sender is freed meanwhile, and the
        trade stays pending until the slot comes."""
        return not self.refused and self.wait_s > DEFER_OVER_S


def reserve_send(
    guards: Guards, *, max_wait_s: float | None = None, strict: bool = False
) -> Admission:
    """Ask the breaker, then reserve a rate-limit slot within the wait budget.

    `strict`: if the guards' store (Redis) fails, raise rather than refuse, for a caller that
    can hand the trade to another path (the inline snipe hands it to a task).
    """
    allowed, wait = _breaker_then_slot(guards, send_budget(guards, max_wait_s), strict=strict)
    return admission_from(allowed, wait)


def send_budget(guards: Guards, max_wait_s: float | None) -> float:
    """How long a send may wait for its rate-limit slot: the caller's budget, within the
    guards' own."""
    return guards.max_wait_s if max_wait_s is None else min(max_wait_s, guards.max_wait_s)


def admission_from(allowed: bool, wait: float | None) -> Admission:
    """The guards' answer (the breaker allows; the slot's wait, None beyond the budget)."""
    if not allowed:
        return Admission(
            reason="circuit_open", message="Circuit breaker open: the exchange is failing."
        )
    if wait is None:
        return Admission(
            reason="rate_limited", message="Order rate limit: no slot within the wait budget."
        )
    return Admission(wait_s=wait)


def _breaker_then_slot(guards: Guards, budget: float, *, strict: bool) -> tuple[bool, float | None]:
    if guards.admission is None:
        allowed = guards.breaker.allow(strict=True) if strict else guards.breaker.allow()
        return allowed, guards.limiter.reserve(budget) if allowed else None
    try:
        return guards.admission(budget)
    except Exception as exc:  # the store failed: as the breaker alone would (ReportingBreaker)
        log.error("breaker.unavailable", extra={"error": repr(exc)})
        if strict:
            raise
        return False, None


def admit_live(
    trade: Trade,
    guards: Guards,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_s: float | None = None,
    defer: Callable[[float], None] | None = None,
    reserved: bool = False,
) -> bool:
    """Breaker, rate-limit slot, then the claim: True when the caller now owns the send."""
    if not reserved:
        admission = reserve_send(guards, max_wait_s=max_wait_s)
        if admission.refused:
            _fail(trade, admission.reason, admission.message, status=TradeStatus.REJECTED)
            return False
        if admission.deferred and defer is not None:
            defer(admission.wait_s)
            return False
        if admission.wait_s:
            sleep(admission.wait_s)
    # Claim: from here this worker alone owns the trade; the row says it may be at the exchange.
    # Only one claim can match `pending`, so a plain attempts + 1 is safe; the push waits.
    return _update(
        trade,
        expect=(TradeStatus.PENDING,),
        publish=False,
        hold_s=send_hold_s(),
        status=TradeStatus.SUBMITTED,
        attempts=trade.attempts + 1,
        sent_ns=time.time_ns(),
    )


def send_until_settled(
    trade: Trade,
    gateway: OrderGateway,
    guards: Guards,
    policy: SendPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    started: Future | None = None,
) -> None:
    """Send (or, `started`: follow the already sent first attempt) until the trade is settled."""
    while True:
        if trade.sent_ns is None:  # claimed in its decision's transaction: stamp the request
            trade.stamp_sent()
        try:
            if started is not None:
                order, started = started, None
                order_id = gateway.order_id_of(order)
            else:
                order_id = gateway.place_market_buy(
                    symbol=trade.symbol,
                    quote_qty=trade.quote_qty,
                    client_order_id=trade.client_order_id,
                    recv_window_ms=policy.recv_window_ms,
                )
        except mexc_errors.SymbolNotTradable as exc:
            deadline = (policy.open_at_ms or 0) + policy.open_retry_window_ms
            if policy.open_at_ms is not None and gateway.server_time_ms() < deadline:
                _hold(trade, policy.open_retry_interval_ms / 1000 + send_hold_s())
                sleep(policy.open_retry_interval_ms / 1000)
                continue  # 10007: nothing was placed, the same id is safe to send again
            _fail(trade, "symbol_not_tradable", str(exc))
            return
        except mexc_errors.RateLimited as exc:
            guards.breaker.record_failure()
            retry_after = exc.retry_after or 1.0
            if retry_after > guards.max_wait_s:
                _fail(trade, "exchange_rate_limited", str(exc))
                return
            _hold(trade, retry_after + send_hold_s())
            sleep(retry_after)
            continue
        except mexc_errors.OrderOutcomeUnknown as exc:
            guards.breaker.record_failure()
            _update(
                trade,
                hold_s=send_hold_s(),  # this sender settles it now, not the reconciler
                status=TradeStatus.UNKNOWN,
                error_message=str(exc)[:2000],
            )
            log.warning("trade.outcome_unknown", extra={"trade_id": trade.pk, "error": str(exc)})
            if settle_unknown(trade, gateway) == "resend":
                continue
            return
        except mexc_errors.ExchangeUnavailable as exc:
            # Certainly not sent (connection refused): one more try is safe, then give up.
            if guards.breaker.record_failure().value == "open" or trade.attempts >= MAX_ATTEMPTS:
                _fail(trade, "exchange_unavailable", str(exc))
                return
            Trade.objects.filter(pk=trade.pk).update(
                attempts=F("attempts") + 1,
                updated_at=timezone.now() + timedelta(seconds=send_hold_s()),
            )
            trade.refresh_from_db()
            continue
        except mexc_errors.MexcError as exc:
            guards.breaker.record_success()  # the exchange answered; the order was refused
            if (trade.attempts > 1 or exc.code == DUPLICATE_ORDER) and _placed_after_all(
                trade, gateway
            ):
                poll_until_final(trade, gateway, sleep=sleep)
                return
            _fail(trade, _reason_for(exc), str(exc))
            return
        acked = time.time_ns()  # the answer is in: the breaker's bookkeeping is not the ack
        guards.breaker.record_success()
        _update(
            trade,
            exchange_order_id=order_id,
            acked_ns=acked,
            decision_to_ack_ms=(acked - trade.risk_done_ns) / 1e6 if trade.risk_done_ns else None,
        )
        log.info(
            "trade.acked",
            extra={
                "trade_id": trade.pk,
                "order_id": order_id,
                "decision_to_ack_ms": trade.decision_to_ack_ms,
            },
        )
        poll_until_final(trade, gateway, sleep=sleep)
        return


DUPLICATE_ORDER = 26  # the simulator's "Duplicate client order id."


def _placed_after_all(trade: Trade, gateway: OrderGateway) -> bool:
    """A refusal after an earlier attempt (or a duplicate id) may hide an order that exists:
    ask by client order id, and record it if so. A trade is never failed while its order
    stands at the exchange."""
    try:
        state = gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id)
    except mexc_errors.MexcError:
        return False
    log.warning("trade.placed_despite_refusal", extra={"trade_id": trade.pk})
    if not trade.acked_ns:
        _update(trade, publish=False, acked_ns=time.time_ns())
    apply_order_state(trade, state)
    return True


def _reason_for(exc: Exception) -> str:
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return f"{snake}" if code is None else f"{snake}_{code}".replace("-", "m")


def poll_until_final(
    trade: Trade,
    gateway: OrderGateway,
    *,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = FINAL_POLL_S,
) -> None:
    """Ask for the order until it is final or the budget runs out (the reconciler finishes)."""
    deadline = time.monotonic() + budget_s
    delay = 0.02
    while True:
        try:
            state = gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id)
        except mexc_errors.MexcError as exc:
            log.warning("trade.poll_error", extra={"trade_id": trade.pk, "error": repr(exc)})
            state = None
        if state is not None:
            apply_order_state(trade, state)
            if state.status in ORDER_FINAL:
                return
        if time.monotonic() >= deadline:
            return
        sleep(delay)
        delay = min(delay * 2, 0.5)


def apply_order_state(trade: Trade, state: OrderState) -> None:
    _update(
        trade,
        status=STATUS_FROM_EXCHANGE.get(state.status, TradeStatus.SUBMITTED),
        exchange_order_id=state.exchange_order_id or trade.exchange_order_id,
        executed_qty=state.executed_qty,
        quote_spent=state.quote_spent,
        avg_price=state.avg_price,
    )


def settle_unknown(trade: Trade, gateway: OrderGateway) -> str:
    """Settle a trade whose order may or may not exist. Returns 'settled', 'resend' or 'open'.

    The exchange is asked by client order id. Found: its state is recorded. Certainly absent:
    the caller may send again with the same id if attempts remain; otherwise it failed.
    Asking fails: it stays unknown for the reconciler.
    """
    try:
        state = gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id)
    except mexc_errors.UnknownOrder:
        if trade.attempts < MAX_ATTEMPTS:
            claimed = _update(
                trade,
                expect=(TradeStatus.UNKNOWN, TradeStatus.SUBMITTED),
                hold_s=send_hold_s(),
                status=TradeStatus.SUBMITTED,
                attempts=F("attempts") + 1,
                sent_ns=time.time_ns(),
            )
            return "resend" if claimed else "open"
        _fail(trade, "order_not_placed", "The exchange has no such order after all attempts.")
        return "settled"
    except mexc_errors.MexcError as exc:
        log.warning("trade.settle_error", extra={"trade_id": trade.pk, "error": repr(exc)})
        return "open"
    if not trade.exchange_order_id and state.exchange_order_id:
        acked = time.time_ns()
        Trade.objects.filter(pk=trade.pk).update(acked_ns=acked)
    apply_order_state(trade, state)
    return "settled"
