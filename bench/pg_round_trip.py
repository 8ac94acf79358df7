"""The order path's database round trip: libpq's pipeline (ours) against psycopg's.

``python -m bench.pg_round_trip [--rounds N] [--idle-ms MS]`` (needs ``DATABASE_URL`` on
PostgreSQL; without it, says so and exits).

One transaction shaped like a prepared snipe's (see ``trading/prepared.py``): BEGIN, a
15-value insert, a row lock, a 51-value insert, the COMMIT, all prepared statements sent in one
round trip, on a temporary table. Sent alternately through ``sniperbot.pgpipe`` (what
``sniperbot.fastsql`` uses) and through psycopg's own pipeline (``RawCursor`` with
``prepare=True``, the COMMIT in the pipeline: what fastsql did before), after ``--idle-ms`` of
idle each, as a listing arrives after quiet. Wall time per transaction, both rows measured in
the same run. Target: ours no slower than psycopg's at the median (a regression guard).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from bench._table import machine, print_table, stats, verdict
from sniperbot.pgpipe import Pipeline

SMALL = 15
WIDE = 51


def _statements() -> list[tuple[str, list]]:
    now = datetime.now(UTC)
    small = ["SYMUSDT", "SYM", "USDT", now, now, "mexc_websocket", None, 1, Decimal("5.5")] * 2
    wide = [*(["x" * 12, Decimal("25.00000000"), 1_795_735_886_597_506_241, None, now] * 10), 1]
    return [
        (_insert("bench_small", SMALL), small[:SMALL]),
        ("SELECT id FROM bench_lock WHERE id = $1 FOR UPDATE", [1]),
        (_insert("bench_wide", WIDE), wide[:WIDE]),
    ]


def _insert(table: str, n: int) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join(f'${i + 1}::text' for i in range(n))})"


def _setup(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    for table, n in (("bench_small", SMALL), ("bench_wide", WIDE)):
        columns = ", ".join(f"c{i} text" for i in range(n))
        conn.execute(f"CREATE TEMP TABLE {table} ({columns})")
    conn.execute("CREATE TEMP TABLE bench_lock (id int PRIMARY KEY)")
    conn.execute("INSERT INTO bench_lock VALUES (1)")


def ours(conn: psycopg.Connection) -> None:
    conn.autocommit = False
    pipeline = Pipeline(conn)  # sends BEGIN: a transaction not begun yet
    for sql, params in _statements():
        pipeline.send(sql, params)
    pipeline.send("COMMIT", [], prepare=False)
    pipeline.close()
    conn.autocommit = True


def psycopgs(conn: psycopg.Connection) -> None:
    conn.autocommit = False
    with conn.pipeline():
        for sql, params in _statements():
            psycopg.RawCursor(conn).execute(sql, params, prepare=True)
        psycopg.RawCursor(conn).execute("COMMIT")
    conn.autocommit = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--idle-ms", type=float, default=100.0)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("pg_round_trip: skipped (needs DATABASE_URL on PostgreSQL)")
        return
    print(machine())
    senders = {"ours (libpq pipeline)": ours, "psycopg pipeline": psycopgs}
    samples: dict[str, list[float]] = {name: [] for name in senders}
    with psycopg.connect(url) as conn:
        _setup(conn)
        for send in senders.values():  # prepared on the connection before the clock
            send(conn)
        for round_ in range(args.rounds):
            order = list(senders.items())
            if round_ % 2:
                order.reverse()
            for name, send in order:
                time.sleep(args.idle_ms / 1000)
                start = time.perf_counter_ns()
                send(conn)
                samples[name].append((time.perf_counter_ns() - start) / 1000)
    rows = [(name, stats(values)) for name, values in samples.items()]
    title = "BEGIN + 3 prepared statements + COMMIT, one round trip"
    print_table(f"{title}, after {args.idle_ms:g} ms idle", rows, unit="us")
    ours_, theirs = (r[1] for r in rows)
    print(
        f"psycopg / ours: median {theirs['median'] / ours_['median']:.2f}x, "
        f"p99 {theirs['p99'] / ours_['p99']:.2f}x"
    )
    verdict(
        ours_["median"] <= theirs["median"],
        f"pg round trip: ours median {ours_['median']:.0f} us vs psycopg's pipeline "
        f"{theirs['median']:.0f} us (target: no slower)",
    )


if __name__ == "__main__":
    sys.exit(main())
