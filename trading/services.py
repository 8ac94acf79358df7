"""Writes for trading: decide (risk checks -> Trade row), then execute.

A Trade row with its client order id is committed before anything leaves the process, so
whatever happens next (timeout, crash, restart) the row says what is known and the same id
is used to ask the exchange, never to send again blindly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring import events
from risk.checks import Decision, Exposure, Intent, Limits, Outcome, effective_mode
from risk.models import ACTIVE_CONFIG_NAME, TradeConfig
from risk.services import risk_evaluate, risk_limits
from sniperbot import fastsql

from .execution import SendPolicy
from .models import Trade, TradeStatus
from .payloads import trade_payload
from .selectors import decision_inputs, decision_inputs_from, decision_inputs_statement

log = logging.getLogger(__name__)

_STATUS_FOR = {
    Outcome.PASS: TradeStatus.PENDING,
    Outcome.REJECT: TradeStatus.REJECTED,
    Outcome.CONFIRM: TradeStatus.AWAITING_CONFIRMATION,
}


@dataclass(frozen=True)
class Stamps:
    """Stage stamps (time.time_ns()) carried from detection to the decision."""

    detected_ns: int | None = None
    persisted_ns: int | None = None
    dispatched_ns: int | None = None


def keys_present() -> bool:
    return bool(settings.MEXC_API_KEY and settings.MEXC_SECRET_KEY)


def trade_decide(**intent: Any) -> tuple[Trade, bool]:
    """Run the risk checks for one intent and record the outcome as a Trade.

    Takes `decide_locked`'s arguments (all but `reads`) and locks the config itself.
    Idempotent on `client_order_id`: a second call returns the existing row (False). The
    config row is locked while deciding, so concurrent decisions see each other's exposure.
    """
    with transaction.atomic():
        reads = read_for_decision(
            client_order_id=intent["client_order_id"], want_live=intent.get("want_live", True)
        )
        return decide_locked(reads=reads, **intent)


@dataclass(frozen=True)
class LockedConfig:
    """The active configuration, the version in force, and its limits for the checks."""

    config: TradeConfig
    version_id: int
    limits: Limits


@dataclass(frozen=True)
class DecisionReads:
    """What a decision reads: the locked config, and the trade inputs read right after the
    lock (`decision_inputs`) for `mode`, the mode the last config seen gave."""

    locked: LockedConfig
    mode: str | None = None
    existing_id: int | None = None
    exposure: Exposure | None = None


_config_seen: tuple[tuple, LockedConfig] | None = None
TRADE_KEPT = ("updated_at",)  # a claimed trade's updated_at is its sender's lease, set ahead


def read_for_decision(*, client_order_id: str, want_live: bool = True) -> DecisionReads:
    """The active config, locked until the caller's transaction ends (decisions queue here),
    and the decision's inputs, in one round trip (`PendingReads`)."""
    reads = pending_reads(client_order_id=client_order_id, want_live=want_live)
    return reads.result(fastsql.first_rows(*reads.statements))


@dataclass(frozen=True)
class PendingReads:
    """A decision's reads as statements, to send in one round trip with others
    (fastsql.first_rows): the config lock first, then the decision's inputs.

    The inputs need the trading mode, which the locked config decides; they are read for
    the mode the last config seen gives (`mode`; None: no config seen yet, the lock alone),
    so a decision that finds the mode changed reads them again (`decide_locked`). They run
    after the lock, so they see every decision that held it before.
    """

    statements: tuple[fastsql.Statement, ...]
    mode: str | None

    def result(self, rows: Sequence[tuple | None]) -> DecisionReads:
        """The reads from the statements' rows (in order)."""
        locked = _locked_from(rows[0])
        if self.mode is None:
            return DecisionReads(locked=locked)
        existing_id, exposure = decision_inputs_from(rows[1])
        return DecisionReads(
            locked=locked, mode=self.mode, existing_id=existing_id, exposure=exposure
        )


