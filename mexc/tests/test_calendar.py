from datetime import UTC, datetime

from mexc.calendar import fetch_new_coins, parse_new_coins


async def test_calendar_lists_a_scheduled_symbol_with_its_open_time(simulator, control):
    open_at = simulator.exchange.now_ms() + 60_000
    await control.post(
        "/_sim/listings",
        json={"symbol": "CALUSDT", "open_at_ms": open_at, "price": "1", "full_name": "Cal Coin"},
    )
    coins = await fetch_new_coins(simulator.calendar_url)
    (cal,) = [c for c in coins if c.symbol == "CALUSDT"]
    assert cal.base_asset == "CAL" and cal.full_name == "Cal Coin"
    assert cal.open_time == datetime.fromtimestamp(open_at / 1000, UTC)


def test_bad_items_are_skipped_and_counted():
    body = {
        "data": {
            "newCoins": [
                {"vcoinName": "GOOD", "firstOpenTime": 1700000000000},
                {"vcoinName": None},
                "not an object",
                {"vcoinName": "bad name!"},
                {"vcoinName": "NOTIME"},
            ]
        }
    }
    result = parse_new_coins(body)
    assert [c.symbol for c in result.listings] == ["GOODUSDT", "NOTIMEUSDT"]
    assert result.listings[1].open_time is None
    assert result.skipped == 3
    assert parse_new_coins({"unexpected": True}).listings == []
