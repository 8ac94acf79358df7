"""Send a decided (pending) trade: the dry-run fill model, or one live order, never two.

Rules (design.md section 1):
- the caller owns the trade: it decided and claimed it (`pending`, with a lease), so no other
  writer sends or rejects it meanwhile;
- the client order id is fixed before the first send; nothing is sent again unless every
  witness says the order is absent over the settle window and the signal is still fresh
  (trading/settle.py);
- "not open yet" answers (10007 and the like) right after the open are retried inside the
  open retry window: nothing was placed;
- 429s are retried after Retry-After, but never past the signal's freshness deadline and never
  more than MAX_429 times (MEXC bans an IP that keeps hammering);
- every status change goes through `trading.states.trade_transition`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from django.conf import settings
from django.utils import timezone

from mexc import errors as mexc_errors
from monitoring import metrics
from risk.guards import CircuitBreaker, RateLimiter

from .entry import (
    IOC_TYPE,
    Entry,
    Rules,
    at_max_price,
    entry_for,
    max_price_in,
    not_open_yet,
    not_tradable,
    refused_for_good,
    walk_asks,
)
from .models import Trade, TradeStatus
from .prices import FirstPrices, first_prices
from .selectors import trade_latency_ms
from .states import FINAL as FINAL_STATUSES
from .states import trade_transition

log = logging.getLogger(__name__)
MAX_429 = 3
CONNECT_RETRIES = 1  # a refused connection certainly sent nothing: one more try
FINAL_POLL_S = 5.0
POLL_FIRST_S = 0.05  # the first ask after the ack, then twice as long each time, up to 0.5 s
ORDER_FINAL = {"FILLED", "CANCELED", "PARTIALLY_CANCELED", "REJECTED", "EXPIRED"}
STATUS_FROM_EXCHANGE = {
    "NEW": TradeStatus.SUBMITTED,
    "PARTIALLY_FILLED": TradeStatus.PARTIALLY_FILLED,
    "FILLED": TradeStatus.FILLED,
    "CANCELED": TradeStatus.CANCELED,
    "PARTIALLY_CANCELED": TradeStatus.PARTIALLY_FILLED,
    "REJECTED": TradeStatus.CANCELED,
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

    def place_market_buy_at(
        self,
        at_us: int,
        *,
        symbol: str,
        quote_qty: Decimal,
        client_order_id: str,
        recv_window_ms: int,
    ) -> tuple[str, int]:
        """Send it at `at_us` by the exchange's clock; (order id, time.time_ns() it left)."""

    def query_order(self, *, symbol: str, client_order_id: str) -> OrderState:
        """Raises mexc.errors.UnknownOrder when the exchange says it has no such order."""

    def listed_order(self, *, symbol: str, client_order_id: str) -> OrderState | None:
        """The order with that client id in the symbol's open or recent orders, or None."""

    def free_balance(self, asset: str) -> Decimal:
        """The account's free balance of `asset` (0 when it holds none)."""

    def best_ask(self, symbol: str) -> Decimal | None: ...

    def entry_inputs(self, symbol: str) -> tuple[Rules | None, Decimal | None]:
        """The symbol's rules (exchangeInfo, fresh) and first price; None where not shown."""

    def start_entry_inputs(self, symbol: str) -> Future:
        """`entry_inputs`, started now; its `.result()` later."""

    def depth_asks(self, symbol: str) -> list[tuple[Decimal, Decimal]]: ...

    def server_time_ms(self) -> int: ...


@dataclass(frozen=True)
class SendPolicy:
    """How to send one order: recvWindow, the retry window after the open, the freshness
    deadline (exchange ms) past which nothing is sent again."""

    recv_window_ms: int
    open_at_ms: int | None = None
    open_retry_window_ms: int = 0
    open_retry_interval_ms: int = 50
    fresh_until_ms: int | None = None
    fires_at_us: int | None = None  # an announced listing's first order leaves at its open
    entry: Entry | None = None  # the IOC at the cap, or a MARKET (None: MARKET by quote)
    rules: Rules | None = None  # the symbol's, for a 30010 retry at the stated maximum


