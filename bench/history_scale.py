"""History at scale: the reads that grow with the trade table, at 10k / 100k / 1M trades.

    DATABASE_URL=postgres://... python -m bench.history_scale [--sizes 10000,100000,1000000]

PostgreSQL only (the figures that matter are production's). It builds a fresh database next
to DATABASE_URL's (`<name>_bench_scale`, dropped and rebuilt), migrates it, and for each size
fills it with one INSERT ... SELECT generate_series per table (a listing per snipe, 5 %
manual trades without one; 10 % of the trades in the last 24 h, the rest over two years;
rows written in time order, as a live table grows, so recent rows sit together), then
times, in this process through Django's handlers (the real URL, middleware, auth and
serializers):

- the API lists: trade history page 1, filtered by status and by symbol, a deep page;
  listings page 1 and by source; config history (31 versions, with its query count)
- latency analytics for 1h, 24h and 30d windows
- the CSV export through Django's ASGI handler: first byte, total, rows/s, memory growth
- the admin changelists (trades: plain, filtered, searched; listings)
- the order path's risk inputs, `trading.selectors.decision_inputs` (owned by the lead:
  measured, not changed here)

Each figure is the median of several warm runs (the export: one run); the last column is the
1M/10k ratio, target <= 1.5 for everything but the export's total time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from bench._table import fmt, machine, verdict

SIZES = (10_000, 100_000, 1_000_000)
RUNS = 7
RATIO_TARGET = 1.5
CONFIG_VERSIONS = 31


def fresh_database(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_bench_scale"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sniperbot.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# Deterministic spread: trade g's time is a function of g, so its listing gets the same one.
# One in ten in the last 24 h, the rest over two years before that.
FRACTION = "((g::bigint * 2654435761) % 4294967296)::float8 / 4294967296"
TS = (
    f"%(now)s::timestamptz - CASE WHEN g % 10 = 0 THEN {FRACTION} * interval '24 hours'"
    f" ELSE interval '24 hours' + {FRACTION} * interval '729 days' END"
)

LISTINGS_SQL = f"""
INSERT INTO listings_listing (id, symbol, base_asset, quote_asset, listed_at, listed_at_source,
    detected_at, source, raw, created_at)
SELECT g, 'T' || g || 'USDT', 'T' || g, 'USDT', ts, 'detected', ts,
    CASE WHEN g % 50 = 0 THEN 'mexc_rest_api' ELSE 'mexc_websocket' END, '{{}}'::jsonb, ts
FROM (SELECT g, {TS} AS ts FROM generate_series(1, %(n)s) AS g) AS s
WHERE g % 20 <> 0
ORDER BY ts
"""

# Statuses: 60 % filled, 25 % rejected, 5 % failed, 5 % canceled, 5 % settled others.
TRADES_SQL = f"""
INSERT INTO trading_trade (listing_id, symbol, side, quote_qty, order_type, mode, status,
    reason_code, error_message, client_order_id, exchange_order_id, executed_qty, avg_price,
    quote_spent, config_version_id, detected_ns, persisted_ns, dispatched_ns, risk_done_ns,
    sent_ns, acked_ns, decision_to_ack_ms, attempts, manual, requested_by, confirmed_by,
    confirmed_ns, created_at, updated_at)
SELECT CASE WHEN g % 20 <> 0 THEN g END, 'T' || g || 'USDT', 'BUY', 20, 'IMMEDIATE_OR_CANCEL',
    CASE WHEN g % 10 = 3 THEN 'live' ELSE 'dry_run' END,
    st,
    CASE st WHEN 'rejected' THEN 'max_trade_exceeded' ELSE '' END,
    CASE st WHEN 'failed' THEN 'exchange unavailable' ELSE '' END,
    'sb' || g,
    CASE WHEN st IN ('filled', 'canceled') THEN 'ex' || g ELSE '' END,
    CASE st WHEN 'filled' THEN 40 END, CASE st WHEN 'filled' THEN 0.5 END,
    CASE st WHEN 'filled' THEN 20 END,
    %(config)s,
    t0, t0 + 200000 + g % 300000, t0 + 500000 + g % 700000, t0 + 900000 + g % 900000,
    CASE WHEN st <> 'rejected' THEN t0 + 1500000 + g % 1100000 END,
    CASE WHEN st IN ('filled', 'canceled') THEN t0 + 3000000 + (g::bigint * 7919) % 90000000 END,
    NULL, 1, g % 20 = 0, CASE WHEN g % 20 = 0 THEN 'bench' ELSE '' END, '', NULL, ts, ts
