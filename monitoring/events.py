"""Dashboard push: the one place that names channel groups and event types.

Producers serialise their own payloads (with the API's serializers) and call `publish`
or, inside a transaction, `publish_on_commit`. Publishing never raises: the dashboard falls
back to polling, and a broken channel layer (Redis down) must not stop detection or trading.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

DASHBOARD_GROUP = "dashboard"
CONSUMER_HANDLER = "dashboard.event"  # -> DashboardConsumer.dashboard_event

LISTING_CREATED = "listing.created"
TRADE_UPDATED = "trade.updated"
HEALTH_CHANGED = "health.changed"
CONFIG_CHANGED = "config.changed"
EVENT_TYPES = (LISTING_CREATED, TRADE_UPDATED, HEALTH_CHANGED, CONFIG_CHANGED)


def message(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    if event not in EVENT_TYPES:
        raise ValueError(f"Unknown dashboard event {event!r}; add it to monitoring/events.py.")
    return {"type": CONSUMER_HANDLER, "event": event, "payload": payload}


def publish(event: str, payload: dict[str, Any]) -> bool:
    """Send one event to every dashboard; False (and a log line) if the layer failed."""
    msg = message(event, payload)
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(DASHBOARD_GROUP, msg)
    except Exception as exc:
        log.warning("event.publish_failed", extra={"event": event, "error": repr(exc)})
        return False
    return True


def publish_on_commit(event: str, payload: dict[str, Any]) -> None:
    message(event, payload)  # fail fast on a typo, inside the caller's transaction
    transaction.on_commit(lambda: publish(event, payload))