def pending_reads(*, client_order_id: str, want_live: bool = True) -> PendingReads:
    seen = _config_seen
    if seen is None:
        return PendingReads(statements=(config_lock_statement(),), mode=None)
    mode = effective_mode(seen[1].limits, want_live)
    return PendingReads(
        statements=(
            config_lock_statement(),
            decision_inputs_statement(mode=mode, client_order_id=client_order_id),
        ),
        mode=mode,
    )


_VERSION_OF = (
    "SELECT h.history_id FROM risk_historicaltradeconfig h"
    " WHERE h.id = {} ORDER BY h.history_date DESC, h.history_id DESC LIMIT 1"
)


def config_lock_statement(*, row: bool = True) -> fastsql.Statement:
    """The active config's row and its version, locked until the transaction ends (`row`
    False: the lock alone, for a caller that checks the version another way)."""
    columns = "c.id"
    if row:
        columns = ", ".join(f"c.{f.column}" for f in TradeConfig._meta.concrete_fields)
        columns += f", ({_VERSION_OF.format('c.id')})"
    return (
        f"SELECT {columns} FROM risk_tradeconfig c WHERE c.name = %s" + fastsql.for_update(),
        (ACTIVE_CONFIG_NAME,),
    )


def config_unchanged_statement(locked: LockedConfig) -> fastsql.Statement:
    """A condition (fastsql's `when`): the config's version is still `locked`'s."""
    return f"({_VERSION_OF.format('%s')}) = %s", (locked.config.pk, locked.version_id)


def _locked_from(row: tuple) -> LockedConfig:
    """The model is built again only when the config's row differs from the last one seen,
    so the decision path compiles no query."""
    global _config_seen
    seen = _config_seen
    if seen is not None and seen[0] == row:
        return seen[1]
    config = TradeConfig.objects.get(name=ACTIVE_CONFIG_NAME)
    locked = LockedConfig(config=config, version_id=row[-1], limits=risk_limits(config))
    _config_seen = (row, locked)
    return locked


def config_seen() -> LockedConfig | None:
    """The config the last decision in this process locked (it may have changed since)."""
    seen = _config_seen
    return None if seen is None else seen[1]


def decide_locked(
    *,
    reads: DecisionReads,
    symbol: str,
    quote_asset: str,
    quote_qty: Decimal | None,
    client_order_id: str,
    listing_id: int | None = None,
    manual: bool = False,
    want_live: bool = True,
    requested_by: str = "",
    stamps: Stamps = Stamps(),
    before_insert: Callable[[Trade], None] | None = None,
    write: Callable[[Trade], None] | None = None,
    publish: bool = True,
    judge: Callable[..., Decision] = risk_evaluate,
) -> tuple[Trade, bool]:
    """`trade_decide` inside the caller's transaction, with the config locked
    (`read_for_decision`).

    `before_insert(trade)`: a passing trade, before its row is written (the inline snipe
    reserves its send there, so the row is born claimed or refused: one write, one commit).
    `write(trade)`: writes the new row instead of an INSERT now (the inline snipe sends it
    with the COMMIT); it must set the trade's id.
    `publish=False`: the caller pushes and logs the new trade itself (after its order has
    left: a log line costs as much as a round trip to the database here).
    `judge`: runs the checks (`risk_evaluate`'s arguments); it may raise to stop here.
    """
    locked = reads.locked
    config, limits = locked.config, locked.limits
    signal_age_ms = None
    if stamps.detected_ns is not None and not manual:
        signal_age_ms = (time.time_ns() - stamps.detected_ns) / 1e6
    intent = Intent(
        symbol=symbol,
        quote_asset=quote_asset,
        quote_qty=quote_qty if quote_qty is not None else config.snipe_quote_usdt,
        manual=manual,
        want_live=want_live,
        signal_age_ms=signal_age_ms,
    )
    mode = effective_mode(limits, intent.want_live)
    if reads.mode == mode and reads.exposure is not None:
        existing_id, exposure = reads.existing_id, reads.exposure
    else:  # no config seen before, or it changed the mode
        existing_id, exposure = decision_inputs(mode=mode, client_order_id=client_order_id)
    if existing_id is not None:
        return Trade.objects.get(pk=existing_id), False
    decision = judge(limits=limits, intent=intent, exposure=exposure, keys_present=keys_present())
    status = _STATUS_FOR[decision.outcome]
    now = timezone.now()
    trade = Trade(
        listing_id=listing_id,
        symbol=symbol,
        quote_qty=intent.quote_qty,
        mode=decision.mode,
        status=status,
        reason_code=decision.reason.value if decision.reason else "",
        error_message=decision.detail if decision.reason else "",
        client_order_id=client_order_id,
        config_version_id=locked.version_id,
        manual=manual,
        requested_by=requested_by,
        expires_at=(
            now + timedelta(seconds=config.confirmation_ttl_s)
            if status == TradeStatus.AWAITING_CONFIRMATION
            else None
        ),
        detected_ns=stamps.detected_ns,
        persisted_ns=stamps.persisted_ns,
        dispatched_ns=stamps.dispatched_ns,
        risk_done_ns=time.time_ns(),
        updated_at=now,
    )
    if before_insert is not None and status == TradeStatus.PENDING:
        before_insert(trade)
    if write is None:
        fastsql.insert(trade, keep=TRADE_KEPT)
    else:
        write(trade)
    if publish:
        events.publish_on_commit(events.TRADE_UPDATED, trade_payload(trade))
        log_decided(trade)
    return trade, True


