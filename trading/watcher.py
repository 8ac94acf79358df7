"""The exit watcher: the price of every open position, its exit rules, and the sell.

MEXC spot has no stop orders resting on the exchange, so the bot watches. One asyncio task
set (in the monitor's process, `manage.py run_monitor`):
- prices: each watched symbol's best bid from MEXC's bookTicker stream (the price a sell
  gets); for a symbol silent longer than `silent_s` (stream down, no subscription yet), the
  REST bookTicker every `poll_s`;
- a timer re-judges every position with its last price every `timer_s`, so a stop held
  below its level for `stop_confirm_ms` and the time exit fire without a new tick;
- every `refresh_s`, the database: positions opened (by this process or a worker), closed
  or changed; the highest price and last price written back; the kill switch with
  `flatten_on_kill` sells everything.

The decision is the pure `trading.exits.step`, on the loop, in microseconds. A sell runs on
a worker thread (`trading.positions.position_sell`: it claims the position, so a trigger
while one is in flight is a no-op), and the position is judged again once it returns.
A restart reloads each position's highest price and ladder progress from its row; a stop's
confirm time starts again (it never sells sooner than configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from mexc import stream as mexc_stream

from .exits import TAKE_PROFIT, Exit, ExitRules, Held, Tick, step
from .models import Position, PositionStatus
from .positions import (
    KILL_SWITCH,
    PositionNotOpen,
    Selling,
    SellRequest,
    held_of,
    position_sell,
)

log = logging.getLogger(__name__)


@dataclass
class Watched:
    id: int
    symbol: str
    mode: str
    held: Held
    rules: ExitRules
    config_version_id: int  # the buy's (its sells go out under it)
    recv_window_ms: int
    selling: bool = False  # this watcher's sell of it is in flight
    closing: bool = False  # its row says a sell is in flight (here or elsewhere)
    fresh_from: int = 0  # only a refresh started at or after this one knows what a sell did
    saved_high: Decimal = Decimal(0)
    saved_at: int | None = None  # the last price's time, as written

    @property
    def busy(self) -> bool:
        return self.selling or self.closing


@dataclass(frozen=True)
class WatcherConfig:
    refresh_s: float = 0.5
    poll_s: float = 1.0
    silent_s: float = 2.0
    timer_s: float = 0.25
    sell_threads: int = 8


def open_positions() -> list[Position]:
    """The held positions, with what their sells need of the buy's config version (so a
    sell reads no row on the way to the order)."""
    return list(
        Position.objects.filter(status__in=[PositionStatus.OPEN, PositionStatus.CLOSING]).annotate(
            sell_config_version=F("buy_trade__config_version"),
            sell_recv_window_ms=F("buy_trade__config_version__recv_window_ms"),
        )
    )


def kill_flatten() -> bool:
    from risk.selectors import config_get_active

    config = config_get_active()
    return bool(config.kill_switch and config.flatten_on_kill)


def save_marks(marks: list[tuple[int, Decimal, Decimal | None, int | None]]) -> None:
    """The highest price (only ever raised) and the last bid of watched positions, in one
    transaction (a sell's claim waits for the write lock once, not per position)."""
    with transaction.atomic():
        for pk, high, last, at_ms in marks:
            fields = {"last_price": last}
            if at_ms is not None:
                fields["last_price_at"] = datetime.fromtimestamp(at_ms / 1000, UTC)
            Position.objects.filter(pk=pk).update(**fields)
            Position.objects.filter(pk=pk, high_price__lt=high).update(
                high_price=high, updated_at=timezone.now()
            )


class PositionWatcher:
    @classmethod
    def from_settings(cls, rest) -> PositionWatcher:
        """On the monitor's public REST client (prices, the exchange's clock); sells go
        through trading's gateway (`position_sell`)."""
        from django.conf import settings

        async def bid_of(symbol: str) -> Decimal | None:
            return (await rest.book_ticker(symbol)).bid_price or None

        def prepare(symbol: str) -> None:
            from .runtime import get_gateway

            get_gateway().know_symbol(symbol)

        return cls(
            ws_url=settings.MEXC_WS_URL,
            bid_of=bid_of,
            prepare=prepare,
            now_ms=rest.server_time_ms,
            stream_options={"backoff_s": settings.MEXC_WS_BACKOFF_S},
        )

    def __init__(
        self,
        *,
        ws_url: str | None,
        bid_of: Callable[[str], Awaitable[Decimal | None]],
        now_ms: Callable[[], int],
        sell: Callable[[int, SellRequest], object] = position_sell,
        prepare: Callable[[str], object] | None = None,
        config: WatcherConfig | None = None,
        stream_options: dict | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.bid_of = bid_of
        self.now_ms = now_ms
        self.sell = sell
        self.prepare = prepare  # a newly watched symbol: get ready to sell it (its rules)
        self.config = config or WatcherConfig()
        self.stream_options = stream_options or {}
        self.watched: dict[int, Watched] = {}
        self.last: dict[str, tuple[Decimal, int]] = {}  # symbol -> (bid, at ms)
        self._stream: mexc_stream.MexcStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watcher-db")
        self._sells = ThreadPoolExecutor(
            max_workers=self.config.sell_threads, thread_name_prefix="watcher-sell"
        )
        self.refreshed = asyncio.Event()
        self._refreshes = 0
        self._wake = asyncio.Event()
        self._consumer: asyncio.Task | None = None

    async def _on_db(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    # --- running ---------------------------------------------------------------------------

    async def run(self, shutdown: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        tasks = [
            asyncio.create_task(self._refreshing(shutdown)),
            asyncio.create_task(self._every(self.config.poll_s, self.poll, shutdown)),
            asyncio.create_task(self._every(self.config.timer_s, self.judge_all, shutdown)),
        ]
        try:
            await shutdown.wait()
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            if self._stream is not None:
                self._stream.stop()
            if self._consumer is not None:
                self._consumer.cancel()
            await asyncio.get_running_loop().run_in_executor(None, self.close_sellers)
            await self._on_db(connections.close_all)
            self._db.shutdown(wait=True)

    @property
    def subscribed(self) -> set[str]:
        """The stream channels the exchange acknowledged (tests, benchmarks)."""
        return set(self._stream.acked) if self._stream is not None else set()

    def close_sellers(self) -> None:
        """Let running sells finish and close each sell thread's database connection (they
        are kept between sells: a new one per sell cost milliseconds on the way to the order)."""
        n = self.config.sell_threads
        barrier = threading.Barrier(n)

        def close() -> None:
            connections.close_all()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(10)  # every thread takes one: each closes its own

        for done in [self._sells.submit(close) for _ in range(n)]:
            done.result()
        self._sells.shutdown(wait=True)

    async def _refreshing(self, shutdown: asyncio.Event) -> None:
        """`refresh` every `refresh_s`, and at once when a sell returned."""
        while not shutdown.is_set():
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("watcher.step_failed", extra={"step": "refresh"})
            waits = [asyncio.ensure_future(e.wait()) for e in (shutdown, self._wake)]
            await asyncio.wait(waits, timeout=self.config.refresh_s, return_when="FIRST_COMPLETED")
            for waiting in waits:
                waiting.cancel()

    @staticmethod
    async def _every(interval: float, fn, shutdown: asyncio.Event) -> None:
        while not shutdown.is_set():
            try:
                await fn()
            except Exception:
                log.exception("watcher.step_failed", extra={"step": fn.__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shutdown.wait(), timeout=interval)

    # --- the database -----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Follow the positions' rows; write back the marks; flatten on the kill switch."""
        self._loop = asyncio.get_running_loop()
        marks = [
            (w.id, w.held.high_price, *self.last.get(w.symbol, (None, None)))
            for w in self.watched.values()
            if w.held.high_price > w.saved_high
            or self.last.get(w.symbol, (None, None))[1] != w.saved_at
        ]
        if marks:
            await self._on_db(save_marks, marks)
            for pk, high, _, at_ms in marks:
                if pk in self.watched:
                    self.watched[pk].saved_high = max(self.watched[pk].saved_high, high)
                    self.watched[pk].saved_at = at_ms
        self._refreshes += 1
        seq = self._refreshes
        rows = {p.pk: p for p in await self._on_db(open_positions)}
        for pk in list(self.watched):
            if pk not in rows:
                await self._forget(self.watched.pop(pk).symbol)
        for pk, row in rows.items():
            known = self.watched.get(pk)
            closing = row.status == PositionStatus.CLOSING
            if known is None:
                self.watched[pk] = Watched(
                    id=pk,
                    symbol=row.symbol,
                    mode=row.mode,
                    held=held_of(row),
                    rules=ExitRules.from_json(row.rules),
                    config_version_id=row.sell_config_version,
                    recv_window_ms=row.sell_recv_window_ms,
                    closing=closing,
                    saved_high=row.high_price,
                )
                await self._watch(row.symbol)
                if self.prepare is not None:
                    try:
                        self.prepare(row.symbol)
                    except Exception as exc:
                        log.info("watcher.prepare_failed", extra={"error": repr(exc)})
            elif not known.selling and seq >= known.fresh_from:
                # What a sell (here or elsewhere) changed; the highest price never falls.
                known.held = Held(
                    entry_price=row.entry_price,
                    initial_qty=row.initial_qty,
                    qty=row.quantity,
                    high_price=max(known.held.high_price, row.high_price),
                    opened_at_ms=known.held.opened_at_ms,
                    ladder_done=row.ladder_done,
                    below_stop_since_ms=known.held.below_stop_since_ms,
                )
                known.closing = closing
        if self.watched and await self._on_db(kill_flatten):
            for w in list(self.watched.values()):
                if not w.busy:
                    self._fire(w, None, KILL_SWITCH, self.last.get(w.symbol, (None, 0))[0])
        self.refreshed.set()

    # --- prices ------------------------------------------------------------------------------

    async def _watch(self, symbol: str) -> None:
        if self.ws_url is None:
            return
        channel = mexc_stream.book_ticker_channel(symbol, "10ms")
        if self._stream is None:
            self._stream = mexc_stream.MexcStream(
                self.ws_url, subscriptions=[channel], **self.stream_options
            )
            self._consumer = asyncio.create_task(self._consume(self._stream))
        else:
            await self._stream.subscribe(channel)

    async def _forget(self, symbol: str) -> None:
        if any(w.symbol == symbol for w in self.watched.values()):
            return
        self.last.pop(symbol, None)
        if self._stream is not None:
            with contextlib.suppress(Exception):
                await self._stream.unsubscribe(mexc_stream.book_ticker_channel(symbol, "10ms"))

    async def _consume(self, stream: mexc_stream.MexcStream) -> None:
        async for event in stream.events():
            if isinstance(event, mexc_stream.BookTicker) and event.bid_price:
                self.on_price(event.symbol, event.bid_price, self.now_ms())
            elif isinstance(event, mexc_stream.Disconnected):
                log.warning("watcher.stream_down", extra={"reason": event.reason})

    async def poll(self) -> None:
        """REST for every watched symbol the stream has not priced for `silent_s`."""
        now = self.now_ms()
        silent = {
            w.symbol
            for w in self.watched.values()
            if now - self.last.get(w.symbol, (None, -(10**15)))[1] > self.config.silent_s * 1000
        }
        for symbol in silent:
            try:
                bid = await self.bid_of(symbol)
            except Exception as exc:
                log.info("watcher.poll_failed", extra={"symbol": symbol, "error": repr(exc)})
                continue
            if bid:
                self.on_price(symbol, bid, self.now_ms())

    async def judge_all(self) -> None:
        """Every position with its last price, now: stop confirms and time exits."""
        now = self.now_ms()
        for symbol, (bid, _) in list(self.last.items()):
            self._judge(symbol, bid, now)

    # --- deciding ----------------------------------------------------------------------------

    def on_price(self, symbol: str, bid: Decimal, at_ms: int) -> None:
        self.last[symbol] = (bid, at_ms)
        self._judge(symbol, bid, at_ms)

    def _judge(self, symbol: str, bid: Decimal, at_ms: int) -> None:
        for w in list(self.watched.values()):
            if w.symbol != symbol or w.busy or w.held.qty <= 0:
                continue
            w.held, exit = step(w.held, w.rules, Tick(bid, at_ms))
            if exit is not None:
                self._fire(w, exit, exit.reason, bid)

    def _fire(self, w: Watched, exit: Exit | None, reason: str, bid: Decimal | None) -> None:
        w.selling = True
        partial = exit is not None and exit.reason == TAKE_PROFIT
        request = SellRequest(
            reason=reason,
            qty=exit.qty if partial else None,
            ladder_done=exit.ladder_done if partial else None,
            high_price=w.held.high_price,
            bid=bid,
            position=Selling(
                id=w.id,
                symbol=w.symbol,
                mode=w.mode,
                quantity=w.held.qty,
                high_price=w.held.high_price,
                rules=w.rules,
                config_version_id=w.config_version_id,
                recv_window_ms=w.recv_window_ms,
            ),
        )
        future = self._sells.submit(self._sell, w.id, request)
        log.info(
            "watcher.exit",
            extra={"position_id": w.id, "symbol": w.symbol, "reason": reason, "bid": str(bid)},
        )  # after the hand-off: the sell does not wait for the log line
        loop = self._loop
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._sold, w.id))

    def _sell(self, position_id: int, request: SellRequest) -> None:
        try:
            self.sell(position_id, request)
        except PositionNotOpen:
            pass  # sold or being sold by another hand
        except Exception:
            log.exception("watcher.sell_failed", extra={"position_id": position_id})
            for connection in connections.all(initialized_only=True):
                connection.close_if_unusable_or_obsolete()  # a dropped server: reconnect

    def _sold(self, position_id: int) -> None:
        """The sell returned: the next refresh reads what it did, then judging resumes."""
        w = self.watched.get(position_id)
        if w is not None:
            w.selling, w.closing = False, True  # until a refresh reads its row again
            w.fresh_from = self._refreshes + 1
            self._wake.set()  # refresh now, not at the next interval
