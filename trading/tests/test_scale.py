"""The history at scale: capped counts, SQL latency figures, the batched and async export,
the admin changelists and the config history's constant queries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common.drf import CappedCountPaginator
from risk.services import config_update
from trading import selectors
from trading.models import Trade, TradeStatus
from trading.selectors import latency_stats, trade_export_chunks, trade_latency_ms

from .factories import TradeFactory

T0 = 1_800_000_000_000_000_000


@pytest.fixture
def viewer(api_as, viewer_user):
    return api_as(viewer_user)


# --- capped counts -------------------------------------------------------------------------


def test_history_counts_up_to_the_cap_and_says_so(viewer, monkeypatch):
    for _ in range(4):
        TradeFactory(listing=None)
    body = viewer.get("/api/trade/history/").json()
    assert (body["count"], body["count_capped"], len(body["results"])) == (4, False, 4)
    monkeypatch.setattr(CappedCountPaginator, "COUNT_CAP", 3)
    body = viewer.get("/api/trade/history/").json()
    assert (body["count"], body["count_capped"]) == (3, True)
    assert viewer.get("/api/listings/").json()["count_capped"] is False


def test_the_symbol_filter_is_exact_on_the_upper_cased_symbol(viewer):
    TradeFactory(listing=None, symbol="ABCUSDT")
    TradeFactory(listing=None, symbol="ABCDUSDT")
    body = viewer.get("/api/trade/history/?symbol=%20abcusdt").json()
    assert [t["symbol"] for t in body["results"]] == ["ABCUSDT"]


# --- latency in SQL ------------------------------------------------------------------------


def _stamped(**stamps) -> Trade:
    return TradeFactory(listing=None, status=stamps.pop("status", TradeStatus.FILLED), **stamps)


def _mixed_trades() -> None:
    for i in range(1, 41):  # complete pipelines, 0.2 .. 8 ms apart per stage
        step = i * 200_000 + 333
        _stamped(
            **{s: T0 + k * step for k, s in enumerate(selectors._STAMP_ORDER)},
            acked_ns=T0 + 5 * step,
        )
    # Confirmed by an operator 40 s after the decision: not the bot's time.
    _stamped(
        detected_ns=T0,
        persisted_ns=T0 + 100_000,
        dispatched_ns=T0 + 200_000,
        risk_done_ns=T0 + 300_000,
        confirmed_ns=T0 + 40_000_300_000,
        sent_ns=T0 + 40_000_900_000,
        acked_ns=T0 + 40_002_900_000,
    )
    _stamped(persisted_ns=T0, dispatched_ns=T0 + 1_000_000)  # manual: no detection, no ack
    _stamped(detected_ns=T0, acked_ns=0)  # an ack of 0: no total
    _stamped(status=TradeStatus.REJECTED, reason_code="kill_switch")
    _stamped(status=TradeStatus.FAILED)
    _stamped(status=TradeStatus.UNKNOWN, detected_ns=T0, sent_ns=T0 + 2_000_000_000)


def test_latency_in_the_database_matches_the_per_trade_figures(db):
    _mixed_trades()
    since = timezone.now() - timedelta(hours=1)
    assert latency_stats(since=since) == selectors._latency_stats_python(since=since)
    confirmed = Trade.objects.get(confirmed_ns__isnull=False)
    assert trade_latency_ms(confirmed)["total"] == pytest.approx(2.9)
    stats = latency_stats(since=since)
    assert stats["errors"] == 2 and stats["count"] == 46
    assert stats["stages"]["send"]["max"] < 100  # not the 40 s wait


def test_latency_samples_the_newest_trades_of_the_window(db, monkeypatch):
    monkeypatch.setattr(selectors, "LATENCY_SAMPLE_CAP", 3)
    for total_ms in (1, 2, 3, 4, 5):
        _stamped(detected_ns=T0, acked_ns=T0 + total_ms * 1_000_000)
    stats = latency_stats(since=timezone.now() - timedelta(hours=1))
    assert stats["count"] == 3
    assert stats["stages"]["total"]["max"] == 5.0 and stats["stages"]["total"]["p50"] == 4.0


# --- export --------------------------------------------------------------------------------


def _rows(chunks) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def test_export_batches_resume_after_the_last_row_even_on_equal_times(db):
    trades = [TradeFactory(listing=None) for _ in range(7)]
    same = timezone.now() - timedelta(minutes=1)
    Trade.objects.filter(pk__in=[t.pk for t in trades[:5]]).update(created_at=same)
    chunks = list(trade_export_chunks(trades=selectors.trade_history(), batch_size=2))
    assert len(chunks) == 4  # 2 + 2 + 2 + 1 (the header rides with the first)
    ids = [int(r["trade_id"]) for r in _rows(chunks)]
    expected = list(Trade.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert ids == expected and len(set(ids)) == 7


def test_export_latency_total_is_the_per_trade_figure(db):
    _mixed_trades()
    by_id = {int(r["trade_id"]): r for r in _rows(trade_export_chunks(trades=Trade.objects))}
    for trade in Trade.objects.all():
        total = trade_latency_ms(trade)["total"]
        assert by_id[trade.pk]["latency_total_ms"] == (str(total) if total else "")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_export_streams_chunks_asynchronously_under_asgi(viewer_user):
    from asgiref.sync import sync_to_async

    await sync_to_async(lambda: [TradeFactory(listing=None) for _ in range(3)])()
    client = AsyncClient()
    await client.aforce_login(viewer_user)
    response = await client.get("/api/trade/export.csv")
    assert response.status_code == 200
    assert response.is_async  # Django would otherwise list a sync iterator whole first
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert len(_rows([body.decode()])) == 3
    await sync_to_async(connections.close_all)()  # the request thread's (CONN_MAX_AGE)


# --- admin ---------------------------------------------------------------------------------


def test_admin_trade_changelist_searches_exactly_and_never_counts_everything(
    admin_client, monkeypatch
):
    wanted = TradeFactory(
        listing=None, symbol="ZZZUSDT", exchange_order_id="EX-1", status=TradeStatus.FILLED
    )
    for _ in range(3):
        TradeFactory(listing=None)
    monkeypatch.setattr(CappedCountPaginator, "COUNT_CAP", 2)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/trading/trade/")
    assert page.status_code == 200
    sql = " ".join(q["sql"] for q in queries).upper()
    assert "DISTINCT" not in sql and "DATE_TRUNC" not in sql and "LIKE" not in sql
    for term in ("zzzusdt", "EX-1", wanted.client_order_id):
        found = admin_client.get("/admin/trading/trade/", {"q": term})
        assert found.context["cl"].result_count == 1, term
    assert admin_client.get("/admin/trading/trade/", {"q": "ZZZ"}).context["cl"].result_count == 0
    assert admin_client.get("/admin/listings/listing/").status_code == 200
    assert admin_client.get("/admin/monitoring/auditevent/", {"q": "x"}).status_code == 200


# --- config history ------------------------------------------------------------------------


def _history_queries(viewer) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as queries:
        body = viewer.get("/api/config/history/").json()
    return len(queries), body["results"]


def test_config_history_queries_do_not_grow_with_the_versions(viewer):
    config_update(actor=None, changes={"max_trades_per_hour": 7}, reason="first")
    few, _ = _history_queries(viewer)
    for i in range(12):
        config_update(actor=None, changes={"max_trades_per_hour": 8 + i}, reason=f"r{i}")
    many, results = _history_queries(viewer)
    assert many == few
    assert results[0]["changes"] == ["max_trades_per_hour"]
    assert results[-1]["changes"] == [] or results[-1]["version"] == min(
        r["version"] for r in results
    )