def log_decided(trade: Trade) -> None:
    log.info(
        "trade.decided",
        extra={
            "trade_id": trade.pk,
            "symbol": trade.symbol,
            "mode": trade.mode,
            "status": trade.status,
            "reason": trade.reason_code,
            "config_version": trade.config_version_id,
        },
    )


def send_policy(config: TradeConfig, open_at_ms: int | None) -> SendPolicy:
    return SendPolicy(
        recv_window_ms=config.recv_window_ms,
        open_at_ms=open_at_ms,
        open_retry_window_ms=config.open_retry_window_ms,
        open_retry_interval_ms=config.open_retry_interval_ms,
    )


def max_send_wait_s(config: TradeConfig) -> float:
    """Waiting longer than a signal stays fresh makes no sense (the reconciler would expire
    the trade meanwhile): beyond that the order is refused as rate limited."""
    return config.signal_max_age_ms / 1000 * 0.8


# --- orchestration: what tasks, commands and the API call -------------------------------------


def trade_execute(
    *,
    trade_id: int,
    open_at_ms: int | None = None,
    trade: Trade | None = None,
    reserved: bool = False,
) -> Trade:
    """Send a decided (pending) trade: dry-run fill or live order. Idempotent by claim.

    `trade`: the row just decided, when the caller has it (saves a read on the hot path).
    `reserved`: its rate-limit slot was reserved earlier and has come (a deferred send).
    """
    from .execution import execute_dry_run, execute_live
    from .runtime import get_gateway, get_guards

    if trade is None or trade.pk != trade_id:
        trade = Trade.objects.get(pk=trade_id)
    if trade.status != TradeStatus.PENDING:
        return trade
    gateway = get_gateway()
    if trade.mode == "dry_run":
        execute_dry_run(trade, gateway)
    else:
        config = TradeConfig.objects.get(name="default")
        execute_live(
            trade,
            gateway,
            get_guards(),
            send_policy(config, open_at_ms),
            max_wait_s=max_send_wait_s(config),
            defer=None if reserved else partial(send_later, trade.pk, open_at_ms),
            reserved=reserved,
        )
    trade.refresh_from_db()
    return trade


SEND_TASK = "trading.tasks.send_reserved"


def send_later(trade_id: int, open_at_ms: int | None, wait_s: float) -> None:
    """Send a trade when its reserved rate-limit slot comes, without holding this worker.

    Celery holds the task until then (countdown); in-process (embedded), a timer thread does.
    If the broker refuses the hand-off, wait here: the slot is reserved either way.
    """
    kwargs = {"trade_id": trade_id, "open_at_ms": open_at_ms}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        timer = threading.Timer(wait_s, _send_reserved_inprocess, kwargs=kwargs)
        timer.daemon = True
        timer.start()
        return
    try:
        from celery import current_app

        current_app.send_task(SEND_TASK, kwargs=kwargs, countdown=wait_s)
    except Exception as exc:
        log.warning("trade.defer_failed", extra={"trade_id": trade_id, "error": repr(exc)})
        time.sleep(wait_s)
        trade_execute(trade_id=trade_id, open_at_ms=open_at_ms, reserved=True)


