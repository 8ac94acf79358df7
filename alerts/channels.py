"""Channels: the Apprise URLs of NOTIFY_URLS / NOTIFY_URLS_FILE, and sending to one of them.

A URL holds tokens (a Telegram bot token, a Discord webhook token, a mail password), so it
is a secret: it is used here to send and nowhere else. Everything outside this module names a
channel by `Channel.id` (a hash of the URL) and `Channel.label` (scheme and position, e.g.
`tgram#1`). `url_secrets` gives the log scrubber the parts of each URL to redact.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

from django.conf import settings

SEND_TIMEOUT_S = 10.0  # one attempt to one channel, whatever the service

_SPLIT = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_URL_PIECES = re.compile(r"[/:@?&=#,;]+")


@dataclass(frozen=True)
class Channel:
    index: int  # 1-based position in NOTIFY_URLS
    id: str  # sha256 of the URL, 16 hex digits: stored in Notification.channel
    label: str  # scheme#index: shown in logs, /ready, the admin and the API
    url: str = field(repr=False)  # the secret; never logged, stored or shown


def parse_urls(raw: str | None) -> list[str]:
    """URLs separated by whitespace or newlines (a comma too, before the next `scheme://`);
    lines starting with `#` are comments (for NOTIFY_URLS_FILE)."""
    if not raw:
        return []
    lines = [line for line in raw.splitlines() if not line.lstrip().startswith("#")]
    return [url for url in _SPLIT.split("\n".join(lines)) if url]


@lru_cache(maxsize=8)
def _channels(raw: str | None) -> tuple[Channel, ...]:
    channels = []
    for index, url in enumerate(parse_urls(raw), start=1):
        scheme = url.partition("://")[0].lower() or "url"
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        channels.append(Channel(index=index, id=digest, label=f"{scheme[:30]}#{index}", url=url))
    return tuple(channels)


def channels_configured() -> tuple[Channel, ...]:
    return _channels(getattr(settings, "NOTIFY_URLS", None))


def channel_by_id(channel_id: str) -> Channel | None:
    return next((c for c in channels_configured() if c.id == channel_id), None)


@lru_cache(maxsize=8)
def _secrets(raw: str | None) -> tuple[str, ...]:
    found: set[str] = set()
    for url in parse_urls(raw):
        found.add(url)
        rest = url.partition("://")[2]
        userinfo = rest.split("/", 1)[0].rpartition("@")[0]
        if ":" in userinfo:  # user:password@host: the password, whatever its shape
            found.add(userinfo.split(":", 1)[1])
        for piece in _URL_PIECES.split(rest):
            for value in {piece, unquote(piece)}:
                if _looks_secret(value):
                    found.add(value)
    # Longest first: a token is replaced before a shorter piece inside it.
    return tuple(sorted((s for s in found if len(s) >= 6), key=len, reverse=True))


def _looks_secret(piece: str) -> bool:
    """A token-like piece: long, or letters and digits mixed (not a host name or a port)."""
    if len(piece) >= 20 and "." not in piece:
        return True
    has_alpha = any(c.isalpha() for c in piece)
    has_digit = any(c.isdigit() for c in piece)
    return len(piece) >= 8 and has_alpha and has_digit and "." not in piece


def url_secrets() -> tuple[str, ...]:
    """What to redact from logs, errors and pages: each URL whole, its password, and every
    token-like piece of it (a Telegram bot token is the URL's 'host')."""
    return _secrets(getattr(settings, "NOTIFY_URLS", None))


def scrub(text: str) -> str:
    for secret in url_secrets():
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


def channel_valid(channel: Channel) -> bool:
    import apprise

    return apprise.Apprise().add(channel.url)


def channel_send(channel: Channel, *, title: str, body: str) -> tuple[bool, str]:
    """One attempt to deliver to one channel: (delivered, error text scrubbed of secrets)."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(channel.url):
        return False, f"{channel.label}: not a valid Apprise URL"
    result = sender.notify(body=body, title=title, timeout=SEND_TIMEOUT_S)
    if result.status == apprise.AppriseResultStatus.SUCCESS:
        return True, ""
    problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
    detail = problems[-1] if problems else "no detail"
    return False, scrub(f"{result.status.name.lower()}: {detail}")[:300]
