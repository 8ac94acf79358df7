"""The notification vocabulary: event names, delivery results, per-event dedup windows.

Which events are on lives in the versioned TradeConfig (`risk.models.NOTIFY_EVENT_DEFAULTS`,
field `notify_events`); this module names them for callers.
"""

from __future__ import annotations

from risk.models import NOTIFY_EVENT_DEFAULTS

BUY_FILLED = "buy_filled"
BUY_REFUSED_BY_LIMIT = "buy_refused_by_limit"
EXIT_FILLED = "exit_filled"
ORDER_UNKNOWN = "order_unknown"
BREAKER_OPEN = "breaker_open"
BREAKER_CLOSED = "breaker_closed"
KILL_SWITCH = "kill_switch"
MONITOR_DOWN = "monitor_down"
LIVE_MODE_CHANGED = "live_mode_changed"
LISTING_DETECTED = "listing_detected"
DAILY_SUMMARY = "daily_summary"
HEARTBEAT = "heartbeat"
# Operator-asked test message (dashboard button, `manage.py notify_test`): always on.
TEST = "test"

CONFIGURABLE = tuple(NOTIFY_EVENT_DEFAULTS)
EVENTS = (*CONFIGURABLE, TEST)

# An event whose key repeats within this many seconds is sent once (a fixed window: the key
# gets the window's number appended). Others are once per key, forever.
DEDUP_WINDOW_S = {BUY_REFUSED_BY_LIMIT: 3600}

# notifications_total{result}: every label value there is.
SENT = "sent"  # delivered to one channel
RETRY = "retry"  # one failed attempt, another is scheduled
FAILED = "failed"  # gave up on one channel (attempts exhausted, channel gone)
DEDUPED = "deduped"  # this key was already recorded for this channel
DISABLED = "disabled"  # the event is off in TradeConfig.notify_events
NO_CHANNEL = "no_channel"  # NOTIFY_URLS is empty
DROPPED = "dropped"  # an unknown event or an internal error: nothing queued
RESULTS = (SENT, RETRY, FAILED, DEDUPED, DISABLED, NO_CHANNEL, DROPPED)
