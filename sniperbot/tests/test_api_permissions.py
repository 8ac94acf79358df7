"""Who may do what through the API: anonymous nothing, viewers read, operators also write."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from trading.models import TradeStatus
from trading.tests.factories import TradeFactory

READS = [
    "/api/listings/",
    "/api/trade/history/",
    "/api/trade/export.csv",
    "/api/config/",
    "/api/config/history/",
    "/api/monitor/status/",
    "/api/risk/metrics/",
    "/api/analytics/latency/",
    "/api/schema/",
]
# Each write is harmless when allowed: a stop, an unknown-symbol dry run, a cancel.
WRITES = [
    ("post", "/api/monitor/start/", {}),
    ("post", "/api/monitor/stop/", {}),
    ("put", "/api/config/", {"max_trades_per_hour": 11, "reason": "permission test"}),
    ("post", "/api/trade/execute/", {"symbol": "NOPEUSDT", "quote_qty": "1", "live": False}),
    ("post", "/api/trade/{trade}/confirm/", {}),
    ("post", "/api/trade/{trade}/cancel/", {}),
    ("post", "/api/listings/inject/", {"symbol": "PERMUSDT"}),
]


@pytest.fixture
def awaiting(db):
    return TradeFactory(status=TradeStatus.AWAITING_CONFIRMATION, listing=None, symbol="BIGUSDT")


@pytest.fixture(autouse=True)
def no_trading_side_effects(monkeypatch):
    """Writes are judged on permission only here; what they do is tested per app."""
    monkeypatch.setattr("trading.handoff.dispatch_snipe", lambda **kwargs: None)
    monkeypatch.setattr("trading.services.trade_send", lambda decided, *a, **kw: decided.trade)


def _get(trade_id):
    from trading.models import Trade

    return Trade.objects.get(pk=trade_id)


@pytest.mark.parametrize("path", READS)
def test_anonymous_reads_nothing(client, path):
    assert client.get(path).status_code in (401, 403)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_anonymous_writes_nothing(api_as, awaiting, method, path, body):
    response = getattr(api_as(None), method)(path.format(trade=awaiting.pk), body, format="json")
    assert response.status_code in (401, 403)


def test_anonymous_gets_health_only(client):
    assert client.get("/health").status_code == 200
    assert client.get("/dashboard/").status_code == 302  # to the login page


@pytest.mark.parametrize("path", READS)
def test_viewer_reads_everything(api_as, viewer_user, path):
    assert api_as(viewer_user).get(path).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_viewer_changes_nothing(api_as, viewer_user, awaiting, method, path, body):
    response = getattr(api_as(viewer_user), method)(
        path.format(trade=awaiting.pk), body, format="json"
    )
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_operator_may_write(api_as, operator_user, awaiting, method, path, body):
    response = getattr(api_as(operator_user), method)(
        path.format(trade=awaiting.pk), body, format="json"
    )
    assert response.status_code in (200, 201), response.content


def test_user_without_a_role_reads_nothing(api_as, db):
    nobody = User.objects.create_user("nobody", password="x")
    assert api_as(nobody).get("/api/listings/").status_code == 403


def test_token_authentication(operator_user, db):
    token = Token.objects.create(user=operator_user)
    client = APIClient()
    anonymous = client.get("/api/config/")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/config/").status_code == 200
    assert client.post("/api/monitor/start/").json()["desired_state"] == "running"
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/config/").status_code == 401


def test_session_writes_need_csrf(operator_user, db):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="otto", password="pw-otto")
    response = client.post("/api/monitor/start/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
