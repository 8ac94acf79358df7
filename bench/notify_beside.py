"""A failing notification channel beside the order path: the same trades with and without it.

Each variant is a fresh bot process (its own copy of a migrated SQLite database, the embedded
shape: notifications delivered by that process's own threads) trading live against one
simulator process: `TRADES` listings, one at a time `GAP_S` apart, each traded by the one
decide-and-send path a detected listing takes (`trading.services.trade_snipe`). Every fill
queues a `buy_filled` notification (`alerts.services.notify`).

The figure is the exchange's: from the decision's start (the call, this host's clock) to the
order's arrival at the simulator (`received_at_us`, its clock; offset 0 on one host).

Variants (the receiver runs in this harness's process, not the bot's):
- `none`: no NOTIFY_URLS (the baseline);
- `http500`: NOTIFY_URLS at a receiver answering HTTP 500 to every message, production
  retry settings (NOTIFY_BACKOFF_S 1,2,4,8,16,30, 6 attempts, 20/min, burst 5);
- `http500-hammer`: the same receiver, the channel retrying as fast as the settings allow
  (backoff 0.05 s, 50 attempts, 600/min, burst 100): its thread is always sending;
- `hang`: a receiver that holds every request, so each attempt ends at the 10 s send timeout;
- `none-again`: the baseline once more, last: how far the machine drifted meanwhile.

Printed per variant: fills, median and p99 of decision -> order received, and the ratio to
the baseline's (`none`); the channel's delivery attempts (sum of Notification.attempts) and
the Notification rows by status at the variant's end. With 50 trades, p99 (nearest rank) is
the maximum: every trade counts.

    python -m bench.notify_beside [--trades 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._table import machine, print_table, stats, verdict

ROOT = Path(__file__).resolve().parents[1]
TRADES = 50
WARMUP = 3  # first trades of a process (connections, imports): traded, not measured
GAP_S = 0.3  # > 1 / ORDER_RATE_PER_S (5/s): each order alone, none paced by the limiter
RATIO_TARGET = 1.25  # p99 with a failing channel vs without, on a shared 2-core machine
CONFIG = {
    "auto_trade": True,
    "mode": "live",
    "snipe_quote_usdt": "10",  # an IOC at the cap must clear the 5 USDT minimum
    "max_trade_usdt": "100",
    "max_position_usdt": "1000000",
    "high_value_threshold_usdt": "1000000",
    "max_trades_per_hour": 100000,
    "max_in_flight": 100,
}
HAMMER = {
    "NOTIFY_BACKOFF_S": "0.05",
    "NOTIFY_MAX_ATTEMPTS": "50",
    "NOTIFY_RATE_PER_MIN": "600",
    "NOTIFY_RATE_BURST": "100",
}


# --- the bot's side (a child process per variant) ---------------------------------------


def child(tag: str, trades: int) -> None:
    """Trade `trades` listings (after WARMUP) and print one JSON line of results."""
    import django

    django.setup()
    import httpx
    from django.utils import timezone

    from alerts.delivery import Dispatcher
    from alerts.models import Notification
    from listings.models import Listing, ListingSource
    from risk.services import config_update
    from trading.models import Trade, TradeStatus
    from trading.services import trade_snipe

    config_update(actor=None, changes=CONFIG, reason="bench.notify_beside")
    sim = os.environ["MEXC_REST_URL"]
    started: dict[str, int] = {}
    ids: dict[str, int] = {}
    for i in range(WARMUP + trades):
        symbol = f"N{i:03d}X{tag}USDT"
        response = httpx.post(
            f"{sim}/_sim/listings",
            json={"symbol": symbol, "price": "0.5", "open_in_ms": 0},
            timeout=10,
        )
        response.raise_for_status()
        now = timezone.now()
        listing = Listing.objects.create(
            symbol=symbol,
            base_asset=symbol.removesuffix("USDT"),
            quote_asset="USDT",
            listed_at=now,
            detected_at=now,
            source=ListingSource.WEBSOCKET,
        )
        time.sleep(GAP_S)  # the channel's threads run meanwhile; the listing is open
        t0 = time.time_ns()
        trade = trade_snipe(listing_id=listing.pk)
        if i >= WARMUP:
            started[symbol] = t0
            ids[symbol] = trade.pk if trade else 0
    orders = httpx.get(f"{sim}/_sim/orders", timeout=10).json()["orders"]
    first: dict[str, int] = {}
    for order in sorted(orders, key=lambda o: o["received_at_us"]):
        first.setdefault(order.get("symbol", ""), order["received_at_us"])
    rows = {t.pk: t for t in Trade.objects.filter(pk__in=ids.values())}
    latency_ms = [(first[s] * 1000 - t0) / 1e6 for s, t0 in started.items() if s in first]
    decided_ms = [
        (first[s] * 1000 - rows[ids[s]].risk_done_ns) / 1e6
        for s in started
        if s in first and ids[s] in rows and rows[ids[s]].risk_done_ns
    ]
    fills = sum(1 for t in rows.values() if t.status == TradeStatus.FILLED)
    dispatcher = Dispatcher._instance
    statuses: dict[str, int] = {}
    attempts = 0
    for status, tries in Notification.objects.values_list("status", "attempts"):
        statuses[status] = statuses.get(status, 0) + 1
        attempts += tries
    result = {
        "fills": fills,
        "trades": len(started),
        "latency_ms": latency_ms,
        "decided_ms": decided_ms,
        "notifications": statuses,
        "attempts": attempts,
        "channel_threads": len(dispatcher.workers) if dispatcher else 0,
    }
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # a hanging channel's thread is not waited for


# --- the harness ---------------------------------------------------------------------------


def migrated_template(workdir: Path) -> Path:
    path = workdir / "template.sqlite3"
    env = base_env(workdir / "var-template", f"sqlite:///{path}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return path


def base_env(var_dir: Path, database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MEXC_", "NOTIFY_", "PYTEST"))
        and key not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="sniperbot.settings",
        SECRET_KEY="bench-notify-beside-secret-key-not-for-production-012345",
        SNIPERBOT_VAR_DIR=str(var_dir),
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
    )
    return env


def run_variant(
    name: str, tag: str, workdir: Path, template: Path, sim, notify: dict[str, str], trades: int
) -> dict:
    db = workdir / f"{name}.sqlite3"
    shutil.copy(template, db)
    env = base_env(workdir / f"var-{name}", f"sqlite:///{db}")
    env.update(
        MEXC_REST_URL=sim.rest_url,
        MEXC_WS_URL=sim.ws_url,
        MEXC_API_KEY=sim.api_key,
        MEXC_SECRET_KEY=sim.secret_key,
        **notify,
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.notify_beside", "--child", tag, "--trades", str(trades)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=TRADES)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.trades)
        return 0

    from alerts.tests.receiver import NotifyReceiver
    from mexc.simulator import SimulatorProcess

    print(machine())
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[str, dict] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp,
        SimulatorProcess("--no-scenario") as sim,
        NotifyReceiver(status=500) as failing,
        NotifyReceiver() as hanging,
    ):
        hanging.hang = threading.Event()  # set only at exit: every request held
        workdir = Path(tmp)
        template = migrated_template(workdir)
        variants = {
            "none": {},
            "http500": {"NOTIFY_URLS": failing.url},
            "http500-hammer": {"NOTIFY_URLS": failing.url, **HAMMER},
            "hang": {"NOTIFY_URLS": hanging.url},
            "none-again": {},  # the baseline once more: how far the machine drifted
        }
        for index, (name, notify) in enumerate(variants.items()):
            results[name] = run_variant(
                name, f"V{index}", workdir, template, sim, notify, args.trades
            )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    rows = [(name, stats(r["latency_ms"])) for name, r in results.items()]
    print_table("decision start -> order received at the exchange", rows, "ms")
    rows = [(name, stats(r["decided_ms"])) for name, r in results.items()]
    print_table("decided (risk_done) -> order received at the exchange", rows, "ms")

    base = stats(results["none"]["latency_ms"])
    print(
        f"\n{'variant':<16}{'fills':>8}{'median':>9}{'p99':>9}{'median b/a':>12}{'p99 b/a':>9}"
        f"{'channel tries':>15}  notifications"
    )
    ok = True
    for name, r in results.items():
        s = stats(r["latency_ms"])
        ratio_p99 = s["p99"] / base["p99"]
        if not name.startswith("none"):
            worst_p99 = max(stats(results[n]["latency_ms"])["p99"] for n in ("none", "none-again"))
            ok = ok and s["p99"] <= RATIO_TARGET * worst_p99 and r["fills"] == r["trades"]
        print(
            f"{name:<16}{r['fills']:>5}/{r['trades']:<2}{s['median']:>9.2f}{s['p99']:>9.2f}"
            f"{s['median'] / base['median']:>11.2f}x{ratio_p99:>8.2f}x{r['attempts']:>15}"
            f"  {json.dumps(r['notifications'], sort_keys=True)}"
        )
    # Within the machine's own drift: no worse than the slower of the two baselines.
    slow = [stats(results[n]["latency_ms"]) for n in ("none", "none-again")]
    for name, r in results.items():
        s = stats(r["latency_ms"])
        if not name.startswith("none"):
            ok = ok and s["median"] <= RATIO_TARGET * max(b["median"] for b in slow)
    verdict(
        ok and results["none"]["fills"] == results["none"]["trades"],
        f"every trade filled with a failing or hanging channel; median and p99 <= "
        f"{RATIO_TARGET:g}x the slower baseline's",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
