"""Trading API: history, manual trades, confirmations, audit export, risk and latency figures."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.services import health_set
from risk.services import config_update
from trading.models import Trade, TradeStatus

from .factories import TradeFactory


@pytest.fixture
def operator(api_as, operator_user):
    return api_as(operator_user)


@pytest.fixture
def viewer(api_as, viewer_user):
    return api_as(viewer_user)


def stamped(total_ms: float, **kwargs) -> Trade:
    """A trade that went through every stage, `total_ms` from detection to ack."""
    t0 = 1_800_000_000_000_000_000
    step = int(total_ms * 1e6 / 5)
    return TradeFactory(
        status=kwargs.pop("status", TradeStatus.FILLED),
        detected_ns=t0,
        persisted_ns=t0 + step,
        dispatched_ns=t0 + 2 * step,
        risk_done_ns=t0 + 3 * step,
        sent_ns=t0 + 4 * step,
        acked_ns=t0 + 5 * step,
        **kwargs,
    )


# --- history -------------------------------------------------------------------------------


def test_history_is_newest_first_with_latency_and_config_version(viewer):
    old, new = stamped(10), stamped(4)
    Trade.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    body = viewer.get("/api/trade/history/").json()
    assert [t["id"] for t in body["results"]] == [new.pk, old.pk]
    first = body["results"][0]
    assert first["latency_ms"]["total"] == pytest.approx(4.0)
    assert first["latency_ms"]["send"] == pytest.approx(0.8)
    assert first["config_version"] == new.config_version_id


def test_history_filters_by_mode_status_symbol_and_time(viewer):
    dry = TradeFactory(
        symbol="AAAUSDT", listing=None, status=TradeStatus.REJECTED, reason_code="kill_switch"
    )
    live = TradeFactory(symbol="BBBUSDT", listing=None, mode="live")
    Trade.objects.filter(pk=dry.pk).update(created_at=timezone.now() - timedelta(hours=2))

    def ids(query: str) -> list[int]:
        return [t["id"] for t in viewer.get(f"/api/trade/history/?{query}").json()["results"]]

    assert ids("mode=live") == [live.pk]
    assert ids("status=rejected") == [dry.pk]
    assert ids("symbol=aaausdt") == [dry.pk]
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids(f"since={since.replace('+', '%2B')}") == [live.pk]


@pytest.mark.parametrize("query", ["mode=paper", "status=won", "since=yesterday"])
def test_history_rejects_bad_filters(viewer, query):
    response = viewer.get(f"/api/trade/history/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_history_pages(viewer):
    TradeFactory.create_batch(55, listing=None)
    first = viewer.get("/api/trade/history/").json()
    assert first["count"] == 55 and len(first["results"]) == 50
    second = viewer.get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None


def test_a_trade_by_id_is_the_history_item(viewer):
    trade = stamped(4, status=TradeStatus.REJECTED, reason_code="kill_switch")
    TradeFactory(listing=None)  # another trade, not the one asked for
    response = viewer.get(f"/api/trade/{trade.pk}/")
    assert response.status_code == 200
    item = next(
        t for t in viewer.get("/api/trade/history/").json()["results"] if t["id"] == trade.pk
    )
    assert response.json() == item
    assert (item["status"], item["reason_code"]) == ("rejected", "kill_switch")


def test_a_trade_by_id_needs_a_login(api_as, db):
    trade = TradeFactory(listing=None)
    assert api_as(None).get(f"/api/trade/{trade.pk}/").status_code in (401, 403)


@pytest.mark.parametrize("pk", ["999999", "9223372036854775807"])
def test_an_unknown_trade_by_id_is_a_json_404(viewer, pk):
    response = viewer.get(f"/api/trade/{pk}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert pk in response.json()["detail"]


def test_a_trade_id_that_is_not_a_number_is_a_json_400(viewer):
    response = viewer.get("/api/trade/abc/")
    assert response.status_code == 400
    assert "id" in response.json()


# --- manual trades -------------------------------------------------------------------------


def test_execute_runs_a_dry_run_through_the_risk_checks(operator, exchange):
    exchange.list_symbol(symbol="MANUSDT", open_in_ms=0, price="0.5")
    response = operator.post(
        "/api/trade/execute/", {"symbol": "manusdt", "quote_qty": "10"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["symbol"], body["mode"], body["status"]) == ("MANUSDT", "dry_run", "filled")
    assert body["manual"] is True and body["requested_by"] == "otto"
    assert exchange.orders() == []  # a dry run never reaches the exchange


def test_execute_above_the_max_trade_is_recorded_as_rejected(operator, no_push):
    response = operator.post(
        "/api/trade/execute/", {"symbol": "BIGUSDT", "quote_qty": "5000"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert response.json()["reason_code"] == "max_trade_exceeded"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "ABC-USDT", "quote_qty": "10"}, "symbol"),
        ({"symbol": "ABCUSDT", "quote_qty": "-1"}, "quote_qty"),
        ({"symbol": "ABCUSDT", "quote_qty": "ten"}, "quote_qty"),
        ({"symbol": "ABCUSDT"}, "quote_qty"),
        ({"quote_qty": "10"}, "symbol"),
    ],
)
def test_execute_rejects_bad_input_with_a_message_per_field(operator, body, field):
    response = operator.post("/api/trade/execute/", body, format="json")
    assert response.status_code == 400
    assert response.json()[field]
    assert not Trade.objects.exists()


# --- confirmation of high-value trades -----------------------------------------------------


def big_trade(operator) -> dict:
    config_update(
        actor=None, changes={"high_value_threshold_usdt": Decimal("5")}, reason="test: confirm"
    )
    body = operator.post(
        "/api/trade/execute/", {"symbol": "CONFUSDT", "quote_qty": "20"}, format="json"
    ).json()
    assert body["status"] == "awaiting_confirmation"
    return body


def test_confirm_sends_the_trade_once(operator, exchange):
    exchange.list_symbol(symbol="CONFUSDT", open_in_ms=0, price="0.5")
    trade = big_trade(operator)
    confirmed = operator.post(f"/api/trade/{trade['id']}/confirm/").json()
    assert confirmed["status"] == "filled"
    assert confirmed["confirmed_by"] == "otto"
    again = operator.post(f"/api/trade/{trade['id']}/confirm/")
    assert again.status_code == 409
    assert "not awaiting confirmation" in again.json()["detail"]


def test_cancel_stops_a_trade_before_it_is_sent(operator, no_push):
    trade = big_trade(operator)
    canceled = operator.post(f"/api/trade/{trade['id']}/cancel/").json()
    assert canceled["status"] == "canceled"
    assert operator.post(f"/api/trade/{trade['id']}/confirm/").status_code == 409
    assert operator.post(f"/api/trade/{trade['id']}/cancel/").status_code == 409


def test_confirming_an_unknown_trade_is_404(operator):
    assert operator.post("/api/trade/999999/confirm/").status_code == 404


# --- audit export --------------------------------------------------------------------------


def test_export_lists_every_trade_with_its_config_version_and_reason(operator, viewer, no_push):
    operator.put("/api/config/", {"max_trade_usdt": "30", "reason": "audit me"}, format="json")
    operator.post("/api/trade/execute/", {"symbol": "XUSDT", "quote_qty": "50"}, format="json")
    response = viewer.get("/api/trade/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    (row,) = rows
    trade = Trade.objects.get()
    assert row["trade_id"] == str(trade.pk)
    assert row["status"] == "rejected" and row["reason_code"] == "max_trade_exceeded"
    assert row["config_version"] == str(trade.config_version_id)
    assert row["config_change_reason"] == "audit me"
    assert row["config_changed_by"] == "otto"
    assert Decimal(row["cfg_max_trade_usdt"]) == 30


def test_export_takes_the_history_filters(viewer):
    TradeFactory(listing=None, mode="live")
    TradeFactory(listing=None)
    response = viewer.get("/api/trade/export.csv?mode=live")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["mode"] for r in rows] == ["live"]
    assert viewer.get("/api/trade/export.csv?mode=paper").status_code == 400


# --- risk metrics --------------------------------------------------------------------------


def test_risk_metrics_report_exposure_against_the_limit(viewer):
    # Snipes are dry runs (auto-trade off): judged against the dry-run limits.
    config_update(actor=None, changes={"dry_run_max_position_usdt": Decimal("1000")}, reason="test")
    TradeFactory(listing=None, quote_qty=Decimal("250"), status=TradeStatus.FILLED)
    TradeFactory(
        listing=None,
        quote_qty=Decimal("999"),
        status=TradeStatus.REJECTED,
        reason_code="max_trade_exceeded",
    )
    body = viewer.get("/api/risk/metrics/").json()
    assert Decimal(body["exposure_24h"]) == 250
    assert body["exposure_ratio"] == pytest.approx(0.25)
    assert body["trades_last_hour"] == 1
    assert body["rejections_24h"] == {"max_trade_exceeded": 1}
    assert body["breaches"] == []
    assert body["breaker"] == {"state": "closed"} and body["kill_switch"] is False


def test_risk_metrics_show_breaches_breaker_and_kill_switch(viewer):
    config_update(actor=None, changes={"dry_run_max_position_usdt": Decimal("1000")}, reason="test")
    TradeFactory(listing=None, quote_qty=Decimal("1000"), status=TradeStatus.FILLED)
    config_update(actor=None, changes={"kill_switch": True}, reason="test: incident")
    health_set(component="circuit_breaker", status="down", detail={"state": "open"})
    body = viewer.get("/api/risk/metrics/").json()
    assert "max_position" in body["breaches"]
    assert body["breaker"]["state"] == "open"
    assert body["kill_switch"] is True


# --- latency analytics ---------------------------------------------------------------------


def test_latency_percentiles_per_stage_and_histogram(viewer):
    for total in range(1, 101):  # 1..100 ms
        stamped(total)
    TradeFactory(listing=None, status=TradeStatus.FAILED)
    body = viewer.get("/api/analytics/latency/?window=1h").json()
    assert body["count"] == 101 and body["errors"] == 1
    assert body["error_rate"] == pytest.approx(1 / 101, abs=1e-4)
    total = body["stages"]["total"]
    assert (total["count"], total["p50"], total["p95"], total["p99"], total["max"]) == (
        100,
        50,
        95,
        99,
        100,
    )
    assert body["stages"]["ack"]["p50"] == pytest.approx(10.0)
    histogram = {b["le_ms"]: b["count"] for b in body["histogram"]}
    assert histogram[1] == 1 and histogram[2] == 1 and histogram[100] == 50
    assert sum(histogram.values()) == 100


def test_latency_reports_the_operators_wait_on_its_own_and_out_of_the_bots_figures(viewer):
    ms, t0 = 1_000_000, 1_800_000_000_000_000_000
    confirmed = t0 + 3 * ms + 40_000 * ms  # the operator confirmed 40 s after the decision
    TradeFactory(
        listing=None,
        status=TradeStatus.FILLED,
        detected_ns=t0,
        persisted_ns=t0 + ms,
        dispatched_ns=t0 + 2 * ms,
        risk_done_ns=t0 + 3 * ms,
        confirmed_ns=confirmed,
        sent_ns=confirmed + ms,
        acked_ns=confirmed + 3 * ms,
        decision_to_ack_ms=3.0,
    )
    stamped(10)  # never held: no operator wait
    stages = viewer.get("/api/analytics/latency/?window=1h").json()["stages"]
    wait = stages["operator_wait"]
    assert (wait["count"], wait["p50"], wait["p99"], wait["max"]) == (1, 40_000, 40_000, 40_000)
    assert stages["total"]["count"] == 2 and stages["total"]["max"] == 10  # 6 ms and 10 ms
    assert stages["send"]["max"] == pytest.approx(2.0)
    assert stages["decision_to_ack"]["max"] == 3.0


def test_latency_reports_decision_to_ack_the_span_the_target_is_on(viewer):
    for n in range(1, 101):  # 1..100 ms from decision to ack, detection 5 ms earlier
        stamped(n + 5, decision_to_ack_ms=float(n))
    stamped(3)  # in flight or from before the column: no decision -> ack figure
    row = viewer.get("/api/analytics/latency/?window=1h").json()["stages"]["decision_to_ack"]
    assert (row["count"], row["p50"], row["p95"], row["p99"], row["max"]) == (100, 50, 95, 99, 100)


def test_latency_window_excludes_older_trades(viewer):
    old = stamped(7)
    Trade.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    stamped(3)
    assert viewer.get("/api/analytics/latency/?window=1h").json()["count"] == 1
    assert viewer.get("/api/analytics/latency/?window=1d").json()["count"] == 2


@pytest.mark.parametrize("window", ["forever", "0h", "31d", "-1h"])
def test_latency_rejects_a_bad_window(viewer, window):
    response = viewer.get(f"/api/analytics/latency/?window={window}")
    assert response.status_code == 400
    assert response.json()["window"]


def test_history_takes_any_offset_python_accepts(viewer):
    """PostgreSQL refuses offsets beyond ±15:59; the filter queries in UTC."""
    trade = TradeFactory(listing=None)
    response = viewer.get("/api/trade/history/", {"since": "2000-01-01T00:00:00+16:00"})
    assert response.status_code == 200
    assert [t["id"] for t in response.json()["results"]] == [trade.pk]


def test_risk_metrics_judge_the_mode_in_force_against_its_own_limits(viewer):
    """Dry-run trades never use the live budget: the panel shows the dry-run limits while
    snipes are dry runs, and live trades' exposure against the live limits once live."""
    for _ in range(12):
        TradeFactory(listing=None, quote_qty=Decimal("20"), status=TradeStatus.FILLED)
    body = viewer.get("/api/risk/metrics/").json()
    assert body["mode"] == "dry_run"
    assert body["trades_last_hour"] == 12 and body["max_trades_per_hour"] == 1000
    assert body["breaches"] == []
