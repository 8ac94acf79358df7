"""Operator notifications: record an event once per channel, deliver it off the order path.

Public API (the only functions other apps call):

    from alerts.services import notify
    notify(event, *, key, payload) -> None

`notify` costs microseconds and never raises, never blocks, never touches the network or the
database on the caller's thread: it puts `(event, key, payload)` on this process's queue
(after the caller's transaction commits, through `transaction.on_commit`, so a rolled-back
trade is not announced). A dispatcher thread then checks `TradeConfig.notify_events`, writes one
`Notification` per channel (unique on key+channel: at most once per channel across every
process) and hands each row to delivery: a thread per channel in the embedded shape, the Celery
task `alerts.deliver` in the production shape (REDIS_URL).

Events, their `key` (unique per occurrence: the same key again is dropped) and payload fields.
Money/quantities may be Decimal or str; `mode` is TradeConfig's `dry_run` | `live`; any extra
field is kept in the row and ignored by the message.

    buy_filled            key: trade id.  trade_id, symbol, side ("buy"), mode, quote_qty,
                          executed_qty, avg_price, quote_spent, [reason]
    buy_refused_by_limit  key: the limit's reason code (e.g. "max_trades_per_hour"); sent once
                          per reason per clock hour.  symbol, mode, reason, [quote_qty, trade_id]
    exit_filled           key: the sell trade's id.  trade_id, symbol, side ("sell"), mode,
                          executed_qty, avg_price, reason (stop|trailing|ladder|time|manual...),
                          pnl_usdt, [pnl_pct, position_id]
    order_unknown         key: trade id.  trade_id, symbol, side, mode, [reason]
    breaker_open          key: when it opened (ISO time or a counter).  failures, [cooldown_s,
                          reason]
    breaker_closed        key: when it closed.  [reason]
    listing_detected      key: listing id.  symbol, source, [listed_at, listing_id]
    --- sent by alerts itself (no caller needed) ---
    kill_switch           on every TradeConfig version that flips `kill_switch`.  on, by,
                          version, [reason]
    live_mode_changed     on every version that changes `mode` or `auto_trade`.  mode,
                          auto_trade, live (both: real orders), by, version, [reason]
    monitor_down          by `watch_tick` (web / worker process).  run_id, last_heartbeat_at,
                          age_s
    daily_summary         by `watch_tick` at NOTIFY_DAILY_SUMMARY_HOUR (UTC).  date, uptime,
                          pnl_usdt, fills, refusals (live money), dry_pnl_usdt, dry_fills,
                          dry_refusals (the dry run, shown apart; from `alerts.ports`)
    heartbeat             by `watch_tick`, hourly.  monitor_alive
    test                  `notify_test(by=...)`: always on, whatever notify_events says.

A message links to the dashboard row when NOTIFY_DASHBOARD_URL is set and the payload has
`trade_id` (`/dashboard/#trade-N`) or else `position_id` (`#position-N`); the dashboard
scrolls to that row and highlights it (static/dashboard/alerts.js).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from monitoring.metrics import notifications_total
from risk.models import NOTIFY_EVENT_DEFAULTS

from . import delivery, events
from .channels import channel_by_id, channel_send, channels_configured, scrub
from .messages import render
from .models import Notification, NotificationStatus

log = logging.getLogger(__name__)


def notify(event: str, *, key: str | int, payload: dict[str, Any]) -> None:
    """Queue one event for every channel (see the module docstring). Never raises."""
    try:
        if event not in events.EVENTS:
            notifications_total.labels(event="unknown", result=events.DROPPED).inc()
            log.error("alerts.unknown_event", extra={"event": str(event)[:40]})
            return
        if not channels_configured():
            notifications_total.labels(event=event, result=events.NO_CHANNEL).inc()
            return
        item = delivery.Item(event=event, key=str(key), payload=dict(payload), at=time.time())
        transaction.on_commit(lambda: delivery.enqueue(item), robust=True)
    except Exception:  # the caller is the order path: nothing here may reach it
        notifications_total.labels(event=str(event)[:32], result=events.DROPPED).inc()
        log.exception("alerts.notify_failed", extra={"event": str(event)[:40]})


def notify_test(*, by: str) -> str:
    """Queue a test message to every channel; returns its key. Always on."""
    key = uuid.uuid4().hex[:12]
    notify(events.TEST, key=key, payload={"by": by})
    return key


def events_enabled() -> dict[str, bool]:
    """The configured on/off of each event (the defaults for events the config omits)."""
    from risk.selectors import config_get_active

    stored = config_get_active().notify_events or {}
    return {
        **NOTIFY_EVENT_DEFAULTS,
        **{k: v for k, v in stored.items() if k in NOTIFY_EVENT_DEFAULTS},
    }


def full_key(event: str, key: str, at: float) -> str:
    """The stored key: event + caller's key (+ the window for windowed events), ≤ 200 chars."""
    window = events.DEDUP_WINDOW_S.get(event)
    text = f"{event}:{key}" + (f"@{int(at // window)}" if window else "")
    if len(text) > 200:
        text = text[:150] + "#" + hashlib.sha256(text.encode()).hexdigest()[:40]
    return text


