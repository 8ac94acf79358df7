"""Delivery with a real Celery worker over Redis: duplicate delivery, and a worker killed
between sending an order and recording it, then restarted. Needs REDIS_URL (CI has it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from listings.tests.factories import ListingFactory
from mexc.simulator import SimulatorProcess
from risk.services import config_update
from sniperbot.testing.stack import wait_until
from trading.ids import snipe_order_id
from trading.models import Trade, TradeStatus

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL); CI runs it"),
]
ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """`celery -A sniperbot worker` as a real process on the test database."""

    def __init__(self, sim: SimulatorProcess) -> None:
        self.log = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "sniperbot.settings",
            "SECRET_KEY": "worker-test-secret",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "MEXC_REST_URL": sim.rest_url,
            "MEXC_API_KEY": sim.api_key,
            "MEXC_SECRET_KEY": sim.secret_key,
            "MEXC_HTTP_TIMEOUT_MS": "1000",
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        out = self.log.open("a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sniperbot",
                "worker",
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: "ready." in self.log.read_text(), 30, "worker ready")
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def sim():
    with SimulatorProcess("--no-scenario") as process:
        yield process


@pytest.fixture
def worker(sim):
    current_app.control.purge()
    w = Worker(sim)
    yield w
    w.stop()


def sim_orders(sim: SimulatorProcess) -> list[dict]:
    import httpx

    return httpx.get(f"{sim.rest_url}/_sim/orders", timeout=5).json()["orders"]


def sim_post(sim: SimulatorProcess, path: str, body: dict) -> None:
    import httpx

    assert httpx.post(f"{sim.rest_url}{path}", json=body, timeout=5).status_code == 201


def go_live() -> None:
    with override_settings(MEXC_API_KEY="k", MEXC_SECRET_KEY="s"):  # the worker has the sim's
        config_update(
            actor=None, changes={"auto_trade": True, "mode": "live"}, reason="worker test"
        )


def snipe(listing_id: int) -> None:
    current_app.send_task("trading.tasks.snipe", kwargs={"listing_id": listing_id})


def test_a_snipe_delivered_twice_makes_one_order(sim, worker):
    go_live()
    sim_post(sim, "/_sim/listings", {"symbol": "TWICEUSDT", "open_in_ms": 0, "price": "0.5"})
    listing = ListingFactory(symbol="TWICEUSDT")
    worker.start()
    snipe(listing.pk)
    snipe(listing.pk)
    trade = wait_until(
        lambda: Trade.objects.filter(listing=listing, status=TradeStatus.FILLED).first(),
        20,
        "the trade to fill",
    )
    wait_until(
        lambda: (
            "snipe" in worker.log.read_text() and worker.log.read_text().count("succeeded") >= 2
        ),
        20,
        "both deliveries to finish",
    )
    assert Trade.objects.filter(listing=listing).count() == 1
    orders = sim_orders(sim)
    assert [o["clientOrderId"] for o in orders] == [trade.client_order_id]


def test_a_worker_killed_between_send_and_record_is_settled_on_restart(sim, worker):
    go_live()
    sim_post(sim, "/_sim/listings", {"symbol": "KILLUSDT", "open_in_ms": 0, "price": "0.5"})
    listing = ListingFactory(symbol="KILLUSDT")
    # The order is placed, but its answer is held: the worker dies before recording it.
    sim_post(
        sim,
        "/_sim/faults",
        {
            "kind": "timeout",
            "count": 1,
            "ms": 20000,
            "path": "/api/v3/order",
            "method": "POST",
            "effect": "after",
        },
    )
    worker.start()
    snipe(listing.pk)
    wait_until(lambda: sim_orders(sim), 20, "the order to reach the exchange")
    worker.kill()
    trade = Trade.objects.get(listing=listing)
    assert trade.status == TradeStatus.PENDING and not trade.exchange_order_id
    # The reconciler leaves a trade to its sender until the sender's lease runs out.
    wait_until(lambda: timezone.now() > trade.held_until, 10, "the dead sender's lease")
    worker.start()
    settled = wait_until(
        lambda: Trade.objects.filter(pk=trade.pk, status=TradeStatus.FILLED).first(),
        20,
        "the reconciler to settle the trade",
    )
    assert settled.exchange_order_id and settled.executed_qty > 0
    assert settled.client_order_id == snipe_order_id(listing.symbol, listing.listed_at)
    assert [o["clientOrderId"] for o in sim_orders(sim)] == [trade.client_order_id]
    assert settled.quote_spent <= Decimal("20")


def test_a_burst_beyond_the_rate_limit_is_sent_later_by_countdown(sim, worker):
    """Five orders go out at once (the burst allowance), the rest when their rate-limit slots
    come (inside the signals' freshness): nobody is rejected, nothing is sent twice."""
    go_live()
    symbols = [f"CDN{i}USDT" for i in range(7)]
    listings = []
    for symbol in symbols:
        sim_post(sim, "/_sim/listings", {"symbol": symbol, "open_in_ms": 0, "price": "0.5"})
        listings.append(ListingFactory(symbol=symbol))
    worker.start()
    for listing in listings:
        snipe(listing.pk)
    wait_until(
        lambda: Trade.objects.filter(symbol__in=symbols, status=TradeStatus.FILLED).count() == 7,
        30,
        "all seven trades to fill",
    )
    orders = sorted(sim_orders(sim), key=lambda o: o["received_at_ms"])
    assert sorted(o["clientOrderId"] for o in orders) == sorted(
        Trade.objects.filter(symbol__in=symbols).values_list("client_order_id", flat=True)
    )
    at = [o["received_at_ms"] - orders[0]["received_at_ms"] for o in orders]
    # 5/s after a burst of 5: none before its slot (a late one does not move the next slot)
    assert at[5] >= 180 and at[6] >= 380, at
