"""Soak: the production shape for a while, a new listing every 4 s; does anything grow?

    DATABASE_URL=postgres://... SOAK_MINUTES=20 python -m bench.soak      (make soak)

Runs `BotStack` (simulator, daphne web, monitor, Celery worker over a private redis-server,
its own fresh PostgreSQL database; dry-run auto-trade with wide limits) and lists a token on
the simulator every SOAK_LISTING_EVERY_S (4) seconds. Once a minute it samples each process
(and its children, e.g. Celery's pool): resident memory, open descriptors, threads, and TCP
connections to PostgreSQL and Redis; and the row counts. At the end it prints the first and
last minute side by side, then checks the books: every listing has exactly one trade, every
trade has a listing or is manual, and every listed token was recorded.

Without DATABASE_URL it runs on SQLite (the embedded shape still needs redis-server for the
worker); without redis-server it says so and exits.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench._table import machine, verdict
from sniperbot.testing.stack import BotStack, RedisServer, wait_until

LISTING_EVERY_S = float(os.environ.get("SOAK_LISTING_EVERY_S", "4"))
CONFIG = {
    "auto_trade": True,
    "mode": "dry_run",
    "snipe_quote_usdt": "5",
    "max_trade_usdt": "100",
    "max_position_usdt": "100000000",
    "high_value_threshold_usdt": "100000000",
    "max_trades_per_hour": 100000,
    "max_in_flight": 100,
}
# Growth allowed between the first and the last minute before the verdict calls it a leak.
RSS_GROWTH_LIMIT = 0.25  # +25 % (caches and allocator arenas settle in the first minutes)
COUNT_SLACK = 4  # descriptors, threads, connections: a few come and go


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _remote_ports_by_inode() -> dict[str, int]:
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    remote, state, inode = cols[2], cols[3], cols[9]
                    if state == "01":  # ESTABLISHED
                        ports[inode] = int(remote.rsplit(":", 1)[1], 16)
        except OSError:
            continue
    return ports


def sample_process(pid: int, db_port: int, redis_port: int, ports: dict[str, int]) -> dict:
    rss = fds = threads = db = redis = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            rss += int(status["VmRSS"].split()[0]) / 1024
            threads += int(status["Threads"])
            links = os.listdir(f"/proc/{p}/fd")
        except (OSError, KeyError):
            continue
        fds += len(links)
        for fd in links:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                remote = ports.get(target[8:-1])
                db += remote == db_port
                redis += remote == redis_port
    return {"rss_mb": rss, "fds": fds, "threads": threads, "db_conns": db, "redis_conns": redis}


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "20"))
    print(machine())
    if not RedisServer.available():
        print("skipped: needs redis-server (the production shape's worker and channel layer)")
        return 0
    database_url = os.environ.get("DATABASE_URL")
    if not (database_url and database_url.startswith("postgres")):
        database_url = None
    db_port = (
        int(database_url.split("@")[-1].split("/")[0].rsplit(":", 1)[-1])
        if (database_url and ":" in database_url.split("@")[-1].split("/")[0])
        else 5432
    )
    shape = "PostgreSQL" if database_url else "SQLite"
    print(f"soak: {minutes:g} min, a listing every {LISTING_EVERY_S:g} s, {shape} + Redis")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, RedisServer(Path(tmp)) as redis:
        stack = BotStack(Path(tmp), database_url=database_url, redis_url=redis.url)
        try:
            stack.start(monitor_running=True, config=CONFIG)
            wait_until(
                lambda: stack.rows(
                    "SELECT 1 FROM monitoring_bothealth "
                    "WHERE component='mexc_websocket' AND status='ok'"
                ),
                60,
                "the monitor's WebSocket",
            )
            samples, listed = run(stack, minutes, db_port, redis.port)
            settle(stack, listed)
            return report(stack, samples, listed)
        finally:
            stack.stop()


def run(stack: BotStack, minutes: float, db_port: int, redis_port: int):
    started = time.monotonic()
    end = started + minutes * 60
    next_listing = started
    next_sample = started
    samples: list[dict] = []
    listed: list[str] = []
    n = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_listing:
            n += 1
            symbol = f"SOAK{n}USDT"
            stack.sim_call(
                "POST",
                "/_sim/listings",
                {"symbol": symbol, "price": "0.5", "open_at_ms": int(time.time() * 1000)},
            )
            listed.append(symbol)
            next_listing += LISTING_EVERY_S
        if now >= next_sample:
            samples.append(sample(stack, db_port, redis_port, minute=len(samples)))
            next_sample += 60
        time.sleep(0.2)
    samples.append(sample(stack, db_port, redis_port, minute=len(samples)))
    return samples, listed


def sample(stack: BotStack, db_port: int, redis_port: int, minute: int) -> dict:
    ports = _remote_ports_by_inode()
    procs = {name: proc.pid for name, proc in stack.procs.items() if proc.poll() is None}
    if stack.sim.pid:
        procs["simulator"] = stack.sim.pid
    per = {name: sample_process(pid, db_port, redis_port, ports) for name, pid in procs.items()}
    (listings,), (trades,) = (
        stack.rows("SELECT count(*) FROM listings_listing")[0],
        stack.rows("SELECT count(*) FROM trading_trade")[0],
    )
    line = " ".join(
        f"{name}={v['rss_mb']:.0f}MB/{v['fds']}fd/{v['threads']}th/{v['db_conns']}db"
        for name, v in per.items()
    )
    print(f"  min {minute:>3}: {listings} listings, {trades} trades | {line}", flush=True)
    return {"per": per, "listings": listings, "trades": trades}


def settle(stack: BotStack, listed: list[str]) -> None:
    """The last listings get their trades (a few seconds at most)."""
    try:
        wait_until(
            lambda: (
                stack.rows(
                    "SELECT count(*) FROM trading_trade t JOIN listings_listing l "
                    "ON t.listing_id = l.id WHERE l.symbol LIKE 'SOAK%'"
                )[0][0]
                >= len(listed)
            ),
            60,
            "a trade for every listing",
        )
    except TimeoutError as exc:
        print(f"  {exc}")


def report(stack: BotStack, samples: list[dict], listed: list[str]) -> int:
    # Minute 0 is the idle start (before any listing, connections not yet opened): the first
    # minute of work is the baseline.
    first, last = (samples[1] if len(samples) > 2 else samples[0]), samples[-1]
    print()
    head = ("process", "metric", "first min", "last min", "change")
    rows = []
    grew = []
    for name in first["per"]:
        if name not in last["per"]:
            grew.append(f"{name} died")
            continue
        for metric in ("rss_mb", "fds", "threads", "db_conns", "redis_conns"):
            a, b = first["per"][name][metric], last["per"][name][metric]
            rows.append((name, metric, f"{a:.0f}", f"{b:.0f}", f"{b - a:+.0f}"))
            if metric == "rss_mb" and a and (b - a) / a > RSS_GROWTH_LIMIT:
                grew.append(f"{name} rss {a:.0f}->{b:.0f} MB")
            if metric != "rss_mb" and b - a > COUNT_SLACK:
                grew.append(f"{name} {metric} {a}->{b}")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        f"rows: listings {first['listings']} -> {last['listings']}, "
        f"trades {first['trades']} -> {last['trades']}"
    )
    not_one = stack.rows(
        "SELECT l.symbol, count(t.id) FROM listings_listing l "
        "LEFT JOIN trading_trade t ON t.listing_id = l.id GROUP BY l.id, l.symbol "
        "HAVING count(t.id) <> 1"
    )
    orphans = stack.rows(
        "SELECT count(*) FROM trading_trade WHERE listing_id IS NULL AND NOT manual"
    )[0][0]
    recorded = {r[0] for r in stack.rows("SELECT symbol FROM listings_listing")}
    missing = [s for s in listed if s not in recorded]
    print(f"listed {len(listed)} tokens; recorded {len(recorded)} listings")
    verdict(not grew, "no growth first -> last minute" + (": " + "; ".join(grew) if grew else ""))
    verdict(
        not not_one, "every listing has exactly one trade" + (f": {not_one[:5]}" if not_one else "")
    )
    verdict(not orphans, f"every trade has a listing or a manual origin ({orphans} without)")
    verdict(not missing, f"every listed token recorded ({len(missing)} missing: {missing[:5]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
