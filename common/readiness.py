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


def register_checks(checks: dict[str, Callable[[], Check]]) -> None:
    """Add an app's checks under their names (shown in `/ready`); a name is taken once."""
    taken = {name for name, check in checks.items() if CHECKS.get(name, check) is not check}
    if taken:
        raise ValueError(f"readiness check already registered: {', '.join(sorted(taken))}")
    CHECKS.update(checks)


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
    return all(r["ok"] for r in results.values()), results
