"""Readiness: can this deployment detect and trade right now? One check per dependency.

Each app registers its own checks in its `AppConfig.ready` (monitoring: database, Redis, the
monitor's and the workers' heartbeats; trading: the exchange and the API keys); `/ready` runs
whatever is registered, in registration order (INSTALLED_APPS order). A check returns quickly
(short timeouts); one that raises is a failed result, not an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    ok: bool
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


CHECKS: dict[str, Callable[[], Check]] = {}
# Shown in /ready but not deciding it ("degraded" when failing): a broken Telegram channel
# must not take the web process out of a load balancer.
NOT_CRITICAL: set[str] = set()


def register_checks(checks: dict[str, Callable[[], Check]], *, critical: bool = True) -> None:
    """Add an app's checks under their names (shown in `/ready`); a name is taken once."""
    taken = {name for name, check in checks.items() if CHECKS.get(name, check) is not check}
    if taken:
        raise ValueError(f"readiness check already registered: {', '.join(sorted(taken))}")
    CHECKS.update(checks)
    if not critical:
        NOT_CRITICAL.update(checks)


def readiness() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            result = check()
        except Exception as exc:  # a failing dependency is an answer, not an error
            result = Check(False, f"{type(exc).__name__}: {exc}"[:300])
        results[name] = {
            "ok": result.ok,
            "detail": result.detail,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            **result.extra,
        }
        if name in NOT_CRITICAL:
            results[name]["critical"] = False
            if not result.ok:
                results[name]["status"] = "degraded"
    ready = all(r["ok"] for name, r in results.items() if name not in NOT_CRITICAL)
    return ready, results
