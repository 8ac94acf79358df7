"""Writes for trading: ONE decide-and-claim (`trade_decide`), then the send (`trade_send`).

Every way a trade starts goes through `trade_decide`: a detected listing (`trade_snipe`), an
announced one armed before its open (`trade_arm`), an operator's trade (`trade_manual`), a
confirmation of a held trade (`trade_confirm`, which decides the held row again against the
limits in force). It locks the config row, reads the exposure (held trades included), runs the
pure checks, asks the guards for a rate-limit slot within the freshness deadline, and writes
the outcome: `rejected` (with the reason), `awaiting_confirmation`, or `pending` = claimed by
the caller, who alone sends it (its lease is `held_until`). The Trade row with its client
order id is committed before anything leaves the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mexc import errors as mexc_errors
from monitoring import events
from risk.checks import Decision, Intent, Outcome, Reason, effective_mode
from risk.models import TradeConfig, TradingMode
from risk.selectors import config_get_active, config_lock, config_version_id
from risk.services import risk_evaluate, risk_limits

from .entry import priced_ahead, refused_for_good
from .execution import (
    SendPolicy,
    entry_when_tradable,
    fill_dry_run,
    lease,
    prepare_entry,
    send_hold_s,
    send_live,
)
from .handoff import trades_run_here
from .models import Trade, TradeStatus
from .payloads import trade_payload
from .prices import first_prices
from .selectors import decision_inputs
from .states import trade_transition

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


@dataclass(frozen=True)
class Signal:
    """Why a trade is wanted: what to buy, for how much, and how fresh the reason is."""

    symbol: str
    quote_asset: str
    client_order_id: str
    quote_qty: Decimal | None = None  # None: the config's snipe amount
    listing_id: int | None = None
    manual: bool = False
    want_live: bool = True
    requested_by: str = ""
    opened_at_ms: int | None = None  # the listing's open (exchange ms): freshness counts from it
    fires_at_ms: int | None = None  # announced: sent at this time; its slot is asked then
    stamps: Stamps = Stamps()


@dataclass(frozen=True)
class Decided:
    trade: Trade
    created: bool
    wait_s: float = 0.0  # until its rate-limit slot (0: send now)

    @property
    def to_send(self) -> bool:
        return self.created and self.trade.status == TradeStatus.PENDING


def keys_present() -> bool:
    return bool(settings.MEXC_API_KEY and settings.MEXC_SECRET_KEY)


def now_ms() -> int:
    """The exchange's clock where the gateway keeps one, else this host's."""
    from .runtime import exchange_now_ms

    return exchange_now_ms()


def trade_decide(signal: Signal, *, held: Trade | None = None) -> Decided:
    """The one decide-and-claim. `held`: a trade decided before (awaiting confirmation, or
    pending before its open) decided again now; otherwise a new row, unique on its client
    order id (a second call for the same id returns the existing row, created=False)."""
    from .runtime import get_guards

    with transaction.atomic():
        config, version_id = config_lock()
        mode = effective_mode(risk_limits(config), signal.want_live)
        limits = risk_limits(config, mode=mode)  # limits are per mode: a dry-run test trade
        # while live is judged by the dry-run limits, never the live budget
        existing, exposure = decision_inputs(
            mode=mode,
            client_order_id="" if held else signal.client_order_id,
            exclude_id=held.pk if held else None,
        )
        if existing is not None:
            return Decided(Trade.objects.get(pk=existing), False)
        at_ms = now_ms()
        intent = Intent(
            symbol=signal.symbol,
            quote_asset=signal.quote_asset,
            quote_qty=signal.quote_qty if signal.quote_qty is not None else config.snipe_quote_usdt,
            manual=signal.manual,
            want_live=signal.want_live,
            signal_age_ms=None
            if signal.opened_at_ms is None
            else max(0, max(at_ms, signal.fires_at_ms or 0) - signal.opened_at_ms),
            confirmed=held is not None and held.status == TradeStatus.AWAITING_CONFIRMATION,
        )
        decision = risk_evaluate(
            limits=limits, intent=intent, exposure=exposure, keys_present=keys_present()
        )
        wait_s = 0.0
        if decision.passed and mode == TradingMode.LIVE and signal.fires_at_ms is None:
            decision, wait_s = _admitted(
                decision, get_guards(), _fresh_until(signal, config), at_ms
            )
        status = _STATUS_FOR[decision.outcome]
        if held is not None and held.status == TradeStatus.PENDING and not decision.passed:
            # decided again at its open: no operator can be waited for any more
            if status == TradeStatus.AWAITING_CONFIRMATION:
                decision = _refused(decision, Reason.NEEDS_CONFIRMATION, decision.detail)
            status = TradeStatus.REJECTED
        now = timezone.now()
        fields = {
            "mode": decision.mode,
            "quote_qty": intent.quote_qty,
            "reason_code": decision.reason.value if decision.reason else "",
            "error_message": decision.detail if decision.reason else "",
            "config_version_id": version_id,
            "risk_done_ns": time.time_ns(),
            "expires_at": now + timedelta(seconds=config.confirmation_ttl_s)
            if status == TradeStatus.AWAITING_CONFIRMATION
            else None,
            "held_until": _lease_until(signal, wait_s, config, at_ms)
            if status == TradeStatus.PENDING
            else None,
        }
        if held is None:
            trade = Trade.objects.create(
                listing_id=signal.listing_id,
                symbol=signal.symbol,
                client_order_id=signal.client_order_id,
                manual=signal.manual,
                requested_by=signal.requested_by,
                detected_ns=signal.stamps.detected_ns,
                persisted_ns=signal.stamps.persisted_ns,
                dispatched_ns=signal.stamps.dispatched_ns,
                status=status,
                **fields,
            )
            events.publish_on_commit(events.TRADE_UPDATED, trade_payload(trade))
        else:
            if held.status == TradeStatus.AWAITING_CONFIRMATION:
                fields["confirmed_ns"] = time.time_ns()
            if not trade_transition(held, status, **fields):
                raise TradeChanged(f"Trade {held.pk} is {held.status} now; nothing was done.")
            trade = held
    _log_decided(trade)
    if trade.status == TradeStatus.REJECTED and trade.reason_code in LIMIT_REASONS:
        from alerts.services import notify

        notify(
            "buy_refused_by_limit",
            key=trade.reason_code,
            payload={
                "symbol": trade.symbol,
                "mode": trade.mode,
                "reason": trade.reason_code,
                "quote_qty": trade.quote_qty,
                "trade_id": trade.pk,
            },
        )
    return Decided(trade, held is None, wait_s)


# Refusals by a limit the operator set (the phone hears of them once per limit per hour).
LIMIT_REASONS = frozenset(
    reason.value
    for reason in (
        Reason.MAX_TRADE_EXCEEDED,
        Reason.MAX_POSITION_EXCEEDED,
        Reason.MAX_TRADES_PER_HOUR,
        Reason.TOO_MANY_IN_FLIGHT,
        Reason.RATE_LIMITED,
        Reason.KILL_SWITCH,
    )
)


class TradeChanged(Exception):
    """Someone else changed the trade first."""


def _fresh_until(signal: Signal, config: TradeConfig) -> int | None:
    """The exchange ms after which the signal is stale (None: no freshness, a manual trade)."""
    if signal.opened_at_ms is None:
        return None
    return signal.opened_at_ms + config.signal_max_age_ms


def _admitted(
    decision: Decision, guards, fresh_until_ms: int | None, at_ms: int
) -> tuple[Decision, float]:
    """The breaker, then a rate-limit slot no later than the freshness deadline: a trade
    whose slot lies beyond it is refused now, with the wait in its reason."""
    budget_s = guards.max_wait_s if fresh_until_ms is None else (fresh_until_ms - at_ms) / 1000
    allowed, wait_s = guards.admit(budget_s)
    if not allowed:
        return _refused(decision, Reason.CIRCUIT_OPEN, "Circuit breaker open."), 0.0
    if wait_s is None:
        return _refused(
            decision,
            Reason.RATE_LIMITED,
            f"No order slot within {max(budget_s, 0) * 1000:.0f} ms "
            "(the freshness deadline or the wait budget).",
        ), 0.0
    return decision, wait_s


def _refused(decision: Decision, reason: Reason, detail: str) -> Decision:
    from monitoring.metrics import risk_rejections

    risk_rejections.labels(reason=reason.value).inc()
    return replace(decision, outcome=Outcome.REJECT, reason=reason, detail=detail)


def _lease_until(signal: Signal, wait_s: float, config: TradeConfig, at_ms: int) -> datetime:
    """How long the caller owns the trade: until its slot (or its open, and the retry window
    after it) and one send's time."""
    if signal.fires_at_ms is not None:
        wait_s = max(0.0, (signal.fires_at_ms - at_ms) / 1000) + config.open_retry_window_ms / 1000
    return lease(wait_s + send_hold_s())


