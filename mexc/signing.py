"""MEXC request signing: HMAC-SHA256 over totalParams, lowercase hex (mexc-api.md section 1.3)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote


def sign(secret: str, total_params: str) -> str:
    """Signature of `total_params` (the query string directly followed by the body, no '&')."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def encode_params(params: Iterable[tuple[str, object]]) -> str:
    """Encode once, in order; uppercase percent-encoding as MEXC requires. None is dropped."""
    return "&".join(
        f"{key}={quote(str(value), safe='')}" for key, value in params if value is not None
    )


def signed_query(secret: str, params: Iterable[tuple[str, object]]) -> str:
    """The exact query string to send: the signed bytes are the sent bytes, signature last."""
    query = encode_params(params)
    return f"{query}&signature={sign(secret, query)}"