@dataclass
class Guards:
    limiter: RateLimiter
    breaker: CircuitBreaker
    max_wait_s: float = 10.0
    # The breaker's check and a slot in one call, where the store can (Redis: one round trip).
    admission: Callable[[float], tuple[bool, float | None]] | None = None

    def admit(self, max_wait_s: float) -> tuple[bool, float | None]:
        """(the breaker allows, seconds until the reserved slot, or None beyond the budget).
        A failing store refuses (fail closed: the exchange is not protected)."""
        budget = max(0.0, min(max_wait_s, self.max_wait_s))
        try:
            if self.admission is not None:
                return self.admission(budget)
            if not self.breaker.allow():
                return False, None
            return True, self.limiter.reserve(budget)
        except Exception as exc:
            log.error("guards.unavailable", extra={"error": repr(exc)})
            return False, None


def send_hold_s() -> float:
    """How long one send may keep a trade busy: the HTTP timeout, and a margin."""
    return settings.MEXC_HTTP_TIMEOUT_MS / 1000 + 1.0


def lease(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


ENTRY_FIELDS = (
    "order_type",
    "reference_price",
    "price_cap",
    "order_qty",
    "price_decimals",
    "qty_decimals",
)


def _entry_fields(trade: Trade) -> dict:
    """What the entry was (written with the outcome, not before the send)."""
    return {name: getattr(trade, name) for name in ENTRY_FIELDS}


def fail_trade(trade: Trade, reason: str, message: str, status: str = TradeStatus.FAILED) -> None:
    """A refusal (by the exchange, or the sender's own last check): no order exists (the
    table refuses it for an acked one)."""
    trade_transition(
        trade,
        status,
        reason_code=reason,
        error_message=message[:2000],
        attempts=trade.attempts,
        sent_ns=trade.sent_ns,
        held_until=None,
        **_entry_fields(trade),
    )
    log.warning("trade.failed", extra={"trade_id": trade.pk, "reason": reason})


def _renew(trade: Trade, seconds: float) -> None:
    """The sender is alive and busy with this trade for `seconds` more."""
    trade_transition(
        trade,
        TradeStatus.PENDING,
        publish=False,
        held_until=lease(seconds),
        attempts=trade.attempts,
    )


# --- entry ------------------------------------------------------------------------------------


def prepare_entry(
    trade: Trade,
    inputs: tuple[Rules | None, Decimal | None],
    *,
    entry_order_type: str,
    slippage_pct: Decimal,
    reference: Decimal | None = None,
    opening: bool = False,
) -> tuple[Entry, Rules | None] | None:
    """The symbol checked (tradable, sellable) and the entry priced, from `inputs` (the
    gateway's `entry_inputs`: exchangeInfo read afresh and the best ask; `reference`: a price
    known before, which wins). None: refused, and the trade says why (nothing was sent).

    `opening`: the rules are the pre-open ones (status "2") of a symbol that opens now, or
    that the exchange's own stream shows trading: its pre-open status is not held against it
    (the order's answer says whether the API may trade it yet: 10007 is retried inside the
    open window); what will not change at the open (order type, sellable) still refuses."""
    rules, ask = inputs
    if rules is None:
        _refuse(trade, "not_tradable", f"{trade.symbol} is not in exchangeInfo.")
        return None
    why = (refused_for_good if opening else not_tradable)(rules, entry_order_type)
    if why:
        _refuse(trade, "not_tradable", f"{trade.symbol}: {why}.")
        return None
    try:
        entry = entry_for(
            entry_order_type=entry_order_type,
            quote=trade.quote_qty,
            reference=reference or ask,
            slippage_pct=slippage_pct,
            rules=rules,
        )
    except ValueError as exc:
        _refuse(trade, "no_price", f"Cannot cap the entry of {trade.symbol}: {exc}.")
        return None
    _note_entry(trade, entry)
    note_precision(trade, rules)
    return entry, rules


def entry_when_tradable(
    trade: Trade,
    gateway: OrderGateway,
    policy: SendPolicy,
    *,
    asked=None,
    known: Rules | None = None,
    stream_first: bool = False,
    prices: FirstPrices = first_prices,
    **entry_rules,
) -> tuple[Entry, Rules | None] | None:
    """The entry priced at the open, from the first price the bot sees: the symbol's own
    stream (the monitor offers its first trade or ask to `prices`) or the exchange's REST
    answer (`entry_inputs`: exchangeInfo afresh and the last price), whichever comes first.

    The stream's price is used at once when the symbol's rules are known (`known`: the
    pre-open exchangeInfo, or a REST answer since); REST is asked again every open retry
    interval inside the open retry window while the exchange shows no price or does not let
    the API trade it yet (a new listing is often not API-tradable for its first moments:
    MEXC's 10007). `asked`: a first REST ask started earlier (`start_entry_inputs`).

    `stream_first`: this process watches the symbol's stream (the monitor) and its rules are
    known: REST is asked only after one open retry interval without a streamed price. Asked
    at the open it would race the order for the connection and the exchange's attention (an
    order behind it reached the simulator 5-8 ms after it left, against 0.7), and weigh 11
    on MEXC's IP limit for an answer the stream gives first."""
    interval_s = policy.open_retry_interval_ms / 1000
    rules = known
    if stream_first and asked is None and known is not None:
        price = prices.wait(trade.symbol, interval_s)
        if price is not None:
            return prepare_entry(trade, (known, price), opening=True, **entry_rules)
    while True:
        asked = asked if asked is not None else gateway.start_entry_inputs(trade.symbol)
        price = prices.wait(trade.symbol, interval_s, or_when=asked)
        if price is not None:
            if rules is not None:  # the stream's first price, the rules known: go now
                return prepare_entry(trade, (rules, price), opening=True, **entry_rules)
            futures.wait([asked], timeout=interval_s)  # the rules come with the REST answer
        if not asked.done():
            if not _in_open_window(policy, gateway.server_time_ms()):
                asked.cancel()
                _refuse(trade, "no_price", f"No price for {trade.symbol} in its open window.")
                return None
            continue  # the REST answer is still on its way; the stream may come first
        try:
            inputs = asked.result()
        except (mexc_errors.RateLimited, mexc_errors.IpBanned) as exc:
            _refuse(trade, "exchange_rate_limited", f"Entry prices not asked: {exc}")
            return None
        asked = None
        rules = inputs[0] or rules
        if price is not None and rules is not None:
            return prepare_entry(trade, (rules, price), opening=True, **entry_rules)
        waiting = not_open_yet(inputs[0]) or (not inputs[1] and not entry_rules.get("reference"))
        if not waiting or not _in_open_window(policy, gateway.server_time_ms()):
            return prepare_entry(trade, inputs, **entry_rules)
        if price is not None:  # a price, no rules yet: REST again after a whole interval
            time.sleep(interval_s)
        else:
            prices.wait(trade.symbol, interval_s)  # then REST again, unless the stream spoke


def note_precision(trade: Trade, rules: Rules | None) -> None:
    """The symbol's precision, so quantities and prices are shown as the exchange has them."""
    if rules is not None:
        trade.price_decimals, trade.qty_decimals = rules.price_decimals, rules.qty_decimals


def _note_entry(trade: Trade, entry: Entry) -> None:
    trade.order_type = entry.type
    trade.reference_price = entry.reference
    trade.price_cap = entry.cap
    trade.order_qty = entry.quantity


def _refuse(trade: Trade, reason: str, message: str) -> None:
    fail_trade(trade, reason, message, status=TradeStatus.REJECTED)


# --- dry run --------------------------------------------------------------------------------


def fill_dry_run(trade: Trade, gateway: OrderGateway, entry: Entry | None = None) -> None:
    """Fill as the exchange would: walk the ask side of the book up to the entry's cap (a
    MARKET entry: the whole book) for the quote amount; record the partial or empty fill the
    live order would have had. Clearly labelled, never free (the taker fee is charged)."""
    trade.attempts, trade.sent_ns = 1, time.time_ns()
    try:
        asks = gateway.depth_asks(trade.symbol)
    except mexc_errors.MexcError as exc:
        asks = []
        log.warning("dry_run.no_book", extra={"trade_id": trade.pk, "error": repr(exc)})
    if not asks:
        fail_trade(trade, "no_price", f"No book for {trade.symbol} to simulate the fill.")
        return
    ioc = entry is not None and entry.type == IOC_TYPE
    gross, spent = walk_asks(
        asks,
        cap=entry.cap if ioc else None,
        quote=trade.quote_qty,
        quantity=entry.quantity if ioc else None,
    )
    fee = Decimal(settings.DRY_RUN_TAKER_FEE)  # taken from the asset received, as MEXC does
    qty = (gross * (1 - fee)).quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
    fields = {"exchange_order_id": f"dry-{trade.client_order_id}"}
    if qty <= 0:
        ack_trade(
            trade,
            TradeStatus.CANCELED,
            reason_code="price_ran_away",
            error_message=_ran_away(trade),
            executed_qty=Decimal(0),
            quote_spent=Decimal(0),
            **fields,
        )
        return
    full = gross >= entry.quantity if ioc else spent >= trade.quote_qty * Decimal("0.999")
    ack_trade(
        trade,
        TradeStatus.FILLED if full else TradeStatus.PARTIALLY_FILLED,
        executed_qty=qty,
        avg_price=spent / gross,
        quote_spent=spent,
        **fields,
    )


def _ran_away(trade: Trade) -> str:
    return (
        f"Nothing filled: the price ran past the cap {trade.price_cap} "
        f"(reference {trade.reference_price})."
    )


def ack_trade(trade: Trade, status: str, **fields) -> bool:
    acked = time.time_ns()
    start = trade.confirmed_ns or trade.risk_done_ns
    fields = {
        **_entry_fields(trade),
        "sent_ns": trade.sent_ns,
        "attempts": trade.attempts,
        "acked_ns": acked,
        "decision_to_ack_ms": (acked - start) / 1e6 if start else None,
        "held_until": None,
        **fields,
    }
    done = trade_transition(trade, status, **fields)
    if not done and trade.status != TradeStatus.PENDING:
        # Another witness recorded the order first (the private stream): the sender's own
        # stamps still say when it left and when the answer came, and its entry fields what
        # it sent (type, reference, cap, quantity), which no witness knows.
        stamps = {k: fields[k] for k in ("sent_ns", "acked_ns") if fields[k] is not None}
        for name, value in stamps.items():
            Trade.objects.filter(pk=trade.pk, **{f"{name}__isnull": True}).update(**{name: value})
        entry = {k: fields[k] for k in ENTRY_FIELDS if fields[k] not in (None, "")}
        if entry:
            Trade.objects.filter(pk=trade.pk, order_type="").update(**entry)
        if entry.get("order_type") == IOC_TYPE:  # a cancel the witness could not explain
            trade.price_cap, trade.reference_price = (
                entry.get("price_cap"),
                entry.get("reference_price"),
            )
            Trade.objects.filter(pk=trade.pk, status=TradeStatus.CANCELED, reason_code="").update(
                reason_code="price_ran_away", error_message=_ran_away(trade)
            )
        Trade.objects.filter(pk=trade.pk, attempts__lt=trade.attempts).update(
            attempts=trade.attempts
        )
        trade.refresh_from_db()
    if done:
        for stage, ms in trade_latency_ms(trade).items():
            if ms is not None:
                metrics.trade_stage_latency.labels(stage=stage).observe(ms / 1000)
    return done


# --- live -----------------------------------------------------------------------------------


@dataclass
class _Attempt:
    """What one send loop has seen so far."""

    rate_limited: int = 0
    unavailable: int = 0
    notes: list[str] = field(default_factory=list)


def send_live(
    trade: Trade,
    gateway: OrderGateway,
    guards: Guards,
    policy: SendPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    settle_window_s: float | None = None,
    resend: bool = False,
) -> None:
    """Send one claimed (pending) live trade until its outcome is known or handed over.
    `resend`: every witness said absent after an unknown outcome (the reconciler's)."""
    from .settle import SETTLE_WINDOW_S, settle

    seen = _Attempt()
    maybe_placed = resend  # a resend after an unknown outcome, not a retry of a refusal
    entry = policy.entry
    if entry is not None:
        _note_entry(trade, entry)
    note_precision(trade, policy.rules)
    while True:
        if trade.attempts and not _readmitted(trade, gateway, guards, policy, sleep, maybe_placed):
            return
        trade.attempts += 1
        trade.sent_ns = time.time_ns()
        order = {
            "symbol": trade.symbol,
            "quote_qty": trade.quote_qty,
            "client_order_id": trade.client_order_id,
            "recv_window_ms": policy.recv_window_ms,
        }
        at_us = policy.fires_at_us if trade.attempts == 1 else None
        try:
            if entry is not None and entry.type == IOC_TYPE:
                order_id, trade.sent_ns = gateway.place_ioc_buy(
                    symbol=trade.symbol,
                    price=entry.cap,
                    quantity=entry.quantity,
                    client_order_id=trade.client_order_id,
                    recv_window_ms=policy.recv_window_ms,
                    at_us=at_us,
                )
            elif at_us is not None:
                order_id, trade.sent_ns = gateway.place_market_buy_at(at_us, **order)
            else:
                order_id = gateway.place_market_buy(**order)
        except mexc_errors.SymbolNotTradable as exc:
            now = gateway.server_time_ms()
            deadline = (policy.open_at_ms or 0) + policy.open_retry_window_ms
            if policy.open_at_ms is not None and now < deadline and _fresh(policy, now):
                _renew(trade, policy.open_retry_interval_ms / 1000 + send_hold_s())
                sleep(policy.open_retry_interval_ms / 1000)
                continue  # "not open yet": nothing was placed, the same id is safe to send
            fail_trade(trade, "symbol_not_tradable", str(exc))
            return
        except (mexc_errors.RateLimited, mexc_errors.IpBanned) as exc:
            if not isinstance(exc, mexc_errors.WeightBudgetExhausted):  # not our own budget
                guards.breaker.record_failure()
            seen.rate_limited += 1
            wait_s = exc.retry_after or 1.0
            now = gateway.server_time_ms()
            if seen.rate_limited >= MAX_429 or not _fresh(policy, now + wait_s * 1000):
                fail_trade(
                    trade,
                    "exchange_rate_limited",
                    f"{exc} ({seen.rate_limited} x 429; retrying would pass the freshness "
                    "deadline or risk a ban)",
                )
                return
            _renew(trade, wait_s + send_hold_s())
            sleep(wait_s)
            continue
        except mexc_errors.OrderOutcomeUnknown as exc:
            guards.breaker.record_failure()
            trade_transition(
                trade,
                TradeStatus.UNKNOWN,
                held_until=lease(send_hold_s() + SETTLE_WINDOW_S),  # this sender settles it
                sent_ns=trade.sent_ns,
                attempts=trade.attempts,
                error_message=str(exc)[:2000],
            )
            log.warning("trade.outcome_unknown", extra={"trade_id": trade.pk, "error": str(exc)})
            outcome = settle(
                trade,
                gateway,
                fresh_until_ms=policy.fresh_until_ms,
                window_s=SETTLE_WINDOW_S if settle_window_s is None else settle_window_s,
                sleep=sleep,
            )
            if outcome == "resend":
                maybe_placed = True
                continue
            if outcome == "found":
                poll_until_final(trade, gateway, sleep=sleep)
            return
        except mexc_errors.ExchangeUnavailable as exc:
            # Certainly not sent (connection refused): one more try is safe, then give up.
            seen.unavailable += 1
            if (
                guards.breaker.record_failure().value == "open"
                or seen.unavailable > CONNECT_RETRIES
            ):
                fail_trade(trade, "exchange_unavailable", str(exc))
                return
            continue
        except mexc_errors.MarketOrderDisabled as exc:
            guards.breaker.record_success()
            fail_trade(
                trade,
                "market_order_refused",
                f"MEXC refuses MARKET orders for {trade.symbol} now ({exc}); new listings "
                "often refuse them in their first minute: choose the limit_ioc entry.",
            )
            return
        except mexc_errors.NoLiquidity as exc:
            guards.breaker.record_success()
            maximum = max_price_in(str(exc))
            retry = (
                at_max_price(entry, maximum, policy.rules)
                if entry is not None
                and maximum is not None
                and policy.rules is not None
                and not seen.notes
                else None
            )
            if retry is not None and _in_open_window(policy, gateway.server_time_ms()):
                seen.notes.append(f"30010: retried once at the exchange's maximum {maximum}")
                entry = retry
                _note_entry(trade, entry)
                continue  # refused: nothing was placed, the same id is safe to send
            fail_trade(trade, "price_above_exchange_maximum", f"{exc} (cap {trade.price_cap})")
            return
        except mexc_errors.MexcError as exc:
            guards.breaker.record_success()  # the exchange answered; the order was refused
            if trade.attempts > 1:
                # A refusal after an earlier attempt may hide an order that exists.
                from .settle import witness

                state = witness(trade, gateway)
                if state is not None:
                    apply_order_state(trade, state)
                    return
            fail_trade(trade, _reason_for(exc), str(exc))
            return
        guards.breaker.record_success()
        if ack_trade(trade, TradeStatus.SUBMITTED, exchange_order_id=order_id):
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


def _readmitted(
    trade: Trade,
    gateway: OrderGateway,
    guards: Guards,
    policy: SendPolicy,
    sleep: Callable[[float], None],
    maybe_placed: bool,
) -> bool:
    """A trade sent before goes again only through the guards (breaker, a rate-limit slot
    before the freshness deadline). Refused after a refusal (429, 10007, no connection),
    nothing was placed: it failed. Refused after an unknown outcome, it stays unknown: every
    witness said absent, but an order that is merely slow to show is still possible."""
    now = gateway.server_time_ms()
    budget_s = guards.max_wait_s
    if policy.fresh_until_ms is not None:
        budget_s = (policy.fresh_until_ms - now) / 1000
    allowed, wait_s = guards.admit(budget_s)
    if allowed and wait_s is not None:
        if wait_s > 0:
            _renew(trade, wait_s + send_hold_s())
            sleep(wait_s)
        return True
    why = "the breaker is open" if not allowed else "no order slot before the signal went stale"
    if not maybe_placed:
        fail_trade(trade, "circuit_open" if not allowed else "rate_limited", f"Not retried: {why}.")
        return False
    trade_transition(
        trade,
        TradeStatus.UNKNOWN,
        reason_code="order_unknown",
        error_message=f"Every witness said absent, but not sent again: {why}.",
        held_until=None,
    )
    return False


def _in_open_window(policy: SendPolicy, now_ms: int) -> bool:
    """Inside the open retry window (or no open known: a detected listing, freshness
    bounds it instead)."""
    if policy.open_at_ms is None:
        return _fresh(policy, now_ms)
    return now_ms < policy.open_at_ms + policy.open_retry_window_ms and _fresh(policy, now_ms)


def _fresh(policy: SendPolicy, at_ms: float) -> bool:
    return policy.fresh_until_ms is None or at_ms <= policy.fresh_until_ms


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
    """Ask for the order until it is final or the budget runs out (the reconciler finishes).
    A -2013 right after the ack is MEXC's lookup lag (ccxt #21614), not an absence: the first
    ask waits POLL_FIRST_S for it (each weighs 2 on MEXC's IP limit; a burst of listings
    asking at once, every 20 ms, once spent the trading share of it on lookups). Nothing is
    asked once the row is final (the private orders stream may have recorded it first)."""
    deadline = time.monotonic() + budget_s
    delay = POLL_FIRST_S
    while True:
        if Trade.objects.filter(pk=trade.pk, status__in=FINAL_STATUSES).exists():
            trade.refresh_from_db()  # recorded meanwhile (the private orders stream)
            return
        sleep(delay)
        delay = min(delay * 2, 0.5)
        try:
            state = gateway.query_order(symbol=trade.symbol, client_order_id=trade.client_order_id)
        except mexc_errors.MexcError as exc:
            log.info("trade.poll_error", extra={"trade_id": trade.pk, "error": repr(exc)})
            state = None
        if state is not None:
            apply_order_state(trade, state)
            if state.status in ORDER_FINAL or trade.status in (TradeStatus.FILLED,):
                return
        if time.monotonic() >= deadline:
            return


def apply_order_state(trade: Trade, state: OrderState) -> bool:
    """Record what the exchange says of the order (from whatever status the row holds)."""
    to = STATUS_FROM_EXCHANGE.get(state.status, TradeStatus.SUBMITTED)
    if to == TradeStatus.CANCELED and state.executed_qty > 0:
        to = TradeStatus.PARTIALLY_FILLED  # money was spent: never a plain "canceled"
    extra = {}
    if to == TradeStatus.CANCELED and trade.order_type == IOC_TYPE:
        extra = {"reason_code": "price_ran_away", "error_message": _ran_away(trade)}
    fields = {
        "reason_code": "" if trade.reason_code == "order_unknown" else trade.reason_code,
        "exchange_order_id": state.exchange_order_id or trade.exchange_order_id,
        "executed_qty": state.executed_qty,
        "quote_spent": state.quote_spent,
        "avg_price": state.avg_price,
        "held_until": None,
        **extra,
    }
    if trade.status == TradeStatus.PENDING or (
        trade.status == TradeStatus.UNKNOWN and not trade.acked_ns
    ):
        return ack_trade(trade, to, **fields)
    if trade.status == to and all(getattr(trade, k) == v for k, v in fields.items()):
        return True
    from .states import allowed

    if not allowed(trade.status, to):
        log.warning(
            "trade.exchange_state_ignored",
            extra={"trade_id": trade.pk, "status": trade.status, "exchange": state.status},
        )
        return False
    return trade_transition(trade, to, **fields)