def _log_decided(trade: Trade) -> None:
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


def send_policy(config: TradeConfig, signal: Signal | None) -> SendPolicy:
    opened = signal.opened_at_ms if signal else None
    return SendPolicy(
        recv_window_ms=config.recv_window_ms,
        open_at_ms=opened,
        open_retry_window_ms=config.open_retry_window_ms,
        open_retry_interval_ms=config.open_retry_interval_ms,
        fresh_until_ms=_fresh_until(signal, config) if signal else None,
    )


# --- the send ---------------------------------------------------------------------------------


def trade_send(
    decided: Decided, signal: Signal | None = None, *, sleep=time.sleep, asked=None
) -> Trade:
    """Send a trade this caller decided and claimed (pending), after its slot's wait: the
    symbol checked and the entry priced (`prepare_entry`), then the dry-run fill or the
    live order."""
    from .runtime import get_gateway, get_guards

    trade = decided.trade
    if trade.status != TradeStatus.PENDING:
        return trade
    if decided.wait_s > 0:
        sleep(decided.wait_s)
        asked = None  # the prices asked before the wait are stale now
    gateway = get_gateway()
    config = config_get_active()
    policy = send_policy(config, signal)
    prepared = entry_when_tradable(
        trade,
        gateway,
        policy,
        asked=asked,
        entry_order_type=config.entry_order_type,
        slippage_pct=config.entry_slippage_pct,
    )
    if prepared is None:
        return trade
    entry, rules = prepared
    if trade.mode == TradingMode.DRY_RUN:
        fill_dry_run(trade, gateway, entry)
    else:
        policy = replace(policy, entry=entry, rules=rules)
        send_live(trade, gateway, get_guards(), policy)
    return trade


