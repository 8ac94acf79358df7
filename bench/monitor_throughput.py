"""Monitor throughput (issue #8, benchmark 2): protobuf pushes through decode + detection.

``python -m bench.monitor_throughput`` (from the repo root; no services needed).

What is measured, per frame, on ONE core (``sched_setaffinity``), with no socket and no DB:
the monitor's own code path from "a binary frame came off the WebSocket" to "this symbol is
new", i.e. the real objects chained as ``run_monitor`` chains them:

    MexcStream.events()          mexc/stream.py: receive stamps, frame counter, codec.decode
      -> MexcFeed.stream()       listings/mexc_feed.py: event -> Sighting
        -> ListingMonitor.consume_stream() / on_sighting()
                                 listings/monitor.py: every symbol checked against `known`

The WebSocket is an in-memory replay whose ``recv()`` hands out pre-built frames (the stream
reads them on its own task into a queue that ``events()`` drains: a batch is timed until the
monitor has handled its last frame, and the replay does not run past a batch before that), and
``ListingMonitor.detect`` (the step that writes the Listing row) is replaced by a stub that
only adds the symbol to ``known`` and counts it. ``known`` is reset between batches so every
batch detects the same number of new symbols. Frames are built with ``mexc.proto.push_pb2``
the way the simulator and MEXC send them:

- deals: ``spot@public.aggre.deals.v3.api.pb@10ms@<SYM>``, one deal (80 %) or 2-4 deals,
  over 29 watched symbols of which 5 are not yet known (each detected on its first frame);
- miniTickers: ``spot@public.miniTickers.v3.api.pb@UTC+8``, 1,500 of a 2,000-symbol
  universe per frame (the pairs whose price changed) plus 2 symbols never seen before;
- mixed: 1 miniTickers frame then 999 deals frames per batch (MEXC sends one miniTickers
  frame per 3 s; 29 deal streams at 10 ms send ~8,700 frames in those 3 s).

Beside each, on the same frames: ``mexc.codec.decode`` alone, and two baselines, the
full-schema ``PushDataV3ApiWrapper.FromString`` (the protobuf parse floor, no events) and
``json.loads`` of the equivalent old JSON pushes (what a JSON feed would cost to parse).
A "message" is one WebSocket frame; "items" are tickers or deals inside frames.
Target: >= 50,000 messages/s on the mixed stream.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import sys
import time
import types
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sniperbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django

django.setup()


from bench._table import machine, print_table, stats, verdict  # noqa: E402
from listings.mexc_feed import MexcFeed  # noqa: E402
from listings.monitor import ListingMonitor  # noqa: E402
from mexc import stream as mexc_stream  # noqa: E402
from mexc.codec import decode  # noqa: E402
from mexc.proto.push_pb2 import PushDataV3ApiWrapper  # noqa: E402

TARGET_MSGS_PER_S = 50_000
UNIVERSE = 2_000
CHANGED_PER_TICK = 1_500
NEW_PER_MINI = 2
WATCHED = 29
NEW_WATCHED = 5
MINI_CHANNEL = "spot@public.miniTickers.v3.api.pb@UTC+8"
SEED = 8


# --- frames ----------------------------------------------------------------------------------


def _symbol(rng: random.Random, taken: set[str]) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while True:
        base = "".join(rng.choice(letters) for _ in range(rng.randint(2, 7)))
        symbol = f"{base}USDT"
        if symbol not in taken:
            taken.add(symbol)
            return symbol


def _num(rng: random.Random, scale: int) -> str:
    return f"{rng.uniform(0.0001, 90_000):.{scale}f}"


class Corpus:
    """A deterministic universe and the frames (binary + equivalent JSON) built from it."""

    def __init__(self) -> None:
        rng = random.Random(SEED)
        taken: set[str] = set()
        self.known = [_symbol(rng, taken) for _ in range(UNIVERSE)]
        self.rng, self.taken = rng, taken
        self.now_ms = 1_760_000_000_000

    def new_symbol(self) -> str:
        return _symbol(self.rng, self.taken)

    def mini_tickers(self, count: int) -> list[tuple[bytes, str, int, int]]:
        """(frame, json, items, new symbols) per miniTickers frame."""
        rng, out = self.rng, []
        for _ in range(count):
            changed = rng.sample(self.known, CHANGED_PER_TICK)
            new = [self.new_symbol() for _ in range(NEW_PER_MINI)]
            symbols = changed + new
            rng.shuffle(symbols)
            wrapper = PushDataV3ApiWrapper(
                channel=MINI_CHANNEL, sendTime=self.now_ms, createTime=self.now_ms
            )
            items, json_items = wrapper.publicMiniTickers.items, []
            for sym in symbols:
                fields = {
                    "symbol": sym,
                    "price": _num(rng, 6),
                    "rate": f"{rng.uniform(-0.3, 0.3):.4f}",
                    "zonedRate": f"{rng.uniform(-0.3, 0.3):.4f}",
                    "high": _num(rng, 6),
                    "low": _num(rng, 6),
                    "volume": _num(rng, 2),
                    "quantity": _num(rng, 4),
                }
                items.add(**fields)
                json_items.append(
                    {
                        "s": sym,
                        "p": fields["price"],
                        "r": fields["rate"],
                        "tr": fields["zonedRate"],
                        "h": fields["high"],
                        "l": fields["low"],
                        "v": fields["volume"],
                        "q": fields["quantity"],
                    }
                )
            text = json.dumps(
                {"c": MINI_CHANNEL.replace(".pb", ""), "d": json_items, "t": self.now_ms},
                separators=(",", ":"),
            )
            out.append((wrapper.SerializeToString(), text, len(symbols), NEW_PER_MINI))
            self.now_ms += 3000
        return out

    def deals(self, count: int) -> list[tuple[bytes, str, int, int]]:
        """(frame, json, deals, new symbols) per aggre.deals frame; the first frame of each
        not-yet-known watched symbol counts as its one detection."""
        rng = self.rng
        watched = rng.sample(self.known, WATCHED - NEW_WATCHED)
        watched += [self.new_symbol() for _ in range(NEW_WATCHED)]
        fresh = set(watched[-NEW_WATCHED:])
        out = []
        for i in range(count):
            sym = watched[i % WATCHED]
            channel = f"spot@public.aggre.deals.v3.api.pb@10ms@{sym}"
            wrapper = PushDataV3ApiWrapper(
                channel=channel, symbol=sym, sendTime=self.now_ms, createTime=self.now_ms
            )
            body = wrapper.publicAggreDeals
            body.eventType = channel.rsplit("@", 1)[0]
            n = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            json_deals = []
            for _ in range(n):
                price, qty, side = _num(rng, 6), _num(rng, 4), rng.choice((1, 2))
                self.now_ms += rng.randint(0, 3)
                body.deals.add(
                    price=price,
                    quantity=qty,
                    tradeType=side,
                    time=self.now_ms,
                    tradeId=str(rng.getrandbits(48)),
                )
                json_deals.append({"S": side, "p": price, "t": self.now_ms, "v": qty})
            text = json.dumps(
                {
                    "c": channel.replace(".pb", "").replace("aggre.", ""),
                    "d": {"deals": json_deals, "e": "spot@public.deals.v3.api"},
                    "s": sym,
                    "t": self.now_ms,
                },
                separators=(",", ":"),
            )
            new = 1 if sym in fresh and i < WATCHED else 0
            out.append((wrapper.SerializeToString(), text, n, new))
            self.now_ms += 10
        return out


# --- the monitor's path over an in-memory socket ----------------------------------------------


class _Transport:
    def abort(self) -> None:
        pass


class ReplaySocket:
    """Stands in for the websockets connection: ``recv()`` returns the frames of ``reps``
    replays of the batch, then waits until the stream is stopped (its reader task is then
    cancelled). Control messages (subscriptions, PING) go nowhere.

    ``MexcStream`` reads frames on its own task into a queue (256 events) that ``events()``
    drains, so its reader runs ahead of the monitor. Here it may not run past the end of a
    batch before the monitor has handled that batch (``batch_done``): each batch is then
    timed whole, reader and monitor, whatever its size against the queue's."""

    def __init__(self, batch: list[bytes], reps: int) -> None:
        self.batch, self.size, self.total = batch, len(batch), len(batch) * reps
        self.stream: mexc_stream.MexcStream | None = None
        self.transport = _Transport()
        self._i = 0
        self._done = 0
        self._gate: asyncio.Future[None] | None = None

    async def recv(self) -> bytes:
        i = self._i
        if i == self.total:
            await asyncio.Event().wait()  # the end: nothing more until stop() cancels the reader
        if i % self.size == 0 and self._done < i:
            self._gate = asyncio.get_running_loop().create_future()
            await self._gate
        self._i = i + 1
        return self.batch[i % self.size]

    def batch_done(self, handled: int) -> None:
        self._done = handled
        if self._gate is not None and not self._gate.done():
            self._gate.set_result(None)

    async def send(self, message: str) -> None:
        pass

    async def close(self) -> None:
        pass


