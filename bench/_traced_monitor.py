"""`manage.py run_monitor` with timing marks on an armed trade's fire (`bench.open_to_order
--trace`). Nothing of the bot's code changes: its functions are wrapped in this process only.

Marks (epoch ns, this host's clock; the simulator stamps arrivals on the same clock plus its
offset), per client order id, written as one JSON line after the trade's fire returns:

- ``spun``: `trading.services._wait_until` returned for the fire time (the wait for the open)
- ``send_live``: `trading.execution.send_live` entered (after `trade_send`'s own work)
- ``gateway``: `MexcGateway.place_market_buy` entered (the calling thread)
- ``loop``: `MexcRestClient.place_order` started on the gateway's event loop (the hop)
- ``write``: `HttpPool._exchange` entered: the request signed and built, written next
- ``answer``: `HttpPool._exchange` returned (the exchange's answer read)
- ``cfg_ns``: time in `config_get_active` after ``spun`` (a database read on the path)
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sniperbot.settings")

import django

django.setup()

from mexc import http as mexc_http  # noqa: E402
from mexc import rest as mexc_rest  # noqa: E402
from trading import gateway as trading_gateway  # noqa: E402
from trading import services  # noqa: E402

TRACE_FILE = os.environ["BENCH_TRACE_FILE"]
_local = threading.local()
_coid: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_coid", default=None)
_marks: dict[str, dict[str, int]] = {}
_lock = threading.Lock()


def _mark(coid: str | None, name: str, value: int | None = None) -> None:
    if coid is None:
        return
    with _lock:
        _marks.setdefault(coid, {}).setdefault(name, value or time.time_ns())


def _wrap_fire(fire):
    @functools.wraps(fire)
    def trade_fire(armed, *args, **kwargs):
        coid = armed.signal.client_order_id
        _local.coid, _local.fires_at_ms, _local.spun = coid, armed.fires_at_ms, False
        try:
            return fire(armed, *args, **kwargs)
        finally:
            _local.coid = None
            with _lock:
                marks = _marks.pop(coid, {})
            marks |= {"coid": coid, "symbol": armed.signal.symbol, "open_ms": armed.fires_at_ms}
            with open(TRACE_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(marks) + "\n")

    return trade_fire


def _wrap_wait(wait):
    @functools.wraps(wait)
    def _wait_until(at_ms, *args, **kwargs):
        result = wait(at_ms, *args, **kwargs)
        coid = getattr(_local, "coid", None)
        if coid is not None and at_ms >= _local.fires_at_ms:
            _mark(coid, "spun")
            _local.spun = True
        return result

    return _wait_until


def _wrap_config(read):
    @functools.wraps(read)
    def config_get_active(*args, **kwargs):
        if not getattr(_local, "spun", False):
            return read(*args, **kwargs)
        started = time.perf_counter_ns()
        try:
            return read(*args, **kwargs)
        finally:
            _mark(_local.coid, "cfg_ns", time.perf_counter_ns() - started)

    return config_get_active


def _wrap_send_live(send):
    @functools.wraps(send)
    def send_live(trade, *args, **kwargs):
        _mark(trade.client_order_id, "send_live")
        return send(trade, *args, **kwargs)

    return send_live


def _wrap_gateway(place):
    @functools.wraps(place)
    def place_market_buy(self, *, client_order_id, **kwargs):
        _mark(client_order_id, "gateway")
        return place(self, client_order_id=client_order_id, **kwargs)

    return place_market_buy


def _wrap_place_order(place):
    @functools.wraps(place)
    async def place_order(self, *args, client_order_id=None, **kwargs):
        _mark(client_order_id, "loop")
        token = _coid.set(client_order_id)
        try:
            return await place(self, *args, client_order_id=client_order_id, **kwargs)
        finally:
            _coid.reset(token)

    return place_order


def _wrap_exchange(exchange):
    @functools.wraps(exchange)
    async def _exchange(self, method, data):
        coid = _coid.get()
        _mark(coid, "write")
        try:
            return await exchange(self, method, data)
        finally:
            _mark(coid, "answer")

    return _exchange


services.trade_fire = _wrap_fire(services.trade_fire)
services._wait_until = _wrap_wait(services._wait_until)
services.config_get_active = _wrap_config(services.config_get_active)
services.send_live = _wrap_send_live(services.send_live)
trading_gateway.MexcGateway.place_market_buy = _wrap_gateway(
    trading_gateway.MexcGateway.place_market_buy
)
mexc_rest.MexcRestClient.place_order = _wrap_place_order(mexc_rest.MexcRestClient.place_order)
mexc_http.HttpPool._exchange = _wrap_exchange(mexc_http.HttpPool._exchange)

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", "run_monitor", *sys.argv[1:]])
