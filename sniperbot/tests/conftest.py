"""The fault-injection table: `test_faults.py` records one row per case, printed at the end."""

from __future__ import annotations

import pytest

FAULT_ROWS = pytest.StashKey[list]()
COLUMNS = (
    "fault",
    "count",
    "listings",
    "listings lost",
    "duplicates",
    "orders at the exchange",
    "settled by reconciler",
    "trade outcomes",
)


@pytest.fixture(scope="session")
def fault_table(request) -> list[dict]:
    """Append a dict per fault case (keys: COLUMNS); the terminal summary prints them."""
    return request.config.stash.setdefault(FAULT_ROWS, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = config.stash.get(FAULT_ROWS, [])
    if not rows:
        return
    cells = [COLUMNS, *([str(row.get(col, "")) for col in COLUMNS] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    terminalreporter.section("fault injection")
    for n, line in enumerate(cells):
        terminalreporter.write_line(
            "  ".join(
                cell.ljust(width) if i in (0, len(COLUMNS) - 1) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            terminalreporter.write_line("  ".join("-" * width for width in widths))
