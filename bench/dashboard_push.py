"""Detection -> dashboard: how long after detection an operator's page hears of a listing.

A WebSocket client logged in as an operator subscribes to `/ws/dashboard/` on the real web
process (daphne); the simulator opens symbols one at a time; the monitor detects and records
each, and `listing.created` travels over the Redis channel layer to the client. Latency is
the client's receive time minus the listing's `detected_at` (both wall clock, same host).

    python -m bench.dashboard_push      # needs redis-server (a private one is started)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import websockets

from bench._table import machine, print_table, stats, verdict
from sniperbot.testing.stack import BotStack, RedisServer, wait_until

LISTINGS = 100
GAP_S = 0.2
TARGET_P99_MS = 100.0


def login(stack: BotStack) -> str:
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User;"
        "u = User.objects.create_user('bench', password='bench-pass-1');"
        "u.groups.add(Group.objects.get(name='operator'))",
    )
    with httpx.Client(base_url=stack.url) as client:
        client.get("/accounts/login/")
        response = client.post(
            "/accounts/login/",
            data={
                "username": "bench",
                "password": "bench-pass-1",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
                "next": "/dashboard/",
            },
            headers={"Referer": f"{stack.url}/accounts/login/"},
        )
        assert response.status_code == 302, response.text[:300]
        return f"sessionid={client.cookies['sessionid']}"


async def measure(stack: BotStack, cookie: str) -> tuple[list[float], list[float]]:
    detect_to_page: list[float] = []
    open_to_page: list[float] = []
    url = f"ws://127.0.0.1:{stack.port}/ws/dashboard/"
    headers = {"Cookie": cookie, "Origin": stack.url}
    async with websockets.connect(url, additional_headers=headers) as socket:
        for i in range(LISTINGS):
            symbol = f"DASH{i:03d}USDT"
            open_at_ms = int(time.time() * 1000)
            stack.sim_call(
                "POST", "/_sim/listings", {"symbol": symbol, "price": "1", "open_at_ms": open_at_ms}
            )
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
                received = time.time()
                payload = message["payload"]
                if message["event"] == "listing.created" and payload["symbol"] == symbol:
                    detected = datetime.fromisoformat(payload["detected_at"].replace("Z", "+00:00"))
                    detect_to_page.append((received - detected.timestamp()) * 1000)
                    open_to_page.append(received * 1000 - open_at_ms)
                    break
            await asyncio.sleep(GAP_S)
    return detect_to_page, open_to_page


def main() -> int:
    print(machine())
    if not RedisServer.available():
        print("skipped: needs redis-server (push between processes goes over Redis)")
        return 0
    database_url = os.environ.get("DATABASE_URL")
    if not (database_url and database_url.startswith("postgres")):
        database_url = None
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp, RedisServer(Path(tmp)) as redis:
        stack = BotStack(Path(tmp), database_url=database_url, redis_url=redis.url)
        try:
            stack.start(monitor_running=True)
            wait_until(
                lambda: stack.rows(
                    "SELECT 1 FROM monitoring_bothealth "
                    "WHERE component='mexc_websocket' AND status='ok'"
                ),
                60,
                "the monitor's WebSocket",
            )
            cookie = login(stack)
            detect_ms, open_ms = asyncio.run(measure(stack, cookie))
        finally:
            stack.stop()
    db = "PostgreSQL" if database_url else "SQLite"
    print_table(
        f"{LISTINGS} listings, one at a time ({db}, Redis channel layer, daphne)",
        [("detection -> page", stats(detect_ms)), ("open -> page (info)", stats(open_ms))],
        "ms",
    )
    p99 = stats(detect_ms)["p99"]
    verdict(p99 <= TARGET_P99_MS, f"detection -> dashboard p99 {p99:.1f} ms vs target <= 100 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
