"""Send a test notification to every configured channel and wait for the outcome."""

from django.core.management.base import BaseCommand, CommandError

from alerts.channels import channels_configured
from alerts.delivery import Dispatcher
from alerts.selectors import channel_statuses
from alerts.services import notify_test


class Command(BaseCommand):
    help = "Send a test notification to every channel of NOTIFY_URLS (labels only are shown)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--wait", type=float, default=30.0, help="Seconds to wait (embedded).")

    def handle(self, *args, wait: float, **options) -> None:
        if not channels_configured():
            raise CommandError("No channels: set NOTIFY_URLS or NOTIFY_URLS_FILE.")
        notify_test(by="manage.py notify_test")
        if not Dispatcher.instance().wait_idle(timeout=wait):
            self.stdout.write("still delivering (retries); see /ready or the admin")
        failed = False
        for status in channel_statuses():
            failed |= status["failing"]
            line = f"{status['label']}: {status['last_status'] or 'queued'}"
            if status["last_error"]:
                line += f" ({status['last_error']})"
            self.stdout.write(line)
        if failed:
            raise CommandError("At least one channel failed.")
