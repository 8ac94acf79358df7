"""Injected faults (``POST /_sim/faults``): the next N matching requests/connections fail.

REST kinds are consumed by the REST middleware; WebSocket kinds are carried out by the hub.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

REST_KINDS = ("http_429", "http_5xx", "timeout", "latency", "waf_403")
WS_KINDS = ("ws_drop", "ws_malformed")
ORDER_KINDS = ("lookup_lag",)  # applied to the next orders created, not to requests
DEFAULT_EFFECT = {
    "http_429": "before",
    "http_5xx": "before",
    "timeout": "after",
    "latency": "before",
    "waf_403": "before",
}
DEFAULT_MS = {
    "timeout": 30_000,
    "latency": 100,
    "http_429": 1000,
    "ws_drop": 0,
    "ws_malformed": 0,
    "lookup_lag": 1000,
}


@dataclass
class Fault:
    id: int
    kind: str
    count: int
    remaining: int
    ms: int
    path: str | None = None
    method: str | None = None
    effect: str = "before"
    status: int = 500  # http_5xx only
    frames: str = "push"  # ws_malformed only: "push" (binary) or "all" (also JSON replies)
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0 or self.kind not in REST_KINDS:
            return False
        if self.method and self.method != method:
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "count": self.count,
            "remaining": self.remaining,
            "ms": self.ms,
            "path": self.path,
            "method": self.method,
            "effect": self.effect,
            "status": self.status if self.kind == "http_5xx" else None,
            "frames": self.frames if self.kind == "ws_malformed" else None,
        }


class FaultBook:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.faults: list[Fault] = []

    def reset(self) -> None:
        for fault in self.faults:
            if fault.timer:
                fault.timer.cancel()
        self.faults = []

    def create(self, spec: dict) -> Fault:
        """Validate a JSON spec into a Fault (ValueError on nonsense); not yet registered."""
        kind = spec.get("kind")
        if kind not in REST_KINDS + WS_KINDS + ORDER_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be >= 1")
        ms = int(spec.get("ms", DEFAULT_MS.get(kind, 0)))
        effect = spec.get("effect") or DEFAULT_EFFECT.get(kind, "before")
        if effect not in ("before", "after"):
            raise ValueError("effect must be 'before' or 'after'")
        status = int(spec.get("status", 500))
        if kind == "http_5xx" and not 500 <= status <= 599:
            raise ValueError("status must be 5xx")
        frames = spec.get("frames", "push")
        if frames not in ("push", "all"):
            raise ValueError("frames must be 'push' or 'all'")
        method = spec.get("method")
        return Fault(
            id=next(self._ids),
            kind=kind,
            count=count,
            remaining=count,
            ms=max(0, ms),
            path=spec.get("path"),
            method=method.upper() if method else None,
            effect=effect,
            status=status,
            frames=frames,
        )

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> tuple[list[Fault], Fault | None]:
        """Consume one use of every matching latency fault and of the first other match."""
        latency: list[Fault] = []
        outcome: Fault | None = None
        for fault in self.faults:
            if not fault.matches(method, path):
                continue
            if fault.kind == "latency":
                fault.remaining -= 1
                latency.append(fault)
            elif outcome is None:
                fault.remaining -= 1
                outcome = fault
        if latency or outcome:
            self.prune()
        return latency, outcome

    def take_lookup_lag(self) -> int:
        """ms the order being created stays invisible to lookups (0: no lookup_lag fault)."""
        fault = self.pending("lookup_lag")
        if fault is None:
            return 0
        fault.remaining -= 1
        self.prune()
        return fault.ms

    def pending(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind and f.remaining > 0), None)

    def prune(self) -> None:
        self.faults = [f for f in self.faults if f.remaining > 0]