DEFERRED_SEND_TRIES = 3


def _send_reserved_inprocess(trade_id: int, open_at_ms: int | None) -> None:
    """A timer's send. A busy database (SQLite's lock) is retried: the slot is already ours,
    and the claim on `pending` keeps a retry from ever sending twice."""
    from django.db import OperationalError, connection

    try:
        for attempt in range(1, DEFERRED_SEND_TRIES + 1):
            try:
                trade_execute(trade_id=trade_id, open_at_ms=open_at_ms, reserved=True)
                return
            except OperationalError as exc:
                log.warning(
                    "trade.deferred_send_retry",
                    extra={"trade_id": trade_id, "attempt": attempt, "error": repr(exc)},
                )
                connection.close()
                time.sleep(0.05 * attempt)
        log.error("trade.deferred_send_failed", extra={"trade_id": trade_id})
    except Exception:
        log.exception("trade.deferred_send_failed", extra={"trade_id": trade_id})
    finally:
        connection.close()


def trade_snipe(*, listing_id: int, stamps: Stamps = Stamps()) -> Trade | None:
    """One listing -> one intent -> one trade (the id is derived from the listing)."""
    from listings.models import Listing

    listing = Listing.objects.get(pk=listing_id)
    if listing.delisted_at is not None:
        return None
    trade, created = _snipe(
        symbol=listing.symbol,
        quote_asset=listing.quote_asset,
        open_at=listing.listed_at,
        listing_id=listing.pk,
        stamps=stamps,
    )
    if not created and trade.listing_id is None:  # decided at the open, before this row existed
        Trade.objects.filter(pk=trade.pk, listing__isnull=True).update(listing_id=listing.pk)
    return trade


def _snipe(
    *, symbol: str, quote_asset: str, open_at, listing_id: int | None, stamps: Stamps
) -> tuple[Trade, bool]:
    """Decide the one intent of a listing (id derived from symbol + open), then send it."""
    from .ids import snipe_order_id

    trade, created = trade_decide(
        symbol=symbol,
        quote_asset=quote_asset,
        quote_qty=None,
        client_order_id=snipe_order_id(symbol, open_at),
        listing_id=listing_id,
        stamps=stamps,
    )
    if created and trade.status == TradeStatus.PENDING:
        trade = trade_execute(
            trade_id=trade.pk, open_at_ms=int(open_at.timestamp() * 1000), trade=trade
        )
    return trade, created


def trade_manual(
    *,
    symbol: str,
    quote_qty: Decimal,
    live: bool,
    actor=None,
    actor_label: str = "",
) -> Trade:
    """A trade an operator asks for, through the same risk checks as a snipe."""
    from listings.services import split_symbol
    from monitoring.services import audit_record

    from .ids import manual_order_id

    symbol = symbol.strip().upper()
    if not symbol.isalnum():
        raise ValueError(f"{symbol!r} is not a MEXC symbol (letters and digits, e.g. ABCUSDT).")
    if quote_qty <= 0:
        raise ValueError("The quote amount must be positive.")
    label = actor_label or (actor.get_username() if actor else "cli")
    _, quote_asset = split_symbol(symbol)
    trade, _ = trade_decide(
        symbol=symbol,
        quote_asset=quote_asset,
        quote_qty=quote_qty,
        client_order_id=manual_order_id(),
        manual=True,
        want_live=live,
        requested_by=label,
    )
    audit_record(
        actor=actor,
        actor_label=label,
        action="trade.manual",
        target=f"Trade:{trade.pk}",
        detail={"symbol": symbol, "quote": str(quote_qty), "live": live, "status": trade.status},
    )
    if trade.status == TradeStatus.PENDING:
        trade = trade_execute(trade_id=trade.pk)
    return trade


