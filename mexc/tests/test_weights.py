"""The client's IP-weight budget and shared exchangeInfo reads, against the simulator.

What reached the simulator is read from its own IP weight window (every ``/api/v3`` request
it processes is charged there, with its weight) and its order log (``/_sim/orders``).
"""

import asyncio
import math
from decimal import Decimal

import pytest

from mexc import errors
from mexc.rest import RULES_BATCH_MAX_SYMBOLS, MexcRestClient


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sim_requests(sim) -> list[int]:
    """The IP weight of each request the simulator processed in its window, oldest first."""
    return [w for key, window in sim.ratelimiter.windows.items() if key.startswith("ip:")
            for _, w in window.entries]  # fmt: skip


def keyed(sim, **kw) -> MexcRestClient:
    return MexcRestClient(
        base_url=sim.rest_url, api_key=sim.api_key, secret_key=sim.secret_key, **kw
    )


async def order_log(control) -> list[dict]:
    return (await control.get("/_sim/orders")).json()["orders"]


async def buy(client, coid: str):
    return await client.place_order(
        "BTCUSDT", "BUY", "MARKET", quote_order_qty=Decimal(20), client_order_id=coid
    )


async def test_a_burst_of_symbol_rules_is_one_exchange_info_read(simulator, control, client):
    names = [f"NEW{i:02d}USDT" for i in range(30)]
    for name in names:
        listed = await control.post(
            "/_sim/listings", json={"symbol": name, "open_in_ms": 0, "price": "0.5"}
        )
        assert listed.status_code == 201
    before = len(sim_requests(simulator))

    asked = [*names, names[0]]  # one asked twice
    answers = await asyncio.gather(
        *(client.symbol_rules(n, refresh=True) for n in asked), return_exceptions=True
    )

    reads = sim_requests(simulator)[before:]
    assert len(reads) <= math.ceil(30 / RULES_BATCH_MAX_SYMBOLS) and set(reads) == {10}
    assert [a.symbol for a in answers] == asked
    assert all(a.trading for a in answers) and answers[0] == answers[30]
    assert client.cached_symbol_rules(names[-1]) == answers[29]
    assert client.weight_used() == 10 * len(reads)


async def test_a_read_refused_whole_for_one_unlisted_symbol_asks_each_alone(
    simulator, control, client
):
    """The simulator's harsh default (exchange_info_batch_strict): one name it does not list
    refuses the whole symbols= read; the listed symbols still get their rules."""
    for name in ("LISTAUSDT", "LISTBUSDT"):
        await control.post("/_sim/listings", json={"symbol": name, "open_in_ms": 0, "price": "1"})
    answers = await asyncio.gather(
        *(client.symbol_rules(n, refresh=True) for n in ("LISTAUSDT", "NOPEUSDT", "LISTBUSDT")),
        return_exceptions=True,
    )
    assert [getattr(a, "symbol", None) for a in answers] == ["LISTAUSDT", None, "LISTBUSDT"]
    assert isinstance(answers[1], errors.SymbolNotTradable)


async def test_a_read_of_only_missing_symbols_is_symbol_not_tradable(simulator, client):
    before = len(sim_requests(simulator))
    answers = await asyncio.gather(
        client.symbol_rules("NOPEUSDT", refresh=True),
        client.symbol_rules("NADAUSDT", refresh=True),
        return_exceptions=True,
    )
    assert all(isinstance(a, errors.SymbolNotTradable) for a in answers)
    assert sim_requests(simulator)[before:] == [10, 10, 10]  # together, then each alone
    with pytest.raises(errors.SymbolNotTradable):  # alone, too
        await client.symbol_rules("NOPEUSDT")


async def test_market_data_over_the_budget_is_refused_here_while_an_order_goes_out(
    simulator, control
):
    clock = Clock()
    async with keyed(simulator, ip_weight_limit=100, weight_clock=clock) as client:
        await client.sync_time()  # 3 x /time (1)
        for _ in range(8):
            await client.exchange_info()  # 10 each
        for _ in range(7):
            await client.ticker_price("BTCUSDT")  # 1 each: 90, all market data may use
        assert client.weight_used() == 90 and client.weight_limit == 100
        sent = len(sim_requests(simulator))

        with pytest.raises(errors.WeightBudgetExhausted) as exc:
            await client.ticker_price("BTCUSDT")
        assert isinstance(exc.value, errors.RateLimited) and exc.value.retry_after == 10
        with pytest.raises(errors.WeightBudgetExhausted):
            await client.symbol_rules("BTCUSDT", refresh=True)
        assert len(sim_requests(simulator)) == sent  # nothing reached the exchange

        ack = await buy(client, "reserve1")  # the reserve: orders and their status
        assert [o["clientOrderId"] for o in await order_log(control)] == ["reserve1"]
        order = await client.query_order("BTCUSDT", client_order_id="reserve1")
        assert order.order_id == ack.order_id
        assert client.weight_used() == 93 == sum(sim_requests(simulator))

        clock.now += 10  # the window has moved past all of it
        assert client.weight_used() == 0
        assert await client.ticker_price("BTCUSDT") > 0


async def test_orders_are_never_refused_by_the_budget(simulator, control):
    clock = Clock()
    async with keyed(simulator, ip_weight_limit=20, ip_weight_reserve=0, weight_clock=clock) as c:
        await c.sync_time()
        await c.exchange_info()
        for _ in range(7):
            await c.ticker_price("BTCUSDT")
        with pytest.raises(errors.WeightBudgetExhausted):
            await c.ticker_price("BTCUSDT")
        await buy(c, "over1")  # 21 of 20: an order still goes out
        assert [o["clientOrderId"] for o in await order_log(control)] == ["over1"]


async def test_after_a_429_requests_fail_fast_until_retry_after_passes(simulator, control):
    clock = Clock()
    async with keyed(simulator, weight_clock=clock) as client:
        await client.sync_time()
        fault = {"kind": "http_429", "count": 1, "ms": 3000, "path": "/api/v3/ticker/price"}
        await control.post("/_sim/faults", json=fault)
        with pytest.raises(errors.RateLimited) as exc:
            await client.ticker_price("BTCUSDT")
        assert exc.value.http_status == 429 and exc.value.retry_after == 3
        sent = len(sim_requests(simulator))

        clock.now += 2.5
        with pytest.raises(errors.RateLimited) as exc:
            await client.ticker_price("BTCUSDT")
        assert exc.value.retry_after == pytest.approx(0.5)
        with pytest.raises(errors.RateLimited) as exc:  # orders too: the IP is on notice
            await buy(client, "wait1")
        assert exc.value.client_order_id == "wait1"
        assert await order_log(control) == [] and len(sim_requests(simulator)) == sent

        clock.now += 0.5
        assert await client.ticker_price("BTCUSDT") > 0
        await buy(client, "wait2")
        assert [o["clientOrderId"] for o in await order_log(control)] == ["wait2"]
