"""What the monitor keeps ready for its next listing's trade (see trading.inline).

- `SendAhead`: the guards' answer (breaker, rate-limit slot) asked from Redis before the
  decision needs it, so the Redis round trip overlaps the database's.
- `Ready`: an upper bound on the exposure a decision would read (`ExposureBound`) and ids
  drawn for the next listing and its trade, so that listing can be decided before its round
  trip and written in one (trading.prepared).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from risk.checks import Exposure, effective_mode
from risk.guards import AdmissionAhead, RedisAdmission
from risk.models import TradingMode

from .execution import Admission, admission_from, send_budget
from .models import Trade
from .runtime import get_guards
from .selectors import COMMITTED, IN_FLIGHT
from .services import LockedConfig, config_seen, max_send_wait_s

log = logging.getLogger(__name__)


class SendAhead:
    """The guards' answer for a listing's send, asked while its first round trip to the
    database is out (`RedisAdmission.ask_ahead`), instead of after the decision: the Redis
    round trip leaves the path to the exchange.

    Asked only when the config last seen would trade live, with that config's wait budget;
    the decision takes the answer if its own config gives the same budget, else asks again.
    A slot granted and not taken (the trade is refused, or not new) goes back (`close`).
    """

    def __init__(self, asked: AdmissionAhead | None = None, failed: Exception | None = None):
        self.asked, self.failed = asked, failed

    @classmethod
    def ask(cls) -> SendAhead:
        locked = config_seen()
        guards = get_guards()
        admission = guards.admission
        if (
            locked is None
            or not isinstance(admission, RedisAdmission)
            or locked.limits.kill_switch
            or effective_mode(locked.limits, True) != TradingMode.LIVE
        ):
            return cls()
        try:
            return cls(admission.ask_ahead(send_budget(guards, max_send_wait_s(locked.config))))
        except Exception as exc:  # asking again now would wait as long: see `take`
            return cls(failed=exc)

    def answer(self, budget: float) -> Admission | None:
        """The answer for a send with this wait budget, not taken yet; None: ask the guards
        now. Raises when Redis could not be asked (the listing then goes to a task)."""
        if self.failed is not None:
            raise self.failed
        asked = self.asked
        if asked is None:
            return None
        if asked.max_wait_s != budget:  # the config changed meanwhile
            asked.give_back()
            self.asked = None
            return None
        answer = asked.answer()
        return None if answer is None else admission_from(*answer)

    def take(self, budget: float) -> Admission | None:
        """`answer`, and the caller now owns the slot it granted."""
        admission = self.answer(budget)
        if admission is not None:
            self.asked.take()
        return admission

    def close(self, *, taken_too: bool = False) -> None:
        """The listing is done: a slot granted and not taken (`taken_too`: or taken and not
        used) goes back."""
        if self.asked is None:
            return
        try:
            self.asked.give_back(taken_too=taken_too)
        except Exception:
            log.exception("snipe.slot_give_back_failed")  # the limiter paces a bit more


@dataclass(frozen=True)
class ExposureBound:
    """At most this exposure in `mode` under the config `locked`: what this process's last
    decision read under the lock, plus the trades it decided since. A fill, a failure or
    time passing only lowers the real figures; another process's trade can raise them above
    the bound, which the prepared snipe's round trip checks (trading.prepared)."""

    locked: LockedConfig
    mode: str
    exposure: Exposure

    def plus(self, trade: Trade) -> ExposureBound:
        if trade.status not in COMMITTED:
            return self
        e = self.exposure
        return replace(
            self,
            exposure=Exposure(
                spent_24h=e.spent_24h + trade.quote_qty,
                trades_last_hour=e.trades_last_hour + 1,
                in_flight=e.in_flight + (trade.status in IN_FLIGHT),
            ),
        )


@dataclass(frozen=True)
class Ready:
    """The next listing's bound and ids (a listing's, its trade's), drawn for it alone."""

    bound: ExposureBound
    listing_id: int
    trade_id: int


_ready: Ready | None = None


def keep_ready(ready: Ready | None) -> None:
    """After a listing's commit (the monitor's database thread records one at a time)."""
    global _ready
    _ready = ready


def peek_ready() -> Ready | None:
    """What is kept for the next listing, left in place."""
    return _ready


def take_ready() -> Ready | None:
    """What was kept for the next listing, once: whatever becomes of that listing, its ids
    are spent, and the bound is kept again only by a commit that checked it."""
    global _ready
    ready, _ready = _ready, None
    return ready
