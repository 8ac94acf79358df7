"""Positions API, P&L summary, positions CSV and the Position admin: what an operator sees."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from trading import positions
from trading.api.serializers import PositionSerializer
from trading.exits import ExitRules
from trading.models import Position, PositionStatus, Trade, TradeStatus
from trading.payloads import position_payload

from .factories import TradeFactory


@pytest.fixture
def operator(api_as, operator_user):
    return api_as(operator_user)


@pytest.fixture
def viewer(api_as, viewer_user):
    return api_as(viewer_user)


def make_position(
    symbol: str = "AAAUSDT",
    *,
    mode: str = "dry_run",
    status: str = PositionStatus.OPEN,
    opened_ago: timedelta = timedelta(minutes=5),
    closed_ago: timedelta | None = None,
    **fields,
) -> Position:
    """A position as the bot leaves it: 100 bought for 10 quote at 0.1; a closed one sold all."""
    now = timezone.now()
    buy = TradeFactory(
        listing=None,
        symbol=symbol,
        mode=mode,
        status=TradeStatus.FILLED,
        executed_qty=Decimal("100"),
        avg_price=Decimal("0.1"),
        quote_spent=Decimal("10"),
    )
    values = {
        "quantity": Decimal("100"),
        "initial_qty": Decimal("100"),
        "cost_quote": Decimal("10"),
        "entry_price": Decimal("0.1"),
        "high_price": Decimal("0.1"),
        "rules": ExitRules(max_hold_ms=3_600_000).to_json(),
        "opened_at": now - opened_ago,
    }
    if status == PositionStatus.CLOSED:
        values |= {
            "quantity": Decimal(0),
            "sold_qty": Decimal("100"),
            "closed_at": now - (closed_ago if closed_ago is not None else timedelta(minutes=1)),
            "exit_reason": "take_profit",
        }
    values |= fields
    return Position.objects.create(buy_trade=buy, symbol=symbol, mode=mode, status=status, **values)


# --- list and detail -------------------------------------------------------------------------


def test_list_is_newest_first_and_filters_by_status_mode_and_symbol(viewer):
    old = make_position("OLDUSDT", opened_ago=timedelta(hours=3))
    closing = make_position("MIDUSDT", status=PositionStatus.CLOSING, opened_ago=timedelta(hours=2))
    closed = make_position("AAAUSDT", status=PositionStatus.CLOSED, opened_ago=timedelta(hours=1))
    live = make_position("LIVEUSDT", mode="live")

    def ids(query: str = "") -> list[int]:
        response = viewer.get(f"/api/positions/?{query}")
        assert response.status_code == 200, response.content
        return [p["id"] for p in response.json()["results"]]

    assert ids() == [live.pk, closed.pk, closing.pk, old.pk]
    assert ids("status=open") == [live.pk, old.pk]
    assert ids("status=open&status=closing") == [live.pk, closing.pk, old.pk]
    assert ids("status=closed") == [closed.pk]
    assert ids("mode=live") == [live.pk]
    assert ids("mode=dry_run&status=open") == [old.pk]
    assert ids("symbol=aaausdt") == [closed.pk]
    body = viewer.get("/api/positions/").json()
    assert body["count"] == 4 and body["count_capped"] is False and body["next"] is None


@pytest.mark.parametrize("query", ["status=won", "mode=paper", "status=", "page=0"])
def test_list_rejects_bad_filters(viewer, query):
    response = viewer.get(f"/api/positions/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_detail_is_the_push_payload(viewer):
    position = make_position(
        "PAYUSDT",
        last_price=Decimal("0.125"),
        last_price_at=timezone.now(),
        high_price=Decimal("0.14"),
    )
    body = viewer.get(f"/api/positions/{position.pk}/").json()
    expected = position_payload(Position.objects.get(pk=position.pk))
    assert body == expected
    assert set(body) == set(PositionSerializer().fields)  # the schema declares every key
    assert body["symbol"] == "PAYUSDT" and body["status"] == "open"
    assert Decimal(body["unrealized_pnl"]) > 0 and body["unrealized_pct"] > 0
    # the list shows the same shape
    assert viewer.get("/api/positions/").json()["results"] == [expected]


def test_positions_carry_the_precision_their_buy_was_made_at(viewer):
    position = make_position("PRECUSDT")
    Trade.objects.filter(pk=position.buy_trade_id).update(price_decimals=4, qty_decimals=2)
    unknown = make_position("OLDUSDT", opened_ago=timedelta(minutes=9))  # from before: null
    body = viewer.get(f"/api/positions/{position.pk}/").json()
    assert (body["price_decimals"], body["qty_decimals"]) == (4, 2)
    rows = {p["symbol"]: p for p in viewer.get("/api/positions/").json()["results"]}
    assert (rows["PRECUSDT"]["price_decimals"], rows["PRECUSDT"]["qty_decimals"]) == (4, 2)
    assert (rows["OLDUSDT"]["price_decimals"], rows["OLDUSDT"]["qty_decimals"]) == (None, None)
    assert unknown.pk in {p["id"] for p in rows.values()}


def test_detail_of_an_unknown_or_malformed_id(viewer):
    assert viewer.get("/api/positions/999999/").status_code == 404
    assert viewer.get("/api/positions/0/").status_code == 404
    response = viewer.get("/api/positions/abc/")
    assert response.status_code == 400 and "id" in response.json()


# --- close -------------------------------------------------------------------------------------


@pytest.fixture
def closes(monkeypatch):
    """position_close as the other side of the API sees it: records who asked, closes it."""
    calls: list[tuple[int, str]] = []

    def close(position_id: int, *, by: str) -> Position:
        calls.append((position_id, by))
        Position.objects.filter(pk=position_id).update(
            status=PositionStatus.CLOSED,
            quantity=Decimal(0),
            sold_qty=Decimal("100"),
            proceeds_quote=Decimal("11"),
            realized_pnl=Decimal("1"),
            exit_reason="manual",
            closed_at=timezone.now(),
        )
        return Position.objects.get(pk=position_id)

    monkeypatch.setattr(positions, "position_close", close)
    return calls


def test_close_sells_and_answers_202_with_the_position(operator, closes):
    position = make_position("CLOSEUSDT")
    response = operator.post(f"/api/positions/{position.pk}/close/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["id"], body["status"], body["exit_reason"]) == (position.pk, "closed", "manual")
    assert body["realized_pnl"] == "1.00000000"
    assert body == position_payload(Position.objects.get(pk=position.pk))
    assert closes == [(position.pk, "otto")]


def test_close_of_a_position_that_is_not_open_is_409(operator, monkeypatch):
    position = make_position("BUSYUSDT", status=PositionStatus.CLOSING)

    def busy(position_id: int, *, by: str) -> Position:
        raise positions.PositionNotOpen(f"Position {position_id} is closing.")

    monkeypatch.setattr(positions, "position_close", busy)
    response = operator.post(f"/api/positions/{position.pk}/close/")
    assert response.status_code == 409
    assert response.json() == {"detail": f"Position {position.pk} is closing."}


def test_close_of_a_closed_position_is_409_through_the_real_service(operator):
    position = make_position("DONEUSDT", status=PositionStatus.CLOSED)
    response = operator.post(f"/api/positions/{position.pk}/close/")
    assert response.status_code == 409
    assert "closed" in response.json()["detail"]
    assert Position.objects.get(pk=position.pk).status == PositionStatus.CLOSED


def test_close_of_an_unknown_position_is_404(operator, closes):
    assert operator.post("/api/positions/424242/close/").status_code == 404
    assert closes == []


def test_a_viewer_cannot_close(viewer, closes):
    position = make_position("VIEWUSDT")
    response = viewer.post(f"/api/positions/{position.pk}/close/")
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]
    assert closes == [] and Position.objects.get(pk=position.pk).status == PositionStatus.OPEN


def test_anonymous_cannot_read_positions(api_as, db):
    assert api_as(None).get("/api/positions/").status_code in (401, 403)
    assert api_as(None).get("/api/pnl/summary/").status_code in (401, 403)


# --- P&L summary -------------------------------------------------------------------------------


@pytest.fixture
def book(db):
    """Dry run: two closed today (+2, -1), one closed two days ago (+100), one open today with
    a partial sell (+0.5), one open for three days (+7 so far). Live: one closed today (+3)
    and one open."""
    m = timedelta(minutes=1)
    closed = PositionStatus.CLOSED
    fees = {"fees_quote": Decimal("0.02")}
    rows = {
        "win": make_position("W", status=closed, realized_pnl=Decimal("2"), **fees),
        "loss": make_position("L", status=closed, realized_pnl=Decimal("-1"), **fees),
        "old": make_position(
            "O",
            status=closed,
            opened_ago=timedelta(days=2, hours=1),
            closed_ago=timedelta(days=2),
            realized_pnl=Decimal("100"),
            **fees,
        ),
        "open": make_position(
            "P", realized_pnl=Decimal("0.5"), last_price=Decimal("0.12"), opened_ago=30 * m, **fees
        ),
        "held": make_position(
            "H",
            status=PositionStatus.CLOSING,
            opened_ago=timedelta(days=3),
            realized_pnl=Decimal("7"),
            last_price=Decimal("0.08"),
            **fees,
        ),
        "live_win": make_position("LW", mode="live", status=closed, realized_pnl=Decimal("3")),
        "live_open": make_position("LO", mode="live", last_price=Decimal("0.2")),
    }
    return rows


def _unrealized(*rows: Position) -> Decimal:
    return sum((positions.unrealized(Position.objects.get(pk=r.pk))[0] for r in rows), Decimal(0))


def test_pnl_summary_is_per_mode_and_never_mixes_them(viewer, book):
    response = viewer.get("/api/pnl/summary/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["window"] == "24h" and body["since"]
    dry, live = body["dry_run"], body["live"]
    assert dry == {
        "realized_pnl": "1.50000000",  # 2 - 1 + 0.5: the old close and the 3-day one are out
        "unrealized_pnl": f"{_unrealized(book['open'], book['held']):.8f}",
        "fees_quote": "0.06000000",
        "closed": 2,
        "wins": 1,
        "win_rate": 0.5,
        "open": 2,
        "open_unpriced": 0,
    }
    assert live == {
        "realized_pnl": "3.00000000",
        "unrealized_pnl": f"{_unrealized(book['live_open']):.8f}",
        "fees_quote": "0.00000000",
        "closed": 1,
        "wins": 1,
        "win_rate": 1.0,
        "open": 1,
        "open_unpriced": 0,
    }
    assert Decimal(live["unrealized_pnl"]) > 0 > Decimal(dry["unrealized_pnl"])


def test_pnl_summary_windows(viewer, book):
    week = viewer.get("/api/pnl/summary/?window=7d").json()
    assert week["dry_run"]["realized_pnl"] == "108.50000000"
    assert (week["dry_run"]["closed"], week["dry_run"]["wins"]) == (3, 2)
    whole = viewer.get("/api/pnl/summary/?window=all").json()
    assert whole["since"] is None
    assert whole["dry_run"]["realized_pnl"] == "108.50000000"
    assert whole["live"]["realized_pnl"] == "3.00000000"


def test_pnl_summary_with_nothing_closed_has_no_win_rate(viewer, db):
    make_position("NOPRICE", mode="live")
    body = viewer.get("/api/pnl/summary/").json()
    assert body["live"]["win_rate"] is None and body["live"]["closed"] == 0
    assert (body["live"]["open"], body["live"]["open_unpriced"]) == (1, 1)
    assert body["dry_run"]["open"] == 0 and body["dry_run"]["realized_pnl"] == "0.00000000"


@pytest.mark.parametrize("window", ["1h", "30d", "", "ALL"])
def test_pnl_summary_rejects_an_unknown_window(viewer, window, db):
    response = viewer.get(f"/api/pnl/summary/?window={window}")
    assert response.status_code == 400
    assert "window" in response.json()


# --- CSV export --------------------------------------------------------------------------------


def test_export_streams_every_position_newest_first(viewer):
    closed = make_position(
        "CSVUSDT",
        status=PositionStatus.CLOSED,
        opened_ago=timedelta(hours=2),
        proceeds_quote=Decimal("12.5"),
        realized_pnl=Decimal("2.5"),
        fees_quote=Decimal("0.0225"),
        dust_qty=Decimal("0.001"),
    )
    live = make_position("LIVEUSDT", mode="live")
    response = viewer.get("/api/positions/export.csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "sniperbot-positions-" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "id",
        "symbol",
        "mode",
        "status",
        "opened_at",
        "closed_at",
        "entry_price",
        "quantity",
        "initial_qty",
        "cost_quote",
        "proceeds_quote",
        "fees_quote",
        "realized_pnl",
        "exit_reason",
        "dust_qty",
    ]
    assert [r["id"] for r in rows] == [str(live.pk), str(closed.pk)]
    row = rows[1]
    assert (row["symbol"], row["mode"], row["status"], row["exit_reason"]) == (
        "CSVUSDT",
        "dry_run",
        "closed",
        "take_profit",
    )
    assert Decimal(row["realized_pnl"]) == Decimal("2.5")
    assert Decimal(row["proceeds_quote"]) == Decimal("12.5")
    assert Decimal(row["dust_qty"]) == Decimal("0.001")
    assert row["closed_at"] and rows[0]["closed_at"] == ""


def test_export_takes_the_list_filters_and_reads_in_batches(viewer):
    from trading.selectors import position_export_chunks, position_list

    for n in range(5):
        make_position(f"B{n}USDT", opened_ago=timedelta(minutes=n + 1))
    make_position("LIVEUSDT", mode="live", opened_ago=timedelta(0))
    response = viewer.get("/api/positions/export.csv?mode=live")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["symbol"] for r in rows] == ["LIVEUSDT"]
    assert viewer.get("/api/positions/export.csv?mode=paper").status_code == 400
    for query in ("format=", "format=json", "format=xml"):
        assert viewer.get(f"/api/positions/export.csv?{query}").status_code == 400, query
    assert viewer.get("/api/positions/export.csv?format=csv").status_code == 200
    chunks = list(position_export_chunks(positions=position_list(), batch_size=2))
    assert len(chunks) == 4  # 6 rows in batches of 2, then the empty batch that ends it
    symbols = [r["symbol"] for r in csv.DictReader(io.StringIO("".join(chunks)))]
    assert symbols == ["LIVEUSDT", "B0USDT", "B1USDT", "B2USDT", "B3USDT", "B4USDT"]


# --- admin -------------------------------------------------------------------------------------


def test_position_admin_pages_load_for_a_superuser(admin_client):
    position = make_position("ADMUSDT", status=PositionStatus.CLOSED)
    changelist = reverse("admin:trading_position_changelist")
    response = admin_client.get(changelist)
    assert response.status_code == 200
    assert b"ADMUSDT" in response.content
    assert b"take_profit" in response.content
    assert b"ADMUSDT" in admin_client.get(changelist, {"q": "admusdt"}).content
    assert b"ADMUSDT" not in admin_client.get(changelist, {"q": "OTHERUSDT"}).content
    assert admin_client.get(changelist, {"mode": "live"}).status_code == 200
    for view in ("change", "history"):
        url = reverse(f"admin:trading_position_{view}", args=[position.pk])
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get(reverse("admin:trading_position_add")).status_code == 403


def test_close_through_the_real_service_sells_a_dry_run_position(operator, exchange, no_push):
    exchange.list_symbol(symbol="REALUSDT", open_in_ms=0, price="0.12")
    position = make_position("REALUSDT")
    response = operator.post(f"/api/positions/{position.pk}/close/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["exit_reason"]) == ("closed", "manual")
    assert Decimal(body["quantity"]) == 0 and Decimal(body["proceeds_quote"]) > 0
    assert exchange.orders() == []  # a dry run never reaches the exchange
