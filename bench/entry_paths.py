"""Entry outcome by listing path: MARKET vs the IOC at a cap, live, on the simulator's paths.

The real bot (`BotStack`, embedded shape: SQLite, trades on the monitor's own threads) buys
announced listings at their open, live against the simulator, as `bench.open_to_order` does:
every listing is scheduled before the monitor starts, so its first calendar fetch announces
all of them; each is armed `ARM_LEAD_S` before its open (`trading.services.trade_arm`) and
fired at the open by the exchange's clock (`trade_fire`). One stack per entry type:

- `market`: a MARKET buy by quote amount, sent at the open (no price needed);
- `limit_ioc` (the default): an IMMEDIATE_OR_CANCEL at reference x (1 + entry_slippage_pct /
  100) for quote / cap of base; these listings show no book and are absent from exchangeInfo
  before their open, so the entry is priced at the open from the first price (the opening
  trade) and the order leaves one round trip later.

Listings: five paths x `SEEDS` seeds, opening `GAP_S` apart, every one at `PRICE`: the
simulator's `spike`, `flat`, `rug` and `moon` (`mexc/simulator/paths.py`), and `none` (no
path: the simulator's plain listing, a 1 % random walk per market tick and its tight book).
Simulator settings as shipped unless given: `market_block_ms` 0 (MARKET accepted from the
open), no price band, protective MARKET price best ask x 1.05 (`market_quote_markup`).

Per path x entry type, over the listings: the average entry price / the open price (the
listing's `price`: its opening trade), the quote spent / the quote amount asked, the quote
spent, and the trades' final statuses and reasons; beside them, open -> the first order at the
exchange (the simulator's clock), which says which step of the path the order met (a path
moves every 250 ms). Figures are the Trade rows (`avg_price`, `quote_spent`, `status`,
`reason_code`) as the bot recorded them from the exchange.

    python -m bench.entry_paths                    # both entry types, 5 paths x 5 seeds
    python -m bench.entry_paths --market-block-ms 60000 --price-band-pct 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench._table import machine, stats
from bench.listing_to_order import LIMITS
from bench.open_to_order import wait_ws
from sniperbot.testing.stack import BotStack, wait_until

PATHS = ("spike", "flat", "rug", "moon", "none")
ENTRY_TYPES = ("market", "limit_ioc")
SEEDS = 5
GAP_S = 1.5  # more than the 5 orders/s limiter's interval: each listing alone
ARM_LEAD_S = 10  # MONITOR_ARM_LEAD_S
CALENDAR_INTERVAL_S = 30  # MONITOR_CALENDAR_INTERVAL_S, the production default
FIRST_OPEN_S = 16.0  # scheduling -> the first open (monitor start, calendar, arming)
PRICE = Decimal("0.5")
QUOTE = Decimal(LIMITS["snipe_quote_usdt"])
SLIPPAGE_PCT = "20"  # entry_slippage_pct, the default
FINAL = ("filled", "partially_filled", "canceled", "failed", "rejected")
COLUMNS = (
    "symbol",
    "status",
    "reason_code",
    "order_type",
    "reference_price",
    "price_cap",
    "quote_qty",
    "executed_qty",
    "quote_spent",
    "avg_price",
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def symbol_of(entry_type: str, path: str, seed: int) -> str:
    return f"EP{entry_type[0].upper()}{path[0].upper()}{seed}XUSDT"


def schedule(stack: BotStack, entry_type: str, args: argparse.Namespace) -> dict[str, dict]:
    """Every listing, seed by seed (the paths interleaved); {symbol: its spec}."""
    t0 = now_ms() + int(FIRST_OPEN_S * 1000)
    listings = {}
    for i, (seed, path) in enumerate(
        (seed, path) for seed in range(1, args.seeds + 1) for path in PATHS
    ):
        spec = {
            "symbol": symbol_of(entry_type, path, seed),
            "price": str(PRICE),
            "open_at_ms": t0 + int(i * GAP_S * 1000),
            "market_block_ms": args.market_block_ms,
        }
        if path != "none":
            spec |= {"path": path, "seed": seed}
        if args.price_band_pct is not None:
            spec["max_price_band_pct"] = args.price_band_pct
        stack.sim_call("POST", "/_sim/listings", spec)
        listings[spec["symbol"]] = {**spec, "kind": path, "seed": seed}
    return listings


def buys(stack: BotStack, entry_type: str) -> dict[str, dict]:
    prefix = f"EP{entry_type[0].upper()}"
    rows = stack.rows(
        f"SELECT {', '.join(COLUMNS)} FROM trading_trade "
        f"WHERE side = 'BUY' AND symbol LIKE '{prefix}%'"
    )
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}


def run_type(entry_type: str, workdir: Path, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """One stack, one entry type: (listings, buy trades, orders by symbol)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        "MONITOR_CALENDAR_INTERVAL_S": str(CALENDAR_INTERVAL_S),
        "MONITOR_ARM_LEAD_S": str(ARM_LEAD_S),
        "SNIPE_INLINE": "1",
    }
    config = {**LIMITS, "entry_order_type": entry_type, "entry_slippage_pct": SLIPPAGE_PCT}
    stack = BotStack(workdir, database_url=None, redis_url=None, live=True, extra_env=env)
    try:
        stack.start(monitor_running=False, config=config)
        listings = schedule(stack, entry_type, args)
        stack.manage("monitor", "start")
        wait_ws(stack)
        prefix = f"EP{entry_type[0].upper()}"
        wait_until(
            lambda: (
                stack.rows(
                    f"SELECT count(*) FROM listings_upcominglisting WHERE symbol LIKE '{prefix}%'"
                )[0][0]
                >= len(listings)
            ),
            30,
            "the calendar's announcements",
        )
        last_open_s = max(s["open_at_ms"] for s in listings.values()) / 1000
        time.sleep(max(0.0, last_open_s - time.time()) + 1.0)

        def settled() -> dict | None:
            rows = buys(stack, entry_type)
            done = [r for r in rows.values() if r["status"] in FINAL]
            return rows if len(done) >= len(listings) else None

        try:
            rows = wait_until(settled, 30, f"{len(listings)} buys settled")
        except TimeoutError:
            rows = buys(stack, entry_type)  # what is not final is reported as it stands
        by_symbol: dict[str, list[dict]] = {}
        for order in sorted(
            stack.sim_call("GET", "/_sim/orders")["orders"], key=lambda o: o["received_at_us"]
        ):
            if order.get("symbol") in listings and order.get("side", "BUY") == "BUY":
                by_symbol.setdefault(order["symbol"], []).append(order)
        return listings, rows, by_symbol
    finally:
        stack.stop()


