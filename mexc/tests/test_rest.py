"""The REST client against the simulator over loopback: orders, time sync, every error type."""

import asyncio
import logging
import re
import time
from decimal import Decimal

import httpx
import pytest

from mexc import errors
from mexc.errors import error_from_response
from mexc.rest import MexcRestClient
from mexc.signing import signed_query
from mexc.types import Balance, SymbolInfo, SymbolRules


async def buy(client, symbol="BTCUSDT", quote="20", coid=None, **kw):
    return await client.place_order(
        symbol=symbol,
        side="BUY",
        type="MARKET",
        quote_order_qty=Decimal(quote),
        client_order_id=coid,
        **kw,
    )


def keyed(sim, **kw):
    return MexcRestClient(
        **{"base_url": sim.rest_url, "api_key": sim.api_key, "secret_key": sim.secret_key, **kw}
    )


async def order_log(control):
    return (await control.get("/_sim/orders")).json()["orders"]


# --- orders ---------------------------------------------------------------------------------


async def test_signed_market_buy_round_trips(client, simulator):
    ack = await buy(client, coid="rt1")
    assert ack.order_id.startswith("C02__") and ack.client_order_id == "rt1"
    assert ack.symbol == "BTCUSDT" and ack.side == "BUY" and ack.type == "MARKET"
    order = await client.query_order(symbol="BTCUSDT", client_order_id="rt1")
    assert order.status == "FILLED" and order.is_final and order.order_id == ack.order_id
    spent = order.cummulative_quote_qty
    # MEXC turns a quote amount into a quantity at a protective price (~5 % over the ask)
    assert Decimal("18.5") < spent <= Decimal("20") and order.executed_qty > 0
    assert order.avg_price == spent / order.executed_qty
    by_id = await client.query_order(symbol="BTCUSDT", order_id=ack.order_id)
    assert by_id.client_order_id == "rt1"
    account = await client.account()
    assert account.free("USDT") == simulator.exchange.balance("USDT").free
    assert account.free("USDT") <= Decimal("10000") - spent and account.free("BTC") > 0


async def test_limit_order_rests_is_listed_and_cancels(client):
    ack = await client.place_order(
        "BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.001"), price=Decimal("10000")
    )
    (resting,) = await client.open_orders("BTCUSDT")
    assert resting.order_id == ack.order_id and resting.status == "NEW"
    assert resting.avg_price is None and not resting.is_final
    canceled = await client.cancel_order("BTCUSDT", order_id=ack.order_id)
    assert canceled.status == "CANCELED"
    assert await client.open_orders("BTCUSDT") == []
    with pytest.raises(errors.UnknownOrder) as exc:
        await client.cancel_order("BTCUSDT", order_id=ack.order_id)
    assert exc.value.code == -2011


async def test_test_order_places_nothing(client, control):
    assert await client.test_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=Decimal(20)) is None
    assert await order_log(control) == []
    with pytest.raises(errors.BelowMinimumAmount):
        await client.test_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=Decimal(1))


async def test_bad_order_arguments_are_refused_locally():
    async with MexcRestClient(base_url="http://127.0.0.1:9", api_key="k", secret_key="s") as c:
        for kwargs in (
            {"side": "HOLD", "type": "MARKET", "quote_order_qty": Decimal(1)},
            {"side": "BUY", "type": "STOP", "quote_order_qty": Decimal(1)},
            {"side": "BUY", "type": "MARKET"},
            {"side": "BUY", "type": "LIMIT", "quantity": Decimal(1)},
        ):
            with pytest.raises(ValueError):
                await c.place_order("X", **kwargs)
        with pytest.raises(ValueError, match="order_id or client_order_id"):
            await c.query_order("X")


def test_recv_window_above_our_cap_of_one_second_is_refused_locally():
    with pytest.raises(ValueError, match=r"recv_window_ms must be 1\.\.1000"):
        MexcRestClient(base_url="http://x", recv_window_ms=1001)
    assert MexcRestClient(base_url="http://x").recv_window_ms == 1000  # the default


async def test_per_call_recv_window_is_checked_too(client):
    with pytest.raises(ValueError, match="1000"):
        await buy(client, recv_window=5000)
    assert (await buy(client, recv_window=1000)).order_id