class BenchMonitor(ListingMonitor):
    """The real monitor with the DB-writing steps stubbed out, timing each batch where its
    last frame has been handled (each frame decodes to one event): from the end of the
    previous batch (after ``known`` was reset, outside the timed span) to the end of this one,
    the reader's work on the batch (recv, stamps, decode, queue) and the monitor's."""

    async def detect(self, symbol, source, received_ns, *, listed_at=None, raw=None) -> None:
        self.known.add(symbol)
        self.detections += 1

    async def _report_health(self) -> None:
        pass

    def replay(self, sock: ReplaySocket, baseline: set[str]) -> None:
        self.baseline = baseline
        self.sock = sock
        self.handled = 0
        self.detections = 0
        self.samples_ns: list[int] = []
        self.known = set(baseline)
        self._started = time.perf_counter_ns()

    async def on_sighting(self, sighting) -> None:
        await super().on_sighting(sighting)
        self.handled += 1
        if self.handled % self.sock.size == 0:
            self.samples_ns.append(time.perf_counter_ns() - self._started)
            self.known = set(self.baseline)  # every batch detects the same new symbols
            if self.handled == self.sock.total:
                assert self.sock.stream is not None
                self.sock.stream.stop()
            self._started = time.perf_counter_ns()
            self.sock.batch_done(self.handled)