def trade_confirm(*, trade_id: int, actor=None, actor_label: str = "") -> Trade:
    """An operator confirms a high-value trade: it is re-checked, then sent."""
    from monitoring.services import audit_record

    label = actor_label or (actor.get_username() if actor else "cli")
    trade = Trade.objects.get(pk=trade_id)
    if trade.status != TradeStatus.AWAITING_CONFIRMATION:
        raise ValueError(f"Trade {trade_id} is {trade.status}, not awaiting confirmation.")
    if trade.expires_at and trade.expires_at < timezone.now():
        Trade.objects.filter(pk=trade.pk, status=TradeStatus.AWAITING_CONFIRMATION).update(
            status=TradeStatus.CANCELED, reason_code="confirmation_expired"
        )
        raise ValueError(f"Trade {trade_id} expired before it was confirmed.")
    claimed = Trade.objects.filter(pk=trade.pk, status=TradeStatus.AWAITING_CONFIRMATION).update(
        status=TradeStatus.PENDING, confirmed_by=label, updated_at=timezone.now()
    )
    if not claimed:
        raise ValueError(f"Trade {trade_id} was confirmed or canceled by someone else.")
    audit_record(actor=actor, actor_label=label, action="trade.confirm", target=f"Trade:{trade.pk}")
    return trade_execute(trade_id=trade.pk)


def trade_cancel(*, trade_id: int, actor=None, actor_label: str = "") -> Trade:
    from monitoring.services import audit_record

    label = actor_label or (actor.get_username() if actor else "cli")
    canceled = Trade.objects.filter(
        pk=trade_id, status__in=(TradeStatus.AWAITING_CONFIRMATION, TradeStatus.PENDING)
    ).update(
        status=TradeStatus.CANCELED,
        reason_code="canceled_by_operator",
        error_message=f"Canceled by {label}.",
        updated_at=timezone.now(),
    )
    trade = Trade.objects.get(pk=trade_id)
    if not canceled:
        raise ValueError(f"Trade {trade_id} is {trade.status}; only unsent trades can be canceled.")
    audit_record(actor=actor, actor_label=label, action="trade.cancel", target=f"Trade:{trade.pk}")
    events.publish(events.TRADE_UPDATED, trade_payload(trade))
    return trade


ARMED_MAX_WAIT_S = 15 * 60


def trade_snipe_announced(
    *, upcoming_id: int, sleep: Callable[[float], None] = time.sleep
) -> Trade | None:
    """Fire an announced listing at its open, by the exchange's clock, not a moment before.

    Its client order id is the one the detection path derives for the same listing, so if the
    stream sees the listing first (or later), both paths land on one Trade and one order.
    """
    from listings.models import UpcomingListing, UpcomingStatus
    from listings.services import listing_live_near

    from .runtime import get_gateway

    upcoming = UpcomingListing.objects.get(pk=upcoming_id)
    gateway = get_gateway()
    open_at_ms = int(upcoming.open_at.timestamp() * 1000)
    wait_ms = open_at_ms - gateway.server_time_ms()
    if wait_ms > ARMED_MAX_WAIT_S * 1000:
        log.warning("snipe.armed_too_early", extra={"upcoming_id": upcoming_id, "wait_ms": wait_ms})
        return None
    while wait_ms > 0:
        sleep(min(wait_ms / 1000, 1.0) if wait_ms > 5 else wait_ms / 1000)
        wait_ms = open_at_ms - gateway.server_time_ms()
    upcoming.refresh_from_db()
    if upcoming.status == UpcomingStatus.CANCELED:
        return None
    # If the stream recorded the listing first, its open time names the intent: same id, one
    # trade, even when the exchange's open differs from the calendar's by a few ms.
    listing = upcoming.listing or listing_live_near(symbol=upcoming.symbol, when=upcoming.open_at)
    trade, _ = _snipe(
        symbol=upcoming.symbol,
        quote_asset=upcoming.quote_asset,
        open_at=listing.listed_at if listing else upcoming.open_at,
        listing_id=listing.pk if listing else None,
        stamps=Stamps(detected_ns=time.time_ns()),
    )
    return trade
