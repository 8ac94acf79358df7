"""monitor_down arrives when the real monitor is frozen (SIGSTOP), not only when it exits.

`manage.py run_monitor` runs as a real process on the test database against the simulator (a
process too). Once it has written a heartbeat it is stopped with SIGSTOP: alive as far as the
kernel knows, silent as far as the bot is concerned. The web/worker side's `watch_tick`, with
a clock 31 s past the monitor's last sign of life (no real waiting), must send exactly one
`monitor_down`, naming the run, to the operator's channel (`notify_receiver`).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from mexc.simulator import SimulatorProcess
from monitoring.models import BotHealth, BotRun, RunState
from sniperbot.testing.stack import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_DEADLINE_S = 120  # a cold Django start on a busy 2-core machine, then the session


def database_url() -> str:
    """The test database, for another process (as trading/tests/test_worker.py does)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def monitor_env(sim: SimulatorProcess, var_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MEXC_", "PYTEST", "NOTIFY_")) and key != "REDIS_URL"
    }
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="sniperbot.settings",
        SECRET_KEY="sigstop-test-secret-key-not-for-production-0123456789",
        SNIPERBOT_VAR_DIR=str(var_dir),
        DATABASE_URL=database_url(),
        MEXC_REST_URL=sim.rest_url,
        MEXC_WS_URL=sim.ws_url,
        MEXC_CALENDAR_URL=sim.calendar_url,
        LOG_LEVEL="INFO",
    )
    return env


def last_sign_of_life(run: BotRun):
    """What the watcher reads: the run's heartbeat or the monitor's own health report."""
    seen = [run.heartbeat_at]
    seen += BotHealth.objects.filter(component__startswith="monitor").values_list(
        "last_event_at", flat=True
    )
    return max(s for s in seen if s is not None)


def database_writable() -> bool:
    """SQLite: the frozen process does not hold the write lock (it may have been stopped
    mid-write; then nobody could record the notification). PostgreSQL: its row locks are on
    rows the watcher only reads."""
    db = connection.settings_dict
    if not db["ENGINE"].endswith("sqlite3"):
        return True
    probe = sqlite3.connect(db["NAME"], timeout=0.5, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def freeze(proc: subprocess.Popen) -> None:
    """SIGSTOP, at a moment the monitor holds no database write lock."""
    for _ in range(50):
        proc.send_signal(signal.SIGSTOP)
        if database_writable():
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.1)
    raise AssertionError("the monitor held the database write lock at every SIGSTOP")


def test_a_sigstopped_monitor_is_reported_down_once(notify_receiver, notify_dispatcher, tmp_path):
    from alerts.services import watch_tick

    log_path = tmp_path / "monitor.log"
    returncode = None
    with SimulatorProcess("--no-scenario") as sim, log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_monitor", "--calendar-interval-s", "3600"],
            cwd=ROOT,
            env=monitor_env(sim, tmp_path / "var"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def beating() -> BotRun | None:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                return BotRun.objects.filter(
                    desired_state=RunState.RUNNING,
                    actual_state=RunState.RUNNING,
                    heartbeat_at__isnull=False,
                ).first()

            run = wait_until(beating, HEARTBEAT_DEADLINE_S, "the monitor's first heartbeat")
            freeze(proc)
            run.refresh_from_db()
            last = last_sign_of_life(run)

            watch_tick(now=last + timedelta(seconds=5))  # fresh: nothing to say
            assert notify_dispatcher.wait_idle(timeout=30)
            assert not [m for m in notify_receiver.messages if m["title"] == "Monitor DOWN"]

            later = last + timedelta(seconds=31)
            watch_tick(now=later)
            watch_tick(now=later + timedelta(seconds=5))  # the next tick: same outage
            assert notify_dispatcher.wait_idle(timeout=30)
            down = [m for m in notify_receiver.messages if m["title"] == "Monitor DOWN"]
            assert len(down) == 1, notify_receiver.messages
            assert f"run #{run.pk}" in down[0]["message"]
            assert "no heartbeat for 31 s" in down[0]["message"]
            assert proc.poll() is None  # frozen, not dead: only its silence gave it away
        finally:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                returncode = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    assert returncode == 0, log_path.read_text()[-3000:]
