"""Typed MEXC errors and the one table-driven mapping from (HTTP status, body) to them.

Sources: mexc-api.md sections 1.3, 3 and 4. Messages never carry keys or signatures: they
hold the exchange's own ``msg`` or the name of a transport error, nothing from the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class MexcError(Exception):
    """Any failure talking to MEXC."""

    def __init__(
        self,
        msg: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        client_order_id: str | None = None,
    ) -> None:
        self.msg = msg
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after  # seconds, from Retry-After (429/418)
        self.client_order_id = client_order_id  # set on errors from order placement
        detail = type(self).__name__
        if code is not None:
            detail += f" code={code}"
        if http_status is not None:
            detail += f" http={http_status}"
        if retry_after is not None:
            detail += f" retry_after={retry_after:g}s"
        super().__init__(f"{detail}: {msg}" if msg else detail)


class MexcApiError(MexcError):
    """The exchange refused the request for a reason without a dedicated type."""


class RateLimited(MexcError):
    """HTTP 429: slow down for ``retry_after`` seconds. Nothing was processed."""


class WeightBudgetExhausted(RateLimited):
    """Refused by our own IP-weight budget (``mexc.weights``) before anything was sent: the
    request would take this process over its share of MEXC's 500 weight / 10 s. Wait
    ``retry_after`` seconds (when the window frees enough), as after a 429."""


class IpBanned(MexcError):
    """HTTP 418: the IP is banned (2 min .. 3 days) after repeated 429s."""


class SymbolNotTradable(MexcError):
    """10007 and friends: unknown symbol, not open yet, or not tradable through the API."""


class InsufficientBalance(MexcError):
    """30004 (spot) / 30005 (oversold) / 10101 (wallet): not enough balance."""


class BelowMinimumAmount(MexcError):
    """30002: the amount is below the symbol's minimum."""


class TimestampOutsideWindow(MexcError):
    """700003: the timestamp fell outside recvWindow, or was > 1 s ahead (clock drift)."""


class InvalidSignature(MexcError):
    """700002 / 602: the signature did not verify."""


class InvalidApiKey(MexcError):
    """The API key is missing (body code 400), malformed (700001) or unknown (10072)."""


class UnknownOrder(MexcError):
    """-2013 / -2011: the exchange has no such order."""


class MarketOrderDisabled(MexcError):
    """30018/30019/30051: MARKET orders are disabled for this symbol or through the API."""


class NoLiquidity(MexcError):
    """30010/30025: no trade price or no opposite orders (an empty book at the open)."""


class ExchangeUnavailable(MexcError):
    """5xx or transport failure where nothing can have been placed: safe to retry."""


class CalendarUnavailable(ExchangeUnavailable):
    """The website calendar gave no usable answer: a 403 (WAF), an HTML page, a body that is
    not JSON or not the calendar's shape, a 5xx or a transport failure. It means "calendar
    down", never "no listings". ``reason``: a short word for why (``http_403``, ``html``,
    ``not_json``, ``bad_shape``, ``http_5xx``, ``transport``, ``http_<status>``)."""

    def __init__(self, msg: str = "", *, reason: str, **kw: Any) -> None:
        self.reason = reason
        super().__init__(msg or reason, **kw)


class OrderOutcomeUnknown(MexcError):
    """Timeout, broken connection or 5xx while placing an order: it MAY exist.

    Never treat it as failed: look the order up by ``client_order_id`` (origClientOrderId).
    """


#: MEXC body code -> type. Anything absent is MexcApiError.
CODE_TYPES: dict[int, type[MexcError]] = {
    10007: SymbolNotTradable,  # "symbol not support api" / bad symbol
    30014: SymbolNotTradable,  # invalid symbol
    30021: SymbolNotTradable,  # invalid symbol
    730001: SymbolNotTradable,  # pair not found
    -1121: SymbolNotTradable,  # "Invalid symbol." on market-data endpoints
    30004: InsufficientBalance,
    30005: InsufficientBalance,  # "Oversold": a sell of more than the account holds
    10101: InsufficientBalance,
    30002: BelowMinimumAmount,
    700003: TimestampOutsideWindow,
    700002: InvalidSignature,
    602: InvalidSignature,
    10072: InvalidApiKey,
    700001: InvalidApiKey,
    -2013: UnknownOrder,
    -2011: UnknownOrder,
    30018: MarketOrderDisabled,
    30019: MarketOrderDisabled,
    30051: MarketOrderDisabled,
    30010: NoLiquidity,
    30025: NoLiquidity,
    429: RateLimited,  # may also appear as a body code
}

#: Codes MEXC reuses for unrelated errors: code -> ((phrase in msg, type), ...); else generic.
#: Body code 400 is "api key required" in the docs, but live answers also use it for
#: "quantity scale is invalid" / "price scale is invalid".
AMBIGUOUS_CODES: dict[int, tuple[tuple[str, type[MexcError]], ...]] = {
    400: (("api key", InvalidApiKey),),
}

#: HTTP status -> type; these win over the body code.
STATUS_TYPES: dict[int, type[MexcError]] = {429: RateLimited, 418: IpBanned}


def error_from_response(
    http_status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    placing_order: bool = False,
    client_order_id: str | None = None,
) -> MexcError:
    """The exception for an error answer.

    Order: 429/418 by status; any 5xx is ExchangeUnavailable, or OrderOutcomeUnknown when
    placing an order (MEXC: "the outcome is UNKNOWN and may have succeeded"); else the body
    code through CODE_TYPES (AMBIGUOUS_CODES by message); else MexcApiError.
    """
    code, msg = _code_and_msg(body)
    kind = STATUS_TYPES.get(http_status)
    if kind is None and http_status >= 500:
        kind = OrderOutcomeUnknown if placing_order else ExchangeUnavailable
    if kind is None and code in AMBIGUOUS_CODES:
        lowered = msg.lower()
        kind = next((t for phrase, t in AMBIGUOUS_CODES[code] if phrase in lowered), None)
    if kind is None:
        kind = CODE_TYPES.get(code, MexcApiError) if code is not None else MexcApiError
    return kind(
        msg,
        code=code,
        http_status=http_status,
        retry_after=_retry_after(headers),
        client_order_id=client_order_id,
    )


def _code_and_msg(body: Any) -> tuple[int | None, str]:
    if not isinstance(body, dict):
        return None, str(body or "")[:200]
    try:
        code = int(body["code"]) if body.get("code") is not None else None
    except (TypeError, ValueError):
        code = None
    return code, str(body.get("msg") or "")[:500]


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After in seconds (MEXC sends seconds; an HTTP date is ignored)."""
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
