"""Simulator: public and signed REST over loopback (mexc-api.md §2-§4)."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import httpx

ORDER = "/api/v3/order"


def buy(quote: str = "20", symbol: str = "BTCUSDT", **extra: object) -> dict[str, object]:
    return {"symbol": symbol, "side": "BUY", "type": "MARKET", "quoteOrderQty": quote, **extra}


async def test_public_endpoints(simulator, control) -> None:
    assert (await control.get("/api/v3/ping")).json() == {}
    server = (await control.get("/api/v3/time")).json()["serverTime"]
    assert abs(server - simulator.clock.now_ms()) < 100
    default = (await control.get("/api/v3/defaultSymbols")).json()
    assert default["code"] == 200 and default["msg"] is None and "BTCUSDT" in default["data"]
    info = (await control.get("/api/v3/exchangeInfo", params={"symbol": "MXUSDT"})).json()
    (mx,) = info["symbols"]
    assert mx["status"] == "1" and mx["isSpotTradingAllowed"] is True
    assert (mx["baseAsset"], mx["quoteAsset"], mx["quoteAmountPrecision"]) == ("MX", "USDT", "5")
    assert mx["filters"] == [] and mx["permissions"] == ["SPOT"] and "MARKET" in mx["orderTypes"]
    both = await control.get("/api/v3/exchangeInfo", params={"symbols": "MXUSDT,BTCUSDT"})
    assert {s["symbol"] for s in both.json()["symbols"]} == {"MXUSDT", "BTCUSDT"}
    price = (await control.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})).json()
    assert Decimal(price["price"]) > 0
    prices = (await control.get("/api/v3/ticker/price")).json()
    assert {p["symbol"] for p in prices} >= {"BTCUSDT", "ETHUSDT", "MXUSDT"}
    book = (await control.get("/api/v3/ticker/bookTicker", params={"symbol": "ETHUSDT"})).json()
    assert Decimal(book["bidPrice"]) < Decimal(book["askPrice"])
    day = (await control.get("/api/v3/ticker/24hr", params={"symbol": "ETHUSDT"})).json()
    assert {"lastPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "count"} <= set(day)
    depth = (await control.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 3})).json()
    assert len(depth["bids"]) == len(depth["asks"]) == 3 and depth["lastUpdateId"] > 0
    bad = await control.get("/api/v3/ticker/price", params={"symbol": "NOPEUSDT"})
    assert bad.status_code == 400 and bad.json()["code"] == -1121


async def test_market_buy_by_quote_fills_and_moves_balances(simulator, signed) -> None:
    r = await signed("POST", ORDER, buy("20", newClientOrderId="mb-1"))
    assert r.status_code == 200, r.text
    ack = r.json()
    assert re.fullmatch(r"C02__\d{21}", ack["orderId"])
    assert ack["clientOrderId"] == "mb-1" and ack["orderListId"] == -1
    assert ack["type"] == "MARKET" and ack["side"] == "BUY" and "status" not in ack
    assert ack["price"] == "0"
    order = (await signed("GET", ORDER, {"symbol": "BTCUSDT", "orderId": ack["orderId"]})).json()
    assert order["status"] == "FILLED" and order["origQuoteOrderQty"] == "20"
    # The quote amount became a quantity at the protective price (ask x 1.05): origQty is it.
    assert order["origQty"] == ack["origQty"] == order["executedQty"]
    executed, spent = Decimal(order["executedQty"]), Decimal(order["cummulativeQuoteQty"])
    assert executed > 0 and Decimal("18.5") < spent < Decimal("19.5")
    # fee_mode "received" (default): the fee comes out of the BTC bought.
    assert simulator.exchange.balances["USDT"].free == Decimal("10000") - spent
    fee = (executed * simulator.config.taker_commission).quantize(
        Decimal("0.00000001"), "ROUND_DOWN"
    )
    assert fee > 0 and simulator.exchange.balances["BTC"].free == executed - fee
    account = (await signed("GET", "/api/v3/account")).json()
    balances = {b["asset"]: b for b in account["balances"]}
    assert Decimal(balances["BTC"]["free"]) == executed - fee
    assert balances["USDT"]["locked"] == "0"


async def test_fee_mode_quote_and_exact_quote_spend_are_switches(simulator_factory, signed) -> None:
    sim = await simulator_factory(fee_mode="quote", market_quote_markup=0)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        query = sim.signed_query(buy("20"))
        r = await http.post(f"{ORDER}?{query}", headers={"X-MEXC-APIKEY": sim.api_key})
        query = sim.signed_query({"symbol": "BTCUSDT", "orderId": r.json()["orderId"]})
        order = (await http.get(f"{ORDER}?{query}", headers={"X-MEXC-APIKEY": sim.api_key})).json()
    executed, spent = Decimal(order["executedQty"]), Decimal(order["cummulativeQuoteQty"])
    assert Decimal("19.9") < spent <= Decimal("20")
    assert sim.exchange.balances["BTC"].free == executed
    assert sim.exchange.balances["USDT"].free < Decimal("10000") - spent


async def test_business_errors(simulator, signed) -> None:
    r = await signed("POST", ORDER, buy("20000"))
    assert (r.status_code, r.json()) == (400, {"code": 30004, "msg": "Insufficient position"})
    r = await signed("POST", ORDER, buy("4.99"))
    assert r.json() == {
        "code": 30002,
        "msg": "The minimum transaction volume cannot be less than:5USDT",
    }
    r = await signed("POST", ORDER, buy("10", symbol="NOPEUSDT"))
    assert r.json() == {"code": 10007, "msg": "symbol not support api"}
    r = await signed("POST", ORDER, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"})
    assert r.json()["code"] == 700004
    r = await signed("POST", "/api/v3/order/test", buy("10"))
    assert (r.status_code, r.json()) == (200, {})
    assert simulator.exchange.orders == {}
    r = await signed("POST", "/api/v3/order/test", buy("1"))
    assert r.json()["code"] == 30002


async def test_query_and_cancel_by_either_id(simulator, signed) -> None:
    limit = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1"}
    low = await signed("POST", ORDER, {**limit, "price": "100", "newClientOrderId": "lim-1"})
    order_id = low.json()["orderId"]
    assert low.json()["price"] == "100" and low.json()["origQty"] == "0.1"
    locked = simulator.exchange.balances["USDT"].locked
    assert locked >= Decimal("10")
    by_client = await signed("GET", ORDER, {"symbol": "ETHUSDT", "origClientOrderId": "lim-1"})
    assert by_client.json()["orderId"] == order_id and by_client.json()["status"] == "NEW"
    opened = (await signed("GET", "/api/v3/openOrders", {"symbol": "ETHUSDT"})).json()
    assert [o["orderId"] for o in opened] == [order_id]
    cancel = await signed("DELETE", ORDER, {"symbol": "ETHUSDT", "origClientOrderId": "lim-1"})
    assert cancel.json()["status"] == "CANCELED" and cancel.json()["orderId"] == order_id
    assert simulator.exchange.balances["USDT"].locked == 0
    assert simulator.exchange.balances["USDT"].free == Decimal("10000")
    again = await signed("DELETE", ORDER, {"symbol": "ETHUSDT", "orderId": order_id})
    assert again.json()["code"] == -2011
    missing = await signed("GET", ORDER, {"symbol": "ETHUSDT", "orderId": "C02__1"})
    assert (missing.status_code, missing.json()) == (
        400,
        {"code": -2013, "msg": "Order does not exist."},
    )
    neither = await signed("GET", ORDER, {"symbol": "ETHUSDT"})
    assert neither.json()["code"] == 700004
    market = await signed("POST", ORDER, buy("10", newClientOrderId="mk-1"))
    final = await signed(
        "DELETE", ORDER, {"symbol": "BTCUSDT", "orderId": market.json()["orderId"]}
    )
    assert final.json()["code"] == -2011  # MARKET orders are final at once


async def test_crossing_limit_fills_and_resting_limit_fills_on_a_move(simulator, signed) -> None:
    ask = simulator.exchange.symbols["MXUSDT"].market.best_ask().price
    r = await signed(
        "POST",
        ORDER,
        {"symbol": "MXUSDT", "side": "BUY", "type": "LIMIT", "quantity": "5", "price": str(ask)},
    )
    q = await signed("GET", ORDER, {"symbol": "MXUSDT", "orderId": r.json()["orderId"]})
    assert q.json()["status"] == "FILLED"
    rest = await signed(
        "POST",
        ORDER,
        {"symbol": "MXUSDT", "side": "SELL", "type": "LIMIT", "quantity": "4.99", "price": "9"},
    )  # 5 bought, less the fee taken in MX
    simulator.exchange.inject_trade("MXUSDT", price=Decimal("9.5"))
    q = await signed("GET", ORDER, {"symbol": "MXUSDT", "orderId": rest.json()["orderId"]})
    assert q.json()["status"] == "FILLED" and q.json()["cummulativeQuoteQty"] == "44.91"


async def test_symbol_answers_10007_until_open_and_api_enabled(simulator, signed, control) -> None:
    ex = simulator.exchange
    ex.list_symbol("SOONUSDT", "0.05", open_in_ms=60_000, api_enable_delay_ms=60_000)
    assert (await signed("POST", ORDER, buy("10", "SOONUSDT"))).json()["code"] == 10007
    assert "SOONUSDT" not in (await control.get("/api/v3/defaultSymbols")).json()["data"]
    info = await control.get("/api/v3/exchangeInfo", params={"symbol": "SOONUSDT"})
    assert info.json()["code"] == -1121  # not visible before open (default)
    calendar = (await control.get(simulator.calendar_url, params={"timestamp": 1})).json()
    (coin,) = calendar["data"]["newCoins"]
    assert coin["vcoinName"] == "SOON" and coin["zone"] == "NEW"
    assert coin["firstOpenTime"] == ex.symbols["SOONUSDT"].open_at_ms

    simulator.clock.offset_ms += 60_000  # open, but not API-enabled yet
    assert (await signed("POST", ORDER, buy("10", "SOONUSDT"))).json()["code"] == 10007
    info = await control.get("/api/v3/exchangeInfo", params={"symbol": "SOONUSDT"})
    assert info.json()["symbols"][0]["isSpotTradingAllowed"] is False
    price = await control.get("/api/v3/ticker/price", params={"symbol": "SOONUSDT"})
    assert abs(Decimal(price.json()["price"]) / Decimal("0.05") - 1) < Decimal("0.1")

    simulator.clock.offset_ms += 60_000
    r = await signed("POST", ORDER, buy("10", "SOONUSDT"))
    assert r.status_code == 200, r.text
    assert "SOONUSDT" in (await control.get("/api/v3/defaultSymbols")).json()["data"]


async def test_listing_opens_on_its_timer(simulator, signed) -> None:
    sym = simulator.exchange.list_symbol("TIMERUSDT", "1.5", open_in_ms=100)
    assert not sym.opened
    await simulator.exchange.wait_open("TIMERUSDT", timeout=2)
    assert simulator.clock.now_ms() >= sym.open_at_ms
    r = await signed("POST", ORDER, buy("10", "TIMERUSDT"))
    assert r.status_code == 200, r.text


async def test_pre_open_visibility_option(simulator_factory) -> None:
    sim = await simulator_factory(exchange_info_pre_open=True)
    sim.exchange.list_symbol("EARLYUSDT", "0.2", open_in_ms=60_000)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        info = await http.get("/api/v3/exchangeInfo", params={"symbol": "EARLYUSDT"})
    (early,) = info.json()["symbols"]
    assert early["status"] == "2" and early["isSpotTradingAllowed"] is False


async def test_empty_book_window_then_trading(simulator, signed) -> None:
    simulator.exchange.list_symbol("THINUSDT", "0.3", open_in_ms=0, empty_book_ms=60_000)
    await simulator.exchange.wait_open("THINUSDT", timeout=2)
    r = await signed("POST", ORDER, buy("10", "THINUSDT"))
    assert r.json()["code"] == 30010
    simulator.clock.offset_ms += 60_000
    r = await signed("POST", ORDER, buy("10", "THINUSDT"))
    assert r.status_code == 200


async def test_market_order_that_empties_the_book_is_partially_canceled(simulator, signed):
    simulator.exchange.set_balance("USDT", "100000")
    r = await signed("POST", ORDER, buy("90000", "MXUSDT"))
    q = await signed("GET", ORDER, {"symbol": "MXUSDT", "orderId": r.json()["orderId"]})
    assert q.json()["status"] == "PARTIALLY_CANCELED"
    assert Decimal(q.json()["cummulativeQuoteQty"]) < 90000


async def test_rate_limit_429_then_418_ban_then_recovery(simulator_factory) -> None:
    sim = await simulator_factory(rate_limit=5, rate_limit_ban_after=2, rate_limit_ban_s=0.3)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        for _ in range(5):
            assert (await http.get("/api/v3/ping")).status_code == 200
        r = await http.get("/api/v3/ping")
        assert r.status_code == 429 and r.json()["code"] == 429
        assert int(r.headers["Retry-After"]) >= 1
        r = await http.get("/api/v3/ping")
        assert r.status_code == 418 and int(r.headers["Retry-After"]) >= 1
        assert (await http.get("/api/v3/time")).status_code == 418
        assert (await http.get("/_sim/state")).status_code == 200  # control is never limited
        await asyncio.sleep(0.35)  # the ban is time-based: nothing to await but the clock
        assert (await http.get("/api/v3/ping")).status_code == 200