def trade_snipe(*, listing_id: int, stamps: Stamps = Stamps()) -> Trade | None:
    """One listing -> one intent -> one trade (its client order id derives from the listing,
    so a second hand-off of the same listing, or its armed announcement, lands on that row)."""
    from listings.models import Listing

    from .ids import snipe_order_id

    listing = Listing.objects.get(pk=listing_id)
    if listing.delisted_at is not None:
        return None
    signal = Signal(
        symbol=listing.symbol,
        quote_asset=listing.quote_asset,
        client_order_id=snipe_order_id(listing.symbol, listing.listed_at),
        listing_id=listing.pk,
        opened_at_ms=int(listing.listed_at.timestamp() * 1000),
        stamps=stamps,
    )
    from .runtime import get_gateway

    existing = Trade.objects.filter(client_order_id=signal.client_order_id).first()
    if existing is not None:  # its announcement armed it (the common case): nothing to ask
        Trade.objects.filter(pk=existing.pk, listing__isnull=True).update(listing_id=listing.pk)
        return existing
    asked = get_gateway().start_entry_inputs(listing.symbol)  # answered while we decide
    decided = trade_decide(signal)
    if not decided.created:
        Trade.objects.filter(pk=decided.trade.pk, listing__isnull=True).update(
            listing_id=listing.pk
        )
        return decided.trade
    return trade_send(decided, signal, asked=asked)


