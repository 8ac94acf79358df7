"""Readiness, Prometheus metrics across processes, and live mode refusing to start without keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from monitoring.models import BotHealth
from monitoring.services import health_set
from risk.live import LiveWithoutKeys, ensure_live_has_keys
from risk.services import config_update
from trading.tests.conftest import exchange  # noqa: F401 - the simulator fixture


@pytest.fixture
def token_client(api_as, viewer_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer_user).key}")
    return client


def monitor_alive(seconds_ago: float = 0) -> None:
    """The monitor (and, in the production shape, a worker) reported `seconds_ago`."""
    from monitoring.heartbeat import worker_beat

    worker_beat()
    health_set(component="monitor", status="ok")
    BotHealth.objects.filter(component="monitor").update(
        last_event_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


# --- /ready ------------------------------------------------------------------------------------


def test_ready_when_every_dependency_answers(token_client, exchange):
    monitor_alive()
    response = token_client.get("/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {
        "database",
        "redis",
        "monitor",
        "worker",
        "exchange",
        "keys",
        "notifications",
    }
    assert all(check["ok"] for check in body["checks"].values())
    assert body["version"] and body["environment"]


def test_not_ready_names_the_component_that_fails(token_client, exchange):
    monitor_alive(seconds_ago=60)
    response = token_client.get("/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["monitor"]["ok"] is False
    assert "60 s ago" in checks["monitor"]["detail"]
    assert checks["database"]["ok"] is True


@override_settings(MEXC_REST_URL="http://127.0.0.1:9", MEXC_HTTP_TIMEOUT_MS=300)
def test_not_ready_when_the_exchange_is_unreachable(token_client):
    from trading import runtime

    runtime.set_gateway(None)
    monitor_alive()
    try:
        response = token_client.get("/ready")
    finally:
        runtime.set_gateway(None)
    assert response.status_code == 503
    assert response.json()["checks"]["exchange"]["ok"] is False


def test_not_ready_in_live_mode_without_keys(token_client, exchange):
    monitor_alive()
    with override_settings(MEXC_API_KEY="k", MEXC_SECRET_KEY="s"):  # live needs keys to save
        config_update(actor=None, changes={"auto_trade": True, "mode": "live"}, reason="test")
    with override_settings(MEXC_API_KEY="", MEXC_SECRET_KEY=""):
        response = token_client.get("/ready")
    assert response.status_code == 503
    assert "MEXC_API_KEY" in response.json()["checks"]["keys"]["detail"]


def test_ready_needs_a_login(client, db):
    assert client.get("/ready").status_code in (401, 403)


# --- live mode refuses to start without keys ---------------------------------------------------


@pytest.fixture
def live_config(db):
    """Live mode saved where the keys were set (turning live on needs them), then missing."""
    with override_settings(MEXC_API_KEY="k", MEXC_SECRET_KEY="s"):
        config_update(actor=None, changes={"auto_trade": True, "mode": "live"}, reason="test: live")


@override_settings(MEXC_API_KEY="", MEXC_SECRET_KEY="")
def test_the_monitor_refuses_to_start_live_without_keys(live_config):
    with pytest.raises(CommandError, match=r"Refusing to start the monitor.*MEXC_API_KEY and"):
        call_command("run_monitor")


@override_settings(MEXC_API_KEY="k", MEXC_SECRET_KEY="")
def test_a_worker_refuses_to_start_live_without_its_secret(live_config):
    with pytest.raises(LiveWithoutKeys, match=r"worker.*MEXC_SECRET_KEY is not set"):
        ensure_live_has_keys("worker")


@override_settings(MEXC_API_KEY="", MEXC_SECRET_KEY="")
def test_dry_run_needs_no_keys(db):
    ensure_live_has_keys("worker")  # the seeded configuration is a dry run


# --- /metrics ----------------------------------------------------------------------------------


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_need_a_token_unless_public(client, token_client, settings):
    assert client.get("/metrics").status_code in (401, 403)
    assert "python_info" in scrape(token_client) or "django_http" in scrape(token_client)
    settings.METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


def sample(text: str, series: str) -> float:
    """The value of one series in a scrape (0 if absent: counters start there)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_include_what_other_processes_counted(token_client):
    """The monitor and the workers are separate processes: their samples are scraped too."""
    detected = 'listings_detected_total{source="mexc_websocket"}'
    errors = 'exchange_errors_total{code="429"}'
    before = scrape(token_client)
    code = (
        "import django; django.setup();"
        "from monitoring import metrics;"
        "metrics.listings_detected.labels(source='mexc_websocket').inc(3);"
        "metrics.exchange_errors.labels(code='429').inc()"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sniperbot.test_settings"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    after = scrape(token_client)
    assert sample(after, detected) - sample(before, detected) == 3
    assert sample(after, errors) - sample(before, errors) == 1


def test_trade_and_config_metrics(token_client, exchange, operator_user, api_as):
    series = (
        'trades_total{mode="dry_run",status="filled"}',
        'trade_stage_latency_seconds_count{stage="total"}',
        'trade_stage_latency_seconds_count{stage="ack"}',
        "config_updates_total",
    )
    before = scrape(token_client)
    exchange.list_symbol(symbol="METUSDT", open_in_ms=0, price="0.5")
    operator = api_as(operator_user)
    operator.post("/api/trade/execute/", {"symbol": "METUSDT", "quote_qty": "10"}, format="json")
    operator.put("/api/config/", {"max_trades_per_hour": 9, "reason": "metrics"}, format="json")
    after = scrape(token_client)
    for name in series:
        assert sample(after, name) - sample(before, name) == 1, name
    for name in ("listing_dedup_hits_total", "ws_reconnects_total", "circuit_breaker_open"):
        assert f"# TYPE {name}" in after, name


def test_a_worker_reports_itself_alive_for_readiness(db):
    from monitoring.heartbeat import worker_beat, worker_component
    from monitoring.readiness import check_worker

    with override_settings(REDIS_URL="redis://127.0.0.1:6379/0"):
        assert check_worker().ok is False  # no worker ever reported
        worker_beat()
        result = check_worker()
    assert result.ok and worker_component() in result.detail


def test_the_heartbeat_keeps_beating_through_failures_until_stopped():
    import threading

    from monitoring.heartbeat import start_worker_heartbeat

    beats: list[int] = []
    third = threading.Event()

    def beat() -> None:
        beats.append(1)
        if len(beats) == 3:
            third.set()
        raise ConnectionError("database away")  # logged, and the next beat still comes

    stop = threading.Event()
    thread = start_worker_heartbeat(stop, beat=beat, interval_s=0.01)
    assert third.wait(5)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_a_celery_worker_process_refuses_to_start_live_without_keys(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEXC_", "REDIS", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SECRET_KEY="worker-refusal-test-key-0123456789",
        SNIPERBOT_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="sniperbot.settings",
    )

    def run(*command: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            cwd=root,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run(sys.executable, "manage.py", "migrate", "-v0").returncode == 0
    go_live = "from risk.services import config_update; config_update(actor=None, changes={'auto_trade': True, 'mode': 'live'}, reason='t')"  # noqa: E501
    # Live mode is saved where the keys are set (it needs them); the worker has none.
    keys = {"MEXC_API_KEY": "k", "MEXC_SECRET_KEY": "s"}
    assert run(sys.executable, "manage.py", "shell", "-c", go_live, **keys).returncode == 0
    worker = run(sys.executable, "-m", "celery", "-A", "sniperbot", "worker", "-P", "solo")
    assert worker.returncode == 1
    assert "Refusing to start the worker" in worker.stderr
    assert "MEXC_API_KEY and MEXC_SECRET_KEY are not set" in worker.stderr


def test_known_label_sets_start_at_zero(token_client):
    """Every risk reason and every counted trade outcome is a series before it first happens."""
    from monitoring.metrics import TRADE_COUNTED_STATUSES
    from risk.checks import Reason

    body = scrape(token_client)
    for reason in Reason:
        assert f'risk_rejections_total{{reason="{reason.value}"}}' in body, reason
    for mode in ("dry_run", "live"):
        for status in TRADE_COUNTED_STATUSES:
            assert f'trades_total{{mode="{mode}",status="{status}"}}' in body, (mode, status)


# --- a database connection dropped under the bot -------------------------------------------------


def test_settings_check_connections_before_use():
    """CONN_HEALTH_CHECKS in both shapes; with the pool Django passes it on as the pool's own
    `check`, so the pool options must not name `check` themselves (a duplicate argument)."""
    code = (
        "import json, sniperbot.settings as s; db = s.DATABASES['default'];"
        "o = db.get('OPTIONS', {});"
        "print(json.dumps([db['CONN_HEALTH_CHECKS'], sorted(o.get('pool', {}))]))"
    )
    for url in ("", "postgres://u:p@127.0.0.1:5432/x"):
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "sniperbot.settings"}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        checks, pool = json.loads(out)
        assert checks is True
        assert "check" not in pool
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_connection_closed_under_the_bot_is_replaced(api_as, django_user_model):
    from django.db import close_old_connections, connection

    client = api_as(django_user_model.objects.create_superuser("root", password="pw"))
    assert client.get("/api/listings/").status_code == 200
    connection.ensure_connection()
    connection.connection.close()  # as a database restart leaves it: closed under Django
    close_old_connections()  # what the server does as each request starts (the client skips it)
    response = client.get("/api/listings/")
    assert response.status_code == 200, response.content


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the connection pool is PostgreSQL's",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_pooled_connection_the_server_killed_is_not_handed_out():
    """A PostgreSQL restart ends every pooled connection server-side; the pool (as configured
    by the settings, CONN_HEALTH_CHECKS on) hands out a working one instead of a dead one."""
    from django.db import connection
    from django.db.backends.postgresql.base import DatabaseWrapper

    pooled = DatabaseWrapper(
        {
            **connection.settings_dict,
            "CONN_MAX_AGE": 0,
            "OPTIONS": {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1}},
        },
        alias="pool_restart_test",
    )
    try:
        with pooled.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        pooled.close()  # back into the pool
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        time.sleep(0.2)
        with pooled.cursor() as cursor:  # must not be the terminated connection
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
        pooled.close()
    finally:
        pooled.close_pool()
