"""Celery work of alerts (production shape): deliver one Notification row.

Takes the row's id, is idempotent (a row already sent, failed or claimed is skipped), calls
one service (`notification_deliver`), has time limits. Retries with a countdown from
NOTIFY_BACKOFF_S; the row's `attempts` (not Celery's retry count) decides when to give up.
Each channel is paced by a token bucket in Redis shared by every worker.
"""

from __future__ import annotations

from functools import lru_cache

from celery import shared_task
from django.conf import settings

from .channels import SEND_TIMEOUT_S


@lru_cache(maxsize=64)
def _limiter(channel_id: str):
    import redis

    from risk.guards import RedisRateLimiter

    return RedisRateLimiter(
        redis=redis.Redis.from_url(settings.REDIS_URL),
        key=f"sniperbot:alerts:rate:{channel_id}",
        per_second=settings.NOTIFY_RATE_PER_MIN / 60.0,
        burst=settings.NOTIFY_RATE_BURST,
    )


PACE_MAX_WAIT_S = 2.0  # waited in the task; a longer wait is a countdown instead


@shared_task(
    name="alerts.deliver",
    bind=True,
    ignore_result=True,
    acks_late=False,  # at most once: a worker lost mid-send does not resend
    soft_time_limit=SEND_TIMEOUT_S + 5,
    time_limit=SEND_TIMEOUT_S + 10,
    max_retries=None,
)
def deliver(self, notification_id: int) -> str:
    import time

    from .models import Notification
    from .services import notification_deliver

    channel = Notification.objects.filter(id=notification_id).values_list("channel", flat=True)
    if not channel:
        return "skipped"
    if settings.REDIS_URL:
        wait = _limiter(channel[0]).reserve(max_wait_s=PACE_MAX_WAIT_S)
        if wait is None:
            raise self.retry(countdown=PACE_MAX_WAIT_S)
        time.sleep(wait)
    outcome = notification_deliver(notification_id=notification_id)
    if outcome.result == "retry":
        raise self.retry(countdown=outcome.retry_in)
    return outcome.result
