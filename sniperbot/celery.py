"""Celery app. Without REDIS_URL tasks run in-process (CELERY_TASK_ALWAYS_EAGER)."""

import os

from celery import Celery
from celery.signals import worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sniperbot.settings")

app = Celery("sniperbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _redis_channel_without_client_is_a_connection_error() -> None:
    """Redis dies while a worker holds unacked (acks_late) messages: survive, reconnect.

    Celery 5.7 closes the lost connection after tearing down its transport, so the channel's
    attempt to restore unacked messages finds no client and raises AttributeError, which
    nothing ignores: the worker exits ("Unrecoverable error"). Raising the broker's
    connection error instead lets the close ignore it and the consumer reconnect; the
    messages stay in Redis's unacked set (and a lost snipe is the reconciler's job anyway).
    Found by sniperbot/tests/test_faults.py (Redis stopped and restarted).
    """
    from kombu.transport import redis as kombu_redis

    connparams = kombu_redis.Channel._connparams

    def _connparams(self, *args, **kwargs):
        if self.connection is None or self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError("broker connection closed")
        return connparams(self, *args, **kwargs)

    kombu_redis.Channel._connparams = _connparams


_redis_channel_without_client_is_a_connection_error()


@worker_init.connect
def _refuse_live_without_keys(**_: object) -> None:
    from django.db import connections

    from risk.live import LiveWithoutKeys, ensure_live_has_keys

    try:
        ensure_live_has_keys("worker")
    except LiveWithoutKeys as exc:  # Celery logs and ignores handler errors; exit instead
        raise SystemExit(f"sniperbot: {exc}") from None
    finally:
        # Nothing opened before the worker starts may be reused by it: a pool created here
        # left the first task waiting forever on PostgreSQL.
        for conn in connections.all(initialized_only=True):
            conn.close()
            if hasattr(conn, "close_pool"):
                conn.close_pool()


@worker_ready.connect
def _start_heartbeat(**_: object) -> None:
    from alerts.delivery import start_watcher
    from monitoring.heartbeat import start_worker_heartbeat

    start_worker_heartbeat()
    start_watcher()  # workers notice a silent monitor too (deduplicated per outage)
