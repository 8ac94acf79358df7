"""Control the listing monitor: start, stop, status. The running loop follows within ~1 s."""

import json

from django.core.management.base import BaseCommand

from monitoring.selectors import monitor_status
from monitoring.services import monitor_request_start, monitor_request_stop


class Command(BaseCommand):
    help = "Start or stop monitoring (the run_monitor process follows), or show its status."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=("start", "stop", "status"))
        parser.add_argument("--by", default="cli", help="who asks (recorded in the audit trail)")

    def handle(self, *args, action: str, by: str, **options) -> None:
        if action == "start":
            run = monitor_request_start(actor=None, actor_label=by)
            self.stdout.write(f"Start requested (run #{run.pk}).")
        elif action == "stop":
            run = monitor_request_stop(actor=None, actor_label=by)
            self.stdout.write("Stop requested." if run else "Nothing to stop: never started.")
        status = monitor_status()
        self.stdout.write(json.dumps(status, default=str, indent=2))
