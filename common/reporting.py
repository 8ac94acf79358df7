"""The DEBUG error page's settings list hides the bot's secret-bearing URLs too.

Django's technical 500 page (and its error e-mails) show every setting except those whose
name matches `SafeExceptionReporterFilter.hidden_settings` (API, TOKEN, KEY, SECRET, PASS...).
The notification channels' URLs (`NOTIFY_URLS`: bot tokens, webhook keys, mail passwords) and
the database and Redis URLs (passwords) match none of those words; this filter adds them.
Set as `DEFAULT_EXCEPTION_REPORTER_FILTER` in sniperbot/settings.py.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter

# Django's own pattern, plus the settings (and the channel layer's `address`) that hold URLs
# with credentials in them.
HIDDEN_SETTINGS = re.compile(
    SafeExceptionReporterFilter.hidden_settings.pattern
    + "|NOTIFY_URLS|DATABASE_URL|REDIS_URL|BROKER_URL|ADDRESS",
    flags=re.I,
)


class SecretUrlsReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = HIDDEN_SETTINGS
