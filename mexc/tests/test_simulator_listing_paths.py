"""Simulator: listing options (price paths, market block, price band, tradeSideType) and the
IOC/FOK book walk, over loopback (mexc/simulator/README.md "Listing options")."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
from websockets.asyncio.client import connect

from mexc.proto import push_pb2
from mexc.simulator.__main__ import parse_args

ORDER = "/api/v3/order"
FROZEN = 10**9  # path_step_ms: the path never steps again, so the book holds still


async def listing(control: httpx.AsyncClient, symbol: str, **params) -> dict:
    spec = {"symbol": symbol, "price": "0.5", "open_in_ms": 0, **params}
    r = await control.post("/_sim/listings", json=spec)
    assert r.status_code == 201, r.text
    return r.json()


async def listed(control: httpx.AsyncClient, symbol: str, **query) -> dict:
    body = (await control.get("/_sim/listings", params=query)).json()
    return next(s for s in body["listings"] if s["symbol"] == symbol)


async def jump_to(simulator, control: httpx.AsyncClient, at_ms: int) -> None:
    """Move the exchange clock so that ``now`` is ``at_ms`` (exchange time)."""
    offset = simulator.clock.offset_ms + at_ms - simulator.clock.now_ms()
    r = await control.post("/_sim/clock", json={"offset_ms": offset})
    assert r.status_code == 200


async def last_price(control: httpx.AsyncClient, symbol: str) -> Decimal:
    r = await control.get("/api/v3/ticker/price", params={"symbol": symbol})
    return Decimal(r.json()["price"])


def order(symbol: str, side: str, type_: str, **params) -> dict:
    return {"symbol": symbol, "side": side, "type": type_, **params}


async def test_paths_are_deterministic_with_their_documented_shapes(control) -> None:
    for symbol, kind in (("SPKAUSDT", "spike"), ("FLTAUSDT", "flat")):
        await listing(control, symbol, path=kind, open_in_ms=60_000)
    await listing(control, "SPKBUSDT", path="spike", open_in_ms=60_000, price="123.4")
    await listing(control, "SPKCUSDT", path="spike", seed=2, open_in_ms=60_000)
    await listing(control, "RUGAUSDT", path="rug", seed=5, open_in_ms=60_000)
    await listing(control, "MONAUSDT", path="moon", seed=9, open_in_ms=60_000)
    spike = (await listed(control, "SPKAUSDT", at_ms="0,60000"))["path"]
    assert spike["kind"] == "spike" and spike["seed"] == 1 and spike["start_ms"] is None
    assert spike["open_price"] == "0.5" and spike["schedule"][0] == {"offset_ms": 0, "price": "0.5"}
    peak = Decimal(spike["peak_price"]) / Decimal("0.5")
    assert 2.9 < peak < 5.2 and 2000 <= spike["peak_offset_ms"] <= 5500
    at_minute = Decimal(spike["at"][1]["price"]) / Decimal("0.5")
    assert spike["at"][0]["price"] == "0.5" and Decimal("1.15") < at_minute < Decimal("1.6")
    # The same seed: the same multiples whatever the symbol or open price.
    other = (await listed(control, "SPKBUSDT"))["path"]
    assert other["peak_offset_ms"] == spike["peak_offset_ms"]
    ratio = Decimal(other["peak_price"]) / Decimal("123.4")
    assert abs(ratio - peak) < Decimal("0.001")
    seed2 = (await listed(control, "SPKCUSDT"))["path"]
    assert seed2["schedule"] != spike["schedule"] and seed2["seed"] == 2
    flat = (await listed(control, "FLTAUSDT"))["path"]
    prices = [Decimal(p["price"]) for p in flat["schedule"]]
    assert all(abs(p / Decimal("0.5") - 1) < Decimal("0.02") for p in prices)
    rug = (await listed(control, "RUGAUSDT", at_ms="60000"))["path"]
    assert Decimal(rug["at"][0]["price"]) <= Decimal("0.5") * Decimal("0.2")
    assert Decimal(rug["low_price"]) >= Decimal("0.5") * Decimal("0.04")
    moon = (await listed(control, "MONAUSDT", at_ms="60000"))["path"]
    assert moon["duration_ms"] >= 240_000 and Decimal(moon["final_price"]) >= Decimal("1.4")
    assert Decimal(moon["at"][0]["price"]) < Decimal(moon["final_price"]) / 2  # steady climb
    r = await control.post("/_sim/listings", json={"symbol": "BADUSDT", "price": 1, "path": "x"})
    assert r.status_code == 400


async def test_spike_drives_trades_book_tickers_klines_and_deals(simulator, control) -> None:
    await listing(control, "SPIKEUSDT", path="spike", path_step_ms=1000)
    symbol = "SPIKEUSDT"
    path = (await listed(control, symbol))["path"]
    assert path["start_ms"] is not None and path["step_ms"] == 1000
    assert await last_price(control, symbol) == Decimal("0.5")  # the open
    async with connect(simulator.ws_url) as ws:
        channel = f"spot@public.aggre.deals.v3.api.pb@10ms@{symbol}"
        await ws.send(json.dumps({"method": "SUBSCRIPTION", "params": [channel], "id": 1}))
        await jump_to(simulator, control, path["start_ms"] + path["peak_offset_ms"] + 300)
        peak = Decimal(path["peak_price"])
        assert await last_price(control, symbol) == peak
        seen = []
        while Decimal(peak) not in seen:
            frame = await asyncio.wait_for(ws.recv(), 2)
            if isinstance(frame, bytes):
                wrapper = push_pb2.PushDataV3ApiWrapper()
                wrapper.ParseFromString(frame)
                seen += [Decimal(d.price) for d in wrapper.publicAggreDeals.deals]
    depth = (await control.get("/api/v3/depth", params={"symbol": symbol})).json()
    assert len(depth["asks"]) == len(depth["bids"]) == 10
    asks = [Decimal(p) for p, _ in depth["asks"]]
    bids = [Decimal(p) for p, _ in depth["bids"]]
    assert bids[0] < peak < asks[0] and asks == sorted(asks) and bids == sorted(bids)[::-1]
    assert asks[0] / peak - 1 < Decimal("0.004") and asks[1] / asks[0] - 1 > Decimal("0.004")
    top = (await control.get("/api/v3/ticker/bookTicker", params={"symbol": symbol})).json()
    assert Decimal(top["askPrice"]) == asks[0] and Decimal(top["bidPrice"]) == bids[0]
    day = (await control.get("/api/v3/ticker/24hr", params={"symbol": symbol})).json()
    assert Decimal(day["highPrice"]) == peak and day["openPrice"] == "0.5"
    # A minute later: back toward 1.2-1.5x.
    await jump_to(simulator, control, path["start_ms"] + 60_500)
    settled = await last_price(control, symbol) / Decimal("0.5")
    assert Decimal("1.15") < settled < Decimal("1.6")
    bars = (
        await control.get(
            "/api/v3/klines", params={"symbol": symbol, "interval": "1m", "startTime": 0}
        )
    ).json()
    assert bars[0][1] == "0.5" and max(Decimal(b[2]) for b in bars) == peak
    trades = (await control.get("/api/v3/trades", params={"symbol": symbol})).json()
    assert trades[0]["price"] == "0.5" and Decimal(trades[-1]["price"]) / Decimal("0.5") == settled
    # Past the path's end: over, the random walk takes over.
    await jump_to(simulator, control, path["start_ms"] + path["duration_ms"] + 10)
    await last_price(control, symbol)
    assert (await listed(control, symbol))["path"]["ended_by"] == "clock"


async def test_sim_trades_moves_the_book_and_ends_a_path(control) -> None:
    await listing(control, "HANDUSDT", path="flat", path_step_ms=FROZEN)
    r = await control.post("/_sim/trades", json={"symbol": "HANDUSDT", "price": "1.2"})
    assert r.status_code == 200
    assert await last_price(control, "HANDUSDT") == Decimal("1.2")
    top = (await control.get("/api/v3/ticker/bookTicker", params={"symbol": "HANDUSDT"})).json()
    assert Decimal(top["bidPrice"]) < Decimal("1.2") < Decimal(top["askPrice"]) < Decimal("1.21")
    path = (await listed(control, "HANDUSDT"))["path"]
    assert path["done"] is True and path["ended_by"] == "trade"


async def test_market_orders_blocked_after_the_open(simulator, control, signed) -> None:
    await listing(control, "BLKUSDT", path="flat", path_step_ms=FROZEN, market_block_ms=60_000)
    await control.post("/_sim/balances", json={"BLK": "100"})
    info = await listed(control, "BLKUSDT")
    assert info["market_block_ms"] == 60_000 and info["market_blocked"] is True
    refused = {"code": 30051, "msg": "api market order is disabled"}
    r = await signed("POST", ORDER, order("BLKUSDT", "BUY", "MARKET", quoteOrderQty="10"))
    assert (r.status_code, r.json()) == (400, refused)
    r = await signed("POST", ORDER, order("BLKUSDT", "SELL", "MARKET", quantity="20"))
    assert (r.status_code, r.json()) == (400, refused)
    r = await signed(
        "POST", "/api/v3/order/test", order("BLKUSDT", "SELL", "MARKET", quantity="20")
    )
    assert r.json() == refused
    r = await signed("POST", ORDER, order("BLKUSDT", "BUY", "LIMIT", quantity="20", price="0.5"))
    assert r.status_code == 200  # limit orders are fine
    await control.post("/_sim/config", json={"market_block_code": 30019})
    r = await signed("POST", ORDER, order("BLKUSDT", "BUY", "MARKET", quoteOrderQty="10"))
    assert r.json() == {"code": 30019, "msg": "api market order is disabled"}
    await jump_to(simulator, control, info["open_at_ms"] + 60_000)
    r = await signed("POST", ORDER, order("BLKUSDT", "BUY", "MARKET", quoteOrderQty="10"))
    assert r.status_code == 200, r.text
    assert (await listed(control, "BLKUSDT"))["market_blocked"] is False


async def test_price_band_refuses_limit_ioc_fok_beyond_last(control, signed) -> None:
    await listing(control, "BANDUSDT", path="flat", path_step_ms=FROZEN, max_price_band_pct=10)
    await control.post("/_sim/balances", json={"BAND": "1000"})
    assert (await listed(control, "BANDUSDT"))["price_band_pct"] == "10"
    for type_ in ("LIMIT", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "LIMIT_MAKER"):
        r = await signed(
            "POST", ORDER, order("BANDUSDT", "BUY", type_, quantity="20", price="0.55001")
        )
        assert (r.status_code, r.json()) == (
            400,
            {"code": 30010, "msg": "Order price cannot exceed 0.55USDT"},
        )
        r = await signed(
            "POST", ORDER, order("BANDUSDT", "SELL", type_, quantity="20", price="0.44999")
        )
        assert (r.status_code, r.json()) == (
            400,
            {"code": 30010, "msg": "Order price cannot be lower than 0.45USDT"},
        )
    # The bound itself is allowed (LIMIT_MAKER: accepted, canceled as it crosses, no trade
    # that would move the last price).
    r = await signed(
        "POST", ORDER, order("BANDUSDT", "BUY", "LIMIT_MAKER", quantity="20", price="0.55")
    )
    assert r.status_code == 200
    r = await signed(
        "POST", ORDER, order("BANDUSDT", "SELL", "LIMIT_MAKER", quantity="20", price="0.45")
    )
    assert r.status_code == 200
    assert await last_price(control, "BANDUSDT") == Decimal("0.5")
    r = await signed("POST", ORDER, order("BANDUSDT", "BUY", "MARKET", quoteOrderQty="10"))
    assert r.status_code == 200  # MARKET orders have their own protective price
    # The band follows the last price.
    await control.post("/_sim/trades", json={"symbol": "BANDUSDT", "price": "1"})
    r = await signed("POST", ORDER, order("BANDUSDT", "BUY", "LIMIT", quantity="20", price="1.11"))
    assert r.json() == {"code": 30010, "msg": "Order price cannot exceed 1.1USDT"}


async def test_default_band_is_none_and_has_a_switch(simulator_factory, signed) -> None:
    assert parse_args([]).default_price_band_pct is None
    assert parse_args(["--default-price-band-pct", "5"]).default_price_band_pct == Decimal(5)
    assert parse_args(["--market-block-code", "30018"]).market_block_code == 30018
    sim = await simulator_factory(default_price_band_pct=5)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:

        async def post(params: dict) -> httpx.Response:
            query = sim.signed_query(params)
            return await http.post(f"{ORDER}?{query}", headers={"X-MEXC-APIKEY": sim.api_key})

        await listing(http, "DEFUSDT", path="flat", path_step_ms=FROZEN)
        await listing(http, "NOBUSDT", path="flat", path_step_ms=FROZEN, max_price_band_pct=None)
        assert (await listed(http, "DEFUSDT"))["price_band_pct"] == "5"
        r = await post(order("DEFUSDT", "BUY", "LIMIT", quantity="20", price="0.6"))
        assert r.json() == {"code": 30010, "msg": "Order price cannot exceed 0.525USDT"}
        r = await post(order("NOBUSDT", "BUY", "LIMIT", quantity="20", price="0.6"))
        assert r.status_code == 200  # explicit null: no band
        r = await http.post("/_sim/config", json={"default_price_band_pct": None})
        assert r.json()["default_price_band_pct"] is None
        r = await post(order("DEFUSDT", "BUY", "LIMIT", quantity="20", price="0.6"))
        assert r.status_code == 200
        r = await http.post("/_sim/config", json={"default_price_band_pct": "-1"})
        assert r.status_code == 400


async def test_trade_side_type_restricts_sides(control, signed) -> None:
    await control.post("/_sim/balances", json={"BOBO": "100", "SOSO": "100", "CLCL": "100"})
    for symbol, kind in (("BOBOUSDT", 2), ("SOSOUSDT", 3), ("CLCLUSDT", 4)):
        await listing(control, symbol, path="flat", path_step_ms=FROZEN, trade_side_type=kind)
        info = (await control.get("/api/v3/exchangeInfo", params={"symbol": symbol})).json()
        assert info["symbols"][0]["tradeSideType"] == kind
    refused = {"code": 30001, "msg": "current transaction direction not allowed"}

    async def place(symbol: str, side: str) -> httpx.Response:
        return await signed("POST", ORDER, order(symbol, side, "LIMIT", quantity="20", price="0.5"))

    assert (await place("BOBOUSDT", "SELL")).json() == refused
    assert (await place("BOBOUSDT", "BUY")).status_code == 200
    assert (await place("SOSOUSDT", "BUY")).json() == refused
    assert (await place("SOSOUSDT", "SELL")).status_code == 200
    assert (await place("CLCLUSDT", "BUY")).json() == refused
    assert (await place("CLCLUSDT", "SELL")).json() == refused
    r = await control.post(
        "/_sim/listings", json={"symbol": "TSTUSDT", "price": "1", "trade_side_type": 5}
    )
    assert r.status_code == 400


async def test_ioc_and_fok_walk_the_book_depth_shows(simulator, control, signed) -> None:
    symbol = "WALKUSDT"
    await listing(control, symbol, path="flat", path_step_ms=FROZEN)
    await control.post("/_sim/balances", json={"WALK": "100000"})
    depth = (await control.get("/api/v3/depth", params={"symbol": symbol})).json()
    asks = [(Decimal(p), Decimal(q)) for p, q in depth["asks"]]
    bids = [(Decimal(p), Decimal(q)) for p, q in depth["bids"]]
    assert len(asks) == len(bids) == 10 and all(q > 0 for _, q in asks + bids)

    async def place(side: str, type_: str, price: Decimal, qty: Decimal) -> dict:
        params = order(symbol, side, type_, quantity=str(qty), price=str(price))
        r = await signed("POST", ORDER, params)
        assert r.status_code == 200, r.text
        q = await signed("GET", ORDER, {"symbol": symbol, "orderId": r.json()["orderId"]})
        return q.json()

    tick = simulator.exchange.symbols[symbol].market.tick
    # A cap below the best ask: nothing fills.
    q = await place("BUY", "IMMEDIATE_OR_CANCEL", asks[0][0] - tick, Decimal(20))
    assert (q["status"], q["executedQty"]) == ("CANCELED", "0")
    # A cap at the second level, more than three levels' worth: two levels fill.
    wanted = asks[0][1] + asks[1][1] + asks[2][1]
    q = await place("BUY", "IMMEDIATE_OR_CANCEL", asks[1][0], wanted)
    assert q["status"] == "PARTIALLY_CANCELED"
    assert Decimal(q["executedQty"]) == asks[0][1] + asks[1][1]
    assert Decimal(q["cummulativeQuoteQty"]) == asks[0][0] * asks[0][1] + asks[1][0] * asks[1][1]
    after = (await control.get("/api/v3/depth", params={"symbol": symbol})).json()
    assert [[Decimal(p), Decimal(v)] for p, v in after["asks"]] == [list(a) for a in asks[2:]]
    assert after["lastUpdateId"] > depth["lastUpdateId"]
    # FOK: all or nothing.
    q = await place("BUY", "FILL_OR_KILL", asks[3][0], asks[2][1] + asks[3][1] + 1)
    assert (q["status"], q["executedQty"]) == ("CANCELED", "0")
    q = await place("BUY", "FILL_OR_KILL", asks[3][0], asks[2][1] + asks[3][1])
    assert q["status"] == "FILLED"
    # SELL IOC walks the bids the same way.
    q = await place("SELL", "IMMEDIATE_OR_CANCEL", bids[0][0] + tick, Decimal(20))
    assert (q["status"], q["executedQty"]) == ("CANCELED", "0")
    q = await place("SELL", "IMMEDIATE_OR_CANCEL", bids[1][0], bids[0][1] + bids[1][1] + 5)
    assert q["status"] == "PARTIALLY_CANCELED"
    assert Decimal(q["executedQty"]) == bids[0][1] + bids[1][1]
    balances = simulator.exchange.balances
    assert balances["USDT"].locked == 0 and balances["WALK"].locked == 0
    # Oversold: every type checks the base balance.
    await control.post("/_sim/balances", json={"WALK": "1"})
    for type_ in ("LIMIT", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "MARKET"):
        params = order(symbol, "SELL", type_, quantity="20")
        if type_ != "MARKET":
            params["price"] = str(asks[5][0])
        r = await signed("POST", ORDER, params)
        assert r.json() == {"code": 30004, "msg": "Insufficient position"}, type_
