"""Simulator: SIGNED-endpoint checks on the raw wire (mexc-api.md §1.3)."""

from __future__ import annotations

import httpx
import pytest

from mexc.simulator.auth import check_signed, sign
from mexc.simulator.errors import ApiError

DOC_SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"
DOC_TS = 1644489390087
DOC_QUERY = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000"
DOC_SIG_1 = "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
DOC_SIG_3 = "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"


def check(raw_query: str, raw_body: str = "", server_ms: int = DOC_TS + 100) -> dict:
    return check_signed(
        api_key="k",
        expected_key="k",
        secret=DOC_SECRET,
        raw_query=raw_query,
        raw_body=raw_body,
        server_ms=server_ms,
    )


def test_official_vectors_validate() -> None:
    message = f"{DOC_QUERY}&timestamp={DOC_TS}"
    assert sign(DOC_SECRET, message) == DOC_SIG_1
    assert check(f"{message}&signature={DOC_SIG_1}")["price"] == "11"
    # Example 3: query directly followed by body, no "&" between them.
    params = check(
        "symbol=BTCUSDT&side=BUY&type=LIMIT",
        f"quantity=1&price=11&recvWindow=5000&timestamp={DOC_TS}&signature={DOC_SIG_3}",
    )
    assert params["symbol"] == "BTCUSDT" and params["quantity"] == "1"


def test_uppercase_hex_signature_is_rejected() -> None:
    with pytest.raises(ApiError) as exc:
        check(f"{DOC_QUERY}&timestamp={DOC_TS}&signature={DOC_SIG_1.upper()}")
    assert exc.value.code == 700002


@pytest.mark.parametrize(
    ("ahead_ms", "recv_window", "code"),
    [
        (900, None, None),  # < serverTime + 1000: accepted
        (1500, None, 700003),  # more than 1 s ahead
        (-4900, None, None),
        (-6000, None, 700003),  # older than the default 5000 window
        (-6000, 10_000, None),
        (0, 60_001, 700005),
    ],
)
def test_timestamp_window(ahead_ms: int, recv_window: int | None, code: int | None) -> None:
    server = 1_700_000_000_000
    message = f"symbol=BTCUSDT&timestamp={server + ahead_ms}"
    if recv_window is not None:
        message += f"&recvWindow={recv_window}"
    raw = f"{message}&signature={sign(DOC_SECRET, message)}"
    if code is None:
        assert check(raw, server_ms=server)["symbol"] == "BTCUSDT"
    else:
        with pytest.raises(ApiError) as exc:
            check(raw, server_ms=server)
        assert exc.value.code == code


async def test_split_query_and_body_over_http(simulator, control) -> None:
    query = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = f"quoteOrderQty=10&newClientOrderId=split-1&timestamp={simulator.clock.now_ms()}"
    sig = simulator.sign(query + body)
    r = await control.post(
        f"/api/v3/order?{query}",
        content=f"{body}&signature={sig}",
        headers={
            "X-MEXC-APIKEY": simulator.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["clientOrderId"] == "split-1"
    # Signature in the query, every other parameter in the body.
    body = f"symbol=BTCUSDT&timestamp={simulator.clock.now_ms()}"
    r = await control.request(
        "DELETE",
        f"/api/v3/openOrders?signature={simulator.sign(body)}",
        content=body,
        headers={"X-MEXC-APIKEY": simulator.api_key},
    )
    assert r.status_code == 200 and r.json() == []


async def test_signature_covers_the_raw_encoding(simulator, control) -> None:
    """The same params encoded differently sign differently; nothing is re-encoded."""
    ts = simulator.clock.now_ms()
    raw = f"symbol=BTCUSDT&newClientOrderId=a%2Cb%20c&timestamp={ts}"
    ok = await control.get(
        f"/api/v3/openOrders?{raw}&signature={simulator.sign(raw)}",
        headers={"X-MEXC-APIKEY": simulator.api_key},
    )
    assert ok.status_code == 200, ok.text
    other = raw.replace("%2C", "%2c")  # lowercase escape: different bytes
    bad = await control.get(
        f"/api/v3/openOrders?{other}&signature={simulator.sign(raw)}",
        headers={"X-MEXC-APIKEY": simulator.api_key},
    )
    assert bad.json()["code"] == 700002


async def test_key_and_signature_errors(simulator, control) -> None:
    query = simulator.signed_query({"symbol": "BTCUSDT"})
    r = await control.get(f"/api/v3/account?{query}")
    assert (r.status_code, r.json()["code"], r.json()["msg"]) == (400, 400, "api key required")
    r = await control.get(f"/api/v3/account?{query}", headers={"X-MEXC-APIKEY": "nope"})
    assert r.json()["code"] == 10072
    tampered = query.replace("BTCUSDT", "ETHUSDT")
    r = await control.get(
        f"/api/v3/account?{tampered}", headers={"X-MEXC-APIKEY": simulator.api_key}
    )
    assert (r.status_code, r.json()["code"]) == (400, 700002)
    stale = simulator.signed_query(timestamp=simulator.clock.now_ms() - 10_000)
    r = await control.get(f"/api/v3/account?{stale}", headers={"X-MEXC-APIKEY": simulator.api_key})
    assert r.json() == {
        "code": 700003,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    raw = "recvWindow=5000"
    r = await control.get(
        f"/api/v3/account?{raw}&signature={simulator.sign(raw)}",
        headers={"X-MEXC-APIKEY": simulator.api_key},
    )
    assert r.json()["code"] == 700004


async def test_server_clock_offset(simulator_factory) -> None:
    sim = await simulator_factory(clock_offset_ms=-5000)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        server = (await http.get("/api/v3/time")).json()["serverTime"]
        local_signed = f"timestamp={sim.clock.now_ms() + 5000}"
        r = await http.get(
            f"/api/v3/account?{local_signed}&signature={sim.sign(local_signed)}",
            headers={"X-MEXC-APIKEY": sim.api_key},
        )
    assert abs(server - sim.clock.now_ms()) < 100
    assert r.json()["code"] == 700003  # a client that ignores the offset is 5 s ahead
