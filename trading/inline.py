"""The inline snipe: the process that detects a listing decides and sends its first order.

Why not a Celery task: the hop (broker, worker pickup, a second transaction) costs more than
the whole latency budget (detection -> order sent p99 <= 5 ms, design.md section 5). The
monitor already holds the listing's transaction, a warm exchange connection and the shared
guards, so for a new listing it:

1. decides the trade inside the listing's own transaction (the same risk checks, with the
   config row locked, as every other decision), its reads sent with the listing's insert;
   with the guards in Redis, their answer (breaker, rate-limit slot) is asked for while
   that round trip is out, and a slot the decision does not use goes back;
2. reserves the rate-limit slot and claims the trade in that transaction too, the trade's
   row sent with the COMMIT, so one commit makes the listing, the decision and the claim
   durable before anything leaves the process;
3. right after the commit, the committing thread starts the order; a sender thread follows
   its answer to the final state.

That commit also keeps what the next listing needs to be decided before its round trip, and
written in one (trading.prepared).

Everything else stays on Celery workers: sends the rate limiter defers, the reconciler, armed
listings, confirmations, manual trades. A monitor killed mid-send leaves a claimed, held trade
that the reconciler settles by client order id, exactly as for a worker killed mid-send.
`listings.dispatch.serve_snipes_inline` turns this on (`InlineSnipe`; the monitor does, unless
SNIPE_INLINE=0).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import wait
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from listings.models import Listing
from monitoring import events, metrics
from risk.checks import effective_mode
from risk.guards import RedisAdmission
from risk.models import TradingMode
from sniperbot import fastsql
from sniperbot.offthread import ThreadJobs

from .ahead import ExposureBound, Ready, SendAhead, keep_ready
from .execution import (
    Admission,
    SendPolicy,
    reserve_send,
    send_budget,
    send_hold_s,
    send_until_settled,
)
from .ids import snipe_order_id
from .models import Trade, TradeStatus
from .payloads import trade_payload
from .runtime import get_gateway, get_guards
from .services import (
    TRADE_KEPT,
    Stamps,
    decide_locked,
    log_decided,
    max_send_wait_s,
    pending_reads,
    read_for_decision,
    send_later,
    send_policy,
    trade_execute,
)

log = logging.getLogger(__name__)
# A sender that fails leaves its claimed trade to the reconciler.
_senders = ThreadJobs("inline-send", failure_event="snipe.inline_send_failed")


def prepare() -> None:
    """Build the exchange gateway and guards now, and warm the connection in the background,
    so the first listing pays no handshake inside its transaction."""
    gateway = get_gateway()
    guards = get_guards()

    def warm() -> None:
        try:
            gateway.warm()
            if isinstance(guards.admission, RedisAdmission):
                guards.admission.load()
        except Exception:
            log.exception("snipe.inline_warm_failed")  # a cold first order is slower, not lost

    threading.Thread(target=warm, name="inline-warm", daemon=True).start()


def warm_decisions() -> None:
    """Before the first listing, on the thread that records them: the decision's reads run
    (in a transaction that writes nothing: the config loaded, their statements prepared on
    this connection), and on PostgreSQL what they read is kept ready, with ids drawn, so
    even the first listing is decided before its round trip (trading.prepared)."""
    try:
        with transaction.atomic():
            reads = read_for_decision(client_order_id="")  # the config, first seen here
            locked = reads.locked
            mode = effective_mode(locked.limits, True)
            reads = read_for_decision(client_order_id="")  # and the inputs for its mode
            ids = fastsql.next_ids(Listing, Trade)
            if ids and reads.mode == mode and reads.exposure is not None:
                drawn = fastsql.first_row(f"SELECT {', '.join(ids)}", ())
                keep_ready(Ready(ExposureBound(locked, mode, reads.exposure), *drawn))
    except Exception:
        log.exception("snipe.warm_failed")  # the first listing is slower, not lost


class InlineSnipe:
    """A new listing's trade, decided inside the listing's transaction, in three steps that
    ride the listing's own round trips to the database:

    - `statements` (the config lock, the decision's inputs, the trade's id drawn) go with the
      listing's insert;
    - `decide` judges the listing from their rows: a live trade that passes reserves its
      send before its row exists (with the answer asked ahead, `SendAhead`), so the row is
      born claimed (`submitted`, held against the reconciler for one send), deferred
      (`pending`, sent when its rate-limit slot comes) or refused;
    - `at_commit` (the trade's row) goes with the COMMIT (`fastsql.commit`).

    The order leaves right after the commit (`_fire`); a sender thread follows it up, and
    fills a dry run.
    """

    def __init__(self, *, symbol: str, listed_at: datetime) -> None:
        self.symbol, self.listed_at = symbol, listed_at
        self.client_order_id = snipe_order_id(symbol, listed_at)
        self.reads = pending_reads(client_order_id=self.client_order_id)
        draw_id = fastsql.next_id_statement(Trade)
        self.statements = (*self.reads.statements, *((draw_id,) if draw_id else ()))
        self.at_commit: list[fastsql.Statement] = []
        self.ahead = SendAhead.ask()
        self.bound: ExposureBound | None = None

    def committed(self, rows: Sequence[tuple | None]) -> None:
        """`at_commit`'s rows, once committed: what the next listing needs is kept ready."""
        if self.bound is not None:
            keep_ready(Ready(self.bound, *rows[-1][1:]))

    def close(self) -> None:
        """The listing's transaction is over: a slot asked ahead and not used goes back."""
        self.ahead.close()

    def decide(
        self,
        *,
        listing,
        rows: Sequence[tuple | None] | None,
        detected_ns: int | None,
        persisted_ns: int | None,
    ) -> None:
        """Decide `listing`'s trade. `rows`: the rows of `statements`, or None when they were
        not run for this listing (the insert was skipped, and its open time may have moved)."""
        client_order_id = self.client_order_id
        trade_id = None
        if rows is None or (listing.symbol, listing.listed_at) != (self.symbol, self.listed_at):
            client_order_id = snipe_order_id(listing.symbol, listing.listed_at)
            reads = read_for_decision(client_order_id=client_order_id)
        else:
            reads = self.reads.result(rows)
            if len(rows) > len(self.reads.statements):
                trade_id = rows[-1][0]
        locked = reads.locked
        admission = Admission()

        def reserve(trade: Trade) -> None:
            nonlocal admission
            admission = _reserve(trade, locked.config, self.ahead)

        def write(trade: Trade) -> None:
            if trade_id is None:  # no id drawn (SQLite, or read late): written now
                fastsql.insert(trade, keep=TRADE_KEPT)
                return
            returning: tuple[str, ...] = ()
            if reads.mode == trade.mode and reads.exposure is not None:
                # Read under the lock in this transaction: the next listing may be decided
                # ahead from it (trading.prepared), with ids drawn now.
                self.bound = ExposureBound(locked, trade.mode, reads.exposure).plus(trade)
                returning = fastsql.next_ids(Listing, Trade)
            self.at_commit.append(
                fastsql.insert_with_id(trade, trade_id, keep=TRADE_KEPT, returning=returning)
            )

        trade, created = decide_locked(
            reads=reads,
            symbol=listing.symbol,
            quote_asset=listing.quote_asset,
            quote_qty=None,
            client_order_id=client_order_id,
            listing_id=listing.pk,
            stamps=Stamps(
                detected_ns=detected_ns, persisted_ns=persisted_ns, dispatched_ns=time.time_ns()
            ),
            before_insert=reserve,
            write=write,
            publish=False,
        )
        if not created:
            if trade.listing_id is None:  # decided at the open (armed), before this row existed
                Trade.objects.filter(pk=trade.pk, listing__isnull=True).update(
                    listing_id=listing.pk
                )
            return
        open_at_ms = int(listing.listed_at.timestamp() * 1000)
        after_decision(trade, admission, send_policy(locked.config, open_at_ms))


def _reserve(trade: Trade, config, ahead: SendAhead) -> Admission:
    """A live trade's send reserved before its row is written: the row is born claimed,
    deferred (left pending) or refused."""
    if trade.mode != TradingMode.LIVE:
        return Admission()
    # Guards unreachable (Redis down): this raises, and the listing goes to a task, which
    # waits for the broker like any other, instead of a refusal here.
    guards = get_guards()
    budget = send_budget(guards, max_send_wait_s(config))
    admission = ahead.take(budget)
    if admission is None:
        admission = reserve_send(guards, max_wait_s=budget, strict=True)
    apply_admission(trade, admission)
    return admission


def apply_admission(trade: Trade, admission: Admission) -> None:
    """The guards' answer on the row about to be written: refused, claimed or left pending."""
    if admission.refused:
        trade.status = TradeStatus.REJECTED
        trade.reason_code, trade.error_message = admission.reason, admission.message
        metrics.trades_total.labels(mode=trade.mode, status=trade.status).inc()
    elif not admission.deferred:
        trade.status = TradeStatus.SUBMITTED
        trade.attempts = 1
        trade.updated_at = timezone.now() + timedelta(seconds=send_hold_s())


def after_decision(
    trade: Trade, admission: Admission, policy: SendPolicy, *, committed: bool = False
) -> None:
    """What the commit sets off for a new trade: its order first, then the push and the log.
    `committed`: the commit is done already (`fastsql.committed`), so the order leaves now."""
    if trade.status == TradeStatus.SUBMITTED:
        if admission.wait_s:
            _after_commit(_send, trade, admission.wait_s, policy)
        elif committed:
            _fire(trade, policy)
        else:
            transaction.on_commit(lambda: _fire(trade, policy))
    elif trade.status != TradeStatus.PENDING:
        pass  # rejected, or awaiting an operator's confirmation
    elif trade.mode == TradingMode.DRY_RUN:
        _after_commit(trade_execute, trade_id=trade.pk, trade=trade)
    else:  # its rate-limit slot is further away: a worker sends it then
        transaction.on_commit(partial(send_later, trade.pk, policy.open_at_ms, admission.wait_s))
    events.publish_on_commit(events.TRADE_UPDATED, trade_payload(trade))
    transaction.on_commit(partial(log_decided, trade))  # a log line costs a round trip here


ANSWER_WAIT_S = 0.02


def _fire(trade: Trade, policy: SendPolicy) -> None:
    """Right after the commit, on the committing thread: the order leaves now.

    Waiting here on the answer (a loopback round trip is a few ms; at most ANSWER_WAIT_S)
    hands the interpreter to the gateway's thread at once, where a hand-off to another thread
    could wait a whole switch interval (5 ms) for it. A sender thread follows the answer up.
    """
    gateway, guards = get_gateway(), get_guards()
    started = None
    try:
        trade.stamp_sent()
        started = gateway.start_market_buy(
            symbol=trade.symbol,
            quote_qty=trade.quote_qty,
            client_order_id=trade.client_order_id,
            recv_window_ms=policy.recv_window_ms,
        )
        wait([started], timeout=ANSWER_WAIT_S)
    except Exception:
        log.exception("snipe.inline_fire_failed", extra={"trade_id": trade.pk})
        if started is None:  # it never left: the sender thread sends it, same id
            trade.sent_ns, trade.sent_unsaved = None, False
    _senders.submit(send_until_settled, trade, gateway, guards, policy, started=started)


def _send(trade: Trade, wait_s: float, policy: SendPolicy) -> None:
    if wait_s:
        time.sleep(wait_s)  # a slot a few ms away: cheaper than a hand-off
    send_until_settled(trade, get_gateway(), get_guards(), policy)


def _after_commit(fn: Callable, *args, **kwargs) -> None:
    transaction.on_commit(lambda: _senders.submit(fn, *args, **kwargs))


def wait_senders() -> None:
    """Let inline sends finish (a short-lived process, tests)."""
    _senders.shutdown()