def notification_record(
    *, event: str, key: str, payload: dict[str, Any], at: float
) -> list[Notification]:
    """One row per channel for this event, unless it is off or already recorded (the rows
    this call created: only those are delivered)."""
    if event != events.TEST and not events_enabled().get(event, False):
        notifications_total.labels(event=event, result=events.DISABLED).inc()
        return []
    stored_key = full_key(event, key, at)
    created = []
    for channel in channels_configured():
        try:
            with transaction.atomic():
                created.append(
                    Notification.objects.create(
                        event=event,
                        key=stored_key,
                        channel=channel.id,
                        channel_label=channel.label,
                        payload=payload,
                    )
                )
        except IntegrityError:
            notifications_total.labels(event=event, result=events.DEDUPED).inc()
    return created


@dataclass(frozen=True)
class Outcome:
    result: str  # sent | retry | failed | skipped
    retry_in: float = 0.0


def backoff_s(attempts: int) -> float:
    delays = settings.NOTIFY_BACKOFF_S
    return float(delays[min(attempts, len(delays)) - 1]) if attempts > 0 else 0.0


def notification_deliver(*, notification_id: int, send=channel_send) -> Outcome:
    """One delivery attempt of one row. Idempotent: a row not pending/retrying is skipped
    (sent, failed, or claimed by another deliverer), so a repeated task does nothing."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        id=notification_id,
        status__in=(NotificationStatus.PENDING, NotificationStatus.RETRYING),
    ).update(status=NotificationStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now)
    if claimed != 1:
        return Outcome("skipped")
    row = Notification.objects.get(id=notification_id)
    channel = channel_by_id(row.channel)
    if channel is None:
        ok, error = False, "channel no longer in NOTIFY_URLS"
        final = True
    else:
        title, body = render(row.event, row.payload)
        try:
            ok, error = send(channel, title=title, body=body)
        except Exception as exc:  # a plugin bug is one failed attempt, not a dead deliverer
            ok, error = False, scrub(f"{type(exc).__name__}: {exc}")[:300]
        final = row.attempts >= settings.NOTIFY_MAX_ATTEMPTS
    if ok:
        Notification.objects.filter(id=row.id).update(
            status=NotificationStatus.SENT, sent_at=timezone.now(), last_error=""
        )
        notifications_total.labels(event=row.event, result=events.SENT).inc()
        return Outcome(events.SENT)
    extra = {
        "event": row.event,
        "channel": row.channel_label,
        "attempts": row.attempts,
        "error": error,
    }
    if final:
        Notification.objects.filter(id=row.id).update(
            status=NotificationStatus.FAILED, last_error=error
        )
        notifications_total.labels(event=row.event, result=events.FAILED).inc()
        log.error("alerts.delivery_failed", extra=extra)
        return Outcome(events.FAILED)
    Notification.objects.filter(id=row.id).update(
        status=NotificationStatus.RETRYING, last_error=error
    )
    notifications_total.labels(event=row.event, result=events.RETRY).inc()
    log.warning("alerts.delivery_retry", extra=extra)
    return Outcome(events.RETRY, retry_in=backoff_s(row.attempts))


# --- Automatic events --------------------------------------------------------------------


def config_version_changed(*, history_instance) -> None:
    """A new TradeConfig version: kill_switch and live_mode_changed when those changed.
    Connected to simple_history's post_create_historical_record (alerts.apps)."""
    previous = history_instance.prev_record
    if previous is None:
        return
    by = getattr(history_instance.history_user, "username", "") or "system"
    common = {
        "by": by,
        "version": history_instance.history_id,
        "reason": history_instance.history_change_reason or "",
        "mode": history_instance.mode,
    }
    if previous.kill_switch != history_instance.kill_switch:
        notify(
            events.KILL_SWITCH,
            key=history_instance.history_id,
            payload={**common, "on": history_instance.kill_switch},
        )
    if (previous.mode, previous.auto_trade) != (history_instance.mode, history_instance.auto_trade):
        notify(
            events.LIVE_MODE_CHANGED,
            key=history_instance.history_id,
            payload={
                **common,
                "auto_trade": history_instance.auto_trade,
                "live": history_instance.mode == "live" and history_instance.auto_trade,
            },
        )


