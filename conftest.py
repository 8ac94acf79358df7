"""Suite-wide pytest hooks."""

from __future__ import annotations


def pytest_report_header(config) -> list[str]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    vendor = db["ENGINE"].rsplit(".", 1)[-1]
    where = db.get("HOST") or db.get("NAME")
    redis = "redis" if settings.REDIS_URL else "none (in-memory layer, in-process tasks)"
    return [f"database: {vendor} ({where}); redis: {redis}"]
