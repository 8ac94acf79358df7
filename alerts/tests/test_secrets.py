"""A token in NOTIFY_URLS appears in no log line, API response, /ready or admin page."""

import io
import json
import logging

import pytest
from django.contrib.auth.models import User

from alerts import events
from alerts.channels import channels_configured, parse_urls, scrub
from alerts.models import Notification
from alerts.services import notify
from common.logfilters import RedactSecrets

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
DISCORD = "4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"
MAIL_PASSWORD = "hunter2-mail-pw"
JSON_TOKEN = "s3cr3tWebhookT0ken"


def _urls(receiver_url: str) -> str:
    host = receiver_url.removeprefix("json://")
    return "\n".join(
        [
            f"tgram://{BOT_TOKEN}/-100123456",
            f"discord://{DISCORD}",
            f"mailto://bot:{MAIL_PASSWORD}@example.com",
            f"json://{host}?token={JSON_TOKEN}",
        ]
    )


SECRETS = (BOT_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "JHMHI8qBe7bk2ZwO5U711o3dV_js")
SECRETS += (MAIL_PASSWORD, JSON_TOKEN)


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def log_stream():
    """Root logging through the bot's own redact filter and JSON formatter."""
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("apprise").setLevel(logging.DEBUG)  # its chattiest, URL included
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)
    logging.getLogger("apprise").setLevel(logging.WARNING)


def test_parse_urls_and_labels(settings):
    settings.NOTIFY_URLS = _urls("json://127.0.0.1:1/x") + "\n# a comment\n"
    assert len(parse_urls(settings.NOTIFY_URLS)) == 4
    labels = [c.label for c in channels_configured()]
    assert labels == ["tgram#1", "discord#2", "mailto#3", "json#4"]
    assert BOT_TOKEN not in repr(channels_configured())
    assert parse_urls("json://a/x,tgram://b/c json://d/e") == [
        "json://a/x",
        "tgram://b/c",
        "json://d/e",
    ]


def test_scrub_removes_each_token(settings):
    settings.NOTIFY_URLS = _urls("json://127.0.0.1:1/x")
    text = f"posting to https://api.telegram.org/bot{BOT_TOKEN}/sendMessage pw={MAIL_PASSWORD}"
    _clean(scrub(text))
    assert "127.0.0.1" in scrub("json://127.0.0.1:1/x is down")  # hosts stay readable


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_token_in_no_log_line_api_response_ready_or_admin(
    settings, notify_receiver, notify_dispatcher, log_stream, client
):
    settings.NOTIFY_URLS = _urls(notify_receiver.url)
    settings.NOTIFY_MAX_ATTEMPTS = 2
    notify(events.BUY_FILLED, key=1, payload={"symbol": "ABCUSDT", "mode": "dry_run"})
    notify_receiver.wait_for(1, timeout=5)
    assert notify_dispatcher.wait_idle(timeout=30)
    # Telegram/Discord/mail fail here (no network): errors are logged and stored.
    logging.getLogger("sniperbot.test").warning(
        "url %s", f"tgram://{BOT_TOKEN}/-100123456", extra={"url": settings.NOTIFY_URLS}
    )
    logged = log_stream.getvalue()
    assert "alerts.delivery" in logged
    _clean(logged)
    assert notify_receiver.messages  # the json channel still got it

    admin = User.objects.create_superuser("root", password="pw-root")
    client.force_login(admin)
    pages = [
        client.get("/api/alerts/channels/"),
        client.get("/ready"),
        client.get("/admin/alerts/notification/"),
        client.get(f"/admin/alerts/notification/{Notification.objects.first().pk}/change/"),
        client.get("/admin/risk/tradeconfig/"),
    ]
    for page in pages:
        assert page.status_code in (200, 503), page
        _clean(page.content.decode())
    for row in Notification.objects.all():
        _clean(json.dumps([row.channel, row.channel_label, row.last_error, row.payload]))


def test_the_debug_error_page_masks_notify_urls(settings, rf):
    """Django's technical 500 page lists the settings: NOTIFY_URLS is starred there."""
    import sys

    from django.views.debug import ExceptionReporter, get_default_exception_reporter_filter

    settings.NOTIFY_URLS = _urls("json://127.0.0.1:1/x")
    safe = get_default_exception_reporter_filter().get_safe_settings()
    assert safe["NOTIFY_URLS"] == "********************"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = ExceptionReporter(rf.get("/dashboard/"), *sys.exc_info()).get_traceback_html()
    assert "NOTIFY_URLS" in page and "boom" in page
    _clean(page)
