"""MEXC request signing (mexc-api.md section 1.3).

The signature is lowercase-hex HMAC-SHA256, keyed by the secret, over ``totalParams`` = the
query string directly followed by the body (no ``&`` between). We send every parameter in
the query string, encoded once in insertion order, and sign exactly those bytes, so what is
signed is what is sent; ``signature`` goes last.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import quote

__all__ = ["encode_params", "format_value", "sign", "signed_query"]


def sign(secret: str, total_params: str) -> str:
    """Signature of ``total_params`` (query string directly followed by the body)."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def format_value(value: object) -> str:
    """Wire text of a parameter: Decimals in plain notation (never ``1E+1``), bools lowercase."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_params(params: Iterable[tuple[str, object]]) -> str:
    """``k=v&...`` in the given order, None dropped; uppercase percent-encoding (MEXC only
    accepts uppercase), ``safe=''`` so commas and the like are escaped before signing."""
    return "&".join(
        f"{key}={quote(format_value(value), safe='')}" for key, value in params if value is not None
    )


def signed_query(secret: str, params: Iterable[tuple[str, object]]) -> str:
    """The exact query string to send: the encoded params, then ``&signature=`` over them."""
    query = encode_params(params)
    return f"{query}&signature={sign(secret, query)}"
