"""`manage.py positions` and `manage.py close_position`: positions from the shell."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from trading import positions
from trading.models import Position, PositionStatus
from trading.payloads import position_payload

from .test_positions_api import make_position

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def book():
    return {
        "dry": make_position(
            "DRYUSDT", last_price=Decimal("0.125"), opened_ago=timedelta(minutes=10)
        ),
        "live": make_position("LIVEUSDT", mode="live", status=PositionStatus.CLOSING),
        "closed": make_position(
            "GONEUSDT", status=PositionStatus.CLOSED, realized_pnl=Decimal("1.5")
        ),
    }


def test_positions_lists_the_open_ones_as_a_table(book):
    lines = run("positions").splitlines()
    assert lines[0].split() == [
        "ID",
        "SYMBOL",
        "MODE",
        "STATUS",
        "ENTRY",
        "LAST",
        "QTY",
        "UNREALIZED",
        "REALIZED",
    ]
    assert len(lines) == 3  # the closed one is not listed
    live, dry = lines[1].split(), lines[2].split()  # newest first
    assert live[:7] == [str(book["live"].pk), "LIVEUSDT", "LIVE", "closing", "0.1", "—", "100"]
    assert dry[:7] == [str(book["dry"].pk), "DRYUSDT", "DRY", "open", "0.1", "0.125", "100"]
    pnl, _ = positions.unrealized(Position.objects.get(pk=book["dry"].pk))
    assert dry[7] == format(pnl.normalize(), "f") and dry[8].startswith("(+")


def test_positions_all_mode_and_json(book):
    everything = run("positions", "--all")
    assert "GONEUSDT" in everything and "closed (take_profit)" in everything
    live_only = run("positions", "--all", "--mode", "live")
    assert "LIVEUSDT" in live_only and "DRYUSDT" not in live_only
    listed = json.loads(run("positions", "--json"))
    expected = [position_payload(Position.objects.get(pk=book[k].pk)) for k in ("live", "dry")]
    assert listed == json.loads(json.dumps(expected))


def test_positions_says_when_there_are_none(db):
    assert run("positions").strip() == "No open positions."
    assert run("positions", "--all").strip() == "No positions."
    assert json.loads(run("positions", "--json")) == []


def test_close_position_sells_as_the_os_user(monkeypatch):
    position = make_position("CLIUSDT")
    calls = []

    def close(position_id: int, *, by: str) -> Position:
        calls.append((position_id, by))
        Position.objects.filter(pk=position_id).update(
            status=PositionStatus.CLOSED,
            quantity=Decimal(0),
            realized_pnl=Decimal("-0.25"),
            exit_reason="manual",
            closed_at=timezone.now(),
        )
        return Position.objects.get(pk=position_id)

    monkeypatch.setattr(positions, "position_close", close)
    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    line = run("close_position", str(position.pk)).strip()
    assert line == f"Position #{position.pk} CLIUSDT [dry_run] closed (manual) realized -0.25000000"
    assert calls == [(position.pk, "cli:ops")]


def test_close_position_refuses_one_that_is_not_open(db):
    position = make_position("DONEUSDT", status=PositionStatus.CLOSED)
    with pytest.raises(CommandError, match=f"Position {position.pk} is not open"):
        run("close_position", str(position.pk))


def test_close_position_of_an_unknown_id(db):
    with pytest.raises(CommandError, match="No position 4242"):
        run("close_position", "4242")