FROM (
    SELECT g, ts, (extract(epoch FROM ts) * 1e9)::bigint AS t0,
        CASE WHEN g % 20 < 12 THEN 'filled' WHEN g % 20 < 17 THEN 'rejected'
             WHEN g % 20 = 17 THEN 'failed' ELSE 'canceled' END AS st
    FROM (SELECT g, {TS} AS ts FROM generate_series(1, %(n)s) AS g) AS s
) AS s
ORDER BY ts
"""


# Modulo in SQL text that also carries %(name)s placeholders.
LISTINGS_SQL, TRADES_SQL = (sql.replace(" % ", " %% ") for sql in (LISTINGS_SQL, TRADES_SQL))


def build(n: int, config_id: int) -> float:
    from django.db import connection
    from django.utils import timezone

    started = time.perf_counter()
    params = {"n": n, "now": timezone.now(), "config": config_id}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE trading_trade, listings_listing CASCADE")
        cursor.execute(LISTINGS_SQL, params)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('listings_listing', 'id'), %s)", [n + 1]
        )
        cursor.execute(TRADES_SQL, params)
        # As autovacuum leaves a live table: hint bits set, visibility map and statistics.
        cursor.execute("VACUUM (ANALYZE) trading_trade")
        cursor.execute("VACUUM (ANALYZE) listings_listing")
    return time.perf_counter() - started


def timed(call, runs: int = RUNS) -> float:
    call()  # warm: plans, caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def get_ok(client, url: str):
    def call():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return call


def export_over_asgi(token: str) -> dict[str, float]:
    """The export through Django's ASGI handler (what daphne runs): time to the first body
    chunk, total time, rows and this process's resident memory growth while it streams."""
    from django.core.handlers.asgi import ASGIHandler

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    app = ASGIHandler()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/trade/export.csv",
        "raw_path": b"/api/trade/export.csv",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Token {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    out = {"first": None, "bytes": 0, "lines": 0, "peak": 0.0, "status": None}

    async def run() -> None:
        done = asyncio.Event()
        sent_request = False

        async def receive():
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body and out["first"] is None:
                    out["first"] = time.perf_counter() - started
                out["bytes"] += len(body)
                out["lines"] += body.count(b"\n")
                out["peak"] = max(out["peak"], rss_mb())
                if not message.get("more_body"):
                    done.set()

        await app(scope, receive, send)

    before = rss_mb()
    started = time.perf_counter()
    asyncio.run(run())
    total = time.perf_counter() - started
    rows = out["lines"] - 1
    assert out["status"] == 200, out
    return {
        "first_ms": out["first"] * 1000,
        "total_s": total,
        "rows": rows,
        "rows_per_s": rows / total,
        "growth_mb": max(0.0, out["peak"] - before),
    }


def seed_config_versions(user) -> int:
    from risk.selectors import config_current_version, config_get_active
    from risk.services import config_update

    config = config_get_active()
    for i in range(CONFIG_VERSIONS - 1):
        config_update(
            actor=user,
            changes={"max_trades_per_hour": 10 + i % 5, "auto_trade": bool(i % 2)},
            reason=f"bench version {i}",
        )
    return config_current_version(config=config_get_active()).history_id or config.pk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(machine())
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("skipped: needs DATABASE_URL=postgres://... (the figures are PostgreSQL's)")
        return 0
    setup_django(fresh_database(url))

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from trading.selectors import decision_inputs

    user = User.objects.create_superuser("bench", password=secrets.token_urlsafe(16))
    token = Token.objects.create(user=user).key
    config_id = seed_config_versions(user)
    client = Client()
    client.force_login(user)

    results: dict[str, dict[int, float]] = {}
    units: dict[str, str] = {}

    def record(name: str, size: int, value: float, unit: str = "ms") -> None:
        results.setdefault(name, {})[size] = value
        units[name] = unit

    for n in sizes:
        took = build(n, config_id)
        print(f"built {n:,} trades (+{n - n // 20:,} listings) in {took:.1f} s", flush=True)
        probe = f"T{(n // 10) * 10 - 3}USDT"  # a symbol that exists at every size
        ops = {
            "history page 1": "/api/trade/history/",
            "history ?status=filled": "/api/trade/history/?status=filled",
            "history ?symbol=": f"/api/trade/history/?symbol={probe.lower()}",
            "history page 100": "/api/trade/history/?page=100",  # offset 4950
            "listings page 1": "/api/listings/",
            "listings ?source=mexc_rest_api": "/api/listings/?source=mexc_rest_api",
            "config history (31 versions)": "/api/config/history/",
            "latency 1h": "/api/analytics/latency/?window=1h",
            "latency 24h": "/api/analytics/latency/?window=24h",
            "latency 30d": "/api/analytics/latency/?window=30d",
            "admin trades": "/admin/trading/trade/",
            "admin trades ?status": "/admin/trading/trade/?status__exact=filled",
            "admin trades ?q=symbol": f"/admin/trading/trade/?q={probe}",
            "admin trades ?q=order id": f"/admin/trading/trade/?q=ex{(n // 10) * 10 - 8}",
            "admin trades last 7 days": "/admin/trading/trade/?created_at__gte="
            + time.strftime("%Y-%m-%d+00:00:00%%2B00:00", time.gmtime(time.time() - 7 * 86400)),
            "admin listings": "/admin/listings/listing/",
            "admin listings ?q=symbol": f"/admin/listings/listing/?q={probe}",
        }
        for name, path in ops.items():
            record(name, n, timed(get_ok(client, path)))
        with CaptureQueriesContext(connection) as queries:
            get_ok(client, "/api/config/history/")()
        record("config history queries", n, len(queries), "queries")
        record(
            "decision_inputs (risk inputs)",
            n,
            timed(lambda: decision_inputs(mode="dry_run", client_order_id="bench-probe"), 21),
        )
        export = export_over_asgi(token)
        assert export["rows"] == n, export
        record("export first byte", n, export["first_ms"])
        record("export total (info)", n, export["total_s"], "s")
        record("export rows/s", n, export["rows_per_s"], "rows/s")
        record("export memory growth", n, export["growth_mb"], "MB")
        print(
            f"  {n:,}: history {results['history page 1'][n]:.1f} ms, latency 24h "
            f"{results['latency 24h'][n]:.1f} ms, export {export['total_s']:.1f} s",
            flush=True,
        )

    print()
    header = ["operation", "unit", *(f"{n:,}" for n in sizes), "ratio"]
    table = []
    misses = []
    base, top = sizes[0], sizes[-1]
    for name, by_size in results.items():
        ratio = by_size[top] / by_size[base] if by_size[base] else float("nan")
        table.append([name, units[name], *(fmt(by_size[n]) for n in sizes), f"{ratio:.2f}"])
        judged = units[name] == "ms" and "(info)" not in name
        if judged and ratio > RATIO_TARGET and by_size[top] > 5:  # <5 ms: noise, not growth
            misses.append(f"{name} x{ratio:.2f}")
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print(
            "  ".join(
                str(c).ljust(w) if i < 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()
    if top >= 1_000_000:
        limits = {
            "history page 1": 50,
            "history ?status=filled": 50,
            "history ?symbol=": 50,
            "history page 100": 50,
            "listings page 1": 50,
            "listings ?source=mexc_rest_api": 50,
            "config history (31 versions)": 50,
            "latency 24h": 100,
            "latency 30d": 100,
            "admin trades": 300,
            "admin trades ?q=symbol": 300,
            "admin listings": 300,
            "export first byte": 1000,
        }
        over = [
            f"{k} {results[k][top]:.0f} > {v} ms" for k, v in limits.items() if results[k][top] > v
        ]
        verdict(not over, "every target at 1M" + (": " + "; ".join(over) if over else ""))
        verdict(results["export memory growth"][top] <= 50, "export memory growth <= 50 MB")
        verdict(results["export rows/s"][top] >= 20_000, "export >= 20k rows/s")
    verdict(
        not misses,
        f"1M/10k ratios <= {RATIO_TARGET}" + (": " + ", ".join(misses) if misses else ""),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
