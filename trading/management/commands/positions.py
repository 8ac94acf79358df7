"""List positions: the open ones by default, as a table or as the API's JSON."""

import json

from django.core.management.base import BaseCommand

from risk.models import TradingMode
from trading.models import PositionStatus
from trading.payloads import position_payload
from trading.selectors import position_list

HELD = (PositionStatus.OPEN, PositionStatus.CLOSING)
COLUMNS = ("ID", "SYMBOL", "MODE", "STATUS", "ENTRY", "LAST", "QTY", "UNREALIZED", "REALIZED")


def _num(value: str | None) -> str:
    """A decimal string without its trailing zeros ("—" for none)."""
    if value is None:
        return "—"
    return value.rstrip("0").rstrip(".") if "." in value else value


def _unrealized(p: dict) -> str:
    if p["unrealized_pnl"] is None:
        return "—"
    return f"{_num(p['unrealized_pnl'])} ({p['unrealized_pct']:+.2f} %)"


class Command(BaseCommand):
    help = "List open and closing positions (--all: every position, newest first)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all", action="store_true", dest="show_all", help="closed positions too"
        )
        parser.add_argument("--mode", choices=TradingMode.values, help="one mode only")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="the API's JSON, one list"
        )
        parser.add_argument("--limit", type=int, default=200, help="newest N (default 200)")

    def handle(
        self, *args, show_all: bool, mode: str | None, as_json: bool, limit: int, **opts
    ) -> None:
        rows = position_list()
        if not show_all:
            rows = rows.filter(status__in=HELD)
        if mode:
            rows = rows.filter(mode=mode)
        payloads = [position_payload(p) for p in rows[: max(limit, 0)]]
        if as_json:
            self.stdout.write(json.dumps(payloads, indent=2))
            return
        if not payloads:
            self.stdout.write("No positions." if show_all else "No open positions.")
            return
        table = [COLUMNS]
        for p in payloads:
            table.append(
                (
                    str(p["id"]),
                    p["symbol"],
                    "LIVE" if p["mode"] == TradingMode.LIVE else "DRY",
                    p["status"] + (f" ({p['exit_reason']})" if p["exit_reason"] else ""),
                    _num(p["entry_price"]),
                    _num(p["last_price"]),
                    _num(p["quantity"]),
                    _unrealized(p),
                    _num(p["realized_pnl"]),
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
        for row in table:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
