"""Log lines are JSON, and secrets never reach them, however they are logged."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import override_settings

API_KEY = "mx0vglTESTAPIKEY42"
SECRET = "f00dfeedSECRETVALUE99"


@pytest.fixture
def log_output():
    """What the project's stderr handler writes, one JSON object per line."""
    handler = next(h for h in logging.getLogger().handlers if h.formatter and h.filters)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


@override_settings(MEXC_API_KEY=API_KEY, MEXC_SECRET_KEY=SECRET)
def test_secrets_are_redacted_wherever_they_appear(log_output):
    log = logging.getLogger("sniperbot.test")
    log.warning("key in the message %s", API_KEY)
    log.warning("signed url", extra={"url": "/api/v3/order?x=1&signature=abc123def&y=2"})
    log.warning("headers", extra={"headers": {"X-MEXC-APIKEY": API_KEY, "Accept": "json"}})
    log.warning("login", extra={"password": "hunter2hunter2"})
    log.warning("config dump secret_key=%s", SECRET)
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        log.exception("failed")
    lines = log_output()
    text = json.dumps(lines)
    for secret in (API_KEY, SECRET, "abc123def", "hunter2hunter2"):
        assert secret not in text
    assert lines[0]["message"] == "key in the message <redacted>"
    assert "signature=<redacted>&y=2" in lines[1]["url"]
    assert lines[2]["headers"] == {"X-MEXC-APIKEY": "<redacted>", "Accept": "json"}
    assert lines[3]["password"] == "<redacted>"
    assert "RuntimeError: boom with <redacted>" in lines[5]["exc_info"]


def test_ordinary_lines_are_untouched_json(log_output):
    logging.getLogger("listings.test").info(
        "listing.detected", extra={"symbol": "ABCUSDT", "listing_id": 7}
    )
    (line,) = log_output()
    assert line["message"] == "listing.detected"
    assert (line["level"], line["logger"], line["symbol"], line["listing_id"]) == (
        "INFO",
        "listings.test",
        "ABCUSDT",
        7,
    )
