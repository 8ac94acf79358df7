"""Tick -> sell: a price crosses an open position's stop, how soon does its sell reach MEXC?

What a user sees, by the exchange's own clock: for each of N live positions (one per symbol,
opened by real buys, `trade_manual(live=True)`, on symbols listed on the simulator; stop-loss
20 % as configured by default, `stop_confirm_ms` 0), the simulator makes a trade at 0.7 (30 %
under the entry: under the stop) and stamps it (`POST /_sim/trades` answers `at_us`, the
exchange clock when the trade was made, before any push); the figure is the `received_at_us`
of that position's SELL order (stamped first thing in the simulator's request handling)
minus `at_us`.

The bot side is the real exit watcher (`trading.watcher.PositionWatcher.from_settings`, the
monitor's), on its own thread and event loop, with the real bookTicker stream from the
simulator's WebSocket; its sells run `trading.positions.position_sell` on the watcher's sell
threads through trading's gateway, as in `run_monitor` (in-process trading, its private
orders witness, `tune_for_latency`). The trades come from a separate small process (the
`--trigger` mode of this file), one position at a time, `--gap-s` apart (more than the 5
orders/s limiter's interval: each sell alone).

Beside it, the baseline: the same positions and measurement with the stream off, the REST
fallback only (`ws_url` None, the watcher's `poll_s` 0.05 and `silent_s` 0: every symbol's
bookTicker asked every 50 ms). The simulator's IP rate limit is off for both (the baseline
asks 600 bookTickers/s for 30 symbols; real MEXC would ban that).

Where the time goes, per position (this host's clock; the simulator's offset applied):
trade made -> the tick reaches the watcher (push, decode) -> exit decided (`_fire`) -> the
sell thread starts -> the symbol's rules, bid and balance asked (`sell_inputs`: known, or REST)
-> the claim and the sell's Trade row committed (one round trip, `_claim_and_record`) -> sent
(guards, the hop to the gateway's loop; `sent_ns`) -> received by the exchange.

    python -m bench.tick_to_sell [--runs 3] [--positions 30] [--shape both|embedded|production]

Shapes: embedded (SQLite, no Redis), production (PostgreSQL from DATABASE_URL: a fresh
`<name>_bench_exits` database next to it; a private redis-server as the other benches start,
or REDIS_URL when redis-server is not installed). Target: p99 <= 5 ms in the production shape.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TARGET_MS = 5.0
ENTRY_PRICE = "1"
STOP_PRICE = "0.7"  # 30 % under the entry: under the default 20 % stop
UNDER_STOP = 0.8  # a bid under this is the tick that crosses the stop
QUOTE_USDT = "20"
REST_POLL_S = 0.05
SETTLE_S = 1.5  # after the watcher is ready: its first refreshes and pushes are over
STAGES = (
    ("trade made -> tick at the watcher", "made", "tick"),
    ("tick -> exit decided", "tick", "fire"),
    ("decided -> sell thread starts", "fire", "sell"),
    ("sell starts -> inputs asked (no row read)", "sell", "asked"),
    ("asked -> claim + sell row committed", "asked", "claimed"),
    ("claimed -> sent (guards, hop to the gateway)", "claimed", "sent"),
    ("inputs answered (known, or REST)", "asked", "inputs"),
    ("sent -> received at the exchange", "sent", "received"),
    ("= trade made -> received", "made", "received"),
)
MODES = {"stream": "stream (bookTicker)", "rest": f"REST only ({REST_POLL_S:g} s)"}


# --- the trigger: a small separate process that makes the trades ------------------------------


def trigger(rest_url: str, gap_s: float, price: str, symbols: list[str]) -> dict[str, int]:
    """One trade at `price` per symbol, `gap_s` apart; {symbol: at_us} (the exchange's stamp)."""
    parts = urlsplit(rest_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    made = {}
    for symbol in symbols:
        body = json.dumps({"symbol": symbol, "price": price})
        conn.request("POST", "/_sim/trades", body, {"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        made[symbol] = answer["at_us"]
        time.sleep(gap_s)
    conn.close()
    return made


# --- one shape, in its own process (Django is set up once per process) ------------------------


class Bot:
    """This process as the monitor: Django, in-process trading, the watcher on its thread."""

    def __init__(self, workdir: Path) -> None:
        from mexc.simulator.process import SimulatorProcess

        self.sim = SimulatorProcess(
            "--no-scenario",
            "--rate-limit",
            "0",
            "--balance",
            "USDT=100000000",
            "--log-level",
            "ERROR",
        )
        os.environ.update(
            DJANGO_SETTINGS_MODULE="sniperbot.settings",
            SECRET_KEY="bench-tick-to-sell-secret-key-not-for-production-0123456789",
            SNIPERBOT_VAR_DIR=str(workdir / "var"),
            MEXC_REST_URL=self.sim.rest_url,
            MEXC_WS_URL=self.sim.ws_url,
            MEXC_CALENDAR_URL=self.sim.calendar_url,
            MEXC_API_KEY=self.sim.api_key,
            MEXC_SECRET_KEY=self.sim.secret_key,
            # the simulator's IP limit is off here (the REST baseline asks 600 bookTickers/s):
            # so is the client's budget, which would refuse the 30 buys' exchangeInfo reads
            MEXC_IP_WEIGHT_LIMIT="100000",
        )
        self.sim.start()
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from bench.listing_to_order import LIMITS
        from risk.services import config_update

        config_update(
            actor=None, changes={**LIMITS, "stop_confirm_ms": 0}, reason="bench: tick -> sell"
        )
        # As run_monitor (SNIPE_INLINE=1): trading on this process's threads, then tuned.
        from common.sqlite_wal import checkpoint_in_background
        from listings.management.commands.run_monitor import tune_for_latency
        from listings.ports import trading

        trading().serve_in_this_process()
        tune_for_latency()
        checkpoint_in_background()
        self.stamps: dict[str, dict[str, int]] = {}
        self.symbol_of: dict[int, str] = {}
        self._hook_trading()

    def sim_call(self, method: str, path: str, body: dict | None = None) -> dict:
        parts = urlsplit(self.sim.rest_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, data, {"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {answer}")
            return answer
        finally:
            conn.close()

    def _stamp(self, symbol: str | None, name: str) -> None:
        if symbol is not None:
            self.stamps.setdefault(symbol, {}).setdefault(name, time.time_ns())

    def _mark(self, name: str) -> None:
        """A mark of the sell this thread is running (its symbol set by the watcher's sell)."""
        self._stamp(getattr(self._selling, "symbol", None), name)

    def _hook_trading(self) -> None:
        """Timing marks on the sell path (a clock read each, from the bench's side)."""
        import threading

        import trading.positions as positions
        from trading.runtime import get_gateway

        self._selling = threading.local()
        claim = positions._claim_and_record

        def timed_claim(*args, **kwargs):
            claimed = claim(*args, **kwargs)
            self._mark("claimed")
            return claimed

        positions._claim_and_record = timed_claim
        gateway = get_gateway()
        sell_inputs = gateway.sell_inputs

        def timed_sell_inputs(symbol, asset, *, balance, bid=None):
            self._mark("asked")
            future = sell_inputs(symbol, asset, balance=balance, bid=bid)
            future.add_done_callback(lambda _: self._stamp(symbol, "inputs"))
            return future

        gateway.sell_inputs = timed_sell_inputs

    def _hook_watcher(self, watcher) -> None:
        on_price, fire, sell = watcher.on_price, watcher._fire, watcher.sell

        def timed_on_price(symbol, bid, at_ms):
            if bid < UNDER_STOP:
                self._stamp(symbol, "tick")
            on_price(symbol, bid, at_ms)

        def timed_fire(w, exit, reason, bid):
            self._stamp(w.symbol, "fire")
            fire(w, exit, reason, bid)

        def timed_sell(position_id, request):
            self._selling.symbol = self.symbol_of.get(position_id)
            self._mark("sell")
            try:
                return sell(position_id, request)
            finally:
                self._selling.symbol = None

        watcher.on_price, watcher._fire, watcher.sell = timed_on_price, timed_fire, timed_sell

    def open_positions(self, symbols: list[str]) -> list[str]:
        """List the symbols, buy each (live); the symbols whose buy opened a position."""
        from decimal import Decimal

        from trading.models import Position, PositionStatus
        from trading.services import trade_manual

        for symbol in symbols:
            self.sim_call(
                "POST", "/_sim/listings", {"symbol": symbol, "price": ENTRY_PRICE, "open_in_ms": 0}
            )
        trades = {
            s: trade_manual(symbol=s, quote_qty=Decimal(QUOTE_USDT), live=True) for s in symbols
        }
        # The position opens where the fill is recorded: by the buy itself or by a witness of
        # the order (the private orders stream) a moment later.
        deadline = time.monotonic() + 10
        while True:
            positions = {
                p.buy_trade_id: p
                for p in Position.objects.filter(buy_trade__in=list(trades.values()))
            }
            missing = [s for s, t in trades.items() if t.pk not in positions]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        opened = []
        for symbol, trade in trades.items():
            position = positions.get(trade.pk)
            if position is not None and position.status == PositionStatus.OPEN:
                self.symbol_of[position.pk] = symbol
                opened.append(symbol)
            else:
                trade.refresh_from_db()
                held = position.status if position else "none"
                print(f"  buy of {symbol}: {trade.status}, position {held}", flush=True)
        return opened

    def measure(self, mode: str, symbols: list[str], gap_s: float) -> dict:
        """Watch the open positions with the watcher in `mode`, cross each one's stop in turn;
        {"samples": [...], "stages": {...}, "notes": {...}}."""
        watched = WatcherThread(mode, self._hook_watcher)
        watched.start()
        try:
            watched.wait_ready(set(symbols))
            time.sleep(SETTLE_S)
            early = self.sells(symbols)
            made = self.run_trigger(symbols, gap_s)
            closed = self.wait_closed(symbols)
        finally:
            watched.stop()
        return self.collect(symbols, made, early, closed)

    def run_trigger(self, symbols: list[str], gap_s: float) -> dict[str, int]:
        module = [sys.executable, "-m", "bench.tick_to_sell"]
        done = subprocess.run(
            [*module, "--trigger", self.sim.rest_url, "--gap-s", str(gap_s), *symbols],
            capture_output=True,
            text=True,
            timeout=60 + gap_s * len(symbols),
            check=True,
        )
        return json.loads(done.stdout)

    def sells(self, symbols: list[str]) -> dict[str, list[dict]]:
        wanted = set(symbols)
        by_symbol: dict[str, list[dict]] = {}
        for order in self.sim_call("GET", "/_sim/orders")["orders"]:
            if order.get("side") == "SELL" and order.get("symbol") in wanted:
                by_symbol.setdefault(order["symbol"], []).append(order)
        return by_symbol

    def wait_closed(self, symbols: list[str], timeout: float = 20.0) -> int:
        from trading.models import Position, PositionStatus

        deadline = time.monotonic() + timeout
        while True:
            closed = Position.objects.filter(
                symbol__in=symbols, status=PositionStatus.CLOSED
            ).count()
            if closed >= len(symbols) or time.monotonic() > deadline:
                return closed
            time.sleep(0.2)

    def collect(self, symbols, made, early, closed) -> dict:
        from trading.models import Trade, TradeSide

        offset_us = self.sim_call("GET", "/_sim/state")["clock_offset_ms"] * 1000
        orders = self.sells(symbols)
        sent = dict(
            Trade.objects.filter(symbol__in=symbols, side=TradeSide.SELL)
            .order_by("-id")
            .values_list("symbol", "sent_ns")
        )
        samples, stages = [], {label: [] for label, _, _ in STAGES}
        unsent = twice = 0
        for symbol in symbols:
            after = [o for o in orders.get(symbol, []) if o["received_at_us"] >= made[symbol]]
            if not after:
                unsent += 1
                continue
            twice += len(after) > 1
            head = min(after, key=lambda o: o["received_at_us"])
            samples.append((head["received_at_us"] - made[symbol]) / 1000)
            # marks on this host's clock, in µs; the exchange's stamps moved by its offset
            at = {k: v / 1000 for k, v in self.stamps.get(symbol, {}).items()}
            at["made"] = made[symbol] - offset_us
            at["received"] = head["received_at_us"] - offset_us
            if sent.get(symbol):
                at["sent"] = sent[symbol] / 1000
            for label, start, end in STAGES:
                if start in at and end in at:
                    stages[label].append((at[end] - at[start]) / 1000)
        notes = {
            "positions": len(symbols),
            "closed": closed,
            "unsent": unsent,
            "more than one sell": twice,
            "sold before the trade": sum(1 for s in symbols if early.get(s)),
        }
        return {"samples": samples, "stages": stages, "notes": notes}

    def stop(self) -> None:
        from listings.ports import trading

        trading().wait()
        self.sim.stop()


class WatcherThread:
    """The exit watcher on its own thread and event loop, as the monitor runs it."""

    def __init__(self, mode: str, hook) -> None:
        import asyncio
        import threading

        self.mode, self.hook = mode, hook
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name=f"watcher-{mode}", daemon=True)
        self.started = threading.Event()
        self.watcher = None
        self.shutdown = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread.start()
        if not self.started.wait(30):
            raise TimeoutError("the watcher did not start")
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self._run())
        except BaseException as exc:  # reported by start() / stop()
            self.error = exc
            self.started.set()

    async def _run(self) -> None:
        import asyncio

        from django.conf import settings

        from mexc.rest import MexcRestClient
        from trading.watcher import PositionWatcher, WatcherConfig

        rest = MexcRestClient(
            base_url=settings.MEXC_REST_URL, timeout=settings.MEXC_HTTP_TIMEOUT_MS / 1000
        )  # the monitor's public client
        await rest.sync_time()
        if self.mode == "stream":
            watcher = PositionWatcher.from_settings(rest)
        else:

            async def bid_of(symbol: str):
                return (await rest.book_ticker(symbol)).bid_price or None

            watcher = PositionWatcher(
                ws_url=None,
                bid_of=bid_of,
                now_ms=rest.server_time_ms,
                config=WatcherConfig(poll_s=REST_POLL_S, silent_s=0),
            )
        self.hook(watcher)
        self.watcher, self.shutdown = watcher, asyncio.Event()
        self.started.set()
        try:
            await watcher.run(self.shutdown)
        finally:
            await rest.aclose()

    def wait_ready(self, symbols: set[str], timeout: float = 30.0) -> None:
        """Every position watched and priced (stream: every channel subscribed)."""
        from mexc import stream as mexc_stream

        channels = {mexc_stream.book_ticker_channel(s, "10ms") for s in symbols}
        deadline = time.monotonic() + timeout
        w = self.watcher
        while True:
            watched = {x.symbol for x in list(w.watched.values())}
            priced = set(w.last)
            acked = w.subscribed
            subscribed = self.mode != "stream" or channels <= acked
            if symbols <= watched and symbols <= priced and subscribed:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"watcher ({self.mode}) not ready: {len(symbols & watched)} watched, "
                    f"{len(symbols & priced)} priced, {len(channels & acked)} subscribed"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.shutdown is not None:
            self.loop.call_soon_threadsafe(self.shutdown.set)
        self.thread.join(30)
        self.loop.close()


def run_child(shape: str, runs: int, positions: int, gap_s: float, modes: list[str], out: Path):
    from bench._table import print_table, stats

    workdir = out.parent
    bot = Bot(workdir)
    results: dict[str, list[dict]] = {m: [] for m in modes}
    try:
        for run in range(1, runs + 1):
            for mode in modes:
                tag = f"T{run}{mode[0].upper()}"
                symbols = [f"{tag}{i:03d}USDT" for i in range(positions)]
                opened = bot.open_positions(symbols)
                result = bot.measure(mode, opened, gap_s)
                results[mode].append(result)
                row = stats(result["samples"]) if result["samples"] else None
                print(
                    f"  {shape} run {run} {MODES[mode]}: "
                    + (
                        f"median {row['median']:.2f} ms, p99 {row['p99']:.2f} ms, "
                        if row
                        else "no samples, "
                    )
                    + ", ".join(f"{k} {v}" for k, v in result["notes"].items()),
                    flush=True,
                )
        for mode in modes:
            pooled: dict[str, list[float]] = {}
            for result in results[mode]:
                for label, values in result["stages"].items():
                    pooled.setdefault(label, []).extend(values)
            rows = [(label, stats(v)) for label, v in pooled.items() if v]
            if rows:
                print_table(f"{shape} / {MODES[mode]}: where the time goes, all runs", rows, "ms")
    finally:
        bot.stop()
    out.write_text(json.dumps(results))


# --- the parent: shapes in turn, the tables ----------------------------------------------------


def fresh_postgres(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_bench_exits"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def run_shape(shape: str, args, workdir: Path, env: dict[str, str]) -> dict | None:
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.json"
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "MEXC_")) and k not in ("REDIS_URL", "DATABASE_URL")
    }
    child_env.update(env, PYTHONUNBUFFERED="1")
    modes = ["stream"] + ([] if args.no_baseline else ["rest"])
    command = [sys.executable, "-m", "bench.tick_to_sell", "--child", shape, "--out", str(out)]
    command += ["--runs", str(args.runs), "--positions", str(args.positions)]
    command += ["--gap-s", str(args.gap_s), "--modes", ",".join(modes)]
    log = workdir / "bot.log"
    with log.open("wb") as stderr:
        done = subprocess.run(command, env=child_env, stderr=stderr, check=False)
    if done.returncode or not out.exists():
        print(f"{shape}: the bench process failed ({done.returncode}); its log's end:")
        print(log.read_text(errors="replace")[-3000:])
        return None
    return json.loads(out.read_text())


def summarize(shape: str, results: dict) -> dict | None:
    from bench._table import print_table, stats

    rows, medians = [], {}
    for mode, runs in results.items():
        per_run = [stats(r["samples"]) for r in runs if r["samples"]]
        for i, row in enumerate(per_run, 1):
            rows.append((f"run {i}, {MODES[mode]}", row))
        if per_run:
            keys = ("median", "p95", "p99", "max", "min", "mean")
            median = {k: statistics.median(r[k] for r in per_run) for k in keys}
            median["count"] = sum(r["count"] for r in per_run)
            medians[mode] = median
            rows.append((f"median of runs, {MODES[mode]}", median))
    if not rows:
        print(f"{shape}: no samples")
        return None
    print_table(
        f"{shape}: trade crossing the stop -> sell order received (exchange clock)", rows, "ms"
    )
    ours, rest = medians.get("stream"), medians.get("rest")
    if ours and rest:
        print(
            f"{shape}: stream/REST (medians of runs): median {ours['median'] / rest['median']:.3f}"
            f" ({rest['median'] / ours['median']:.1f}x faster), p99 "
            f"{ours['p99'] / rest['p99']:.3f} ({rest['p99'] / ours['p99']:.1f}x faster)"
        )
    return ours


def parent(args) -> int:
    from bench._table import machine, verdict
    from sniperbot.testing.stack import RedisServer

    print(machine())
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{args.positions} positions per run, {args.runs} runs; one trade per position "
        f"{args.gap_s} s apart; stop-loss 20 %, stop_confirm_ms 0; live on the simulator"
    )
    shapes = ["embedded", "production"] if args.shape == "both" else [args.shape]
    with tempfile.TemporaryDirectory(prefix="bench-t2s-") as tmp:
        for shape in shapes:
            workdir = Path(tmp) / shape
            started = time.monotonic()
            if shape == "embedded":
                env = {"DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"}
                print("\n== embedded: SQLite, no Redis (in-process tasks) ==", flush=True)
                results = run_shape(shape, args, workdir, env)
            else:
                database_url = os.environ.get("DATABASE_URL", "")
                redis_ok = RedisServer.available() or os.environ.get("REDIS_URL")
                if not (database_url.startswith("postgres") and redis_ok):
                    print("\nproduction shape skipped: needs DATABASE_URL (PostgreSQL) and Redis")
                    continue
                env = {"DATABASE_URL": fresh_postgres(database_url)}
                print("\n== production: PostgreSQL, Redis (guards, channel layer) ==", flush=True)
                workdir.mkdir(parents=True, exist_ok=True)
                if RedisServer.available():
                    with RedisServer(workdir) as redis:
                        env["REDIS_URL"] = redis.url
                        results = run_shape(shape, args, workdir, env)
                else:
                    env["REDIS_URL"] = os.environ["REDIS_URL"]
                    results = run_shape(shape, args, workdir, env)
            ours = summarize(shape, results) if results else None
            if ours is not None:
                target = "the target" if shape == "production" else "(production's target)"
                verdict(
                    ours["p99"] <= TARGET_MS,
                    f"{shape}: tick -> sell received p99 {ours['p99']:.2f} ms (median of "
                    f"{args.runs} runs; median {ours['median']:.2f} ms) vs {target} "
                    f"<= {TARGET_MS:g} ms",
                )
            print(f"({shape} shape: {time.monotonic() - started:.0f} s)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--positions", type=int, default=30, help="positions per run")
    parser.add_argument("--gap-s", type=float, default=0.3, help="between two positions' trades")
    parser.add_argument("--shape", choices=("both", "embedded", "production"), default="both")
    parser.add_argument("--no-baseline", action="store_true", help="the stream only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--modes", default="stream,rest", help=argparse.SUPPRESS)
    parser.add_argument("--trigger", metavar="REST_URL", help=argparse.SUPPRESS)
    parser.add_argument("symbols", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trigger:
        print(json.dumps(trigger(args.trigger, args.gap_s, STOP_PRICE, args.symbols)))
        return 0
    if args.child:
        modes = args.modes.split(",")
        run_child(args.child, args.runs, args.positions, args.gap_s, modes, Path(args.out))
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