def trade_manual(
    *,
    symbol: str,
    quote_qty: Decimal,
    live: bool,
    actor=None,
    actor_label: str = "",
) -> Trade:
    """A trade an operator asks for, through the same decision as a snipe."""
    from listings.services import split_symbol
    from monitoring.services import audit_record

    from .ids import manual_order_id

    symbol = symbol.strip().upper()
    _, quote_asset = split_symbol(symbol)
    if not symbol.isascii() or not symbol.isalnum() or not quote_asset:
        raise ValueError(f"{symbol!r} is not a MEXC symbol (letters and digits, e.g. ABCUSDT).")
    if quote_qty <= 0:
        raise ValueError("The quote amount must be positive.")
    label = actor_label or (actor.get_username() if actor else "cli")
    signal = Signal(
        symbol=symbol,
        quote_asset=quote_asset,
        quote_qty=quote_qty,
        client_order_id=manual_order_id(),
        manual=True,
        want_live=live,
        requested_by=label,
    )
    with transaction.atomic():
        decided = trade_decide(signal)
        audit_record(
            actor=actor,
            actor_label=label,
            action="trade.manual",
            target=f"Trade:{decided.trade.pk}",
            detail={
                "symbol": symbol,
                "quote": str(quote_qty),
                "live": live,
                "status": decided.trade.status,
            },
        )
    trade = trade_send(decided, signal)
    trade.refresh_from_db()
    return trade


def trade_confirm(*, trade_id: int, actor=None, actor_label: str = "") -> Trade:
    """An operator confirms a held trade: it is decided again against the limits in force
    (kill switch, limits, mode, keys, breaker, rate limit), then sent; or refused, with why."""
    from monitoring.services import audit_record

    label = actor_label or (actor.get_username() if actor else "cli")
    with transaction.atomic():
        trade = Trade.objects.select_for_update().get(pk=trade_id)
        if trade.status != TradeStatus.AWAITING_CONFIRMATION:
            raise ValueError(f"Trade {trade_id} is {trade.status}, not awaiting confirmation.")
        if trade.expires_at and trade.expires_at < timezone.now():
            trade_transition(
                trade,
                TradeStatus.CANCELED,
                reason_code="confirmation_expired",
                error_message="No operator confirmed in time.",
            )
            audit_record(
                actor=actor, actor_label=label, action="trade.confirm", target=f"Trade:{trade.pk}"
            )
            return trade
        Trade.objects.filter(pk=trade.pk).update(confirmed_by=label)
        trade.confirmed_by = label
        signal = _signal_of(trade)
        decided = trade_decide(signal, held=trade)
        audit_record(
            actor=actor,
            actor_label=label,
            action="trade.confirm",
            target=f"Trade:{trade.pk}",
            detail={"status": trade.status, "reason": trade.reason_code},
        )
    trade = trade_send(Decided(decided.trade, True, decided.wait_s), signal)
    trade.refresh_from_db()
    return trade


def _signal_of(trade: Trade) -> Signal:
    from listings.services import split_symbol

    _, quote_asset = split_symbol(trade.symbol)
    return Signal(
        symbol=trade.symbol,
        quote_asset=quote_asset,
        quote_qty=trade.quote_qty,
        client_order_id=trade.client_order_id,
        listing_id=trade.listing_id,
        manual=trade.manual,
        want_live=trade.mode == TradingMode.LIVE or trade.manual is False,
        requested_by=trade.requested_by,
    )