def _monitor_last_seen() -> tuple[Any, datetime | None]:
    """The current run (None: nobody asked the monitor to run) and the monitor's freshest
    sign of life: BotRun.heartbeat_at or a BotHealth `monitor*` row."""
    from monitoring.models import BotHealth, RunState
    from monitoring.selectors import botrun_current

    run = botrun_current()
    if run is None or run.desired_state != RunState.RUNNING:
        return None, None
    if run.heartbeat_at is None:  # asked to run, never reported: silent since the request
        return run, run.requested_at
    health = (
        BotHealth.objects.filter(component__startswith="monitor")
        .exclude(last_event_at=None)
        .order_by("-last_event_at")
        .values_list("last_event_at", flat=True)
        .first()
    )
    seen = [run.heartbeat_at, health]
    return run, max(s for s in seen if s is not None)


def monitor_down_check(*, now: datetime | None = None) -> bool:
    """monitor_down once per silence: the monitor should run but has not been seen for
    NOTIFY_MONITOR_DOWN_S. The key is its last sign of life, so each outage alerts once
    (however many web and worker processes check). Returns True when it notified."""
    now = now or timezone.now()
    run, seen = _monitor_last_seen()
    if run is None or seen is None:
        return False
    age = (now - seen).total_seconds()
    if age <= settings.NOTIFY_MONITOR_DOWN_S:
        return False
    notify(
        events.MONITOR_DOWN,
        key=f"{run.pk}:{seen.isoformat()}",
        payload={"run_id": run.pk, "last_heartbeat_at": seen.isoformat(), "age_s": int(age)},
    )
    return True


def daily_summary_payload(*, now: datetime) -> dict[str, Any]:
    from monitoring.selectors import monitor_status

    from .ports import summary_providers

    status = monitor_status()
    payload: dict[str, Any] = {"date": (now - timedelta(days=1)).date().isoformat()}
    run_started = None
    if status["monitor_alive"] and status["run_id"]:
        from monitoring.models import BotRun

        run_started = BotRun.objects.filter(pk=status["run_id"]).values_list(
            "started_at", flat=True
        )[0]
    payload["uptime"] = (
        f"up {_duration((now - run_started).total_seconds())}" if run_started else "monitor down"
    )
    for provider in summary_providers():
        payload.update(provider(since=now - timedelta(days=1), until=now))
    return payload


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


_periodic_done: dict[str, str] = {}


def watch_tick(*, now: datetime | None = None) -> None:
    """The periodic checks of the web and worker processes (never of the monitor, which
    cannot report its own death): monitor_down, then daily_summary at
    NOTIFY_DAILY_SUMMARY_HOUR and the hourly heartbeat, each once per key."""
    now = now or timezone.now()
    monitor_down_check(now=now)
    if now.hour == settings.NOTIFY_DAILY_SUMMARY_HOUR:
        day = now.date().isoformat()
        if _periodic_done.get(events.DAILY_SUMMARY) != day:
            notify(events.DAILY_SUMMARY, key=day, payload=daily_summary_payload(now=now))
            _periodic_done[events.DAILY_SUMMARY] = day
    hour = now.strftime("%Y-%m-%dT%H")
    if _periodic_done.get(events.HEARTBEAT) != hour:
        from monitoring.selectors import monitor_status

        alive = monitor_status()["monitor_alive"]
        notify(events.HEARTBEAT, key=hour, payload={"monitor_alive": alive})
        _periodic_done[events.HEARTBEAT] = hour
