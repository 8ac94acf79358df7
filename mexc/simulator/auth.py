"""SIGNED-endpoint checks (mexc-api.md §1.3), done on the raw wire text.

The signed message is the raw query string without its ``signature=`` pair, directly followed
by the raw body without its ``signature=`` pair. Parameters are never re-encoded.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

from .errors import ApiError, missing_param

MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split ``a=1&b=2&signature=xx`` into (``a=1&b=2``, ``xx``)."""
    if not raw:
        return "", None
    kept, signature = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def parse_params(query: str, body: str) -> dict[str, str]:
    """Merge query and form body; the query value wins when a key is in both (§1.2)."""
    params = dict(parse_qsl(body, keep_blank_values=True))
    params.update(parse_qsl(query, keep_blank_values=True))
    return params


def check_signed(
    *,
    api_key: str | None,
    expected_key: str,
    secret: str,
    raw_query: str,
    raw_body: str,
    server_ms: int,
) -> dict[str, str]:
    """Authenticate one request; returns its parameters (without ``signature``).

    Order of checks: API key, signature, recvWindow, timestamp.
    """
    if not api_key:
        raise ApiError(400, "api key required")
    if not hmac.compare_digest(api_key.encode(), expected_key.encode()):
        raise ApiError(10072, "Api key info invalid")
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    signature = sig_q if sig_q is not None else sig_b
    params = parse_params(query, body)
    if not signature:
        raise missing_param("signature")
    expected = sign(secret, query + body)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise ApiError(700002, "Signature for this request is not valid.")
    try:
        recv_window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
    except ValueError:
        raise missing_param("recvWindow") from None
    if recv_window > MAX_RECV_WINDOW:
        raise ApiError(700005, "recvWindow must less than 60000")
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise missing_param("timestamp") from None
    if not (timestamp < server_ms + 1000 and server_ms - timestamp <= recv_window):
        raise ApiError(700003, "Timestamp for this request is outside of the recvWindow.")
    return params
