"""Security properties of the whole deployment.

- Every URL refuses anonymous visitors, except the few that must answer (listed with why).
- `manage.py check --deploy` is clean with production settings.
- The MEXC API key and secret, and the signatures made with them, never reach the database,
  an API response or a log record.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from hypothesis import find
from hypothesis import strategies as st

BASE_DIR = Path(settings.BASE_DIR)

# --- 1. Anonymous visitors get nothing ------------------------------------------------------

# Paths that answer anonymous visitors on purpose, and why. Nothing else may.
PUBLIC = {
    "/health": "liveness probe for the load balancer; says only ok and the version",
    "/favicon.ico": "browsers ask for it on every page, the login page too; a static icon",
    "/accounts/login/": "the login page: answering anonymous visitors is its job",
    "/admin/login/": "the admin's login page: answering anonymous visitors is its job",
}
METRICS_PATH = "/metrics"  # public only when settings.METRICS_PUBLIC is on
LOGIN_PATHS = ("/accounts/login/", "/admin/login/")
METHODS = ("get", "post", "put", "patch", "delete")
REFUSED = {401, 403, 405}

# A plausible value per path converter, so each filled URL reaches its view.
CONVERTER_SAMPLES = {"int": "1", "str": "1", "slug": "x", "path": "1", "uuid": "0" * 32}
ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _fill_route(route: str) -> str:
    return ROUTE_PARAM.sub(
        lambda m: CONVERTER_SAMPLES.get(m["converter"] or "str", "1"), route
    ).replace("\\", "")


def _fill_regex(regex: str) -> str:
    """Some string the (admin's) regex matches, found deterministically."""
    return find(st.from_regex(regex.lstrip("^").rstrip("$") or "^$", fullmatch=True), bool)


def _walk(resolver=None, prefix: str = ""):
    """(path, pattern) for every URL pattern in the project, included ones too."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        pattern = entry.pattern
        raw = str(pattern)
        is_regex = pattern.__class__.__name__ == "RegexPattern"
        if is_regex and not raw.strip("^$"):
            part = ""
        else:
            part = _fill_regex(raw) if is_regex else _fill_route(raw)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + part)
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + part, entry


ALL_PATHS = sorted({path for path, _ in _walk()})


def test_the_walk_covers_every_pattern():
    patterns = list(_walk())
    assert len(patterns) > 40  # the admin alone has dozens; a broken walk finds few
    for path, pattern in patterns:
        match = resolve(path)
        assert match.func is pattern.callback or match.url_name == pattern.name, path
    for path in ("/health", "/ready", "/metrics", "/api/trade/1/confirm/", "/admin/auth/user/"):
        assert path in ALL_PATHS, path


def _refuses(client, method: str, path: str, depth: int = 0) -> tuple[bool, str]:
    response = getattr(client, method)(path)
    code = response.status_code
    if code in REFUSED:
        return True, f"{code}"
    if code in (301, 302, 303, 307, 308) and depth < 3:
        target = urlsplit(response["Location"]).path
        if target in LOGIN_PATHS:
            return True, f"{code} to {target}"
        ok, why = _refuses(client, "get", target, depth + 1)  # e.g. / -> /dashboard/ -> login
        return ok, f"{code} to {target}, then {why}"
    return False, f"{code}: {response.content[:200]!r}"


@pytest.mark.parametrize("path", ALL_PATHS)
@override_settings(METRICS_PUBLIC=False)
def test_anonymous_is_refused_everywhere(client, db, path):
    if path in PUBLIC:
        pytest.skip(f"public on purpose: {PUBLIC[path]}")
    for method in METHODS:
        refused, how = _refuses(client, method, path)
        assert refused, f"anonymous {method.upper()} {path} answered {how}"


@pytest.mark.parametrize("path", sorted(PUBLIC))
def test_the_public_paths_exist(client, db, path):
    assert path in ALL_PATHS
    assert client.get(path, follow=True).status_code == 200


@pytest.mark.parametrize("public", [False, True])
def test_metrics_answer_anonymous_only_when_made_public(client, db, public):
    with override_settings(METRICS_PUBLIC=public):
        code = client.get(METRICS_PATH).status_code
    assert (code == 200) if public else (code in (401, 403)), code


def test_password_reset_and_change_views_are_not_served():
    """Only login and logout come from django.contrib.auth: the reset views would answer
    anonymous visitors and send mail."""
    assert not [p for p in ALL_PATHS if p.startswith("/accounts/password")]
    assert {p for p in ALL_PATHS if p.startswith("/accounts/")} == {
        "/accounts/login/",
        "/accounts/logout/",
    }


def test_every_websocket_route_has_an_anonymous_refusal_test():
    """The one WebSocket route refuses anonymous and role-less clients: proven by
    monitoring/tests/test_consumer.py::test_anonymous_and_roleless_clients_are_refused.
    A new route must get the same test, and be added here."""
    from monitoring.routing import websocket_urlpatterns

    assert [str(p.pattern) for p in websocket_urlpatterns] == ["ws/dashboard/"]
    consumer_tests = (BASE_DIR / "monitoring/tests/test_consumer.py").read_text()
    assert "def test_anonymous_and_roleless_clients_are_refused" in consumer_tests


# --- 2. check --deploy is clean with production settings -----------------------------------

# The production environment `manage.py check --deploy` is judged with (README "Production").
# SECRET_KEY is generated per run; SNIPERBOT_VAR_DIR and PROMETHEUS_MULTIPROC_DIR point at a
# temporary directory. No connection is made to the database or Redis.
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "sniperbot.settings",
    "DEBUG": "0",
    "SNIPERBOT_ENV": "production",
    "ALLOWED_HOSTS": "sniper.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://sniper.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "BEHIND_TLS_PROXY": "1",
    "DATABASE_URL": "postgres://sniperbot:password@db.example.com:5432/sniperbot",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "METRICS_PUBLIC": "0",
}


def test_check_deploy_is_clean_in_production(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        **PRODUCTION_ENV,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SNIPERBOT_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


# --- 3. Keys and signatures never leak -----------------------------------------------------

CANARY_KEY = "mx0vglCANARYAPIKEY7f3a9c1e5b"
CANARY_SECRET = "CANARYSECRET2d8e4b6a0f1c3579e"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def every_log_record():
    """Every record of every logger at DEBUG (httpx and httpcore included) for the test."""
    capture = _Capture()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for name in ("httpx", "httpcore", "httpcore.http11", "httpcore.connection", "mexc"):
        loggers.append(logging.getLogger(name))
    saved = {logger: (logger.level, logger.disabled) for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is root or not logger.propagate:
            logger.addHandler(capture)
    yield capture
    for logger, (level, disabled) in saved.items():
        logger.setLevel(level)
        logger.disabled = disabled
        logger.removeHandler(capture)


def _project_formatters() -> list[logging.Formatter]:
    """The formatter(s) settings.LOGGING configures, built the way logging.config does."""
    import logging.config

    configurator = logging.config.DictConfigurator(settings.LOGGING)
    return [
        configurator.configure_formatter(dict(spec))
        for spec in settings.LOGGING.get("formatters", {}).values()
    ]


@pytest.fixture
def canary_exchange(monkeypatch):
    """The simulator with our canary key and secret; trading built from settings, as in prod."""
    from mexc import rest
    from mexc.simulator import SimulatorConfig
    from trading import runtime
    from trading.gateway import MexcGateway
    from trading.tests.conftest import ThreadedSimulator

    signatures: list[str] = []
    real_signed_query = rest.signed_query

    def recording_signed_query(secret, params):
        query = real_signed_query(secret, params)
        signatures.append(query.rsplit("signature=", 1)[1])
        return query

    monkeypatch.setattr(rest, "signed_query", recording_signed_query)
    config = SimulatorConfig(port=0, api_key=CANARY_KEY, secret_key=CANARY_SECRET)
    with ThreadedSimulator(config) as sim:
        keys = {"MEXC_API_KEY": CANARY_KEY, "MEXC_SECRET_KEY": CANARY_SECRET}
        with override_settings(**keys, MEXC_REST_URL=sim.sim.rest_url):
            gateway = MexcGateway.from_settings()
            runtime.set_gateway(gateway)
            runtime.get_guards.cache_clear()
            guards = runtime.get_guards()
            guards.breaker.reset()
            guards.limiter.reset()
            sim.signatures = signatures
            yield sim
            runtime.set_gateway(None)
            runtime.get_guards.cache_clear()
            gateway.close()


def _leaks(text: str, secrets_: list[str]) -> list[str]:
    return [s for s in secrets_ if s and s in text]


def test_keys_and_signatures_never_leak(
    db, django_capture_on_commit_callbacks, canary_exchange, every_log_record, monkeypatch
):
    from rest_framework.test import APIClient

    from trading.models import Trade, TradeStatus

    monkeypatch.setattr("monitoring.events.publish", lambda *a, **k: True)
    operator = User.objects.create_user("olga", password="pw-olga")
    operator.groups.add(Group.objects.get(name="operator"))
    admin = User.objects.create_superuser("root", password="pw-root")
    api = APIClient()
    api.force_authenticate(operator)

    # A config change and a live trade, signed with the canary secret.
    canary_exchange.list_symbol(symbol="LEAKUSDT", open_in_ms=0, price="0.5")
    with django_capture_on_commit_callbacks(execute=True):
        changed = api.put(
            "/api/config/",
            {"auto_trade": True, "mode": "live", "reason": "leak test: go live"},
            format="json",
        )
        assert changed.status_code == 200, changed.content
        traded = api.post(
            "/api/trade/execute/",
            {"symbol": "LEAKUSDT", "quote_qty": "10", "live": True},
            format="json",
        )
    assert traded.status_code == 201, traded.content
    trade = Trade.objects.get(pk=traded.json()["id"])
    assert trade.status == TradeStatus.FILLED, (trade.status, trade.error_message)
    assert canary_exchange.accepted_orders(), "the live order did not reach the simulator"
    signatures = list(canary_exchange.signatures)
    assert signatures, "no signed request was made"
    needles = [CANARY_KEY, CANARY_SECRET, *signatures]

    # The database: every row of every table.
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert not _leaks(dump.getvalue(), needles), "a key or signature is in the database"

    # Every page and API response an operator or an admin can read, and the schema.
    readers = {"operator": operator, "admin": admin}
    for role, user in readers.items():
        client = APIClient()
        client.force_login(user)
        for path in ALL_PATHS:
            if path in ("/accounts/logout/", "/admin/logout/"):
                continue
            response = client.get(path)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode(errors="replace") + json.dumps(dict(response.items()))
            assert not _leaks(text, needles), f"GET {path} as {role} shows a key or signature"

    # Every log record, raw and as the configured formatter writes it (extras included).
    names = {record.name.split(".")[0] for record in every_log_record.records}
    assert {"httpx", "httpcore"} <= names, names  # the request logs were captured
    formatters = _project_formatters()
    assert formatters
    leaks = []
    for record in every_log_record.records:
        raw = record.getMessage() + " " + " ".join(map(str, vars(record).values()))
        outputs = [raw] + [formatter.format(record) for formatter in formatters]
        for output in outputs:
            if _leaks(output, needles):
                leaks.append(f"{record.name} [{record.levelname}]: {output[:300]}")
                break
    assert not leaks, "keys or signatures in the logs:\n" + "\n".join(leaks)
    assert Decimal(trade.quote_spent) > 0


# --- Made-up HTTP methods and the favicon ------------------------------------------------------


def _series(client) -> set[str]:
    """The series /metrics exposes (name and labels, without values)."""
    body = client.get("/metrics").content.decode()
    return {line.rsplit(" ", 1)[0] for line in body.splitlines() if not line.startswith("#")}


@override_settings(METRICS_PUBLIC=True)
def test_made_up_methods_get_405_and_add_no_metric_series(client, db):
    client.get("/health")
    client.get("/metrics")
    before = _series(client)
    for n in range(50):
        response = client.generic(f"M{n:03d}", "/health")
        assert response.status_code == 405
        assert "GET" in response["Allow"]
    after = _series(client)
    assert [s for s in after - before if "M0" in s] == []
    assert not any("M0" in s or "<invalid method>" in s for s in after)
    assert client.generic("TRACE", "/health").status_code == 405
    assert client.get("/health").status_code == 200


def test_the_favicon_is_a_small_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body[:4] == b"\x00\x00\x01\x00" and len(body) < 4096  # an ICO header
    assert b"favicon.ico" in client.get("/accounts/login/").content
