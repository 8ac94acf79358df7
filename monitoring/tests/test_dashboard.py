"""The dashboard page: who may open it, and what it is told about the bot."""

import json

from django.contrib.auth.models import User

from risk.services import EDITABLE_FIELDS


def page_config(client, user) -> dict:
    client.force_login(user)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    return response.context["dashboard_config"]


def test_login_is_required(client, db):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


def test_operators_may_write_viewers_only_read(client, operator_user, viewer_user):
    assert page_config(client, operator_user)["canWrite"] is True
    assert page_config(client, viewer_user)["canWrite"] is False


def test_the_page_knows_every_endpoint_and_config_field(client, viewer_user):
    config = page_config(client, viewer_user)
    endpoints = config["endpoints"]
    assert endpoints["trade_confirm"] == "/api/trade/{id}/confirm/"
    assert endpoints["websocket"] == "/ws/dashboard/"
    for key, path in endpoints.items():
        if key != "websocket" and "{id}" not in path:
            assert client.get(path).status_code in (200, 405), key  # 405: POST-only
    assert set(config["configFields"]) == set(EDITABLE_FIELDS)


def test_without_redis_the_page_is_told_to_poll(client, viewer_user, settings):
    settings.REDIS_URL = None
    assert page_config(client, viewer_user)["pushEnabled"] is False
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert page_config(client, viewer_user)["pushEnabled"] is True


def test_the_login_page_signs_in_and_goes_to_the_dashboard(client, db):
    User.objects.create_user("lena", password="pw-lena-1")
    response = client.post(
        "/accounts/login/", {"username": "lena", "password": "pw-lena-1", "next": "/dashboard/"}
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    bad = client.post("/accounts/login/", {"username": "lena", "password": "nope"})
    assert bad.status_code == 200
    assert b"login-error" in bad.content or b"didn" in bad.content


def test_config_blob_is_valid_json_in_the_page(client, viewer_user):
    client.force_login(viewer_user)
    html = client.get("/dashboard/").content.decode()
    start = html.index('id="dashboard-config"')
    blob = html[html.index(">", start) + 1 : html.index("</script>", start)]
    assert json.loads(blob)["username"] == "vera"
