"""The REST client against the simulator over loopback: every error code maps to its type."""

import time
from decimal import Decimal

import httpx
import pytest

from mexc import errors
from mexc.errors import error_from_response
from mexc.rest import MexcRestClient
from mexc.signing import signed_query


async def buy(client, symbol="BTCUSDT", quote="20", coid=None):
    return await client.place_order(
        symbol=symbol,
        side="BUY",
        type="MARKET",
        quote_order_qty=Decimal(quote),
        client_order_id=coid,
    )


async def test_signed_market_buy_round_trips(client, simulator):
    ack = await buy(client, coid="rt1")
    assert ack.order_id.startswith("C02__") and ack.client_order_id == "rt1"
    order = await client.query_order(symbol="BTCUSDT", client_order_id="rt1")
    assert order.status == "FILLED" and order.order_id == ack.order_id
    spent = order.cummulative_quote_qty
    assert Decimal("19") < spent <= Decimal("20") and order.executed_qty > 0
    assert order.avg_price == spent / order.executed_qty
    by_id = await client.query_order(symbol="BTCUSDT", order_id=ack.order_id)
    assert by_id.client_order_id == "rt1"
    assert simulator.exchange.balance("USDT").free <= Decimal("10000") - spent


@pytest.mark.parametrize("skew_ms", [2000, -2000])
async def test_clock_skew_is_corrected_by_time_sync(simulator_factory, skew_ms):
    sim = await simulator_factory(clock_offset_ms=skew_ms)
    async with MexcRestClient(
        base_url=sim.rest_url,
        api_key=sim.api_key,
        secret_key=sim.secret_key,
        recv_window_ms=500,
    ) as client:
        offset = await client.sync_time()
        assert abs(offset - skew_ms) < 50
        assert (await buy(client)).order_id


async def test_a_stale_offset_is_resynced_after_700003(client):
    await client.sync_time()
    client.offset_ms -= 5000  # our clock drifted: the first try is rejected, then resynced
    assert (await buy(client)).order_id
    assert abs(client.offset_ms) < 50


async def test_order_before_open_is_symbol_not_tradable_then_trades(client, simulator):
    now = simulator.exchange.now_ms()
    simulator.exchange.list_symbol("SOONUSDT", "0.1", open_at_ms=now + 150, api_enable_delay_ms=150)
    with pytest.raises(errors.SymbolNotTradable) as exc:
        await buy(client, "SOONUSDT", coid="s1")
    assert exc.value.code == 10007
    opened = await simulator.exchange.wait_open("SOONUSDT", timeout=2)
    assert opened.symbol == "SOONUSDT"
    with pytest.raises(errors.SymbolNotTradable):  # open, but not API-enabled yet
        await buy(client, "SOONUSDT", coid="s1")
    simulator.clock.offset_ms += 200  # the API-enable time passes on the exchange's clock
    await client.sync_time()
    assert (await buy(client, "SOONUSDT", coid="s1")).order_id


async def test_business_errors_map_to_types(client, simulator):
    with pytest.raises(errors.BelowMinimumAmount) as exc:
        await buy(client, quote="1")
    assert exc.value.code == 30002
    with pytest.raises(errors.InsufficientBalance) as exc:
        await buy(client, quote="20000")
    assert exc.value.code == 30004
    with pytest.raises(errors.UnknownOrder) as exc:
        await client.query_order(symbol="BTCUSDT", client_order_id="nope")
    assert exc.value.code == -2013


async def test_bad_keys_and_signatures_map_to_types(simulator):
    async with MexcRestClient(
        base_url=simulator.rest_url, api_key=simulator.api_key, secret_key="wrong"
    ) as c:
        with pytest.raises(errors.InvalidSignature) as exc:
            await c.account()
        assert exc.value.code == 700002
        assert "wrong" not in str(exc.value)
    async with MexcRestClient(
        base_url=simulator.rest_url, api_key="nobody", secret_key=simulator.secret_key
    ) as c:
        with pytest.raises(errors.InvalidApiKey):
            await c.account()
    async with MexcRestClient(base_url=simulator.rest_url) as c:
        with pytest.raises(errors.InvalidApiKey, match="required"):
            await c.account()


