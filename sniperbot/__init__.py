"""Composition root: settings, URLs, ASGI and Celery wiring for the sniperbot monolith."""

from .celery import app as celery_app

__all__ = ("celery_app",)
