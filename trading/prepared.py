"""The prepared snipe: a new listing's trade decided while the listing's round trip is out.

The inline snipe (trading.inline) needs two round trips to the database before its order may
leave: one for the decision's reads (under the config lock), one for the trade's row and the
COMMIT. Once this process has decided a listing, it knows an upper bound on the exposure the
next decision would read (`ahead.ExposureBound`) and has ids drawn for it (`ahead.Ready`), so
one round trip carries the next listing's row, the config lock, the trade's row and the
COMMIT: the listing's row and the lock go first, and the trade is decided while the server
runs them (the decision is Python work as long as their execution).

The trade's row is written only if, under the lock, the config is still the version decided
with and the exposure is within the bound (`selectors.exposure_within_statement`). Every limit
is a ceiling, so a decision that passes with the bound passes with the real figures: the row
is the one the lock holder would have written. Anything else (a refusal, a confirmation, a
slot that is not free now, a bound another process's trade exceeded, an announced listing)
goes the usual way, with nothing written or counted twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime

from listings.models import Listing
from risk.checks import Decision, Outcome, effective_mode, evaluate
from risk.models import TradingMode
from sniperbot import fastsql

from .ahead import Ready, SendAhead, keep_ready, peek_ready, take_ready
from .execution import Admission, send_budget
from .ids import snipe_order_id
from .inline import after_decision, apply_admission
from .models import Trade, TradeStatus
from .runtime import get_guards
from .selectors import exposure_within_statement
from .services import (
    TRADE_KEPT,
    DecisionReads,
    Stamps,
    config_lock_statement,
    config_seen,
    config_unchanged_statement,
    decide_locked,
    max_send_wait_s,
    send_policy,
)

log = logging.getLogger(__name__)


class NotPrepared(Exception):
    """This listing's trade is decided the usual way."""


