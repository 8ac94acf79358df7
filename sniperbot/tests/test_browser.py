"""The operator's flow in headless Chromium against the whole bot as real processes.

Log in, start the bot, list a token on the simulator, watch its listing and its dry-run
trade arrive without a reload, change the config and see it saved.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.request
from pathlib import Path

import pytest

from sniperbot.testing.browser import login
from sniperbot.testing.stack import BotStack

pytestmark = [pytest.mark.browser]

# The fixtures (`stack`, `page`) and Chromium's launch args are in conftest.py, shared with
# test_browser_links.py.


def list_on_simulator(stack: BotStack, symbol: str) -> None:
    body = json.dumps({"symbol": symbol, "open_in_ms": 0, "price": "0.25"}).encode()
    request = urllib.request.Request(
        f"{stack.sim.rest_url}/_sim/listings",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201


def test_operator_runs_the_bot_from_the_dashboard(stack, page):
    from playwright.sync_api import expect

    page.goto("/dashboard/")
    assert "/accounts/login/" in page.url  # login required
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "olga-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")

    live_mode = page.get_by_test_id("live-mode-indicator")
    expect(live_mode).to_contain_text("push" if stack.redis_url else "polling")

    state = page.get_by_test_id("bot-state")
    expect(state).to_contain_text("stopped")
    page.get_by_test_id("start-bot").click()
    expect(state).to_contain_text("running")  # asked for...
    expect(page.get_by_test_id("bot-actual-state")).to_contain_text("running")  # ...and done
    page.evaluate("window.__noReload = true")  # gone if the page reloads

    list_on_simulator(stack, "PWUSDT")
    listing = page.locator('[data-testid="listing-row"][data-symbol="PWUSDT"]')
    expect(listing).to_be_visible()
    trade = page.locator('[data-testid="trade-row"][data-symbol="PWUSDT"]')
    expect(trade).to_have_attribute("data-mode", "dry_run")
    expect(trade).to_have_attribute("data-status", "filled")
    expect(page.get_by_test_id("toast").first).to_contain_text("PWUSDT")
    assert page.evaluate("window.__noReload") is True

    form = page.get_by_test_id("config-form")
    form.locator("input[name=max_trades_per_hour]").fill("7")
    form.locator("[name=reason]").fill("browser test: fewer trades")
    page.get_by_test_id("config-save").click()
    expect(page.get_by_test_id("config-status")).to_contain_text(
        re.compile(r"Saved as version \d+")
    )

    page.reload()
    expect(
        page.get_by_test_id("config-form").locator("input[name=max_trades_per_hour]")
    ).to_have_value("7")


def test_config_errors_show_next_to_the_field_and_nothing_is_saved(stack, page):
    from playwright.sync_api import expect

    page.goto("/accounts/login/?next=/dashboard/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "olga-pass-1")
    page.click("button[type=submit]")
    form = page.get_by_test_id("config-form")
    expect(form.locator("input[name=recv_window_ms]")).not_to_have_value("")
    before = form.locator("input[name=recv_window_ms]").input_value()
    form.locator("input[name=recv_window_ms]").fill("5000")
    form.locator("[name=reason]").fill("browser test: bad value")
    page.get_by_test_id("config-save").click()
    expect(page.locator('[data-error-for="recv_window_ms"]')).to_contain_text("1000")
    expect(form.locator("input[name=recv_window_ms]")).to_have_value("5000")  # kept as typed
    page.reload()
    expect(page.get_by_test_id("config-form").locator("input[name=recv_window_ms]")).to_have_value(
        before
    )


ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"  # kept by CI


def test_the_dashboard_fits_1440_and_390_px_without_console_errors(stack, page):
    """The trades table has no horizontal overflow at either width (the reason is visible),
    ids are unique, nothing logs an error; screenshots of both go to var/artifacts/."""
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    start = page.get_by_test_id("start-bot")
    if start.is_enabled():
        # the page may learn the monitor runs between the check and the click
        with contextlib.suppress(PlaywrightTimeout):
            start.click(timeout=3000)
    expect(start).to_be_disabled()  # running: only Stop makes sense
    expect(page.get_by_test_id("bot-actual-state")).to_contain_text("running")
    list_on_simulator(stack, "WIDELAYOUTUSDT")
    row = page.locator('[data-testid="trade-row"][data-symbol="WIDELAYOUTUSDT"]')
    expect(row).to_have_attribute("data-status", "filled")
    fill = row.locator("td").nth(5).inner_text()
    assert re.fullmatch(r"[\d.]+ @ [\d.]+", fill), fill
    assert all(len(n.replace(".", "").lstrip("0")) <= 6 for n in fill.split(" @ ")), fill
    duplicates = page.evaluate(
        "() => { const seen = {}; for (const n of document.querySelectorAll('[id]'))"
        " seen[n.id] = (seen[n.id] || 0) + 1;"
        " return Object.keys(seen).filter((k) => seen[k] > 1); }"
    )
    assert duplicates == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        overflow = page.evaluate(
            "() => { const t = document.querySelector('[data-testid=trades]');"
            " const w = t.closest('.tbl-wrap');"
            " return {table: t.scrollWidth, wrap: w.clientWidth, wrapScroll: w.scrollWidth,"
            " page: document.documentElement.scrollWidth, view: window.innerWidth}; }"
        )
        assert overflow["wrapScroll"] <= overflow["wrap"] + 1, (width, overflow)
        assert overflow["page"] <= overflow["view"] + 1, (width, overflow)
        reason = row.locator("td.reason")
        box = reason.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + min(box["width"], 40) <= width, (width, box)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{width}.png"), full_page=True)
    assert errors == []


def test_the_push_socket_holds_for_60_seconds(stack, page):
    """Production shape (Redis): the header says push for a whole minute, never polling."""
    from playwright.sync_api import expect

    if not stack.redis_url:
        pytest.skip("push needs REDIS_URL (the production shape); CI sets it")
    login(page)
    indicator = page.get_by_test_id("live-mode-indicator")
    expect(indicator).to_have_class(re.compile(r"\blive-push\b"))
    page.evaluate(
        "() => { window.__liveClasses = [];"
        " const n = document.getElementById('live-mode');"
        " new MutationObserver(() => window.__liveClasses.push(n.className))"
        ".observe(n, {attributes: true, attributeFilter: ['class']}); }"
    )
    page.wait_for_timeout(60_000)
    flips = page.evaluate("window.__liveClasses")
    assert all("live-push" in c for c in flips), flips
    expect(indicator).to_have_class(re.compile(r"\blive-push\b"))
