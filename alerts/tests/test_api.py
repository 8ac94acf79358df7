import pytest
from django.core.management import call_command

from alerts.models import Notification, NotificationStatus


@pytest.mark.django_db
def test_test_button_is_for_operators(api_as, viewer_user, operator_user, settings, monkeypatch):
    from alerts import delivery

    settings.NOTIFY_URLS = "json://127.0.0.1:9/x"
    queued = []
    monkeypatch.setattr(delivery, "enqueue", queued.append)
    assert api_as(viewer_user).post("/api/alerts/test/").status_code == 403
    assert api_as(None).post("/api/alerts/test/").status_code == 401
    response = api_as(operator_user).post("/api/alerts/test/")
    assert response.status_code == 202 and response.json()["channels"] == 1
    channels = api_as(viewer_user).get("/api/alerts/channels/").json()
    assert channels[0]["label"] == "json#1" and "url" not in channels[0]


@pytest.mark.django_db
def test_dashboard_shows_the_button_to_operators_only(client, viewer_user, operator_user):
    client.force_login(operator_user)
    assert b'data-testid="notify-test"' in client.get("/dashboard/").content
    client.force_login(viewer_user)
    assert b'data-testid="notify-test"' not in client.get("/dashboard/").content


@pytest.mark.django_db
def test_ready_shows_a_failing_channel_as_degraded_not_down(settings):
    from alerts.channels import channels_configured
    from common.readiness import readiness

    settings.NOTIFY_URLS = "json://127.0.0.1:9/a json://127.0.0.1:9/b"
    a, b = channels_configured()
    from django.utils import timezone

    now = timezone.now()
    Notification.objects.create(
        event="buy_filled",
        key="k",
        channel=a.id,
        channel_label=a.label,
        status=NotificationStatus.SENT,
        attempts=1,
        last_attempt_at=now,
    )
    Notification.objects.create(
        event="buy_filled",
        key="k",
        channel=b.id,
        channel_label=b.label,
        status=NotificationStatus.FAILED,
        attempts=6,
        last_attempt_at=now,
        last_error="HTTP 500",
    )
    _, checks = readiness()
    check = checks["notifications"]
    assert check["ok"] is False and check["status"] == "degraded" and check["critical"] is False
    assert "json#2: HTTP 500" in check["detail"]
    assert check["channels"] == {"json#1": "sent", "json#2": "failed"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_notify_test_command_delivers_to_every_channel(notify_receiver, capsys):
    call_command("notify_test", wait=10)
    assert "json#1: sent" in capsys.readouterr().out
    assert notify_receiver.messages[0]["title"] == "sniperbot test notification"


def test_notify_test_command_without_channels(settings):
    from django.core.management.base import CommandError

    settings.NOTIFY_URLS = None
    with pytest.raises(CommandError, match="NOTIFY_URLS"):
        call_command("notify_test")