async def test_signed_requests_carry_recv_window_1000_by_default(fake_mexc):
    fake_mexc.answers["/api/v3/order"] = (200, {"orderId": "C02__1", "symbol": "BTCUSDT"})
    async with fake_mexc.client() as client:
        await buy(client)
        await buy(client, recv_window=250)
    windows = [q["recvWindow"] for m, path, q in fake_mexc.requests if path == "/api/v3/order"]
    assert windows == ["1000", "250"]


# --- time sync ------------------------------------------------------------------------------


@pytest.mark.parametrize("skew_ms", [2000, -2000])
async def test_clock_skew_is_corrected_by_time_sync(simulator_factory, skew_ms):
    sim = await simulator_factory(clock_offset_ms=skew_ms)
    raw = signed_query(
        sim.secret_key, [("recvWindow", 1000), ("timestamp", time.time_ns() // 1_000_000)]
    )
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:  # our local clock is off
        r = await http.get(f"/api/v3/account?{raw}", headers={"X-MEXC-APIKEY": sim.api_key})
    assert r.json()["code"] == 700003
    async with keyed(sim, recv_window_ms=500) as client:
        assert (await buy(client)).order_id  # syncs first, then lands inside 500 ms
        assert abs(client.offset_ms - skew_ms) < 50
        assert client.server_time_ms() - sim.exchange.now_ms() in range(-50, 50)


@pytest.mark.parametrize("skew_ms", [2000, -2000])
async def test_a_stale_offset_gets_700003_then_one_resync_and_one_resend(
    simulator_factory, skew_ms
):
    sim = await simulator_factory(clock_offset_ms=skew_ms)
    async with keyed(sim) as client, httpx.AsyncClient(base_url=sim.rest_url) as control:
        await client.sync_time()
        client.offset_ms = 0  # as if the exchange's clock jumped since the last sync
        ack = await buy(client, coid="skewed")
        assert abs(client.offset_ms - skew_ms) < 50
        log = await order_log(control)
    assert [o["error_code"] for o in log] == [700003, None]
    assert log[1]["orderId"] == ack.order_id


async def test_offset_uses_the_midpoint_and_the_fastest_sample(client):
    offset = await client.sync_time(samples=5)
    assert abs(offset) < 50 and client.last_rtt_ms < 100 and client.synced


async def test_warm_syncs_once_and_orders_do_not_sync_again(client):
    await client.warm()
    generation = client._sync_generation
    await buy(client)
    await client.query_order("BTCUSDT", client_order_id=None, order_id=(await buy(client)).order_id)
    assert client._sync_generation == generation


async def test_a_due_resync_runs_in_the_background(simulator, control):
    jump = [0]
    clock = lambda: time.time_ns() + jump[0]  # noqa: E731
    async with keyed(simulator, clock_ns=clock, time_sync_interval_s=60) as client:
        await client.warm()
        generation = client._sync_generation
        jump[0] = 61 * 1_000_000_000  # a minute passes on our clock ...
        simulator.clock.offset_ms += 61_000  # ... and on the exchange's
        await buy(client)  # not delayed by the due resync: it runs beside the order
        assert client._sync_task is not None
        await client._sync_task
        assert client._sync_generation == generation + 1 and abs(client.offset_ms) < 50
    assert [o["error_code"] for o in await order_log(control)] == [None]


# --- error types from the simulator -----------------------------------------------------------


async def test_business_errors_map_to_types(client, simulator, signed):
    with pytest.raises(errors.BelowMinimumAmount) as exc:
        await buy(client, quote="1")
    assert exc.value.code == 30002 and exc.value.http_status == 400
    with pytest.raises(errors.InsufficientBalance) as exc:
        await buy(client, quote="20000")
    assert exc.value.code == 30004
    with pytest.raises(errors.UnknownOrder) as exc:
        await client.query_order(symbol="BTCUSDT", client_order_id="nope")
    assert exc.value.code == -2013
    with pytest.raises(errors.SymbolNotTradable) as exc:
        await buy(client, "NOSUCHUSDT", coid="x1")
    assert exc.value.code == 10007 and exc.value.client_order_id == "x1"
    with pytest.raises(errors.SymbolNotTradable):
        await client.ticker_price("NOSUCHUSDT")  # -1121 on market data
    simulator.config.duplicate_client_ids = "reject"  # the kinder switch (MEXC: undocumented)
    await buy(client, coid="dup")
    with pytest.raises(errors.MexcApiError) as exc:
        await buy(client, coid="dup")
    assert exc.value.code == 26
    r = await signed("GET", "/api/v3/order", {"symbol": "BTCUSDT"})
    missing = error_from_response(r.status_code, r.json())
    assert type(missing) is errors.MexcApiError and missing.code == 700004


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


async def test_an_empty_book_at_the_open_is_no_liquidity(client, control):
    r = await control.post(
        "/_sim/listings",
        json={"symbol": "DRYUSDT", "price": "1", "open_in_ms": 0, "empty_book_ms": 60_000},
    )
    assert r.status_code == 201
    with pytest.raises(errors.NoLiquidity) as exc:
        await buy(client, "DRYUSDT")
    assert exc.value.code == 30010


async def test_bad_keys_and_signatures_map_to_types(simulator):
    async with keyed(simulator, secret_key="wrong") as c:
        with pytest.raises(errors.InvalidSignature) as exc:
            await c.account()
        assert exc.value.code == 700002
        assert "wrong" not in str(exc.value)
    async with MexcRestClient(
        base_url=simulator.rest_url, api_key="nobody", secret_key=simulator.secret_key
    ) as c:
        with pytest.raises(errors.InvalidApiKey) as exc:
            await c.account()
        assert exc.value.code == 10072
    async with MexcRestClient(base_url=simulator.rest_url) as c:
        with pytest.raises(errors.InvalidApiKey, match="required"):
            await c.account()  # refused locally: no keys configured
    async with httpx.AsyncClient(base_url=simulator.rest_url) as http:
        r = await http.get(f"/api/v3/account?{signed_query(simulator.secret_key, [('a', 1)])}")
    assert type(error_from_response(r.status_code, r.json())) is errors.InvalidApiKey


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
    sim = await simulator_factory(rate_limit=3, rate_limit_ban_after=3)
    async with MexcRestClient(base_url=sim.rest_url) as c:
        for _ in range(3):
            await c.ping()
        with pytest.raises(errors.RateLimited) as exc:
            await c.ping()
        assert exc.value.http_status == 429 and exc.value.retry_after >= 1
        # the client holds back until Retry-After has passed: nothing more reaches MEXC
        with pytest.raises(errors.RateLimited) as held:
            await c.ping()
        assert "not sent" in str(held.value)
    # the exchange bans a client that keeps asking (raw requests, no client budget): had the
    # held-back ping been sent, the first of these would already be the ban
    async with httpx.AsyncClient(base_url=sim.rest_url) as raw:
        assert (await raw.get("/api/v3/ping")).status_code == 429
        banned = await raw.get("/api/v3/ping")
        assert banned.status_code == 418 and int(banned.headers["Retry-After"]) >= 1


async def test_injected_429_on_orders(client, control):
    await client.sync_time()
    await control.post(
        "/_sim/faults", json={"kind": "http_429", "count": 1, "ms": 2000, "path": "/api/v3/order"}
    )
    with pytest.raises(errors.RateLimited) as exc:
        await buy(client, coid="r1")
    assert exc.value.retry_after == 2 and exc.value.client_order_id == "r1"


@pytest.mark.parametrize(("effect", "placed"), [("after", True), ("before", False)])
async def test_5xx_on_order_is_outcome_unknown(client, control, effect, placed):
    await client.sync_time()
    await control.post(
        "/_sim/faults",
        json={
            "kind": "http_5xx",
            "status": 503,
            "count": 1,
            "path": "/api/v3/order",
            "effect": effect,
        },
    )
    with pytest.raises(errors.OrderOutcomeUnknown) as exc:
        await buy(client, coid=f"u-{effect}")
    assert exc.value.client_order_id == f"u-{effect}" and exc.value.http_status == 503
    if placed:
        order = await client.query_order(symbol="BTCUSDT", client_order_id="u-after")
        assert order.status == "FILLED"
    else:
        with pytest.raises(errors.UnknownOrder):
            await client.query_order(symbol="BTCUSDT", client_order_id="u-before")


async def test_5xx_elsewhere_is_exchange_unavailable(client, control):
    await control.post("/_sim/faults", json={"kind": "http_5xx", "count": 1})
    with pytest.raises(errors.ExchangeUnavailable) as exc:
        await client.ping()
    assert exc.value.http_status == 500


@pytest.mark.parametrize(("effect", "placed"), [("after", True), ("before", False)])
async def test_timeout_on_order_is_outcome_unknown(simulator, control, effect, placed):
    async with keyed(simulator, timeout=0.2) as client:
        await client.sync_time()
        await control.post(
            "/_sim/faults",
            json={
                "kind": "timeout",
                "count": 1,
                "ms": 400,
                "path": "/api/v3/order",
                "effect": effect,
            },
        )
        with pytest.raises(errors.OrderOutcomeUnknown) as exc:
            await buy(client, coid="t1")
        assert exc.value.client_order_id == "t1" and "ReadTimeout" in str(exc.value)
        if placed:
            order = await client.query_order(symbol="BTCUSDT", client_order_id="t1")
            assert order.status == "FILLED"  # the order exists although the client timed out
        else:
            with pytest.raises(errors.UnknownOrder):
                await client.query_order(symbol="BTCUSDT", client_order_id="t1")


async def test_timeout_elsewhere_is_exchange_unavailable(simulator, control):
    async with keyed(simulator, timeout=0.2) as client:
        await control.post(
            "/_sim/faults", json={"kind": "timeout", "count": 1, "ms": 400, "path": "/api/v3/ping"}
        )
        with pytest.raises(errors.ExchangeUnavailable):
            await client.ping()


async def test_connection_refused_is_exchange_unavailable_even_for_orders():
    async with MexcRestClient(base_url="http://127.0.0.1:9", api_key="k", secret_key="s") as c:
        with pytest.raises(errors.ExchangeUnavailable):
            await c.ping()
        c._synced_at_ns = time.time_ns()  # skip the sync: go straight to the order
        with pytest.raises(errors.ExchangeUnavailable) as exc:
            await buy(c, coid="never-sent")
        assert type(exc.value) is errors.ExchangeUnavailable
        assert exc.value.client_order_id == "never-sent"


# --- market data ----------------------------------------------------------------------------


async def test_public_market_data(client):
    await client.ping()
    assert abs(await client.server_time() - time.time_ns() // 1_000_000) < 1000
    info = await client.exchange_info()
    assert {"BTCUSDT", "ETHUSDT"} <= {s.symbol for s in info.symbols if s.trading}
    btc = next(s for s in info.symbols if s.symbol == "BTCUSDT")
    assert btc.base_asset == "BTC" and btc.quote_asset == "USDT" and btc.market_buy_allowed
    assert btc.min_amount_market >= 0 and info.server_time > 0
    (one,) = (await client.exchange_info(["btcusdt"])).symbols
    assert one.symbol == "BTCUSDT"
    two = await client.exchange_info(["BTCUSDT", "ETHUSDT"])
    assert {s.symbol for s in two.symbols} == {"BTCUSDT", "ETHUSDT"}
    assert await client.trading_symbol_names() == {s.symbol for s in info.symbols if s.trading}
    assert "BTCUSDT" in await client.default_symbols()
    ticker = await client.book_ticker("BTCUSDT")
    assert ticker.ask_price > ticker.bid_price > 0 and ticker.symbol == "BTCUSDT"
    assert await client.ticker_price("BTCUSDT") > 0
    prices = await client.ticker_price()
    assert prices["BTCUSDT"] > 0 and isinstance(prices["ETHUSDT"], Decimal)
    books = await client.book_ticker()
    assert books["ETHUSDT"].ask_price > 0


# --- secrets --------------------------------------------------------------------------------


async def test_keys_and_signatures_never_appear_in_reprs_or_logs(
    client, simulator, signed, caplog, monkeypatch
):
    from mexc import rest

    sent = []  # every signature the client computes

    def recording_signed_query(secret, params):
        query = signed_query(secret, params)
        sent.append(query.rsplit("signature=", 1)[1])
        return query

    monkeypatch.setattr(rest, "signed_query", recording_signed_query)
    assert simulator.secret_key not in repr(client) and simulator.api_key not in repr(client)
    assert simulator.api_key not in repr(client._http)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # Django settings quieten it; we do not
    await buy(client, coid="quiet")
    await client.query_order("BTCUSDT", client_order_id="quiet")
    with pytest.raises(errors.MexcError) as exc:
        await buy(client, quote="1")
    await signed("GET", "/api/v3/account")  # a raw signed request through httpx
    text = (
        caplog.text
        + " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        + str(exc.value)
    )
    ours = [r for r in caplog.records if r.getMessage() == "mexc.request"]
    assert {(r.method, r.path) for r in ours} >= {
        ("POST", "/api/v3/order"),
        ("GET", "/api/v3/order"),
    }
    assert len(sent) == 3 and all(sig not in text for sig in sent)  # our log: path, no query
    assert "HTTP Request" in text  # httpx logged the raw request ...
    assert "signature=<redacted>" in text  # ... with the signature scrubbed
    assert not re.search(r"signature=[0-9a-f]{16}", text)
    assert simulator.api_key not in text and simulator.secret_key not in text


async def test_an_answer_of_the_wrong_shape_is_an_api_error(client):
    with pytest.raises(errors.MexcApiError, match="expected a JSON dict"):
        await client._request("GET", "/api/v3/ticker/price")  # a list where a dict belongs


async def test_keep_warm_pings_in_the_background(simulator):
    async with MexcRestClient(base_url=simulator.rest_url, keepalive_expiry_s=5) as client:
        pinged = asyncio.Event()
        real_ping = client.ping

        async def ping():
            await real_ping()
            pinged.set()

        client.ping = ping
        await client.warm(keep_warm_s=0.02)
        for _ in range(2):  # two rounds of the background loop
            pinged.clear()
            await asyncio.wait_for(pinged.wait(), 2)
        task = client._warm_task
    assert task.cancelled()


@pytest.mark.parametrize(
    "item",
    [
        {"symbol": "abcusdt", "status": "1", "isSpotTradingAllowed": True},
        {"symbol": "ABCUSDT", "status": "ENABLED"},
        {"symbol": "ABCUSDT", "status": "2", "isSpotTradingAllowed": True},
        {"symbol": "ABCUSDT", "status": "1", "isSpotTradingAllowed": False},
        {"symbol": "ABCUSDT"},
    ],
)
def test_a_symbol_is_trading_by_name_exactly_when_its_full_entry_says_so(item):
    full = SymbolInfo.from_json(item)
    assert SymbolInfo.trading_name(item) == (full.symbol if full.trading else None)


@pytest.mark.parametrize("item", [None, "ABCUSDT", {"status": "1"}, {"symbol": 7, "status": "1"}])
def test_an_unreadable_entry_has_no_trading_name(item):
    assert SymbolInfo.trading_name(item) is None


async def test_a_large_exchange_info_is_read_a_slice_at_a_time_with_the_same_names(
    client, control, monkeypatch
):
    whole = await client.trading_symbol_names()
    monkeypatch.setattr("mexc.rest.SLICED_OVER_BYTES", 0)  # every answer counts as large
    assert await client.trading_symbol_names() == whole
    await control.post("/_sim/faults", json={"kind": "http_5xx", "count": 1})
    with pytest.raises(errors.ExchangeUnavailable):  # an error is still an error
        await client.trading_symbol_names()


# --- a scripted fake MEXC (for answers the simulator does not give) --------------------------


class FakeMexc:
    """A loopback aiohttp server answering ``answers[path] = (status, json body)``, recording
    ``(method, path, query dict)`` of every request and checking signatures."""

    api_key, secret_key = "fake-key", "fake-secret"

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: dict[str, tuple[int, object]] = {
            "/api/v3/time": (200, {"serverTime": 0}),  # replaced per request below
        }
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bad_signatures = 0

    def client(self, **kw):
        return MexcRestClient(
            base_url=self.url, api_key=self.api_key, secret_key=self.secret_key, **kw
        )


@pytest.fixture
async def fake_mexc():
    from aiohttp import web

    from mexc.signing import sign

    fake: FakeMexc

    async def handle(request: web.Request) -> web.Response:
        query = dict(request.query)
        fake.requests.append((request.method, request.path, query))
        raw = request.raw_path.partition("?")[2]
        if "signature=" in raw:
            unsigned, _, signature = raw.rpartition("&signature=")
            if sign(fake.secret_key, unsigned) != signature:
                fake.bad_signatures += 1
        if request.path == "/api/v3/time":
            return web.json_response({"serverTime": time.time_ns() // 1_000_000})
        status, body = fake.answers.get(request.path, (404, {"code": -1, "msg": "no route"}))
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake = FakeMexc(f"http://127.0.0.1:{port}")
    try:
        yield fake
    finally:
        await runner.cleanup()


# --- symbol rules and rounding ----------------------------------------------------------------


async def test_symbol_rules_are_typed_and_cached_until_refreshed(client, control):
    rules = await client.symbol_rules("btcusdt")
    assert rules.symbol == "BTCUSDT" and rules.trading and rules.market_buy_allowed
    assert rules.status == "1" and rules.spot_allowed and "MARKET" in rules.order_types
    assert rules.trade_side_type == 1 and rules.quote_order_qty_market_allowed
    assert rules.base_asset_precision == 6 and rules.quote_precision == 2
    assert rules.min_qty == Decimal("0.000001") and rules.min_quote > 0
    assert rules.min_quote_market > 0 and rules.max_quote == Decimal(2000000)
    assert client.cached_symbol_rules("BTCUSDT") is rules
    assert await client.symbol_rules("BTCUSDT") is rules  # no second request
    fresh = await client.symbol_rules("BTCUSDT", refresh=True)
    assert fresh == rules and fresh is not rules and client.cached_symbol_rules("BTCUSDT") is fresh
    with pytest.raises(errors.SymbolNotTradable):
        await client.symbol_rules("NOPEUSDT")


async def test_a_symbol_read_before_its_open_is_never_served_from_the_cache(
    simulator_factory,
):
    sim = await simulator_factory(exchange_info_pre_open=True)
    async with keyed(sim) as client, httpx.AsyncClient(base_url=sim.rest_url) as control:
        open_at = sim.exchange.now_ms() + 300
        await control.post(
            "/_sim/listings", json={"symbol": "NEWUSDT", "open_at_ms": open_at, "price": "0.5"}
        )
        before = await client.symbol_rules("NEWUSDT")
        assert not before.trading and client.cached_symbol_rules("NEWUSDT") is None
        await asyncio.sleep(0.5)
        after = await client.symbol_rules("NEWUSDT")  # read again, not from a cache
        assert after.trading and client.cached_symbol_rules("NEWUSDT") is after


async def test_orders_are_rounded_down_to_the_symbols_precision(client, control):
    rules = await client.symbol_rules("BTCUSDT")
    with pytest.raises(errors.MexcApiError, match="quantity scale is invalid"):
        await client.place_order(  # without the rules: too many decimals go out
            "BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.0012349"), price=Decimal("10000")
        )
    ack = await client.place_order(
        "BTCUSDT",
        "BUY",
        "LIMIT",
        quantity=Decimal("0.0012349"),
        price=Decimal("10000.129"),
        rules=rules,
    )
    assert ack.orig_qty == Decimal("0.001234") and ack.price == Decimal("10000.12")
    market = await buy(client, quote="20.129999", coid="rounded", rules=rules)
    order = await client.query_order("BTCUSDT", order_id=market.order_id)
    assert order.orig_quote_order_qty == Decimal("20.12")
    sent = [o for o in await order_log(control) if o.get("clientOrderId") == "rounded"]
    assert sent and all("20.129999" not in str(o) for o in sent)


def test_rounding_directions_follow_the_side():
    rules = SymbolRules.from_json(
        {
            "symbol": "XUSDT",
            "status": "1",
            "isSpotTradingAllowed": True,
            "baseAssetPrecision": 2,
            "quotePrecision": 9,
            "quoteAssetPrecision": 4,
            "baseSizePrecision": "0.01",
            "quoteAmountPrecision": "5",
            "quoteAmountPrecisionMarket": "1",
            "tradeSideType": "2",
        }
    )
    assert rules.quote_precision == 4  # quoteAssetPrecision wins over the deprecated field
    assert rules.round_quantity(Decimal("1.239")) == Decimal("1.23")
    assert rules.round_quote(Decimal("5.99999")) == Decimal("5.9999")
    assert rules.round_price(Decimal("0.12345"), "BUY") == Decimal("0.1234")
    assert rules.round_price(Decimal("0.12341"), "SELL") == Decimal("0.1235")
    assert rules.trade_side_type == 2 and rules.max_quote is None
    no_precision = SymbolRules.from_json({"symbol": "Y", "status": "1"})
    assert no_precision.round_quantity(Decimal("1.23456789")) == Decimal("1.23456789")


async def test_rounding_that_leaves_nothing_is_refused_before_sending(client, control):
    rules = await client.symbol_rules("BTCUSDT")
    with pytest.raises(errors.BelowMinimumAmount) as exc:
        await buy(client, quote="0.009", coid="dust", rules=rules)
    assert exc.value.client_order_id == "dust" and exc.value.code is None
    with pytest.raises(errors.BelowMinimumAmount):
        await client.place_order(
            "BTCUSDT", "SELL", "LIMIT", quantity=Decimal("0.0000009"), price=Decimal(1), rules=rules
        )
    assert await order_log(control) == []  # nothing went out


# --- order witnesses ------------------------------------------------------------------------


async def test_all_orders_lists_done_and_open_orders_with_client_ids(client):
    await buy(client, coid="w-market")
    await client.place_order(
        "BTCUSDT",
        "BUY",
        "LIMIT",
        quantity=Decimal("0.001"),
        price=Decimal("10000"),
        client_order_id="w-limit",
    )
    orders = await client.all_orders("BTCUSDT", start_time_ms=0, limit=10)
    by_coid = {o.client_order_id: o for o in orders}
    assert by_coid["w-market"].status == "FILLED" and by_coid["w-limit"].status == "NEW"
    (working,) = await client.open_orders("BTCUSDT")
    assert working.client_order_id == "w-limit"
    with pytest.raises(ValueError, match="limit"):
        await client.all_orders("BTCUSDT", limit=1001)


async def test_all_orders_sends_its_window_and_limit(fake_mexc):
    fake_mexc.answers["/api/v3/allOrders"] = (200, [{"orderId": "1", "clientOrderId": "c1"}])
    async with fake_mexc.client() as client:
        (order,) = await client.all_orders("abcusdt", start_time_ms=123, limit=50)
    assert order.client_order_id == "c1"
    (query,) = [q for m, path, q in fake_mexc.requests if path == "/api/v3/allOrders"]
    assert query["symbol"] == "ABCUSDT" and query["startTime"] == "123"
    assert query["limit"] == "50" and "endTime" not in query


async def test_account_balances_are_typed(client):
    account = await client.account()
    usdt = account.balances["USDT"]
    assert isinstance(usdt, Balance) and usdt.free > 0 and usdt.locked == 0


async def test_listen_keys_are_created_kept_alive_and_closed(fake_mexc):
    path = "/api/v3/userDataStream"
    fake_mexc.answers[path] = (200, {"listenKey": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1"})
    async with fake_mexc.client() as client:
        key = await client.create_listen_key()
        await client.keepalive_listen_key(key)
        await client.close_listen_key(key)
        fake_mexc.answers[path] = (200, {})
        with pytest.raises(errors.MexcApiError, match="no listenKey"):
            await client.create_listen_key()
    calls = [(m, q.get("listenKey")) for m, p, q in fake_mexc.requests if p == path]
    assert calls[:3] == [("POST", None), ("PUT", key), ("DELETE", key)]
    assert all("signature" in q and "timestamp" in q for m, p, q in fake_mexc.requests if p == path)
    assert fake_mexc.bad_signatures == 0
    assert key == "pqia91ma19a5s61cv6a81va65sdf19v8a65a1"


# --- odd but real answers -------------------------------------------------------------------


async def test_a_market_ack_with_price_zero_and_no_status_parses(fake_mexc):
    fake_mexc.answers["/api/v3/order"] = (
        200,
        {
            "symbol": "BTCUSDT",
            "orderId": "C02__505979017439002624115",
            "orderListId": -1,
            "price": "0",
            "origQty": "0",
            "type": "MARKET",
            "side": "BUY",
            "transactTime": 1666676533741,
        },
    )
    async with fake_mexc.client() as client:
        ack = await buy(client, coid="mkt")
    assert ack.order_id == "C02__505979017439002624115" and ack.price == 0
    assert ack.client_order_id == "mkt" and ack.type == "MARKET"


@pytest.mark.parametrize("status", [200, 400])
async def test_error_bodies_with_an_extend_key_are_typed_by_code(fake_mexc, status):
    fake_mexc.answers["/api/v3/order"] = (
        status,
        {"code": -2013, "msg": "Order does not exist.", "_extend": None},
    )
    async with fake_mexc.client() as client:
        with pytest.raises(errors.UnknownOrder) as exc:
            await client.query_order("BTCUSDT", client_order_id="x")
    assert exc.value.code == -2013 and exc.value.http_status == status
