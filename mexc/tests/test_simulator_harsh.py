"""Simulator: the harsh defaults and their switches (mexc/simulator/README.md), over loopback."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx

from mexc.simulator import SimulatorConfig
from mexc.simulator.__main__ import parse_args

ORDER = "/api/v3/order"


def buy(quote: str = "20", symbol: str = "BTCUSDT", **extra: object) -> dict[str, object]:
    return {"symbol": symbol, "side": "BUY", "type": "MARKET", "quoteOrderQty": quote, **extra}


def limit(price: str, coid: str | None = None) -> dict[str, object]:
    order = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1", "price": price}
    return {**order, "newClientOrderId": coid} if coid else order


async def test_lookup_lag_hides_new_orders_from_lookups_but_not_from_the_log(
    simulator, control, signed
) -> None:
    r = await control.post("/_sim/faults", json={"kind": "lookup_lag", "ms": 400, "count": 1})
    assert r.status_code == 201 and r.json()["kind"] == "lookup_lag"
    lagged = (await signed("POST", ORDER, limit("100", "lag-1"))).json()
    seen = (await signed("POST", ORDER, limit("101", "lag-2"))).json()  # count 1: not hidden
    q = await signed("GET", ORDER, {"symbol": "ETHUSDT", "orderId": lagged["orderId"]})
    assert (q.status_code, q.json()) == (400, {"code": -2013, "msg": "Order does not exist."})
    q = await signed("GET", ORDER, {"symbol": "ETHUSDT", "origClientOrderId": "lag-1"})
    assert q.json()["code"] == -2013
    opened = (await signed("GET", "/api/v3/openOrders", {"symbol": "ETHUSDT"})).json()
    assert [o["orderId"] for o in opened] == [seen["orderId"]]
    every = (await signed("GET", "/api/v3/allOrders", {"symbol": "ETHUSDT"})).json()
    assert [o["orderId"] for o in every] == [seen["orderId"]]
    log = (await control.get("/_sim/orders")).json()["orders"]
    assert log[0]["orderId"] == lagged["orderId"]  # it exists all along
    assert (await control.get("/_sim/faults")).json()["faults"] == []
    created = simulator.exchange.orders[lagged["orderId"]].time_ms
    await asyncio.sleep(max(0.0, (created + 400 - simulator.clock.now_ms()) / 1000) + 0.02)
    q = await signed("GET", ORDER, {"symbol": "ETHUSDT", "orderId": lagged["orderId"]})
    assert q.json()["status"] == "NEW"
    opened = (await signed("GET", "/api/v3/openOrders", {"symbol": "ETHUSDT"})).json()
    assert len(opened) == 2


async def test_duplicate_client_ids_accepted_by_default_rejected_by_switch(
    simulator, control, signed
) -> None:
    assert (await control.get("/_sim/config")).json()["duplicate_client_ids"] == "accept"
    first = (await signed("POST", ORDER, limit("100", "dup"))).json()
    second = (await signed("POST", ORDER, limit("102", "dup"))).json()
    assert first["orderId"] != second["orderId"] and second["clientOrderId"] == "dup"
    q = (await signed("GET", ORDER, {"symbol": "ETHUSDT", "origClientOrderId": "dup"})).json()
    assert q["orderId"] == second["orderId"] and q["price"] == "102"  # the most recent
    r = await control.post("/_sim/config", json={"duplicate_client_ids": "reject"})
    assert r.status_code == 200 and r.json()["duplicate_client_ids"] == "reject"
    r = await signed("POST", ORDER, limit("103", "dup"))
    assert r.json() == {"code": 26, "msg": "Duplicate client order id."}
    bad = await control.post("/_sim/config", json={"duplicate_client_ids": "maybe"})
    assert bad.status_code == 400
    assert (await control.get("/_sim/config")).json()["duplicate_client_ids"] == "reject"
    assert (await control.post("/_sim/config", json={"nope": 1})).status_code == 400


async def test_by_default_a_new_order_is_invisible_to_lookups_for_a_moment(
    simulator, control, signed
) -> None:
    """MEXC answers -2013 for an order it has just accepted (ccxt #21614): the simulator's
    default lag (100 ms); `lookup_lag_ms` 0 (these tests' fixture) is the kinder switch."""
    assert SimulatorConfig().lookup_lag_ms == 100
    r = await control.post("/_sim/config", json={"lookup_lag_ms": 100})
    assert r.status_code == 200
    placed = (await signed("POST", ORDER, limit("100", "soon"))).json()
    q = await signed("GET", ORDER, {"symbol": "ETHUSDT", "orderId": placed["orderId"]})
    assert q.json()["code"] == -2013
    assert (await signed("GET", "/api/v3/openOrders", {"symbol": "ETHUSDT"})).json() == []
    created = simulator.exchange.orders[placed["orderId"]].time_ms
    await asyncio.sleep(max(0.0, (created + 100 - simulator.clock.now_ms()) / 1000) + 0.02)
    q = await signed("GET", ORDER, {"symbol": "ETHUSDT", "orderId": placed["orderId"]})
    assert q.json()["status"] == "NEW"


def test_cli_flags_and_defaults() -> None:
    d = SimulatorConfig()
    assert (d.fee_mode, d.duplicate_client_ids, d.rate_limit_ban_s) == ("received", "accept", 120)
    assert d.lookup_lag_ms == 100 and parse_args(["--lookup-lag-ms", "0"]).lookup_lag_ms == 0
    assert d.ws_no_data_timeout_s == 60
    cfg = parse_args(["--duplicate-client-ids", "reject", "--ws-no-data-timeout-s", "5"])
    assert cfg.duplicate_client_ids == "reject" and cfg.ws_no_data_timeout_s == 5
    assert parse_args([]).rate_limit_ban_s == 120
    assert parse_args(["--fee-mode", "quote"]).fee_mode == "quote"


async def test_market_ack_shape_and_protective_price_switch(simulator, control, signed) -> None:
    ack = (await signed("POST", ORDER, buy("20"))).json()
    assert list(ack) == [
        "symbol",
        "orderId",
        "orderListId",
        "price",
        "origQty",
        "type",
        "side",
        "transactTime",
    ]
    assert ack["price"] == "0" and ack["orderListId"] == -1 and Decimal(ack["origQty"]) > 0
    ask = simulator.exchange.symbols["BTCUSDT"].market.best_ask().price
    assert Decimal(ack["origQty"]) <= Decimal(20) / (ask * Decimal("1.05"))
    await control.post("/_sim/config", json={"market_ack_price": "protect"})
    ack = (await signed("POST", ORDER, buy("20"))).json()
    assert Decimal(ack["price"]) > ask  # the protective price, as live acks show


async def test_too_many_decimals_are_refused(simulator, signed) -> None:
    market = simulator.exchange.symbols["BTCUSDT"].market  # quantity 6 decimals, quote 2
    r = await signed("POST", ORDER, buy("20.001"))
    assert (r.status_code, r.json()) == (400, {"code": 400, "msg": " amount scale is invalid"})
    qty = "0.0000001"
    assert len(qty.split(".")[1]) > market.qty_scale
    r = await signed(
        "POST", ORDER, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": qty}
    )
    assert r.json() == {"code": 400, "msg": "quantity scale is invalid"}
    assert (await signed("POST", ORDER, buy("20.01"))).status_code == 200


async def test_waf_403_answers_html_on_any_path_including_the_calendar(control) -> None:
    r = await control.post(
        "/_sim/faults",
        json={"kind": "waf_403", "path": "/api/operation/new_coin_calendar", "count": 1},
    )
    assert r.status_code == 201
    assert (await control.get("/api/v3/ping")).status_code == 200  # another path: untouched
    r = await control.get("/api/operation/new_coin_calendar")
    assert r.status_code == 403 and r.headers["Content-Type"].startswith("text/html")
    assert "Access Denied" in r.text and r.text.startswith("<html>")
    assert (await control.get("/api/operation/new_coin_calendar")).status_code == 200
    await control.post("/_sim/faults", json={"kind": "waf_403", "method": "GET", "count": 2})
    assert (await control.get("/api/v3/time")).status_code == 403
    assert (await control.post("/api/v3/order")).status_code != 403  # method filter
    assert (await control.get("/api/v3/ping")).status_code == 403
    assert (await control.get("/api/v3/ping")).status_code == 200


async def test_order_log_stamps_arrival_in_exchange_microseconds(simulator_factory) -> None:
    sim = await simulator_factory(clock_offset_ms=-3_600_000)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        await http.post("/_sim/faults", json={"kind": "latency", "ms": 300, "path": ORDER})
        before_us = sim.clock.now_us()
        query = sim.signed_query(buy("20"))
        await http.post(f"{ORDER}?{query}", headers={"X-MEXC-APIKEY": sim.api_key})
        (entry,) = (await http.get("/_sim/orders")).json()["orders"]
    stamp = entry["received_at_us"]
    assert before_us <= stamp < before_us + 200_000  # before the 300 ms latency, offset applied
    assert entry["received_at_ms"] == stamp // 1000
    assert sim.exchange.orders[entry["orderId"]].time_ms >= stamp // 1000 + 300


async def test_ban_lasts_as_configured_and_the_default_is_two_minutes(simulator_factory) -> None:
    sim = await simulator_factory(rate_limit=2, rate_limit_ban_after=1, rate_limit_ban_s=120)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        for _ in range(2):
            await http.get("/api/v3/ping")
        r = await http.get("/api/v3/ping")
        assert r.status_code == 418 and int(r.headers["Retry-After"]) == 120
    assert SimulatorConfig().rate_limit_ban_s == 120


async def test_klines_and_trades_reveal_the_real_open(simulator, control) -> None:
    sym = simulator.exchange.list_symbol("KLNUSDT", price="0.5", open_in_ms=50)
    await simulator.exchange.wait_open("KLNUSDT", timeout=2)
    await control.post("/_sim/trades", json={"symbol": "KLNUSDT", "price": "0.7"})
    r = await control.get("/api/v3/trades", params={"symbol": "KLNUSDT", "limit": 1000})
    trades = r.json()
    assert trades[0]["price"] == "0.5" and trades[0]["time"] >= sym.open_at_ms
    assert set(trades[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker"} | {
        "isBestMatch"
    }
    assert "0.7" in [t["price"] for t in trades]
    r = await control.get(
        "/api/v3/klines",
        params={"symbol": "KLNUSDT", "interval": "1m", "startTime": 0, "limit": 1},
    )
    ((open_time, o, h, low, c, vol, close_time, qvol),) = r.json()
    assert open_time == sym.open_at_ms - sym.open_at_ms % 60_000
    assert close_time == open_time + 60_000
    assert o == "0.5" and Decimal(h) >= Decimal("0.7") and Decimal(vol) > 0 and Decimal(qvol) > 0
    assert Decimal(low) <= Decimal(c)
    r = await control.get("/api/v3/klines", params={"symbol": "KLNUSDT", "interval": "7m"})
    assert r.status_code == 400
    r = await control.get("/api/v3/klines", params={"symbol": "NOPEUSDT", "interval": "1m"})
    assert r.json()["code"] == -1121


async def test_ioc_fok_and_oversold_sells(simulator, signed) -> None:
    market = simulator.exchange.symbols["MXUSDT"].market
    ask = market.best_ask()
    best_qty = ask.qty
    base = {"symbol": "MXUSDT", "side": "BUY", "price": str(ask.price)}
    too_much = str(best_qty + 1)  # more than the best level holds at that price
    ioc = (
        await signed("POST", ORDER, {**base, "type": "IMMEDIATE_OR_CANCEL", "quantity": too_much})
    ).json()
    q = (await signed("GET", ORDER, {"symbol": "MXUSDT", "orderId": ioc["orderId"]})).json()
    assert q["status"] == "PARTIALLY_CANCELED" and Decimal(q["executedQty"]) == best_qty
    ask = market.best_ask()
    fok = (
        await signed(
            "POST",
            ORDER,
            {**base, "price": str(ask.price), "type": "FILL_OR_KILL", "quantity": str(ask.qty + 1)},
        )
    ).json()
    q = (await signed("GET", ORDER, {"symbol": "MXUSDT", "orderId": fok["orderId"]})).json()
    assert q["status"] == "CANCELED" and q["executedQty"] == "0"
    assert simulator.exchange.balances["USDT"].locked == 0
    held = market.qty_q(simulator.exchange.balances["MX"].free)
    r = await signed(
        "POST",
        ORDER,
        {"symbol": "MXUSDT", "side": "SELL", "type": "MARKET", "quantity": str(held + 1)},
    )
    assert r.json() == {"code": 30004, "msg": "Insufficient position"}
