"""Shared by the end-to-end tests here.

The fault-injection table: `test_faults.py` records one row per case, printed at the end.
The browser fixtures (`test_browser*.py`): `stack`, the whole bot as real processes with an
operator `olga` (password `olga-pass-1`), one per test module; `page`, a headless Chromium
page on it (one browser per test). Both skip without /usr/bin/chromium, unless
SNIPERBOT_REQUIRE_BROWSER is set (CI), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

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


# --- browser tests -----------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from sniperbot.testing.stack import BotStack

    if not CHROMIUM.exists():
        if os.environ.get("SNIPERBOT_REQUIRE_BROWSER"):
            pytest.fail("/usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (CI installs it)")
    with BotStack(
        tmp_path_factory.mktemp("stack"),
        database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL"),
    ) as running:
        running.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User;"
            "u = User.objects.create_user('olga', password='olga-pass-1');"
            "u.groups.add(Group.objects.get(name='operator'))",
        )
        yield running


@pytest.fixture
def page(stack):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(base_url=stack.url)
        page.set_default_timeout(20_000)
        yield page
        browser.close()
