"""Browser-test helpers shared by the Playwright tests (sniperbot/tests/test_browser*.py)."""

from __future__ import annotations


def login(page) -> None:
    """Sign in as the stack's operator, olga, and land on the dashboard."""
    page.goto("/accounts/login/?next=/dashboard/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "olga-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")
