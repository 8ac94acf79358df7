"""Place a manual trade through the same risk checks as a snipe."""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from trading.services import trade_manual


class Command(BaseCommand):
    help = "Buy SYMBOL for a quote amount (dry-run unless --live and the config allows live)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("symbol")
        parser.add_argument("--quote", required=True, help="quote amount, e.g. 10 (USDT)")
        parser.add_argument("--live", action="store_true", help="ask for a live order")
        parser.add_argument("--by", default="cli", help="who asks (recorded in the audit trail)")

    def handle(self, *args, symbol: str, quote: str, live: bool, by: str, **options) -> None:
        try:
            amount = Decimal(quote)
        except InvalidOperation:
            raise CommandError(f"--quote {quote!r} is not a number.") from None
        try:
            trade = trade_manual(symbol=symbol, quote_qty=amount, live=live, actor_label=by)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        line = f"Trade #{trade.pk} {trade.symbol} {trade.quote_qty} [{trade.mode}] {trade.status}"
        if trade.reason_code:
            line += f" reason={trade.reason_code}: {trade.error_message}"
        if trade.decision_to_ack_ms is not None:
            line += f" decision->ack {trade.decision_to_ack_ms:.2f} ms"
        self.stdout.write(line)
