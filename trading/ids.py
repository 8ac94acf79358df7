"""Client order ids: one intent, one id, whoever computes it and however often.

A snipe's id is derived from the listing itself (symbol + open time), so the detection path
and the armed-at-the-open path, a retried task and a restarted worker all land on the same
Trade row (client_order_id is unique) and the same exchange order.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

PREFIX_SNIPE = "sb"
PREFIX_MANUAL = "sm"


def snipe_order_id(symbol: str, listed_at: datetime) -> str:
    listed_ms = int(listed_at.timestamp() * 1000)
    digest = hashlib.sha256(f"{symbol.upper()}|{listed_ms}".encode()).hexdigest()
    return PREFIX_SNIPE + digest[:30]


def manual_order_id() -> str:
    return PREFIX_MANUAL + uuid.uuid4().hex[:30]


PREFIX_SELL = "ss"


def sell_order_id() -> str:
    return PREFIX_SELL + uuid.uuid4().hex[:30]
