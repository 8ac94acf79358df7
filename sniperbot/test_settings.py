"""Settings for the test suite: the real settings, with a throwaway SECRET_KEY if none is set."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# Each test run counts from zero in its own metrics directory, shared with its subprocesses.
os.environ.setdefault("SNIPERBOT_TEST_METRICS_DIR", tempfile.mkdtemp(prefix="sniperbot-metrics-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["SNIPERBOT_TEST_METRICS_DIR"]

from .settings import *  # noqa: F403

# In-process tests wrap each test in a transaction, and Django closes a CONN_MAX_AGE=0
# connection at the end of every request, which a request inside that transaction must not
# do. The pool is exercised by the tests that run the bot as real processes (BotStack).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
