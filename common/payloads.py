"""Plain-Python JSON values in the API's formats, for payloads built on the hot path.

DRF serializers cost milliseconds per object (their fields are rebuilt on every instance);
events pushed while a trade is in flight use these instead, and tests hold both to the same
output (`trading/tests/test_payloads.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

_QUANTS: dict[int, Decimal] = {}


def iso(value: datetime | None) -> str | None:
    """DRF's DateTimeField output: ISO 8601 in UTC with a `Z`."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def dec(value: Decimal | None, places: int) -> str | None:
    """DRF's DecimalField output (coerced to a string with `places` decimals)."""
    if value is None:
        return None
    quant = _QUANTS.get(places) or _QUANTS.setdefault(places, Decimal(1).scaleb(-places))
    return format(Decimal(value).quantize(quant, rounding=ROUND_HALF_UP), "f")
