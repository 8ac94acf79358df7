"""Control API under ``/_sim/`` (JSON, no auth): listings, faults, order log, reset, state."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from aiohttp import web

from .faults import WS_KINDS
from .host import ControlHost
from .market import fmt


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _bad(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


async def _body(request: web.Request) -> dict:
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"invalid JSON: {exc}"}), content_type="application/json"
        ) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text='{"error":"expected a JSON object"}', content_type="application/json"
        )
    return data


class ControlApi:
    def __init__(self, sim: ControlHost) -> None:
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/state", self.state),
            web.post("/_sim/reset", self.reset),
            web.get("/_sim/listings", self.listings),
            web.post("/_sim/listings", self.add_listing),
            web.delete("/_sim/listings/{symbol}", self.delist),
            web.get("/_sim/faults", self.faults),
            web.post("/_sim/faults", self.add_fault),
            web.delete("/_sim/faults", self.clear_faults),
            web.get("/_sim/orders", self.orders),
            web.post("/_sim/balances", self.set_balances),
            web.post("/_sim/clock", self.set_clock),
            web.post("/_sim/trades", self.add_trade),
            web.get("/_sim/config", self.get_config),
            web.post("/_sim/config", self.set_config),
        ]

    async def get_config(self, request: web.Request) -> web.Response:
        return _json(self.sim.switches())

    async def set_config(self, request: web.Request) -> web.Response:
        """``{"duplicate_client_ids": "reject", ...}``: change run-time switches."""
        try:
            return _json(self.sim.configure(await _body(request)))
        except ValueError as exc:
            return _bad(str(exc))

    async def state(self, request: web.Request) -> web.Response:
        sim = self.sim
        now = sim.clock.now_ms()
        ex = sim.exchange
        return _json(
            {
                "server_time_ms": now,
                "clock_offset_ms": sim.clock.offset_ms,
                "urls": {"rest": sim.rest_url, "ws": sim.ws_url, "calendar": sim.calendar_url},
                "symbols": [s.as_dict(now) for s in ex.listed()],
                "balances": {
                    a: {"free": fmt(b.free), "locked": fmt(b.locked)}
                    for a, b in sorted(ex.balances.items())
                },
                "open_orders": [o.query() for o in ex.open_orders()],
                "orders_total": len(ex.orders),
                "order_requests_total": len(ex.order_requests),
                "faults": [f.as_dict() for f in sim.faults.faults],
                "connections": sim.hub.describe(),
                "scenario_generated": sim.scenario.generated,
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.sim.reset()
        return _json({"ok": True})

    async def listings(self, request: web.Request) -> web.Response:
        """Listings; a path's ``schedule`` every ``schedule_step_ms`` (1000) and, with
        ``?at_ms=0,1500,...``, its prices at those offsets (``path.at``)."""
        now = self.sim.clock.now_ms()
        try:
            at_ms = [int(v) for v in request.query.get("at_ms", "").split(",") if v.strip()]
            step = int(request.query.get("schedule_step_ms", 1000))
        except ValueError:
            return _bad("at_ms: comma-separated ints; schedule_step_ms: int")
        ex = self.sim.exchange
        return _json({"listings": [self._listing(s, now, at_ms, step) for s in ex.listed()]})

    def _listing(self, sym, now: int, at_ms: list[int] | None = None, step: int = 1000) -> dict:
        body = sym.as_dict(now, at_ms=at_ms, schedule_step_ms=step)
        band = self.sim.exchange.price_band_pct(sym)
        body["price_band_pct"] = fmt(band) if band is not None else None  # in force
        return body

    async def add_listing(self, request: web.Request) -> web.Response:
        try:
            sym = self.sim.exchange.list_from_spec(await _body(request))
        except (ValueError, TypeError, InvalidOperation) as exc:
            return _bad(str(exc), 409 if "already listed" in str(exc) else 400)
        return _json(self._listing(sym, self.sim.clock.now_ms()), 201)

    async def delist(self, request: web.Request) -> web.Response:
        try:
            sym = self.sim.exchange.delist(request.match_info["symbol"])
        except KeyError:
            return _bad("unknown symbol", 404)
        return _json({"delisted": sym.symbol})

    async def faults(self, request: web.Request) -> web.Response:
        return _json({"faults": [f.as_dict() for f in self.sim.faults.faults]})

    async def add_fault(self, request: web.Request) -> web.Response:
        book = self.sim.faults
        try:
            fault = book.create(await _body(request))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        book.add(fault)
        if fault.kind in WS_KINDS:
            if fault.kind == "ws_drop":
                self.sim.hub.start_drop(fault)
            else:
                self.sim.hub.start_malformed(fault)
        return _json(fault.as_dict(), 201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.sim.faults.reset()
        return _json({"ok": True})

    async def orders(self, request: web.Request) -> web.Response:
        return _json({"orders": [r.as_dict() for r in self.sim.exchange.order_requests]})

    async def set_balances(self, request: web.Request) -> web.Response:
        """``{"USDT": "100", "BTC": "0"}``: set free balances."""
        body = await _body(request)
        try:
            for asset, amount in body.items():
                self.sim.exchange.set_balance(asset, Decimal(str(amount)))
        except InvalidOperation:
            return _bad("amounts must be decimal strings")
        return _json({a: fmt(b.free) for a, b in sorted(self.sim.exchange.balances.items())})

    async def set_clock(self, request: web.Request) -> web.Response:
        """``{"offset_ms": N}``: move the server clock (client time-sync tests)."""
        body = await _body(request)
        try:
            self.sim.clock.offset_ms = int(body["offset_ms"])
        except (KeyError, ValueError, TypeError):
            return _bad("offset_ms (int) required")
        return _json({"offset_ms": self.sim.clock.offset_ms})

    async def add_trade(self, request: web.Request) -> web.Response:
        """``{"symbol","price","quantity"?,"side"?}``: a trade that moves the price. The answer
        adds ``at_us``: the exchange clock (µs) when the trade was made, before any push."""
        body = await _body(request)
        try:
            trade = self.sim.exchange.inject_trade(
                str(body["symbol"]),
                price=Decimal(str(body["price"])),
                qty=Decimal(str(body["quantity"])) if body.get("quantity") else None,
                side=str(body.get("side", "BUY")).upper(),
            )
        except (KeyError, ValueError, InvalidOperation) as exc:
            return _bad(f"bad trade: {exc}")
        return _json(
            {
                "symbol": body["symbol"],
                "price": fmt(trade.price),
                "qty": fmt(trade.qty),
                "at_us": trade.made_at_us,
            }
        )
