"""Settings for the test suite: the real settings, with a throwaway SECRET_KEY if none is set."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# Each test run counts from zero in its own metrics directory, shared with its subprocesses.
os.environ.setdefault("SNIPERBOT_TEST_METRICS_DIR", tempfile.mkdtemp(prefix="sniperbot-metrics-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["SNIPERBOT_TEST_METRICS_DIR"]

from .settings import *  # noqa: F403
