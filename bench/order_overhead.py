"""Order client overhead vs ccxt (issue #8, benchmark 3).

``python -m bench.order_overhead [--orders N] [--warmup N] [--profile]`` (from the repo
root; it starts its own simulator on a free port).

The same MARKET BUY (``quoteOrderQty`` + a fresh ``newClientOrderId``) is sent N times to
the same local simulator (``SimulatorProcess``, rate limit off) by each sender, in rounds:
each round sends one order per sender, in a rotating order, so machine noise hits all of them
alike. Before the timed rounds each sender warms up (connection open, clock synced, ccxt
markets loaded).

- floor: the minimal client. The signed request bytes are built before the clock starts; the
  timed part is writing them on an already open keep-alive socket (asyncio streams) and
  reading the HTTP answer (headers + Content-Length body). What remains is loopback, the
  simulator's own work and the event loop: the part no client can remove.
- ours: ``MexcRestClient.place_order(...)`` (its own keep-alive HTTP/1.1 transport in
  ``mexc/http.py``, signing, error mapping, ``OrderAck`` parsing).
- ccxt: ``ccxt.async_support.mexc.create_order(symbol, "market", "buy", None, None,
  {"quoteOrderQty": ..., "clientOrderId": ...})`` on aiohttp, with ``enableRateLimit`` off
  (its throttle would add sleeps that are not overhead), swap markets and currencies not
  fetched (the simulator is spot only), ``load_markets()`` done once before the rounds.

- httpx / aiohttp (reference rows, not part of the verdict): the same pre-signed request
  through a bare ``httpx.AsyncClient`` (the transport ours used before ``mexc/http.py``) and a bare
  ``aiohttp.ClientSession`` (the transport under ccxt), to show how much of each client's
  overhead is its HTTP library.

Round trip = ``perf_counter_ns`` around the awaited call. Per-order overhead = a client's
median round trip minus the floor's median. The client process is pinned to CPU 0 and the
simulator to CPU 1 when the machine has two. Target: ours >= 3x less overhead than ccxt.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections import Counter
from decimal import Decimal

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import httpx

from bench._table import machine, print_table, stats, verdict
from mexc.rest import MexcRestClient
from mexc.signing import signed_query
from mexc.simulator.process import SimulatorProcess

SYMBOL = "BENCHUSDT"
CCXT_SYMBOL = "BENCH/USDT"
QUOTE = Decimal("6")  # just above the simulator's 5 USDT minimum
TARGET_RATIO = 3.0


def order_query(secret: str, client_order_id: str) -> str:
    """The signed query string of one order, stamped now."""
    return signed_query(
        secret,
        [
            ("symbol", SYMBOL),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quoteOrderQty", QUOTE),
            ("newClientOrderId", client_order_id),
            ("recvWindow", 5000),
            ("timestamp", time.time_ns() // 1_000_000),
        ],
    )


class RawFloor:
    """One kept-alive HTTP/1.1 connection and nothing else: the round-trip floor."""

    def __init__(self, host: str, port: int, api_key: str, secret: str) -> None:
        self.host, self.port = host, port
        self.api_key, self.secret = api_key, secret
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def build(self, client_order_id: str) -> bytes:
        """The exact bytes of one signed order request (built outside the timed span)."""
        return (
            f"POST /api/v3/order?{order_query(self.secret, client_order_id)} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"X-MEXC-APIKEY: {self.api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    async def send(self, request: bytes) -> bytes:
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = None
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            body = await self.reader.readexactly(length)
        elif chunked:
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readuntil(b"\r\n")
            body = b"".join(p[:-2] for p in parts)
        else:
            raise RuntimeError("floor: answer without Content-Length or chunked encoding")
        if not head.startswith(b"HTTP/1.1 200"):
            status_line = head.split(b"\r\n", 1)[0]
            raise RuntimeError(f"floor: {status_line!r} {body[:200]!r}")
        return body

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def make_ccxt(rest_url: str, api_key: str, secret: str) -> ccxt_async.mexc:
    ex = ccxt_async.mexc({"apiKey": api_key, "secret": secret, "enableRateLimit": False})
    ex.urls["api"]["spot"] = {"public": rest_url, "private": rest_url}
    ex.has["fetchCurrencies"] = False  # /api/v3/capital/config/getall: not simulated

    async def no_swap_markets(params: dict | None = None) -> list:
        return []  # ccxt fetches contract markets from contract.mexc.com unconditionally

    ex.fetch_swap_markets = no_swap_markets
    return ex


async def run(orders: int, warmup: int, profile: bool) -> int:
    print("Order client overhead: MARKET BUY quoteOrderQty, ours vs ccxt, same simulator")
    print(machine())
    print(f"ccxt {ccxt.__version__}; aiohttp {aiohttp.__version__}")
    sim = SimulatorProcess(
        "--no-scenario", "--rate-limit", "0", "--balance", "USDT=100000000", "--log-level", "ERROR"
    )
    await sim.astart()
    try:
        pinned = ""
        if len(os.sched_getaffinity(0)) >= 2:
            os.sched_setaffinity(sim.pid, {1})
            os.sched_setaffinity(0, {0})
            pinned = "client pinned to CPU 0, simulator to CPU 1"
        else:
            pinned = "not pinned (one usable core)"
        print(f"simulator {sim.rest_url} (pid {sim.pid}); {pinned}")
        return await _bench(sim, orders, warmup, profile)
    finally:
        sim.stop()
        sim._cleanup()


async def _bench(sim: SimulatorProcess, orders: int, warmup: int, profile: bool) -> int:
    listing = {"symbol": SYMBOL, "price": "1", "open_in_ms": 0}
    async with (
        aiohttp.ClientSession() as control,
        control.post(f"{sim.rest_url}/_sim/listings", json=listing) as r,
    ):
        if r.status != 201:
            raise RuntimeError(f"listing {SYMBOL}: {r.status} {await r.text()}")

    ours = MexcRestClient(base_url=sim.rest_url, api_key=sim.api_key, secret_key=sim.secret_key)
    theirs = make_ccxt(sim.rest_url, sim.api_key, sim.secret_key)
    floor = RawFloor(sim.host, sim.port, sim.api_key, sim.secret_key)
    seq = iter(range(10**9))

    async def send_ours() -> tuple[int, int]:
        cid = f"o{next(seq)}"
        cpu0, started = time.process_time_ns(), time.perf_counter_ns()
        ack = await ours.place_order(
            SYMBOL, "BUY", "MARKET", quote_order_qty=QUOTE, client_order_id=cid
        )
        elapsed = time.perf_counter_ns() - started, time.process_time_ns() - cpu0
        assert ack.order_id and ack.client_order_id == cid
        return elapsed

    async def send_ccxt() -> tuple[int, int]:
        cid = f"c{next(seq)}"
        cpu0, started = time.process_time_ns(), time.perf_counter_ns()
        order = await theirs.create_order(
            CCXT_SYMBOL,
            "market",
            "buy",
            None,
            None,
            {"quoteOrderQty": float(QUOTE), "clientOrderId": cid},
        )
        elapsed = time.perf_counter_ns() - started, time.process_time_ns() - cpu0
        assert order["id"]
        return elapsed

    async def send_floor() -> tuple[int, int]:
        request = floor.build(f"f{next(seq)}")
        cpu0, started = time.process_time_ns(), time.perf_counter_ns()
        body = await floor.send(request)
        elapsed = time.perf_counter_ns() - started, time.process_time_ns() - cpu0
        assert b'"orderId"' in body
        return elapsed

    bare_httpx = httpx.AsyncClient(base_url=sim.rest_url)
    bare_aiohttp = aiohttp.ClientSession(base_url=sim.rest_url)
    key_header = {"X-MEXC-APIKEY": sim.api_key}

    async def send_httpx() -> tuple[int, int]:
        url = f"/api/v3/order?{order_query(sim.secret_key, f'h{next(seq)}')}"
        cpu0, started = time.process_time_ns(), time.perf_counter_ns()
        response = await bare_httpx.post(url, headers=key_header)
        elapsed = time.perf_counter_ns() - started, time.process_time_ns() - cpu0
        assert response.status_code == 200, response.text
        return elapsed

    async def send_aiohttp() -> tuple[int, int]:
        url = f"/api/v3/order?{order_query(sim.secret_key, f'a{next(seq)}')}"
        cpu0, started = time.process_time_ns(), time.perf_counter_ns()
        async with bare_aiohttp.post(url, headers=key_header) as response:
            await response.read()
        elapsed = time.perf_counter_ns() - started, time.process_time_ns() - cpu0
        assert response.status == 200
        return elapsed

    senders = {
        "floor": send_floor,
        "ours": send_ours,
        "ccxt": send_ccxt,
        "httpx": send_httpx,
        "aiohttp": send_aiohttp,
    }
    names = list(senders)
    try:
        await ours.warm()
        await theirs.load_markets()
        if CCXT_SYMBOL not in theirs.markets:
            raise RuntimeError(f"ccxt did not load {CCXT_SYMBOL}")
        await floor.connect()

        async def rounds(count: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
            wall: dict[str, list[float]] = {n: [] for n in names}
            cpu: dict[str, list[float]] = {n: [] for n in names}
            for i in range(count):
                for k in range(len(names)):
                    name = names[(i + k) % len(names)]
                    elapsed_ns, cpu_ns = await senders[name]()
                    wall[name].append(elapsed_ns / 1000)
                    cpu[name].append(cpu_ns / 1000)
            return wall, cpu

        await rounds(warmup)
        gc.collect()
        samples, cpu_samples = await rounds(orders)

        if profile:
            await _profile(send_ours, send_ccxt, orders)
    finally:
        await ours.aclose()
        await theirs.close()
        await floor.aclose()
        await bare_httpx.aclose()
        await bare_aiohttp.close()

    async with (
        aiohttp.ClientSession() as control,
        control.get(f"{sim.rest_url}/_sim/orders") as r,
    ):
        log = (await r.json())["orders"]
    outcome = Counter((o["status"], o["http_status"]) for o in log)

    results = {name: stats(samples[name]) for name in names}
    floor_median = results["floor"]["median"]
    for row in results.values():
        row["overhead"] = row["median"] - floor_median
    cpu = {name: stats(cpu_samples[name]) for name in names}
    for row in cpu.values():
        row["overhead"] = row["median"] - cpu["floor"]["median"]
    print_table(
        f"order round trip, {orders} rounds x {len(names)} senders "
        f"(after {warmup} warm-up rounds); overhead = median - floor median",
        [(f"{n} ({_label(n)})", results[n]) for n in names],
        unit="us",
        extra=["overhead"],
    )
    print_table(
        "client CPU time per order (this process's CPU time across the call: the client's "
        "own work, event loop and socket syscalls; immune to waiting on a busy machine)",
        [(f"{n} ({_label(n)})", cpu[n]) for n in names],
        unit="us",
        extra=["overhead"],
    )
    print(
        "simulator order log: "
        + ", ".join(f"{s} HTTP {h}: {c}" for (s, h), c in sorted(outcome.items(), key=str))
    )
    ours_over = results["ours"]["overhead"]
    ccxt_over = results["ccxt"]["overhead"]
    ratio = ccxt_over / ours_over if ours_over > 0 else float("inf")
    cpu_ours, cpu_ccxt = cpu["ours"]["overhead"], cpu["ccxt"]["overhead"]
    cpu_ratio = cpu_ccxt / cpu_ours if cpu_ours > 0 else float("inf")
    print(
        f"per-order overhead (median round trip - floor): ours {ours_over:.0f} us, "
        f"ccxt {ccxt_over:.0f} us; ratio ccxt/ours {ratio:.2f}x; "
        f"p99 round trip ours {results['ours']['p99']:.0f} us, "
        f"ccxt {results['ccxt']['p99']:.0f} us"
    )
    print(
        f"per-order client CPU above the floor (median): ours {cpu_ours:.0f} us, "
        f"ccxt {cpu_ccxt:.0f} us; ratio ccxt/ours {cpu_ratio:.2f}x"
    )
    verdict(
        ratio >= TARGET_RATIO,
        f"order client overhead ccxt/ours {ratio:.2f}x (round trip - floor, medians; "
        f"client CPU {cpu_ratio:.2f}x) vs target >= {TARGET_RATIO:g}x",
    )
    return 0


def _label(name: str) -> str:
    return {
        "floor": "raw keep-alive socket",
        "ours": "MexcRestClient.place_order",
        "ccxt": "ccxt mexc.create_order",
        "httpx": "bare httpx.AsyncClient.post, pre-signed",
        "aiohttp": "bare aiohttp session.post, pre-signed",
    }[name]


async def _profile(send_ours, send_ccxt, orders: int) -> None:
    """pyinstrument over ``orders`` more orders of each client (not part of the table)."""
    from pyinstrument import Profiler

    for name, send in (("ours", send_ours), ("ccxt", send_ccxt)):
        profiler = Profiler(interval=0.0001, async_mode="enabled")
        profiler.start()
        for _ in range(orders):
            await send()
        profiler.stop()
        print(f"\n--- pyinstrument: {name}, {orders} orders ---")
        print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also print pyinstrument output")
    args = parser.parse_args()
    return asyncio.run(run(args.orders, args.warmup, args.profile))


if __name__ == "__main__":
    sys.exit(main())
