"""Secrets never reach a log line: a filter on every handler scrubs them before formatting.

Two nets: the values of configured secrets (API key and secret, SECRET_KEY, database and
Redis passwords, the notification channels' URLs and their tokens) wherever they appear, and
anything shaped like a secret (a `signature=` query parameter, an API key header, a field
named like a password or token, an Apprise URL of a known service).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

REDACTED = "<redacted>"
_SHAPES = re.compile(
    r"(?i)(signature=|x-mexc-apikey[\"']?\s*[:=]\s*[\"']?|password[\"']?\s*[:=]\s*[\"']?"
    r"|api[_-]?key[\"']?\s*[:=]\s*[\"']?|secret[_-]?key[\"']?\s*[:=]\s*[\"']?"
    r"|authorization[\"']?\s*[:=]\s*[\"']?(?:token|bearer)?\s*)([^\s&\"',;}]+)"
)
# Apprise URLs of services whose URL carries a token: everything after the scheme goes.
_NOTIFY_URL = re.compile(
    r"(?i)\b((?:tgram|discord|slack|mailtos?|jsons?|xmls?|forms?|ntfys?|pover|pbul|gotifys?"
    r"|matrixs?|msteams|signals?|apprises?|whatsapp|twilio|ses|sns|mmosts?|rocket|rockets)://)"
    r"([^\s\"'<>]+)"
)
_SECRET_FIELD = re.compile(r"(?i)(password|secret|api_?key|token|signature|authorization)")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _configured_secrets() -> list[str]:
    from django.conf import settings

    values = [
        getattr(settings, "MEXC_API_KEY", ""),
        getattr(settings, "MEXC_SECRET_KEY", ""),
        getattr(settings, "SECRET_KEY", ""),
    ]
    for url in (getattr(settings, "DATABASE_URL", None), getattr(settings, "REDIS_URL", None)):
        if url:
            values.append(urlsplit(url).password or "")
    if getattr(settings, "NOTIFY_URLS", None):
        from alerts.channels import url_secrets  # cached: parsed once per NOTIFY_URLS value

        values.extend(url_secrets())
    return [v for v in values if v and len(v) >= 6]


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _NOTIFY_URL.sub(lambda m: m.group(1) + REDACTED, text)
    return _SHAPES.sub(lambda m: m.group(1) + REDACTED, text)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_FIELD.search(str(k)) else _scrub(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, secrets) for v in value)
    return value


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            secrets = _configured_secrets()
        except Exception:  # settings not ready (very early start-up): shapes still apply
            secrets = []
        record.msg = redact(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
            record.exc_info = None  # formatters would render the raw exception again
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD:
                continue
            record.__dict__[key] = REDACTED if _SECRET_FIELD.search(key) else _scrub(value, secrets)
        return True
