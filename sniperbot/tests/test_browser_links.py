"""Links in notifications, `/dashboard/#trade-N`, in headless Chromium against the whole bot.

A trade on the loaded page: its row is scrolled into view and highlighted. A trade older
than the page: a notice over the trades table says its symbol, status, mode and reason
(from `GET /api/trade/N/`). The fixtures (`stack`, `page`) are in conftest.py.
"""

from __future__ import annotations

import json
import re

import pytest

from sniperbot.testing.browser import login

pytestmark = [pytest.mark.browser]

PAGE_SIZE = 50  # REST_FRAMEWORK PAGE_SIZE: the dashboard loads the 50 newest trades


@pytest.fixture(scope="module")
def trade_ids(stack) -> dict[str, int]:
    """An old rejected LIVE trade, then a page and a bit of newer ones; their ids, newest
    first as the history lists them."""
    out = stack.manage(
        "shell",
        "-c",
        "import json; from trading.tests.factories import TradeFactory;"
        "from trading.selectors import trade_history;"
        "TradeFactory(listing=None, symbol='OLDLINKUSDT', mode='live', status='rejected',"
        " reason_code='kill_switch');"
        f"TradeFactory.create_batch({PAGE_SIZE + 5}, listing=None, status='filled');"
        "print(json.dumps(list(trade_history().values_list('id', flat=True))))",
    )
    ids = json.loads(out.strip().splitlines()[-1])
    assert len(ids) > PAGE_SIZE
    return {"low_on_first_page": ids[PAGE_SIZE - 3], "older": ids[-1]}


def test_a_link_to_a_trade_on_the_page_scrolls_to_its_row_and_highlights_it(stack, page, trade_ids):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 720})
    login(page)
    trade_id = trade_ids["low_on_first_page"]
    page.goto(f"/dashboard/#trade-{trade_id}")
    row = page.locator(f'[data-testid="trade-row"][data-id="{trade_id}"]')
    expect(row).to_have_class(re.compile(r"\brow-linked\b"))
    expect(row).to_be_in_viewport()
    expect(page.locator(".tbl tbody tr.row-linked")).to_have_count(1)  # that row only
    expect(page.get_by_test_id("link-notice")).to_have_count(0)


def test_a_link_to_a_trade_not_on_the_page_says_its_status(stack, page, trade_ids):
    from playwright.sync_api import expect

    login(page)
    trade_id = trade_ids["older"]
    page.goto(f"/dashboard/#trade-{trade_id}")
    expect(page.get_by_test_id("trade-row")).to_have_count(PAGE_SIZE)  # the page is loaded
    expect(page.locator(f'[data-testid="trade-row"][data-id="{trade_id}"]')).to_have_count(0)
    notice = page.get_by_test_id("link-notice")
    expect(notice).to_have_attribute("data-status", "rejected")
    expect(notice).to_contain_text(f"Trade #{trade_id} OLDLINKUSDT (LIVE) is rejected")
    expect(notice).to_contain_text("kill_switch")
