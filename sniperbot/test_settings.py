"""Settings for the test suite: the real settings, with a throwaway SECRET_KEY if none is set."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from .settings import *  # noqa: F403
