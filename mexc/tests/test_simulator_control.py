"""Simulator: the ``/_sim`` control API, scenarios, and the ``python -m`` process."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx

from mexc.simulator import SimulatorProcess
from mexc.simulator.scenario import load_scenario

ORDER = "/api/v3/order"


async def eventually(check, timeout: float = 2.0) -> None:
    """For effects of the scenario's own timers, which tests cannot hook into."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_order_log_records_every_request_in_arrival_order(simulator, control, signed):
    base = {"side": "BUY", "type": "MARKET"}
    await signed("POST", ORDER, {**base, "symbol": "BTCUSDT", "quoteOrderQty": "10"})
    await signed("POST", ORDER, {**base, "symbol": "NOPEUSDT", "quoteOrderQty": "10"})
    await signed(
        "POST", ORDER, {**base, "symbol": "BTCUSDT", "quoteOrderQty": "1", "newClientOrderId": "c"}
    )
    await control.post(f"{ORDER}?symbol=BTCUSDT", headers={"X-MEXC-APIKEY": "bad"})
    log = (await control.get("/_sim/orders")).json()["orders"]
    assert [(o["symbol"], o["status"], o["error_code"]) for o in log] == [
        ("BTCUSDT", "FILLED", None),
        ("NOPEUSDT", "REJECTED", 10007),
        ("BTCUSDT", "REJECTED", 30002),
        ("BTCUSDT", "REJECTED", 10072),
    ]
    assert log[0]["orderId"].startswith("C02__") and log[0]["quoteOrderQty"] == "10"
    assert log[2]["clientOrderId"] == "c" and log[1]["orderId"] is None
    times = [o["received_at_ms"] for o in log]
    assert times == sorted(times)


async def test_listing_control_delist_and_relist(simulator, control, signed) -> None:
    r = await control.post(
        "/_sim/listings", json={"symbol": "NEWUSDT", "open_in_ms": 0, "price": "0.0123"}
    )
    assert r.status_code == 201
    listing = r.json()
    assert listing["base_asset"] == "NEW" and listing["quote_asset"] == "USDT"
    assert abs(listing["open_at_ms"] - simulator.clock.now_ms()) < 1000
    dup = await control.post("/_sim/listings", json={"symbol": "NEWUSDT", "price": "1"})
    assert dup.status_code == 409
    await simulator.exchange.wait_open("NEWUSDT", timeout=2)
    buy = {"symbol": "NEWUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "10"}
    assert (await signed("POST", ORDER, buy)).status_code == 200
    assert (await control.delete("/_sim/listings/NEWUSDT")).status_code == 200
    assert (await signed("POST", ORDER, buy)).json()["code"] == 10007
    assert (await control.delete("/_sim/listings/NEWUSDT")).status_code == 404
    at = simulator.clock.now_ms() + 50
    again = await control.post(
        "/_sim/listings",
        json={"symbol": "NEWUSDT", "open_at_ms": at, "price": "0.5", "api_enable_delay_ms": 0},
    )
    assert again.status_code == 201 and again.json()["open_at_ms"] == at
    await simulator.exchange.wait_open("NEWUSDT", timeout=2)
    price = await control.get("/api/v3/ticker/price", params={"symbol": "NEWUSDT"})
    assert abs(Decimal(price.json()["price"]) - Decimal("0.5")) < Decimal("0.05")


async def test_state_balances_clock_and_trades(simulator, control) -> None:
    await control.post("/_sim/balances", json={"USDT": "42.5", "MX": "3"})
    state = (await control.get("/_sim/state")).json()
    assert state["balances"]["USDT"] == {"free": "42.5", "locked": "0"}
    assert {s["symbol"] for s in state["symbols"]} >= {"BTCUSDT", "MXUSDT"}
    await control.post("/_sim/clock", json={"offset_ms": 3000})
    server = (await control.get("/api/v3/time")).json()["serverTime"]
    assert abs(server - simulator.clock.now_ms()) < 50 and simulator.clock.offset_ms == 3000
    before_us = simulator.clock.now_us()
    r = await control.post("/_sim/trades", json={"symbol": "MXUSDT", "price": "4.2"})
    assert r.status_code == 200
    assert before_us <= r.json()["at_us"] <= simulator.clock.now_us()  # when it was made
    price = await control.get("/api/v3/ticker/price", params={"symbol": "MXUSDT"})
    assert abs(Decimal(price.json()["price"]) - Decimal("4.2")) < Decimal("0.1")


async def test_reset_restores_the_initial_state(simulator, control, signed) -> None:
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "10"}
    await signed("POST", ORDER, buy)
    simulator.exchange.list_symbol("GONEUSDT", "1", open_in_ms=60_000)
    await control.post("/_sim/faults", json={"kind": "http_5xx", "path": "/nowhere"})
    await control.post("/_sim/clock", json={"offset_ms": 999})
    assert (await control.post("/_sim/reset")).status_code == 200
    state = (await control.get("/_sim/state")).json()
    assert state["balances"] == {"USDT": {"free": "10000", "locked": "0"}}
    assert state["orders_total"] == 0 and state["faults"] == []
    assert state["clock_offset_ms"] == 0
    assert "GONEUSDT" not in {s["symbol"] for s in state["symbols"]}
    assert (await control.get("/_sim/orders")).json() == {"orders": []}


