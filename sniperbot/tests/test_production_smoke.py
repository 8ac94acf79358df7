"""The README's production steps run as written (scripts/production_smoke.sh) on PostgreSQL
and Redis. Skips without DATABASE_URL (PostgreSQL) and REDIS_URL; CI sets both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mexc.simulator.process import SimulatorProcess, free_port
from sniperbot.testing.stack import _fresh_postgres

ROOT = Path(__file__).resolve().parents[2]


def test_production_steps_from_the_readme():
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not (database_url or "").startswith(("postgres://", "postgresql://")) or not redis_url:
        pytest.skip("needs DATABASE_URL (PostgreSQL) and REDIS_URL; CI sets both")
    name = f"sniperbot_smoke_{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MEXC_", "PYTEST"))}
    env.update(
        DATABASE_URL=_fresh_postgres(database_url, name),  # from nothing: an empty database
        REDIS_URL=redis_url,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        DJANGO_SETTINGS_MODULE="sniperbot.settings",
    )
    sim = SimulatorProcess("--no-scenario").start()  # stands in for MEXC: /ready asks it
    env.update(
        MEXC_REST_URL=sim.rest_url, MEXC_WS_URL=sim.ws_url, MEXC_CALENDAR_URL=sim.calendar_url
    )
    try:
        done = _run(env)
    finally:
        sim.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: production smoke passed" in done.stdout


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/production_smoke.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
