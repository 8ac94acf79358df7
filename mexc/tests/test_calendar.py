"""The website new-coin calendar: fetched from the simulator, parsed tolerantly."""

from datetime import UTC, datetime

import httpx
import pytest

from mexc import errors
from mexc.calendar import UpcomingListing, fetch_new_coins, parse_new_coins


async def test_calendar_lists_a_scheduled_symbol_with_its_open_time(simulator, control):
    open_at = simulator.exchange.now_ms() + 60_000
    await control.post(
        "/_sim/listings",
        json={"symbol": "CALUSDT", "open_at_ms": open_at, "price": "1", "full_name": "Cal Coin"},
    )
    coins = await fetch_new_coins(simulator.calendar_url)
    (cal,) = [c for c in coins if c.symbol == "CALUSDT"]
    assert isinstance(cal, UpcomingListing) and coins.skipped == 0
    assert cal.base_asset == "CAL" and cal.full_name == "Cal Coin"
    assert cal.open_time == datetime.fromtimestamp(open_at / 1000, UTC)
    assert cal.open_time.tzinfo is UTC and cal.coin_id and cal.raw["vcoinName"] == "CAL"


async def test_a_shared_httpx_client_and_another_quote_asset(simulator, control):
    await control.post(
        "/_sim/listings", json={"symbol": "QQQUSDT", "open_in_ms": 5000, "price": "1"}
    )
    async with httpx.AsyncClient() as http:
        coins = await fetch_new_coins(http, url=simulator.calendar_url, quote_asset="usdc")
    assert [c.symbol for c in coins] == ["QQQUSDC"]


async def test_http_failures_are_typed(simulator, control):
    path = "/api/operation/new_coin_calendar"
    await control.post("/_sim/faults", json={"kind": "http_5xx", "count": 1, "path": path})
    with pytest.raises(errors.ExchangeUnavailable):
        await fetch_new_coins(simulator.calendar_url)
    await control.post("/_sim/faults", json={"kind": "http_429", "count": 1, "path": path})
    with pytest.raises(errors.RateLimited):
        await fetch_new_coins(simulator.calendar_url)
    with pytest.raises(errors.ExchangeUnavailable):
        await fetch_new_coins("http://127.0.0.1:9/api/operation/new_coin_calendar")
    with pytest.raises(errors.CalendarUnavailable) as exc:  # an error page
        await fetch_new_coins(f"{simulator.rest_url}/no/such/page")
    assert exc.value.http_status == 404 and exc.value.reason == "http_404"
    with pytest.raises(errors.CalendarUnavailable) as exc:
        await fetch_new_coins(f"{simulator.rest_url}/api/v3/ticker/price")  # a JSON array
    assert exc.value.reason == "bad_shape"
    with pytest.raises(errors.CalendarUnavailable) as exc:  # JSON, but not the calendar
        await fetch_new_coins(f"{simulator.rest_url}/api/v3/time")
    assert exc.value.reason == "bad_shape"


@pytest.fixture
async def waf():
    """A loopback stand-in for the website: ``answer = (status, content type, body)``; it
    records the headers of each request."""
    from aiohttp import web

    state = {"answer": (200, "application/json", '{"data":{"newCoins":[]}}'), "headers": []}

    async def handle(request):
        state["headers"].append(dict(request.headers))
        status, ctype, body = state["answer"]
        return web.Response(status=status, body=body.encode(), headers={"Content-Type": ctype})

    app = web.Application()
    app.router.add_get("/api/operation/new_coin_calendar", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/api/operation/new_coin_calendar"
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_it_asks_like_a_browser_for_json(waf):
    assert await fetch_new_coins(waf["url"]) == []  # a real, empty calendar
    async with httpx.AsyncClient() as http:
        await fetch_new_coins(http, url=waf["url"])
    for headers in waf["headers"]:
        assert (
            headers["User-Agent"].startswith("Mozilla/5.0") and "Chrome/" in headers["User-Agent"]
        )
        assert headers["Accept"] == "application/json"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((403, "text/html", "<html><body>Access Denied</body></html>"), "http_403"),
        ((403, "application/json", '{"code":403,"msg":"Forbidden"}'), "http_403"),
        ((200, "text/html; charset=utf-8", "<!DOCTYPE html><html>challenge</html>"), "html"),
        ((200, "application/json", "  <html>mislabelled</html>"), "html"),
        ((200, "text/plain", "maintenance"), "not_json"),
        ((200, "application/json", '{"data":{"newCoins":"n/a"}}'), "bad_shape"),
        ((502, "text/html", "<html>Bad Gateway</html>"), "http_5xx"),
    ],
)
async def test_an_unusable_answer_is_calendar_unavailable_never_an_empty_list(waf, answer, reason):
    waf["answer"] = answer
    with pytest.raises(errors.CalendarUnavailable) as exc:
        await fetch_new_coins(waf["url"])
    assert exc.value.reason == reason and exc.value.http_status == answer[0]
    assert isinstance(exc.value, errors.ExchangeUnavailable)


async def test_a_refused_connection_is_calendar_unavailable_too():
    with pytest.raises(errors.CalendarUnavailable) as exc:
        await fetch_new_coins("http://127.0.0.1:9/api/operation/new_coin_calendar")
    assert exc.value.reason == "transport"


def test_bad_items_are_skipped_and_counted():
    body = {
        "data": {
            "newCoins": [
                {"vcoinName": "GOOD", "firstOpenTime": 1700000000000, "zone": "NEW"},
                {"vcoinName": None},
                "not an object",
                {"vcoinName": "bad name!"},
                {"vcoinName": "NOTIME"},
                {"vcoinName": " low ", "firstOpenTime": "1700000000000", "vcoinId": 7},
                {"vcoinName": "JUNKTIME", "firstOpenTime": "soon"},
                {"vcoinName": "NEGATIVE", "firstOpenTime": -5},
                {"vcoinName": "BOOL", "firstOpenTime": True},
                {"vcoinName": "FAR", "firstOpenTime": 10**20},
                {"vcoinName": "ÜBER"},
            ]
        }
    }
    result = parse_new_coins(body)
    assert [c.symbol for c in result] == [
        "GOODUSDT",
        "NOTIMEUSDT",
        "LOWUSDT",
        "JUNKTIMEUSDT",
        "NEGATIVEUSDT",
        "BOOLUSDT",
        "FARUSDT",
    ]
    assert result.skipped == 4
    good, no_time, low, *rest = result
    assert good.open_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC) and good.zone == "NEW"
    assert no_time.open_time is None and no_time.full_name == ""
    assert low.open_time == good.open_time and low.coin_id == "7"
    assert all(c.open_time is None for c in rest)


@pytest.mark.parametrize(
    "body", [{"unexpected": True}, {"data": None}, {"data": {"newCoins": None}}, [], None, "x"]
)
def test_odd_envelopes_give_nothing(body):
    result = parse_new_coins(body)
    assert result == [] and result.skipped == 0