async def test_scenario_file(simulator_factory, tmp_path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(
        json.dumps(
            {
                "listings": [
                    {"symbol": "PLANUSDT", "open_in_ms": 50, "price": "2", "api_enable_delay_ms": 0}
                ],
                "repeat_every_ms": 50,
                "repeat_lead_ms": 30,
                "repeat_prefix": "GEN",
                "repeat_keep": 2,
            }
        )
    )
    sim = await simulator_factory(scenario_file=str(path))
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        coins = (await http.get("/api/operation/new_coin_calendar")).json()["data"]["newCoins"]
        assert "PLAN" in {c["vcoinName"] for c in coins}
        await sim.exchange.wait_open("PLANUSDT", timeout=2)
        assert "PLANUSDT" in (await http.get("/api/v3/defaultSymbols")).json()["data"]
    await eventually(lambda: sim.scenario.generated >= 3)
    generated = [s for s in sim.exchange.symbols if s.startswith("GEN")]
    assert len(generated) == 2  # repeat_keep: the oldest generated token was delisted
    assert all(len(s) == len("GEN??USDT") for s in generated)
    await sim.exchange.wait_open(generated[-1], timeout=2)


async def test_default_scenario_announces_a_token_ahead_of_its_open(simulator_factory) -> None:
    spec = load_scenario(default=True, path=None, inline=None)
    assert spec["repeat_every_ms"] == 20_000 and spec["repeat_lead_ms"] == 10_000
    sim = await simulator_factory(default_scenario=True)
    await eventually(lambda: sim.scenario.generated == 1)
    (coin,) = sim.exchange.calendar()
    assert coin["vcoinName"].startswith("SNIPE")
    assert 9_000 < coin["firstOpenTime"] - sim.clock.now_ms() <= 10_000


async def test_the_module_runs_as_a_process() -> None:
    async with SimulatorProcess("--no-scenario", "--balance", "USDT=50") as proc:
        async with httpx.AsyncClient(base_url=proc.rest_url) as http:
            assert (await http.get("/api/v3/ping")).json() == {}
            state = (await http.get("/_sim/state")).json()
        assert state["balances"]["USDT"]["free"] == "50"
        assert state["urls"]["ws"] == proc.ws_url
        assert f"MEXC simulator: REST {proc.rest_url}/api/v3" in proc.output()
    assert proc.proc is not None and proc.proc.returncode == 0  # clean exit on SIGTERM


def test_process_sync_context_and_kill() -> None:
    with SimulatorProcess("--no-scenario") as proc:
        proc.kill()
        assert proc.proc.returncode is not None and proc.proc.returncode < 0


def test_money_is_decimal(tmp_path) -> None:
    from mexc.simulator import SimulatorConfig

    assert SimulatorConfig(balances={"usdt": "1.5"}).balances == {"USDT": Decimal("1.5")}
