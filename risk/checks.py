"""Pure risk checks: plain data in, a decision out. No database, no clock, no exchange.

`risk.services` gathers the inputs (config version, exposure figures that trading computes,
whether keys are present) and records the decision. Order matters: the first failing check
gives the reason code, so the cheapest and most absolute guards come first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fnmatch import fnmatchcase

from .models import TradingMode


class Reason(StrEnum):
    KILL_SWITCH = "kill_switch"
    SYMBOL_DENIED = "symbol_denied"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    WRONG_QUOTE_ASSET = "wrong_quote_asset"
    MAX_TRADE_EXCEEDED = "max_trade_exceeded"
    MAX_POSITION_EXCEEDED = "max_position_exceeded"
    MAX_TRADES_PER_HOUR = "max_trades_per_hour"
    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    STALE_SIGNAL = "stale_signal"
    NOT_TRADABLE = "not_tradable"  # exchangeInfo says it cannot be traded or sold
    LIVE_WITHOUT_KEYS = "live_without_keys"
    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMITED = "rate_limited"
    NEEDS_CONFIRMATION = "needs_confirmation"  # a trade decided again at its open


class Outcome(StrEnum):
    PASS = "pass"
    REJECT = "reject"
    CONFIRM = "confirm"  # above the high-value threshold: wait for an operator


@dataclass(frozen=True, slots=True)
class Limits:
    auto_trade: bool
    mode: str
    kill_switch: bool
    max_trade_usdt: Decimal
    max_position_usdt: Decimal
    high_value_threshold_usdt: Decimal
    max_trades_per_hour: int
    max_in_flight: int
    signal_max_age_ms: int
    quote_asset: str
    allowlist: tuple[str, ...] = ()
    denylist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Intent:
    symbol: str
    quote_asset: str
    quote_qty: Decimal
    manual: bool = False
    want_live: bool = True  # a manual dry-run test trade sets False
    signal_age_ms: float | None = None  # since the listing's open; None for manual trades
    confirmed: bool = False  # an operator already confirmed this high-value trade


@dataclass(frozen=True, slots=True)
class Exposure:
    spent_24h: Decimal  # quote committed by live-or-pending trades over the rolling 24 h
    trades_last_hour: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    mode: str  # the mode the trade runs in: dry_run unless auto-trade is on and mode is live
    reason: Reason | None = None
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS


def matching(symbol: str, patterns: tuple[str, ...]) -> str | None:
    """The first pattern (a symbol, or a glob: * any run, ? one character) `symbol` matches."""
    return next((p for p in patterns if fnmatchcase(symbol, p)), None)


def effective_mode(limits: Limits, want_live: bool) -> str:
    """Live only when the operator turned auto-trade on, chose live, and the intent wants it."""
    if limits.auto_trade and limits.mode == TradingMode.LIVE and want_live:
        return TradingMode.LIVE
    return TradingMode.DRY_RUN


def evaluate(*, limits: Limits, intent: Intent, exposure: Exposure, keys_present: bool) -> Decision:
    mode = effective_mode(limits, intent.want_live)

    def reject(reason: Reason, detail: str) -> Decision:
        return Decision(Outcome.REJECT, mode, reason, detail)

    if limits.kill_switch:
        return reject(Reason.KILL_SWITCH, "The kill switch is on.")
    denied = matching(intent.symbol, limits.denylist)
    if denied:
        return reject(Reason.SYMBOL_DENIED, f"{intent.symbol} matches {denied} on the deny list.")
    if limits.allowlist and not matching(intent.symbol, limits.allowlist):
        return reject(Reason.SYMBOL_NOT_ALLOWED, f"{intent.symbol} is not on the allow list.")
    if intent.quote_asset != limits.quote_asset:
        return reject(
            Reason.WRONG_QUOTE_ASSET,
            f"{intent.symbol} is quoted in {intent.quote_asset or '?'}, not {limits.quote_asset}.",
        )
    if intent.quote_qty > limits.max_trade_usdt:
        return reject(
            Reason.MAX_TRADE_EXCEEDED,
            f"{intent.quote_qty} is above the max trade of {limits.max_trade_usdt}.",
        )
    if exposure.spent_24h + intent.quote_qty > limits.max_position_usdt:
        return reject(
            Reason.MAX_POSITION_EXCEEDED,
            f"{exposure.spent_24h} spent in 24 h + {intent.quote_qty} is above the max position "
            f"of {limits.max_position_usdt}.",
        )
    if exposure.trades_last_hour >= limits.max_trades_per_hour:
        return reject(
            Reason.MAX_TRADES_PER_HOUR,
            f"{exposure.trades_last_hour} trades in the last hour "
            f"(max {limits.max_trades_per_hour}).",
        )
    if exposure.in_flight >= limits.max_in_flight:
        return reject(
            Reason.TOO_MANY_IN_FLIGHT,
            f"{exposure.in_flight} snipes in flight (max {limits.max_in_flight}).",
        )
    if intent.signal_age_ms is not None and intent.signal_age_ms > limits.signal_max_age_ms:
        return reject(
            Reason.STALE_SIGNAL,
            f"The listing opened {intent.signal_age_ms:.0f} ms ago "
            f"(max {limits.signal_max_age_ms} ms).",
        )
    if mode == TradingMode.LIVE and not keys_present:
        return reject(
            Reason.LIVE_WITHOUT_KEYS,
            "Live mode needs MEXC_API_KEY and MEXC_SECRET_KEY; none are configured.",
        )
    if intent.quote_qty > limits.high_value_threshold_usdt and not intent.confirmed:
        return Decision(
            Outcome.CONFIRM,
            mode,
            None,
            f"{intent.quote_qty} is above the high-value threshold of "
            f"{limits.high_value_threshold_usdt}: waiting for an operator.",
        )
    return Decision(Outcome.PASS, mode)
