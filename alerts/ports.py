"""Data alerts needs from apps above it, handed in at ready time (alerts imports no trading).

`summary_provider_register(fn)`: trading registers, in its AppConfig.ready, a function
`fn(*, since: datetime, until: datetime) -> dict` giving the daily summary's figures for that
window: `pnl_usdt` (Decimal or str), `fills` (int), `refusals` (int); other keys are kept too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol


class SummaryProvider(Protocol):
    def __call__(self, *, since: datetime, until: datetime) -> dict[str, Any]: ...


_providers: list[Callable[..., dict[str, Any]]] = []


def summary_provider_register(provider: SummaryProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def summary_providers() -> tuple[Callable[..., dict[str, Any]], ...]:
    return tuple(_providers)
