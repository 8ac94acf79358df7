"""The dashboard WebSocket, through the real ASGI application (auth, origin check, routing)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.routing import get_default_application
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connections
from django.test import Client

from listings.models import ListingSource
from listings.services import listing_record

application = get_default_application()  # the deployment's: settings.ASGI_APPLICATION

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
async def close_thread_connections(monkeypatch):
    monkeypatch.setattr("trading.handoff.dispatch_snipe", lambda **kwargs: None)
    yield
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@sync_to_async
def session_cookie(group: str | None) -> str:
    user = User.objects.create_user(f"ws-{group}", password="x")
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def dashboard_socket(cookie: str | None, origin: str = "http://localhost:8000"):
    headers = [(b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)


async def test_a_viewer_receives_listing_created_as_it_is_recorded():
    socket = dashboard_socket(await session_cookie("viewer"))
    connected, _ = await socket.connect()
    assert connected
    await sync_to_async(listing_record)(symbol="PUSHUSDT", source=ListingSource.TEST)
    message = await socket.receive_json_from(timeout=5)
    assert message["event"] == "listing.created"
    assert message["payload"]["symbol"] == "PUSHUSDT"
    assert message["payload"]["source"] == "test_injection"
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=5))["event"] == "pong"
    await socket.disconnect()


@pytest.mark.parametrize("group", [None, "no-session"])
async def test_anonymous_and_roleless_clients_are_refused(group):
    cookie = None if group == "no-session" else await session_cookie(group)
    socket = dashboard_socket(cookie)
    connected, code = await socket.connect()
    assert not connected
    assert code == 4401
    await socket.disconnect()  # the application task ends with the test (Redis layer too)


async def test_a_foreign_origin_is_refused():
    socket = dashboard_socket(await session_cookie("operator"), origin="http://evil.example")
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()
