"""Suite-wide pytest hooks."""

from __future__ import annotations


def pytest_report_header(config) -> list[str]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    vendor = db["ENGINE"].rsplit(".", 1)[-1]
    where = db.get("HOST") or db.get("NAME")
    redis = "redis" if settings.REDIS_URL else "none (in-memory layer, in-process tasks)"
    return [f"database: {vendor} ({where}); redis: {redis}"]


# --- API users: one per role (groups `viewer` and `operator` come from a migration) ---------

import pytest  # noqa: E402


def _user_in(group: str | None, username: str):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def viewer_user(db):
    return _user_in("viewer", "vera")


@pytest.fixture
def operator_user(db):
    return _user_in("operator", "otto")


@pytest.fixture
def api_as(db):
    """`api_as(user)` -> a DRF test client logged in as that user (None: anonymous)."""
    from rest_framework.test import APIClient

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_health_cache():
    """Each test starts with a fresh database: forget which health rows this process wrote."""
    from monitoring.services import health_forget

    health_forget()
    yield
    health_forget()
