"""Run the listing monitor (WebSocket first, REST fallback, calendar arming) and the exit
watcher of open positions (trading.watcher) until SIGTERM."""

import asyncio
import gc
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.sqlite_wal import checkpoint_in_background
from listings.mexc_feed import MexcFeed
from listings.monitor import ListingMonitor, MonitorConfig
from listings.ports import trading
from risk.live import LiveWithoutKeys, ensure_live_has_keys


def tune_for_latency() -> None:
    """This process sends orders: keep the interpreter's own pauses off that path.

    - Everything loaded so far (Django, the apps) is moved out of the collector's sight, so a
      full collection no longer walks it for milliseconds.
    - A thread waiting on a socket (database, exchange) gets the interpreter back within
      0.5 ms instead of the default 5 ms, longer than the whole detection-to-order budget.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.0005)


class Command(BaseCommand):
    help = "Watch MEXC for new listings and hand them to trading. Stops cleanly on SIGTERM/SIGINT."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--rest-interval-ms", type=int, default=settings.MONITOR_REST_INTERVAL_MS
        )
        parser.add_argument(
            "--calendar-interval-s", type=int, default=settings.MONITOR_CALENDAR_INTERVAL_S
        )
        parser.add_argument("--arm-lead-s", type=int, default=settings.MONITOR_ARM_LEAD_S)

    def handle(
        self, *args, rest_interval_ms: int, calendar_interval_s: int, arm_lead_s: int, **options
    ) -> None:
        try:
            ensure_live_has_keys("monitor")
        except LiveWithoutKeys as exc:
            raise CommandError(str(exc)) from None
        if settings.SNIPE_INLINE:
            trading().serve_in_this_process()
            tune_for_latency()
        checkpoint_in_background()  # SQLite: a listing's commit never copies the log back
        config = MonitorConfig(
            rest_interval=rest_interval_ms / 1000,
            calendar_interval=calendar_interval_s,
            arm_lead=arm_lead_s,
        )
        self.stdout.write(
            f"Monitoring {settings.MEXC_WS_URL} (REST {settings.MEXC_REST_URL}); "
            "start/stop with `manage.py monitor start|stop`."
        )
        asyncio.run(self._run(config))

    @staticmethod
    async def _run(config: MonitorConfig) -> None:
        feed = MexcFeed.from_settings()
        monitor = ListingMonitor(feed=feed, config=config)
        # Exits are watched even while detection is stopped (and with the kill switch on).
        exits = trading().watch_positions(feed.rest, monitor.shutdown)
        await asyncio.gather(monitor.run_forever(), exits)