class PreparedSnipe:
    """A listing's trade, decided while the listing's round trip is out.

    Taken with the guards' answer asked (`prepare`). `first` (the config lock) goes right
    behind the listing's row; `decide` then decides the trade while the server runs them, and
    returns the trade's guarded row (drawing ids for the next listing), sent next, then the
    COMMIT; `committed` reads their rows.
    """

    def __init__(
        self,
        ready: Ready,
        *,
        symbol: str,
        quote_asset: str,
        listed_at: datetime,
        detected_ns: int | None,
    ) -> None:
        self.ready = ready
        self.listing_id = ready.listing_id
        self.symbol, self.quote_asset, self.listed_at = symbol, quote_asset, listed_at
        self.detected_ns = detected_ns
        self.ahead = SendAhead()
        self.admission = Admission()
        self.decided = self.written = False
        self.first = (config_lock_statement(row=False),)

    @classmethod
    def prepare(cls, **listing) -> PreparedSnipe | None:
        """This listing's trade, to be decided during its round trip (`decide`), or None:
        decide it the usual way."""
        ready = take_ready()
        if ready is None:
            return None
        locked = config_seen()
        if (
            locked is not ready.bound.locked
            or effective_mode(locked.limits, True) != ready.bound.mode
        ):
            return None
        return cls._asking(ready, listing)

    @classmethod
    def rehearsal(cls, **listing) -> PreparedSnipe | None:
        """A prepared snipe for a listing that will not happen (a rehearsal at start, see
        listings.services.listing_rehearse): decided from what is kept ready, which it
        leaves in place, with ids of its own. Its statements may run; `undo` then deletes
        their rows before the transaction commits, and it is never `committed`."""
        ready = peek_ready()
        if ready is None:
            return None
        listing_id, trade_id = fastsql.first_row(
            f"SELECT {', '.join(fastsql.next_ids(Listing, Trade))}", ()
        )
        return cls._asking(replace(ready, listing_id=listing_id, trade_id=trade_id), listing)

    @classmethod
    def _asking(cls, ready: Ready, listing: dict) -> PreparedSnipe:
        """The snipe, with the guards' answer asked now: Redis works while the listing's
        statements are built (the database is idle then), and the answer is read in
        `decide` (asked there instead, medians were ~0.15 ms longer)."""
        snipe = cls(ready, **listing)
        snipe.ahead = SendAhead.ask()
        return snipe

    def decide(self) -> tuple[fastsql.Statement, ...]:
        """The trade decided: its guarded row to send, or nothing (it is decided the usual
        way after the listing's commit)."""
        try:
            statement = self._decide()
        except NotPrepared:
            return ()
        except Exception:
            log.exception("snipe.prepare_failed", extra={"symbol": self.symbol})
            return ()
        self.decided = True
        return (statement,)

    def _decide(self) -> fastsql.Statement:
        ready = self.ready
        bound, locked = ready.bound, ready.bound.locked
        self.policy = send_policy(locked.config, int(self.listed_at.timestamp() * 1000))
        guard = fastsql.all_of(
            (f"EXISTS (SELECT 1 FROM {Listing._meta.db_table} WHERE id = %s)", (self.listing_id,)),
            config_unchanged_statement(locked),
            exposure_within_statement(mode=bound.mode, exposure=bound.exposure),
        )
        budget = send_budget(get_guards(), max_send_wait_s(locked.config))
        written: list[fastsql.Statement] = []

        def judge(**checks) -> Decision:
            decision = evaluate(**checks)  # counted (risk_evaluate) only where it is made
            if decision.outcome is not Outcome.PASS:
                raise NotPrepared(decision.reason)
            return decision

        def claim(trade: Trade) -> None:
            if trade.mode != TradingMode.LIVE:
                return
            admission = self.ahead.answer(budget)
            if admission is None or admission.refused or admission.wait_s:
                raise NotPrepared("no slot now")
            self.ahead.take(budget)
            apply_admission(trade, admission)
            self.admission = admission

        def write(trade: Trade) -> None:
            if trade.status != TradeStatus.SUBMITTED and trade.mode == TradingMode.LIVE:
                raise NotPrepared(trade.status)
            written.append(
                fastsql.insert_with_id(
                    trade,
                    ready.trade_id,
                    keep=TRADE_KEPT,
                    ignore_conflicts=True,
                    when=guard,
                    returning=fastsql.next_ids(Listing, Trade),
                )
            )

        now_ns = time.time_ns()
        self.trade, _ = decide_locked(
            reads=DecisionReads(locked=locked, mode=bound.mode, exposure=bound.exposure),
            symbol=self.symbol,
            quote_asset=self.quote_asset,
            quote_qty=None,
            client_order_id=snipe_order_id(self.symbol, self.listed_at),
            listing_id=self.listing_id,
            # Persisted: the listing's row handed to its transaction (it commits with the
            # trade's, in the round trip the decision rides).
            stamps=Stamps(detected_ns=self.detected_ns, persisted_ns=now_ns, dispatched_ns=now_ns),
            before_insert=claim,
            write=write,
            publish=False,
            judge=judge,
        )
        return written[0]

    def undo(self) -> tuple[fastsql.Statement, ...]:
        """Statements deleting the trade's row a rehearsal wrote."""
        return (("DELETE FROM trading_trade WHERE id = %s", (self.ready.trade_id,)),)

    def committed(self, rows) -> bool:
        """The rows of `first` and `decide`'s statements, committed with the listing's: True
        when the trade's row was written (its order leaves now); False: decide it the usual
        way."""
        if not self.decided or rows[-1] is None:
            return False
        self.written = True
        after_decision(self.trade, self.admission, self.policy, committed=fastsql.committed())
        keep_ready(Ready(self.ready.bound.plus(self.trade), *rows[-1][1:]))
        return True

    def close(self) -> None:
        """The listing is done: a slot taken for a trade whose row was not written goes back."""
        self.ahead.close(taken_too=not self.written)