def run_pipeline(batch: list[bytes], reps: int, known: list[str]) -> tuple[list[int], int]:
    """Per-batch ns of the monitor path over ``reps`` replays of ``batch``; detections.

    The first batch's sample is dropped: it starts before the stream has connected."""
    sock = ReplaySocket(batch, reps + 1)

    class ReplayStream(mexc_stream.MexcStream):
        # mexc.stream has no public seam for the connection (its decode= is injectable, the
        # connect is not): the one override is `_open(link)`, which would connect and send
        # the link's subscriptions. The replay needs neither; everything after it (the
        # reader task, receive stamps, frame counter, decode, the event queue, events())
        # is the real code.
        async def _open(self, link):
            sock.stream = self
            return sock

    # MexcFeed.stream() builds `mexc_stream.MexcStream(...)`: give it the replaying one.
    feed = MexcFeed(rest=None, ws_url="ws://replay", calendar_url="http://replay")
    replay_module = types.SimpleNamespace(**vars(mexc_stream))
    replay_module.MexcStream = ReplayStream
    sys.modules["listings.mexc_feed"].mexc_stream = replay_module
    try:
        monitor = BenchMonitor(feed=feed, holder="bench")
        monitor.replay(sock, set(known))
        monitor.ws_connected = True  # the replay's Connected changes nothing (no health write)
        monitor.active = True
        asyncio.run(monitor.consume_stream())
    finally:
        sys.modules["listings.mexc_feed"].mexc_stream = mexc_stream
    if monitor.handled != sock.total:
        raise RuntimeError(f"the monitor handled {monitor.handled} of {sock.total} frames")
    new_in_first = monitor.detections // (reps + 1)
    return monitor.samples_ns[1:], monitor.detections - new_in_first


def run_sync(fn: Callable[[object], object], batch: list, reps: int) -> list[int]:
    samples = []
    for _ in range(reps):
        started = time.perf_counter_ns()
        for frame in batch:
            fn(frame)
        samples.append(time.perf_counter_ns() - started)
    return samples