def _mmm(values: list[float], digits: int) -> str:
    """mean (min-max)"""
    if not values:
        return "-"
    s = stats(values)
    return f"{s['mean']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def outcome(row: dict | None) -> str:
    if row is None:
        return "no trade"
    return f"{row['status']}/{row['reason_code']}" if row["reason_code"] else row["status"]


def report(results: dict[str, tuple[dict, dict, dict]], seeds: int) -> list[list[str]]:
    header = [
        "path",
        "entry",
        "n",
        "entry price / open",
        "quote filled",
        "quote spent (USDT)",
        "open -> order (ms)",
        "status/reason",
    ]
    table = [header]
    for path in PATHS:
        for entry_type in ENTRY_TYPES:
            listings, rows, by_symbol = results[entry_type]
            ratios, fractions, spent, to_order, outcomes = [], [], [], [], {}
            for symbol, spec in listings.items():
                if spec["kind"] != path:
                    continue
                row = rows.get(symbol)
                key = outcome(row)
                outcomes[key] = outcomes.get(key, 0) + 1
                orders = by_symbol.get(symbol, [])
                if orders:
                    to_order.append(orders[0]["received_at_us"] / 1000 - spec["open_at_ms"])
                if row is None:
                    continue
                got = Decimal(str(row["quote_spent"] or 0))
                spent.append(float(got))
                fractions.append(float(got / Decimal(str(row["quote_qty"]))))
                if row["avg_price"]:
                    ratios.append(float(Decimal(str(row["avg_price"])) / PRICE))
            table.append(
                [
                    path,
                    entry_type,
                    str(seeds),
                    _mmm(ratios, 4),
                    _mmm(fractions, 3),
                    _mmm(spent, 2),
                    _mmm(to_order, 1),
                    ", ".join(f"{k} x{n}" for k, n in sorted(outcomes.items())),
                ]
            )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(
        "\nentry by listing path: mean (min-max) over the seeds; entry price = the trade's "
        "average fill price; quote filled = quote spent / quote asked "
        f"({QUOTE} USDT); open -> order = the first order's arrival at the exchange"
    )
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return table


def details(results: dict[str, tuple[dict, dict, dict]]) -> None:
    """Per listing: the entry (reference, cap), the fill and what the exchange answered."""
    print("\nper listing")
    for entry_type in ENTRY_TYPES:
        listings, rows, by_symbol = results[entry_type]
        for symbol, spec in listings.items():
            row = rows.get(symbol) or {}
            answers = [
                str(o.get("error_code") or o.get("status") or "?")
                for o in by_symbol.get(symbol, [])
            ]
            fields = ("order_type", "reference_price", "price_cap", "executed_qty")
            fields += ("avg_price", "quote_spent")
            shown = " ".join(f"{name} {row.get(name)}" for name in fields)
            print(
                f"{symbol:<14} {spec['kind']:<6} seed {spec['seed']} {entry_type:<9} "
                f"{outcome(row or None):<32} {shown} exchange {','.join(answers) or '-'}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=SEEDS, help="listings per path")
    parser.add_argument(
        "--market-block-ms",
        type=int,
        default=0,
        help="each listing's market_block_ms (simulator default 0)",
    )
    parser.add_argument(
        "--price-band-pct",
        type=float,
        default=None,
        help="each listing's max_price_band_pct (simulator default: none)",
    )
    parser.add_argument("--details", action="store_true", help="one line per listing")
    args = parser.parse_args(argv)
    print(machine())
    print(
        f"embedded shape (SQLite), live, announced listings fired at the open; {args.seeds} "
        f"seeds x {len(PATHS)} paths per entry type, {GAP_S} s apart, open price {PRICE}, "
        f"quote {QUOTE} USDT, entry_slippage_pct {SLIPPAGE_PCT}; simulator: market_block_ms "
        f"{args.market_block_ms}, price band "
        f"{'none' if args.price_band_pct is None else f'{args.price_band_pct:g} %'}"
    )
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-entry-") as tmp:
        for entry_type in ENTRY_TYPES:
            results[entry_type] = run_type(entry_type, Path(tmp) / entry_type, args)
            print(f"({entry_type}: {time.monotonic() - started:.0f} s)", flush=True)
    report(results, args.seeds)
    if args.details:
        details(results)
    print(f"\n(whole run: {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
