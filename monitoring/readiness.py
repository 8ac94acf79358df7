"""Readiness checks the apps add to /ready (sniperbot/readiness.py asks here for them).

An app registers, in its AppConfig.ready, `readiness_register(name, check, critical=...)`.
`check()` returns `(ok, detail, extra)` quickly and may raise (a failure is then reported).
A non-critical check shows in /ready (`"critical": false`, `"status": "degraded"` when not
ok) without making the deployment not ready: a broken Telegram channel must not take the web
process out of a load balancer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ReadinessCheck = Callable[[], tuple[bool, str, dict[str, Any]]]


@dataclass(frozen=True)
class Registered:
    check: ReadinessCheck
    critical: bool


_registered: dict[str, Registered] = {}


def readiness_register(name: str, check: ReadinessCheck, *, critical: bool = True) -> None:
    _registered[name] = Registered(check, critical)


def readiness_registered() -> dict[str, Registered]:
    return dict(_registered)