def _decode_now(frame: bytes) -> object:
    return decode(frame, time.time_ns(), time.perf_counter_ns())


# --- report ----------------------------------------------------------------------------------


def measure(title: str, rows_in: list[tuple[bytes, str, int, int]], reps: int, known: list[str]):
    frames = [r[0] for r in rows_in]
    texts = [r[1] for r in rows_in]
    items = sum(r[2] for r in rows_in)
    new_per_batch = sum(r[3] for r in rows_in)
    n = len(frames)

    # warm-up (imports, caches, allocator), then the timed runs
    run_pipeline(frames, 2, known)
    run_sync(_decode_now, frames, 2)
    gc.collect()
    pipeline_ns, detections = run_pipeline(frames, reps, known)
    decode_ns = run_sync(_decode_now, frames, reps)
    parse_ns = run_sync(PushDataV3ApiWrapper.FromString, frames, reps)
    json_ns = run_sync(json.loads, texts, reps)

    rows, medians = [], {}
    path_median_us = stats(pipeline_ns)["median"] / 1000 / n
    for label, samples in (
        ("monitor path (stream+feed+detect)", pipeline_ns),
        ("mexc.codec.decode only", decode_ns),
        ("baseline: full-schema FromString", parse_ns),
        ("baseline: json.loads (JSON push)", json_ns),
    ):
        per_frame_us = [s / 1000 / n for s in samples]
        row = stats(per_frame_us)
        row["frames/s"] = 1e6 / row["median"]
        row["items/s"] = 1e6 / row["median"] * items / n
        row["x time"] = row["median"] / path_median_us
        rows.append((label, row))
        medians[label] = row
    print_table(
        f"{title}: {n:,} frames ({items:,} items) per batch, {reps} batches; "
        "time per frame within a batch",
        rows,
        unit="us",
        extra=["frames/s", "items/s", "x time"],
    )
    expected = new_per_batch * reps
    ok = "ok" if detections == expected else "MISMATCH"
    print(f"detections: {detections:,} (expected {expected:,}: {ok})")
    return medians


def main() -> int:
    print("Monitor throughput: protobuf push frames -> decode -> new-symbol detection")
    logging.getLogger("mexc.stream").setLevel(logging.WARNING)  # one ws.connect per replay
    print(machine())
    try:
        os.sched_setaffinity(0, {0})
        print("pinned to CPU 0")
    except (AttributeError, OSError) as exc:
        print(f"not pinned ({exc})")
    import google.protobuf.internal.api_implementation as impl

    print(f"protobuf backend: {impl.Type()}; 'x time' = median time / monitor path median")
    print(
        "per-batch figures: median = typical; p95/p99/max also catch the scheduler preempting "
        "the pinned core (other processes share this machine)"
    )

    corpus = Corpus()
    known = corpus.known
    deals = corpus.deals(1000)
    minis = corpus.mini_tickers(10)
    mixed = minis[:1] + corpus.deals(999)

    measure("deals frames", deals, 200, known)
    measure("miniTickers frames", minis, 100, known)
    result = measure("mixed stream (1 miniTickers : 999 deals)", mixed, 200, known)

    ours = result["monitor path (stream+feed+detect)"]
    parse = result["baseline: full-schema FromString"]
    js = result["baseline: json.loads (JSON push)"]
    print(
        f"\nmixed stream: monitor path {ours['frames/s']:,.0f} frames/s "
        f"({ours['items/s']:,.0f} items/s), p99 batch {ours['p99']:.2f} us/frame; "
        f"{ours['median'] / parse['median']:.1f}x the time of the protobuf parse floor, "
        f"{ours['median'] / js['median']:.1f}x the time of json.loads alone (no detection)"
    )
    verdict(
        ours["frames/s"] >= TARGET_MSGS_PER_S,
        f"monitor throughput {ours['frames/s']:,.0f} messages/s (mixed stream, median batch, "
        f"one core) vs target >= {TARGET_MSGS_PER_S:,} messages/s",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
