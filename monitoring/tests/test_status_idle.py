"""`monitor status` while run_monitor runs but nobody asked it to monitor: alive, with a
heartbeat (its health report), not `monitor_alive: false, heartbeat_at: null`."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from monitoring.models import BotHealth
from monitoring.selectors import monitor_status

pytestmark = pytest.mark.django_db


def test_an_idle_monitor_process_is_alive(capsys):
    BotHealth.objects.create(
        component="monitor", status="ok", last_event_at=timezone.now(), detail={"mode": "idle"}
    )
    call_command("monitor", "status")
    status = json.loads(capsys.readouterr().out)
    assert status["monitor_alive"] is True and status["heartbeat_at"] is not None
    assert status["desired_state"] == status["actual_state"] == "stopped"


def test_a_stale_report_is_not_alive():
    BotHealth.objects.create(
        component="monitor", status="ok", last_event_at=timezone.now() - timedelta(minutes=5)
    )
    status = monitor_status()
    assert status["monitor_alive"] is False and status["heartbeat_at"] is not None
