"""`manage.py trade`: a manual trade from the shell, through the same risk checks."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import AuditEvent

pytestmark = pytest.mark.django_db


def trade(*args: str) -> str:
    out = StringIO()
    call_command("trade", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_trade_reports_its_fill_and_latency(exchange):
    exchange.list_symbol(symbol="CLIUSDT", open_in_ms=0, price="0.5")
    line = trade("cliusdt", "--quote", "10", "--by", "ops-oncall")
    assert "CLIUSDT 10.00000000 [dry_run] filled" in line
    assert "decision->ack" in line
    assert exchange.orders() == []
    assert AuditEvent.objects.get(action="trade.manual").actor_label == "ops-oncall"


def test_live_without_keys_is_refused_with_its_reason(exchange, live, settings):
    settings.MEXC_API_KEY = ""
    line = trade("CLIUSDT", "--quote", "5", "--live")
    assert "[live] rejected reason=live_without_keys" in line
    assert exchange.orders() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [(("ABCUSDT", "--quote", "ten"), "not a number"), (("AB-C", "--quote", "1"), "not a MEXC")],
)
def test_bad_input_is_a_clear_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        trade(*args)
