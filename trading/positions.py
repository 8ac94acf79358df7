"""Positions: every filled buy becomes one, and the bot sells it by its exit rules.

- A buy that fills (in full or in part) opens a position (`position_open`, from the one
  transition point, trading/states.py), with the exit rules of the configuration version the
  buy was decided under: a later change applies to new positions only.
- A sell is a Trade like a buy (side SELL, client order id written before it leaves, the rate
  limit and breaker, the transition table, reconciliation), made by `position_sell` under a
  claim on the position (`open` -> `closing`), so two triggers never sell the same quantity.
- What the sells did reaches the position from the same transition point, whoever recorded
  it (the seller, the reconciler, the private orders stream): `position_apply_sells` derives
  the figures from the position's sell trades, so applying twice changes nothing.
- A live sell sells what the account holds free of the asset (never more than the position),
  rounded down to the symbol's precision; a remainder below the exchange's minimum is dust.
  30004/30005 (insufficient, oversold) settle by reading the balance, never by guessing.

Money: `cost_quote` is what the buy spent; the buy's fee was taken from the asset received
(MEXC's way), so the position holds the net quantity and `entry_price` is cost / net. A
sell's fee is taken from the quote received: proceeds are net of it. Realized P&L = proceeds
- cost x sold / initial quantity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.utils import timezone

from mexc import errors as mexc_errors
from monitoring import events, metrics
from risk.models import TradingMode

from .entry import IOC_TYPE
from .execution import (
    Guards,
    OrderGateway,
    ack_trade,
    fail_trade,
    lease,
    poll_until_final,
    send_hold_s,
)
from .exits import ExitRules, Held, sell_price, sell_quantity
from .ids import sell_order_id
from .models import Position, PositionStatus, Trade, TradeSide, TradeStatus
from .states import trade_transition

log = logging.getLogger(__name__)
MANUAL, KILL_SWITCH = "manual", "kill_switch"
SELL_ROUNDS = 3  # a full exit tries again this often while something is left and it fills
SELL_SETTLED = frozenset({TradeStatus.FILLED, TradeStatus.PARTIALLY_FILLED, TradeStatus.CANCELED})
SELL_DONE = SELL_SETTLED | {TradeStatus.FAILED, TradeStatus.REJECTED}
HELD = (PositionStatus.OPEN, PositionStatus.CLOSING)
SELL_ADMISSION_S = 2.0  # a sell waits this long at most for a rate-limit slot
# What a sell reads of its position when its caller holds nothing (an operator's close): the
# watcher holds all of it, so its sells read no row on the way to the order.
SELL_FIELDS = (
    "id",
    "symbol",
    "mode",
    "status",
    "quantity",
    "high_price",
    "rules",
    "buy_trade__config_version",
    "buy_trade__config_version__recv_window_ms",
)


class PositionNotOpen(Exception):
    """The position is closing (a sell is in flight) or closed."""


def fee_rate() -> Decimal:
    """The taker fee assumed where the exchange does not state it (MEXC spot: 0.1 %)."""
    return Decimal(settings.DRY_RUN_TAKER_FEE)


# --- plain views of a position -----------------------------------------------------------------


def rules_of(config) -> ExitRules:
    """The exit rules of a TradeConfig (or one of its history rows)."""
    return ExitRules(
        stop_loss_pct=Decimal(config.stop_loss_pct),
        stop_confirm_ms=int(config.stop_confirm_ms),
        trailing_activation_pct=Decimal(config.trailing_activation_pct),
        trailing_delta_pct=Decimal(config.trailing_delta_pct),
        take_profit_ladder=tuple(
            (Decimal(str(gain)), Decimal(str(fraction)))
            for gain, fraction in config.take_profit_ladder or ()
        ),
        max_hold_ms=int(config.max_hold_minutes) * 60_000,
        exit_slippage_pct=Decimal(config.exit_slippage_pct),
    )


def held_of(position: Position) -> Held:
    return Held(
        entry_price=position.entry_price,
        initial_qty=position.initial_qty,
        qty=position.quantity,
        high_price=max(position.high_price, position.entry_price),
        opened_at_ms=int(position.opened_at.timestamp() * 1000),
        ladder_done=position.ladder_done,
    )


def unrealized(position: Position) -> tuple[Decimal | None, Decimal | None]:
    """(quote, %) of what is still held, at the last best bid, net of the sell fee it would
    pay; None without a price or once closed."""
    if position.status == PositionStatus.CLOSED or position.last_price is None:
        return None, None
    if not position.initial_qty:
        return None, None
    cost = position.cost_quote * position.quantity / position.initial_qty
    value = position.last_price * position.quantity * (1 - fee_rate())
    pnl = (value - cost).quantize(Decimal("1e-8"))
    return pnl, (pnl / cost * 100 if cost else None)


# --- open ------------------------------------------------------------------------------------


def position_open(trade: Trade) -> Position | None:
    """The position a filled buy holds (created once; a partial fill that grows updates it
    while nothing of it was sold). None when nothing was bought."""
    if trade.side != TradeSide.BUY or not trade.executed_qty or not trade.quote_spent:
        return None
    if trade.mode == TradingMode.DRY_RUN:
        net = trade.executed_qty  # the dry-run fill records what was delivered, net
    else:
        net = (trade.executed_qty * (1 - fee_rate())).quantize(
            Decimal("1e-12"), rounding=ROUND_DOWN
        )
    fee_quote = _opening_fee(trade, net)
    entry = (trade.quote_spent / net).quantize(Decimal("1e-18"))
    figures = {
        "quantity": net,
        "initial_qty": net,
        "cost_quote": trade.quote_spent,
        "entry_price": entry,
        "fees_quote": fee_quote,
    }
    with transaction.atomic():
        position, created = Position.objects.select_for_update().get_or_create(
            buy_trade=trade,
            defaults={
                **figures,
                "symbol": trade.symbol,
                "mode": trade.mode,
                "high_price": entry,
                "rules": rules_of(trade.config_version).to_json(),
                "opened_at": timezone.now(),
            },
        )
        if not created:
            if position.sold_qty or position.initial_qty == net:
                return position
            for name, value in figures.items():
                setattr(position, name, value)
            position.high_price = max(position.high_price, entry)
            position.save()
        Trade.objects.filter(pk=trade.pk).update(position=position)
    log.info(
        "position.opened",
        extra={"position_id": position.pk, "symbol": position.symbol, "qty": str(net)},
    )
    _changed(position)
    return position


# --- sell ------------------------------------------------------------------------------------


@dataclass
class Selling:
    """What a sell needs of its position before the order leaves. The watcher holds all of it
    (so its sells read no row on the way to the order); a caller holding nothing has it read
    from the row (`_selling`). The claim compares `status` and `quantity` with the row's: a
    view gone stale (another sell claimed or changed the position) sells nothing."""

    id: int
    symbol: str
    mode: str
    quantity: Decimal
    high_price: Decimal
    rules: ExitRules
    config_version_id: int  # the buy's: its sells go out under the version it was decided under
    recv_window_ms: int
    status: str = PositionStatus.OPEN


@dataclass(frozen=True)
class SellRequest:
    """What to sell and why: `qty` None sells everything held; `ladder_done`, the take-profit
    progress once it is sold; `high_price`/`bid`: what the watcher saw (kept, and the first
    round's price, so the order leaves without another round trip for the book); `position`:
    the position as the caller holds it (the watcher), or None to read it."""

    reason: str
    qty: Decimal | None = None
    ladder_done: int | None = None
    high_price: Decimal | None = None
    bid: Decimal | None = None
    position: Selling | None = None


def position_close(position_id: int, *, by: str) -> Position:
    """An operator closes a position now: everything held, reason `manual`."""
    from monitoring.services import audit_record

    log.info("position.close_requested", extra={"position_id": position_id, "by": by})
    position = position_sell(position_id, SellRequest(reason=MANUAL))
    audit_record(
        actor=None,
        actor_label=by,
        action="position.close",
        target=f"Position:{position_id}",
        detail={"symbol": position.symbol, "mode": position.mode, "status": position.status},
    )
    return position


def position_sell(
    position_id: int,
    request: SellRequest,
    *,
    gateway: OrderGateway | None = None,
    guards: Guards | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Position:
    """Claim the position and sell (PositionNotOpen if it is not open, or no longer as the
    caller holds it). One database round trip before the order leaves: the claim and the
    sell's Trade row together (`_claim_and_record`). A full exit goes on while something
    sellable is left and the last round filled something (SELL_ROUNDS at most); then the
    position is open again (something left: the watcher decides again) or closed. A sell
    whose outcome is not known yet leaves it `closing` for the reconciler."""
    from .runtime import get_gateway, get_guards

    gateway = gateway or get_gateway()
    held = replace(request.position) if request.position else _selling(position_id)
    if held.status != PositionStatus.OPEN:
        raise PositionNotOpen(f"Position {position_id} is {held.status}.")
    bid, asked = request.bid, _ask(held, gateway, request.bid)
    try:
        for _ in range(SELL_ROUNDS):
            trade = _sell_once(held, request, bid, asked, gateway, guards or get_guards(), sleep)
            position = Position.objects.get(pk=position_id)  # what the round did (sent already)
            if trade is None or position.status == PositionStatus.CLOSED:
                break
            if trade.status not in SELL_DONE:
                return position  # unknown or still open at the exchange: the reconciler
            if not _selling_all(request, position) or not trade.executed_qty:
                break
            held = replace(held, quantity=position.quantity, high_price=position.high_price)
            bid, asked = None, _ask(held, gateway, None)  # the next round reads the book
    finally:
        if held.status == PositionStatus.CLOSING:  # this sell holds the claim
            _release(position_id)
    return Position.objects.get(pk=position_id)


def _selling_all(request: SellRequest, position: Selling | Position) -> bool:
    """A full exit, or a last ladder step that asks for all that is left."""
    return request.qty is None or request.qty >= position.quantity


def _selling(position_id: int) -> Selling:
    """The position as a sell needs it, read from its row, with the config version its buy
    was decided under (its sells go out under it: the exit rules are that version's)."""
    row = Position.objects.filter(pk=position_id).values(*SELL_FIELDS).first()
    if row is None:
        raise PositionNotOpen(f"Position {position_id} does not exist.")
    return Selling(
        id=row["id"],
        symbol=row["symbol"],
        mode=row["mode"],
        quantity=row["quantity"],
        high_price=row["high_price"],
        rules=ExitRules.from_json(row["rules"]),
        config_version_id=row["buy_trade__config_version"],
        recv_window_ms=row["buy_trade__config_version__recv_window_ms"],
        status=row["status"],
    )


def _ask(held: Selling, gateway: OrderGateway, bid: Decimal | None):
    """The symbol's rules, best bid and (live) free balance: what the gateway does not know
    already is asked now, on its loop."""
    from listings.services import split_symbol

    base, _ = split_symbol(held.symbol)
    live = held.mode == TradingMode.LIVE
    return gateway.sell_inputs(held.symbol, base, balance=live, bid=bid)


def _claim_and_record(held: Selling, trade: Trade, *, quantity: Decimal, high: Decimal) -> bool:
    """The one database round trip before a sell leaves: the position claimed (`held.status`
    -> `closing`, a compare-and-set on the status and quantity the seller holds; its quantity
    set to `quantity`, the balance's where that is less; its highest price raised to `high`)
    and the sell's Trade row written, together or not at all. False: not claimed, no row.

    Plain SQL, because the ORM's way costs what this path cannot pay: on PostgreSQL four
    round trips (BEGIN, UPDATE, INSERT, COMMIT; each statement costs 2-3 ms inside the bot's
    busy process), on SQLite 1.7 ms of building queries against 0.8 ms (measured alone).
    - PostgreSQL: one statement, a data-modifying CTE (`INSERT ... SELECT ... FROM claimed`,
      which the ORM cannot say).
    - SQLite (in-process): the quantity read through the ORM and compared in Python (SQLite
      keeps decimals as REAL: an equality in SQL is not exact there), then the UPDATE and
      the INSERT, in one transaction.
    The row's values are the model's own (`_trade_columns`). Trade keeps no history and has
    no signal receivers; the claim never wrote the position's history (a queryset update
    before, too); the rollup triggers (migration 0008) fire for this INSERT as for the ORM's.
    """
    columns, values = _trade_columns(trade)
    field = Position._meta.get_field
    claim = [
        PositionStatus.CLOSING,
        field("quantity").get_db_prep_save(quantity, connection),
        field("high_price").get_db_prep_save(high, connection),
        field("high_price").get_db_prep_save(high, connection),
        field("updated_at").get_db_prep_save(timezone.now(), connection),
        held.id,
        held.status,
    ]
    update = (
        "UPDATE trading_position SET status = %s, quantity = %s,"
        " high_price = CASE WHEN high_price < %s THEN %s ELSE high_price END,"
        " updated_at = %s WHERE id = %s AND status = %s"
    )
    table, placeholders = Trade._meta.db_table, ", ".join(["%s"] * len(values))
    if connection.vendor == "postgresql":
        sql = (
            f"WITH claimed AS ({update} AND quantity = %s RETURNING id)"
            f" INSERT INTO {table} ({columns}) SELECT {placeholders} FROM claimed RETURNING id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*claim, held.quantity, *values])
            row = cursor.fetchone()
    else:
        with transaction.atomic():
            known = Position.objects.filter(pk=held.id, status=held.status).values("quantity")
            if [r["quantity"] for r in known] != [held.quantity]:
                return False
            with connection.cursor() as cursor:
                cursor.execute(update, claim)
                if cursor.rowcount != 1:  # claimed by another since (IMMEDIATE makes it rare)
                    return False
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id", values
                )
                row = cursor.fetchone()
    if row is None:
        return False
    trade.pk = row[0]
    return True


def _trade_columns(trade: Trade) -> tuple[str, list]:
    """A new Trade's columns and values as the ORM's INSERT writes them: every concrete field
    through `pre_save` (defaults, auto_now stamps) and `get_db_prep_save`; NULLs are left out
    (no Trade column has a database default: they are NULL, and an untyped NULL in a SELECT
    list would be text to PostgreSQL)."""
    columns, values = [], []
    for field in Trade._meta.concrete_fields:
        if field.primary_key:
            continue
        value = field.get_db_prep_save(field.pre_save(trade, add=True), connection)
        if value is not None:
            columns.append(f'"{field.column}"')
            values.append(value)
    return ", ".join(columns), values


def _release(position_id: int) -> None:
    """Back to `open` if still held and no sell of it is in flight."""
    in_flight = Trade.objects.filter(position_id=position_id, side=TradeSide.SELL).exclude(
        status__in=SELL_DONE
    )
    if in_flight.exists():
        return
    if Position.objects.filter(pk=position_id, status=PositionStatus.CLOSING).update(
        status=PositionStatus.OPEN, updated_at=timezone.now()
    ):
        _changed(Position.objects.get(pk=position_id))


def _sell_once(
    held: Selling,
    request: SellRequest,
    bid: Decimal | None,
    asked,
    gateway: OrderGateway,
    guards: Guards,
    sleep: Callable[[float], None],
) -> Trade | None:
    """One IOC sell of what is held (and free), recorded with the claim before it leaves
    (`held` follows: claimed, its quantity). None: nothing sellable was left (dust recorded,
    the position closed) or the exchange could not say. PositionNotOpen: the claim failed."""
    try:
        rules, book_bid, free = asked.result(settings.MEXC_HTTP_TIMEOUT_MS / 1000 + 1)
    except Exception as exc:
        log.warning(
            "position.sell_inputs_failed", extra={"position_id": held.id, "error": repr(exc)}
        )
        return None
    bid = bid or book_bid
    if not bid:
        log.warning("position.no_bid", extra={"position_id": held.id})
        return None
    price = sell_price(bid, held.rules, rules.price_decimals)
    full = _selling_all(request, held)
    # The exchange states no fee per order: the position holds net of the fee assumed, the
    # account may hold a little more (a lower fee). A full exit sells what is free, up to
    # what the buy delivered before any fee; a partial one never more than asked. Less free
    # than recorded: the balance is the truth (written with the claim).
    have = held.quantity
    short = free is not None and free < held.quantity and full
    if free is not None:
        have = min(free, held.quantity / (1 - fee_rate()))
    qty, dust = sell_quantity(
        have,
        have if full else min(request.qty, have),
        qty_decimals=rules.qty_decimals,
        min_qty=rules.min_qty,
        min_quote=rules.min_quote,
        price=price,
    )
    if qty <= 0:
        if full or dust >= held.quantity:
            _close_as_dust(held, dust, request.reason)
        return None
    trade = Trade(
        position_id=held.id,
        symbol=held.symbol,
        side=TradeSide.SELL,
        mode=held.mode,
        quote_qty=max((qty * price).quantize(Decimal("1e-8")), Decimal("1e-8")),
        order_type=IOC_TYPE,
        reference_price=bid,
        price_cap=price,
        order_qty=qty,
        price_decimals=rules.price_decimals,
        qty_decimals=rules.qty_decimals,
        reason_code=request.reason,
        client_order_id=sell_order_id(),
        config_version_id=held.config_version_id,
        status=TradeStatus.PENDING,
        held_until=lease(send_hold_s()),
        risk_done_ns=time.time_ns(),
    )
    high = max(held.high_price, request.high_price or held.high_price)
    quantity = free if short else held.quantity
    if not _claim_and_record(held, trade, quantity=quantity, high=high):
        if held.status == PositionStatus.OPEN:
            raise PositionNotOpen(f"Position {held.id} is being sold, closed or changed.")
        return None  # changed under this sell's own claim (a witness applied a fill)
    recorded = held.quantity
    held.status, held.quantity, held.high_price = PositionStatus.CLOSING, quantity, high
    if held.mode == TradingMode.DRY_RUN:
        _fill_dry_sell(trade, gateway)
    else:
        _send_sell(trade, held, gateway, guards, sleep)
    if short:
        log.warning(
            "position.balance_short",
            extra={"position_id": held.id, "recorded": str(recorded), "free": str(free)},
        )
    if request.ladder_done is not None and trade.executed_qty:
        # The step is done once something of it sold (a step that sold nothing fires again).
        Position.objects.filter(pk=held.id, ladder_done__lt=request.ladder_done).update(
            ladder_done=request.ladder_done
        )
    return trade


def _short(position_id: int, recorded: Decimal, free: Decimal) -> None:
    """The account holds less than the position says (the fee estimate, a transfer): the
    balance is the truth."""
    Position.objects.filter(pk=position_id).update(quantity=free)
    log.warning(
        "position.balance_short",
        extra={"position_id": position_id, "recorded": str(recorded), "free": str(free)},
    )


def _close_as_dust(held: Selling, dust: Decimal, reason: str) -> None:
    """Nothing sellable is left: closed (a compare-and-set on the status the seller holds)."""
    now = timezone.now()
    closed = Position.objects.filter(pk=held.id, status=held.status).update(
        status=PositionStatus.CLOSED,
        quantity=Decimal(0),
        dust_qty=dust,
        exit_reason=Case(When(exit_reason="", then=Value(reason)), default=F("exit_reason")),
        closed_at=now,
        updated_at=now,
    )
    if not closed:
        return
    held.status = PositionStatus.CLOSED
    log.info("position.dust", extra={"position_id": held.id, "dust": str(dust)})
    _changed(Position.objects.get(pk=held.id))


def _fill_dry_sell(trade: Trade, gateway: OrderGateway) -> None:
    """As the exchange would fill the IOC: walk the bids down to the floor price."""
    trade.attempts, trade.sent_ns = 1, time.time_ns()
    try:
        bids = gateway.depth_bids(trade.symbol)
    except mexc_errors.MexcError as exc:
        fail_trade(trade, "no_price", f"No book for {trade.symbol} to simulate the sell: {exc}")
        return
    left, sold, quote = trade.order_qty, Decimal(0), Decimal(0)
    for price, size in bids:
        if price < trade.price_cap or left <= 0:
            break
        take = min(size, left)
        sold, quote, left = sold + take, quote + take * price, left - take
    fields = {"exchange_order_id": f"dry-{trade.client_order_id}"}
    if sold <= 0:
        ack_trade(
            trade,
            TradeStatus.CANCELED,
            executed_qty=Decimal(0),
            quote_spent=Decimal(0),
            error_message=f"Nothing sold: no bid at or above {trade.price_cap}.",
            **fields,
        )
        return
    ack_trade(
        trade,
        TradeStatus.FILLED if left <= 0 else TradeStatus.PARTIALLY_FILLED,
        executed_qty=sold,
        quote_spent=quote.quantize(Decimal("1e-8")),
        avg_price=quote / sold,
        **fields,
    )


def _send_sell(
    trade: Trade,
    held: Selling,
    gateway: OrderGateway,
    guards: Guards,
    sleep: Callable[[float], None],
) -> None:
    """One live IOC sell through the guards. Never sent again by itself: a refusal leaves
    the position to the watcher's next decision, an unknown outcome to the witnesses."""
    from .settle import settle

    allowed, wait_s = guards.admit(SELL_ADMISSION_S)
    if not allowed or wait_s is None:
        why = "circuit_open" if not allowed else "rate_limited"
        fail_trade(trade, why, "Not sent: " + why.replace("_", " "), status=TradeStatus.REJECTED)
        return
    if wait_s > 0:
        sleep(wait_s)
    trade.attempts = 1
    try:
        order_id, trade.sent_ns = gateway.place_ioc_sell(
            symbol=trade.symbol,
            price=trade.price_cap,
            quantity=trade.order_qty,
            client_order_id=trade.client_order_id,
            recv_window_ms=held.recv_window_ms,
        )
    except mexc_errors.OrderOutcomeUnknown as exc:
        guards.breaker.record_failure()
        trade_transition(
            trade,
            TradeStatus.UNKNOWN,
            sent_ns=trade.sent_ns,
            attempts=1,
            error_message=str(exc)[:2000],
            held_until=lease(send_hold_s()),
        )
        settle(trade, gateway, fresh_until_ms=None, sleep=sleep)  # never sent again
        return
    except mexc_errors.InsufficientBalance as exc:
        guards.breaker.record_success()
        fail_trade(trade, "insufficient_balance", f"{exc}: the balance is read again.")
        from listings.services import split_symbol

        try:
            free = gateway.free_balance(split_symbol(trade.symbol)[0])
        except mexc_errors.MexcError:
            return
        if free < held.quantity:
            _short(held.id, held.quantity, free)
        return
    except (mexc_errors.RateLimited, mexc_errors.ExchangeUnavailable) as exc:
        guards.breaker.record_failure()
        fail_trade(trade, "exchange_unavailable", str(exc))
        return
    except mexc_errors.MexcError as exc:
        guards.breaker.record_success()
        fail_trade(trade, "sell_refused", str(exc))
        return
    guards.breaker.record_success()
    ack_trade(trade, TradeStatus.SUBMITTED, exchange_order_id=order_id)
    poll_until_final(trade, gateway, sleep=sleep)


# --- what the sells did ----------------------------------------------------------------------


def position_apply_sells(position_id: int) -> Position:
    """The position's figures from its sell trades (idempotent: derived, not added up)."""
    fee = fee_rate()
    with transaction.atomic():
        position = Position.objects.select_for_update().get(pk=position_id)
        sells = position.trades.filter(side=TradeSide.SELL, status__in=SELL_SETTLED)
        totals = sells.aggregate(
            sold=Sum("executed_qty", default=Decimal(0)),
            quote=Sum("quote_spent", default=Decimal(0)),
            n=Count("id", filter=Q(executed_qty__gt=0)),
        )
        sold, gross = totals["sold"], totals["quote"]
        delta = sold - position.sold_qty
        if delta <= 0:
            return position
        before = position.realized_pnl
        buy_fee = _opening_fee(position.buy_trade, position.initial_qty)
        proceeds = (gross * (1 - fee)).quantize(Decimal("1e-8"))
        position.sold_qty = sold
        position.proceeds_quote = proceeds
        position.fees_quote = buy_fee + (gross * fee).quantize(Decimal("1e-8"))
        position.realized_pnl = (
            proceeds - position.cost_quote * min(sold / position.initial_qty, Decimal(1))
        ).quantize(Decimal("1e-8"))
        position.quantity = max(Decimal(0), position.quantity - delta)
        last = sells.filter(executed_qty__gt=0).order_by("-id").first()
        reason = last.reason_code if last else ""
        if position.quantity <= 0:
            position.status = PositionStatus.CLOSED
            position.closed_at = timezone.now()
            position.exit_reason = reason
        position.save(
            update_fields=[
                "sold_qty",
                "proceeds_quote",
                "fees_quote",
                "realized_pnl",
                "quantity",
                "status",
                "closed_at",
                "exit_reason",
                "updated_at",
            ]
        )
    gained = position.realized_pnl - before
    metrics.exits_total.labels(reason=reason or "unknown", mode=position.mode).inc()
    metrics.realized_pnl_quote_total.labels(mode=position.mode).inc(float(gained))
    _notify_exit(position, last, delta, gained)
    log.info(
        "position.sold",
        extra={
            "position_id": position.pk,
            "qty": str(delta),
            "reason": reason,
            "status": position.status,
            "realized_pnl": str(position.realized_pnl),
        },
    )
    _changed(position)
    return position


def _opening_fee(trade: Trade, net: Decimal) -> Decimal:
    """The buy's fee in quote: what was paid for but not delivered (`net`)."""
    if not trade.avg_price or not trade.executed_qty or not trade.quote_spent:
        return Decimal(0)
    gross = (
        trade.quote_spent / trade.avg_price
        if trade.mode == TradingMode.DRY_RUN
        else trade.executed_qty
    )
    return max(Decimal(0), (gross - net) * trade.avg_price).quantize(Decimal("1e-8"))


def _notify_exit(position: Position, trade: Trade | None, qty: Decimal, gained: Decimal) -> None:
    """`exit_filled` for the operator's phone: this sell's quantity, price and its P&L."""
    from alerts.services import notify

    cost = position.cost_quote * qty / position.initial_qty if position.initial_qty else 0
    notify(
        "exit_filled",
        key=trade.pk if trade else f"{position.pk}:{position.sold_qty}",
        payload={
            "position_id": position.pk,
            "trade_id": trade.pk if trade else None,
            "symbol": position.symbol,
            "side": "sell",
            "mode": position.mode,
            "executed_qty": qty,
            "avg_price": trade.avg_price if trade else None,
            "quote_spent": trade.quote_spent if trade else None,
            "reason": position.exit_reason or (trade.reason_code if trade else ""),
            "pnl_usdt": gained,
            "pnl_pct": (gained / cost * 100).quantize(Decimal("0.01")) if cost else None,
        },
    )


def summary_figures(*, since, until) -> dict:
    """The daily summary's figures (alerts.ports), live money only; the dry run beside it."""
    figures: dict = {}
    for mode, prefix in ((TradingMode.LIVE, ""), (TradingMode.DRY_RUN, "dry_")):
        closed = Position.objects.filter(mode=mode, closed_at__gte=since, closed_at__lt=until)
        trades = Trade.objects.filter(mode=mode, created_at__gte=since, created_at__lt=until)
        totals = trades.aggregate(
            fills=Count(
                "id",
                filter=Q(side=TradeSide.BUY, executed_qty__gt=0),
            ),
            refusals=Count("id", filter=Q(status=TradeStatus.REJECTED)),
        )
        figures[f"{prefix}pnl_usdt"] = closed.aggregate(
            pnl=Sum("realized_pnl", default=Decimal(0))
        )["pnl"]
        figures[f"{prefix}fills"] = totals["fills"]
        figures[f"{prefix}refusals"] = totals["refusals"]
        figures[f"{prefix}exits"] = closed.count()
    return figures


# --- pushes and gauges ---------------------------------------------------------------------------


def _changed(position: Position) -> None:
    from .payloads import position_payload

    events.publish_on_commit(events.POSITION_UPDATED, position_payload(position))
    positions_gauge()


def positions_gauge() -> None:
    counts = dict(
        Position.objects.filter(status__in=HELD)
        .values_list("mode")
        .annotate(n=Count("id"))
        .values_list("mode", "n")
    )
    for mode in TradingMode.values:
        metrics.positions_open.labels(mode=mode).set(counts.get(mode, 0))
