"""Shared output of the benchmarks under ``bench/``: statistics, an aligned table, a verdict.

Every benchmark prints the same shape so BENCHMARKS.md can keep the tables side by side::

    from bench._table import machine, print_table, stats, verdict

    print(machine())                          # one line: CPU, cores, Python, OS
    rows = [("ours", stats(samples_us)), ("baseline", stats(other_us))]
    print_table("order round trip", rows, unit="us")
    verdict(ratio >= 3, f"overhead ratio {ratio:.1f}x vs target >= 3x")

API (all plain functions, no state):

- ``stats(samples) -> dict``: ``count``, ``median``, ``p95``, ``p99``, ``max`` (and ``min``,
  ``mean``) of a list of numbers. Percentiles are nearest-rank (``p99`` of 300 samples is the
  297th smallest), so every figure is a value that was actually measured.
- ``print_table(title, rows, unit, extra=None)``: ``rows`` is ``[(label, stats_dict), ...]``;
  prints one aligned table with a column per statistic. ``extra`` is an optional list of
  column names (keys of the row dicts) to print after ``max``, e.g. a rate computed by the
  caller (``row["msgs/s"] = ...``).
- ``verdict(ok, text, *, passed="PASS", failed="MISS") -> str``: prints and returns
  ``"PASS: <text>"`` or ``"MISS: <text>"`` (or the words given). A miss is a result, not a
  crash: benchmarks still exit 0.
- ``machine() -> str``: ``"CPU <model> | <n> cores (<m> usable) | Python 3.11.x | Linux ..."``.
- ``fmt(value)``: the number formatting the table uses (3 significant digits, thousands
  separators for large values).
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterable, Sequence

__all__ = ["fmt", "machine", "percentile", "print_table", "stats", "verdict"]

STAT_COLUMNS = ("count", "median", "p95", "p99", "max")


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence (``q`` in 0..100)."""
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def stats(samples: Iterable[float]) -> dict[str, float]:
    """count / median / p95 / p99 / max (plus min and mean) of the samples."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    n = len(ordered)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "count": n,
        "median": median,
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "min": ordered[0],
        "mean": sum(ordered) / n,
    }


def fmt(value: object) -> str:
    """Compact number text: ints as-is, floats to 3 significant digits, big ones grouped."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN
        return "nan"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_table(
    title: str,
    rows: Sequence[tuple[str, dict]],
    unit: str,
    extra: Sequence[str] | None = None,
) -> None:
    """Print ``rows`` (label, stats dict) as an aligned table; times in ``unit``."""
    columns = [*STAT_COLUMNS, *(extra or ())]
    header = ["", *(c if c == "count" or c in (extra or ()) else f"{c} ({unit})" for c in columns)]
    body = [[label, *(fmt(row.get(c, "")) for c in columns)] for label, row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    print(f"\n{title}")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for cells in body:
        print(line(cells))


def verdict(ok: bool, text: str, *, passed: str = "PASS", failed: str = "MISS") -> str:
    """Print and return the one-line verdict: ``PASS: <text>`` or ``MISS: <text>`` (the words
    may be changed: ``failed="FAIL"``, ``passed="PASS (allowance)"``)."""
    result = f"{passed if ok else failed}: {text}"
    print(result)
    return result


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for row in fh:
                if row.lower().startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """One line describing where the numbers were measured."""
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = cores
    return (
        f"CPU {_cpu_model()} | {cores} cores ({usable} usable) | "
        f"Python {platform.python_version()} ({platform.python_implementation()}) | "
        f"{platform.system()} {platform.release()} {platform.machine()}"
    )
