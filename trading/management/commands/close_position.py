"""Close a position now: sell everything it holds (exit reason `manual`)."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from trading import positions
from trading.models import Position


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


class Command(BaseCommand):
    help = "Sell everything position ID holds now (recorded as closed by cli:<os user>)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("position_id", type=int)

    def handle(self, *args, position_id: int, **options) -> None:
        if not Position.objects.filter(pk=position_id).exists():
            raise CommandError(f"No position {position_id}.")
        try:
            position = positions.position_close(position_id, by=f"cli:{os_user()}")
        except positions.PositionNotOpen as exc:
            raise CommandError(f"Position {position_id} is not open: {exc}") from None
        line = f"Position #{position.pk} {position.symbol} [{position.mode}] {position.status}"
        if position.exit_reason:
            line += f" ({position.exit_reason})"
        line += f" realized {position.realized_pnl}"
        self.stdout.write(line)