def trade_cancel(*, trade_id: int, actor=None, actor_label: str = "") -> Trade:
    """An operator cancels a held trade (one that is not with a sender)."""
    from monitoring.services import audit_record

    label = actor_label or (actor.get_username() if actor else "cli")
    with transaction.atomic():
        trade = Trade.objects.select_for_update().get(pk=trade_id)
        if trade.status != TradeStatus.AWAITING_CONFIRMATION or not trade_transition(
            trade,
            TradeStatus.CANCELED,
            reason_code="canceled_by_operator",
            error_message=f"Canceled by {label}.",
        ):
            raise ValueError(
                f"Trade {trade_id} is {trade.status}; only held trades can be canceled."
            )
        audit_record(
            actor=actor, actor_label=label, action="trade.cancel", target=f"Trade:{trade.pk}"
        )
    return trade


# --- announced listings: decided when armed, sent at the open ----------------------------------

ARMED_MAX_WAIT_S = 15 * 60
PREFIRE_S = 0.05  # the config is read again this long before the open (then only memory)


@dataclass
class Armed:
    """An announced listing's trade, decided and claimed, waiting for its open."""

    decided: Decided
    signal: Signal
    fires_at_ms: int
    max_entry_price: Decimal | None = None  # the operator's reference, known before


def trade_arm(
    *,
    symbol: str,
    quote_asset: str,
    open_at: datetime,
    listing_id: int | None = None,
    max_entry_price: Decimal | None = None,
) -> Armed:
    """Decide an announced listing's trade now, before its open: checked, recorded, claimed.
    The same client order id as its detection, so the stream's sighting finds this row."""
    from .ids import snipe_order_id

    open_ms = int(open_at.timestamp() * 1000)
    signal = Signal(
        symbol=symbol,
        quote_asset=quote_asset,
        client_order_id=snipe_order_id(symbol, open_at),
        listing_id=listing_id,
        opened_at_ms=open_ms,
        fires_at_ms=open_ms,
        stamps=Stamps(detected_ns=open_ms * 1_000_000),
    )
    return Armed(
        decided=trade_decide(signal),
        signal=signal,
        fires_at_ms=open_ms,
        max_entry_price=max_entry_price,
    )


