"""Typed MEXC errors, mapped from HTTP status + MEXC code by one table."""

from __future__ import annotations

from typing import Any


class MexcError(Exception):
    """Any failure talking to MEXC. Never carries keys or signatures."""

    def __init__(
        self,
        msg: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.msg = msg
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        detail = f"{type(self).__name__}"
        if code is not None:
            detail += f" code={code}"
        if http_status is not None:
            detail += f" http={http_status}"
        super().__init__(f"{detail}: {msg}" if msg else detail)


class MexcApiError(MexcError):
    """The exchange refused the request for a reason without a dedicated type."""


class RateLimited(MexcError):
    """HTTP 429: slow down; `retry_after` says for how long (seconds)."""


class IpBanned(MexcError):
    """HTTP 418: the IP is banned for `retry_after` seconds after repeated 429s."""


class SymbolNotTradable(MexcError):
    """10007 and friends: unknown symbol, not open yet, or not tradable through the API."""


class InsufficientBalance(MexcError):
    """30004: not enough quote balance."""


class BelowMinimumAmount(MexcError):
    """30002: the quote amount is below the symbol's minimum."""


class TimestampOutsideWindow(MexcError):
    """700003: the request's timestamp fell outside recvWindow (clock drift)."""


class InvalidSignature(MexcError):
    """700002: the signature did not verify."""


class InvalidApiKey(MexcError):
    """The API key is missing, malformed or unknown."""


class UnknownOrder(MexcError):
    """-2013 / -2011: the exchange has no such order."""


class MarketOrderDisabled(MexcError):
    """30018/30019/30051: MARKET orders are disabled for this symbol or through the API."""


class NoLiquidity(MexcError):
    """30010/30025: no price or no opposite orders (e.g. an empty book at the open)."""


class ExchangeUnavailable(MexcError):
    """5xx, timeout or connection failure on a request that places nothing."""


class OrderOutcomeUnknown(MexcError):
    """Timeout, read error or 5xx while placing an order: it may exist. Never treat as failed."""

    def __init__(self, msg: str = "", *, client_order_id: str | None = None, **kw: Any) -> None:
        self.client_order_id = client_order_id
        super().__init__(msg, **kw)


CODE_TYPES: dict[int, type[MexcError]] = {
    10007: SymbolNotTradable,
    30014: SymbolNotTradable,
    30021: SymbolNotTradable,
    730001: SymbolNotTradable,
    30004: InsufficientBalance,
    10101: InsufficientBalance,
    30002: BelowMinimumAmount,
    700003: TimestampOutsideWindow,
    700002: InvalidSignature,
    602: InvalidSignature,
    10072: InvalidApiKey,
    700001: InvalidApiKey,
    400: InvalidApiKey,  # body code 400 "api key required"
    -2013: UnknownOrder,
    -2011: UnknownOrder,
    30018: MarketOrderDisabled,
    30019: MarketOrderDisabled,
    30051: MarketOrderDisabled,
    30010: NoLiquidity,
    30025: NoLiquidity,
    429: RateLimited,
}


def error_from_response(
    http_status: int,
    body: Any,
    headers: Any = None,
    *,
    placing_order: bool = False,
    client_order_id: str | None = None,
) -> MexcError:
    """The exception for a non-2xx answer (or a 2xx with an error code in its body)."""
    code = body.get("code") if isinstance(body, dict) else None
    msg = str(body.get("msg", "")) if isinstance(body, dict) else str(body)[:200]
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    retry_after = _retry_after(headers)
    if http_status == 429:
        return RateLimited(msg, code=code, http_status=429, retry_after=retry_after)
    if http_status == 418:
        return IpBanned(msg, code=code, http_status=418, retry_after=retry_after)
    if http_status >= 500:
        if placing_order:
            return OrderOutcomeUnknown(
                msg, code=code, http_status=http_status, client_order_id=client_order_id
            )
        return ExchangeUnavailable(msg, code=code, http_status=http_status)
    kind = CODE_TYPES.get(code, MexcApiError) if code is not None else MexcApiError
    return kind(msg, code=code, http_status=http_status, retry_after=retry_after)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
