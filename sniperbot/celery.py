"""Celery app. Without REDIS_URL tasks run in-process (CELERY_TASK_ALWAYS_EAGER)."""

import os

from celery import Celery
from celery.signals import worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sniperbot.settings")

app = Celery("sniperbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_live_without_keys(**_: object) -> None:
    from risk.live import ensure_live_has_keys

    ensure_live_has_keys("worker")  # raises: the worker exits with the reason


@worker_ready.connect
def _start_heartbeat(**_: object) -> None:
    from .startup import start_worker_heartbeat

    start_worker_heartbeat()