def trade_fire(
    armed: Armed,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], int] | None = None,
) -> Trade:
    """At the open, by the exchange's clock: the last check, then the order; recorded after.

    `PREFIRE_S` before the open the config is read again: a new version (the kill switch
    included) decides the trade again; the rate-limit slot is asked then too, and the send's
    policy built. From there nothing touches the database until the order has left: the
    gateway waits for the open on its own loop and sends (`place_market_buy_at`).
    """
    from .runtime import get_gateway, get_guards

    clock = clock or now_ms
    decided = armed.decided
    trade = decided.trade
    if not decided.to_send:
        return trade
    _wait_until(armed.fires_at_ms - PREFIRE_S * 1000, clock, sleep)
    config = config_get_active()
    if config_version_id() != trade.config_version_id:
        decided = trade_decide(replace(armed.signal, fires_at_ms=armed.fires_at_ms), held=trade)
        if trade.status != TradeStatus.PENDING:
            return trade
    gateway = get_gateway()
    policy = send_policy(config, armed.signal)
    entry_rules = dict(
        entry_order_type=config.entry_order_type,
        slippage_pct=config.entry_slippage_pct,
        reference=armed.max_entry_price,
    )
    # The reference known before the open: the pre-open book where the exchange shows one,
    # else the operator's max entry price; either way the symbol's rules. Without them the
    # entry is priced at the open, from the first price (one round trip later).
    try:
        rules, ask = inputs = gateway.entry_inputs(trade.symbol)
    except mexc_errors.WeightBudgetExhausted as exc:  # our own budget: asked again at the open
        log.info("snipe.prefire_not_asked", extra={"trade_id": trade.pk, "error": str(exc)})
        rules, ask = inputs = (None, None)
    except (mexc_errors.RateLimited, mexc_errors.IpBanned) as exc:  # never left pending
        trade_transition(
            trade,
            TradeStatus.REJECTED,
            reason_code="exchange_rate_limited",
            error_message=f"Entry prices not asked before the open: {exc}",
            held_until=None,
        )
        return trade
    why = rules and refused_for_good(rules, config.entry_order_type)
    if why:  # not buyable or not sellable, whatever the open brings: refused now
        trade_transition(
            trade,
            TradeStatus.REJECTED,
            reason_code=Reason.NOT_TRADABLE.value,
            error_message=f"{trade.symbol}: {why}.",
            held_until=None,
        )
        return trade
    ready = None
    # Priced ahead only with the rules known (the exchange lists the symbol before its open,
    # status "2" often): what cannot be sold is never bought, a MARKET included. Without
    # them the entry is checked and priced at the open, one round trip later.
    if rules is not None and priced_ahead(
        rules, ask, armed.max_entry_price, config.entry_order_type
    ):
        ready = prepare_entry(trade, inputs, opening=True, **entry_rules)
        if ready is None:
            return trade
    fires_at_ms = armed.fires_at_ms
    if trade.mode == TradingMode.LIVE:
        allowed, wait_s = get_guards().admit((policy.fresh_until_ms - clock()) / 1000)
        refused = (
            (Reason.CIRCUIT_OPEN, "Circuit breaker open.")
            if not allowed
            else (Reason.RATE_LIMITED, "No order slot before the signal went stale.")
            if wait_s is None
            else None
        )
        if refused is not None:
            trade_transition(
                trade,
                TradeStatus.REJECTED,
                reason_code=refused[0].value,
                error_message=refused[1],
                held_until=None,
            )
            return trade
        fires_at_ms = max(fires_at_ms, clock() + int(wait_s * 1000))
    if ready is None:  # priced at the open: wait for the first price
        _wait_until(fires_at_ms, clock, sleep)
        ready = entry_when_tradable(
            trade, gateway, policy, known=rules, stream_first=trades_run_here(), **entry_rules
        )
        if ready is None:
            return trade
        at_us = None
    else:
        _wait_until(fires_at_ms - PREFIRE_S * 1000, clock, sleep)  # a later slot: sleep here
        at_us = fires_at_ms * 1000
    entry, rules = ready
    first_prices.forget(trade.symbol)  # used (or not needed): never this symbol's next opening
    if trade.mode == TradingMode.DRY_RUN:
        _wait_until(fires_at_ms, clock, sleep)
        fill_dry_run(trade, gateway, entry)
        return trade
    policy = replace(policy, fires_at_us=at_us, entry=entry, rules=rules)
    send_live(trade, gateway, get_guards(), policy, sleep=sleep)
    return trade


def _wait_until(at_ms: float, clock: Callable[[], int], sleep: Callable[[float], None]) -> None:
    """Sleep until `at_ms` (exchange ms; the precise wait for an order is the gateway's)."""
    while (left := (at_ms - clock()) / 1000) > 0:
        sleep(min(left, 1.0))


def trade_snipe_announced(*, upcoming_id: int, sleep=time.sleep) -> Trade | None:
    """An announced listing: armed now (decided and claimed), fired at its open."""
    from listings.models import UpcomingListing, UpcomingStatus
    from listings.services import listing_live_near

    upcoming = UpcomingListing.objects.get(pk=upcoming_id)
    if upcoming.status == UpcomingStatus.CANCELED:
        return None
    wait_ms = upcoming.open_at.timestamp() * 1000 - now_ms()
    if wait_ms > ARMED_MAX_WAIT_S * 1000:
        log.warning("snipe.armed_too_early", extra={"upcoming_id": upcoming_id, "wait_ms": wait_ms})
        return None
    listing = upcoming.listing or listing_live_near(symbol=upcoming.symbol, when=upcoming.open_at)
    armed = trade_arm(
        symbol=upcoming.symbol,
        quote_asset=upcoming.quote_asset,
        open_at=listing.listed_at if listing else upcoming.open_at,
        listing_id=listing.pk if listing else None,
        max_entry_price=upcoming.max_entry_price,
    )
    return trade_fire(armed, sleep=sleep)