async def test_timestamp_outside_window_is_typed(simulator):
    query = signed_query(
        simulator.secret_key,
        [("timestamp", time.time_ns() // 1_000_000 - 10_000), ("recvWindow", 1000)],
    )
    async with httpx.AsyncClient() as h:
        r = await h.get(
            f"{simulator.rest_url}/api/v3/account?{query}",
            headers={"X-MEXC-APIKEY": simulator.api_key},
        )
    err = error_from_response(r.status_code, r.json())
    assert isinstance(err, errors.TimestampOutsideWindow) and err.code == 700003


async def test_429_carries_retry_after_then_repeated_breaches_ban(simulator_factory):
    sim = await simulator_factory(rate_limit=3, rate_limit_ban_after=2)
    async with MexcRestClient(base_url=sim.rest_url) as c:
        for _ in range(3):
            await c.ping()
        with pytest.raises(errors.RateLimited) as exc:
            await c.ping()
        assert exc.value.http_status == 429 and exc.value.retry_after >= 1
        with pytest.raises(errors.IpBanned) as exc:
            await c.ping()
        assert exc.value.http_status == 418 and exc.value.retry_after >= 1


async def test_injected_429_on_orders(client, control):
    await control.post(
        "/_sim/faults", json={"kind": "http_429", "count": 1, "ms": 2000, "path": "/api/v3/order"}
    )
    await client.sync_time()
    with pytest.raises(errors.RateLimited) as exc:
        await buy(client)
    assert exc.value.retry_after == 2


async def test_5xx_on_order_is_outcome_unknown_and_the_order_may_exist(client, control):
    await client.sync_time()
    await control.post(
        "/_sim/faults",
        json={"kind": "http_5xx", "count": 1, "path": "/api/v3/order", "effect": "after"},
    )
    with pytest.raises(errors.OrderOutcomeUnknown) as exc:
        await buy(client, coid="u1")
    assert exc.value.client_order_id == "u1"
    assert (await client.query_order(symbol="BTCUSDT", client_order_id="u1")).status == "FILLED"


async def test_5xx_elsewhere_is_exchange_unavailable(client, control):
    await control.post("/_sim/faults", json={"kind": "http_5xx", "count": 1})
    with pytest.raises(errors.ExchangeUnavailable):
        await client.ping()


async def test_timeout_on_order_is_outcome_unknown(simulator):
    async with (
        MexcRestClient(
            base_url=simulator.rest_url,
            api_key=simulator.api_key,
            secret_key=simulator.secret_key,
            timeout=0.2,
        ) as client,
        httpx.AsyncClient(base_url=simulator.rest_url) as control,
    ):
        await client.sync_time()
        await control.post(
            "/_sim/faults", json={"kind": "timeout", "count": 1, "ms": 600, "path": "/api/v3/order"}
        )
        with pytest.raises(errors.OrderOutcomeUnknown):
            await buy(client, coid="t1")
        order = await client.query_order(symbol="BTCUSDT", client_order_id="t1")
        assert order.status == "FILLED"  # effect "after": it was placed


async def test_connection_refused_is_exchange_unavailable():
    async with MexcRestClient(base_url="http://127.0.0.1:9", api_key="k", secret_key="s") as c:
        with pytest.raises(errors.ExchangeUnavailable):
            await c.ping()


async def test_public_market_data(client):
    info = await client.exchange_info()
    assert {"BTCUSDT", "ETHUSDT"} <= {s.symbol for s in info.symbols if s.trading}
    assert "BTCUSDT" in await client.default_symbols()
    ticker = await client.book_ticker("BTCUSDT")
    assert ticker.ask_price > ticker.bid_price > 0
    assert await client.ticker_price("BTCUSDT") > 0


async def test_keys_never_appear_in_reprs(client, simulator):
    assert simulator.secret_key not in repr(client) and simulator.api_key not in repr(client)


def test_recv_window_above_the_exchange_maximum_is_refused_locally():
    with pytest.raises(ValueError, match="recv_window_ms"):
        MexcRestClient(base_url="http://x", recv_window_ms=60001)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, 10007, errors.SymbolNotTradable),
        (400, 30004, errors.InsufficientBalance),
        (400, 30002, errors.BelowMinimumAmount),
        (400, 700003, errors.TimestampOutsideWindow),
        (400, 700002, errors.InvalidSignature),
        (400, 30019, errors.MarketOrderDisabled),
        (400, 30025, errors.NoLiquidity),
        (400, 99999, errors.MexcApiError),
        (429, 429, errors.RateLimited),
        (418, -1, errors.IpBanned),
        (503, 500, errors.ExchangeUnavailable),
    ],
)
def test_error_table(status, code, kind):
    assert type(error_from_response(status, {"code": code, "msg": "m"})) is kind
