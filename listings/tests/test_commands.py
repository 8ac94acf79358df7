import pytest
from django.core.management import CommandError, call_command

from listings.models import Listing, ListingSource
from monitoring.models import AuditEvent, RunState
from monitoring.selectors import botrun_current

pytestmark = pytest.mark.django_db


def test_inject_listing_goes_through_the_same_path(dispatched, capsys):
    call_command("inject_listing", "injusdt", "--listed-at", "2026-11-25T12:00:00Z")
    listing = Listing.objects.get()
    assert listing.source == ListingSource.TEST
    assert listing.listed_at.isoformat() == "2026-11-25T12:00:00+00:00"
    assert "Recorded: INJUSDT" in capsys.readouterr().out
    call_command("inject_listing", "INJUSDT", "--listed-at", "2026-11-25T12:00:00Z")
    assert "Already recorded" in capsys.readouterr().out
    assert Listing.objects.count() == 1


def test_inject_listing_rejects_bad_input_clearly():
    with pytest.raises(CommandError, match="not an ISO 8601 time"):
        call_command("inject_listing", "XUSDT", "--listed-at", "yesterday")
    with pytest.raises(CommandError, match="not a MEXC symbol"):
        call_command("inject_listing", "X-USDT")
    assert not Listing.objects.exists()


def test_monitor_start_stop_status_set_the_desired_state(capsys):
    call_command("monitor", "status")
    assert '"desired_state": "stopped"' in capsys.readouterr().out
    call_command("monitor", "start", "--by", "ops")
    run = botrun_current()
    assert run.desired_state == RunState.RUNNING and run.started_by == "ops"
    call_command("monitor", "start")
    assert botrun_current().pk == run.pk  # idempotent
    call_command("monitor", "stop", "--by", "ops")
    run.refresh_from_db()
    assert run.desired_state == RunState.STOPPED and run.stopped_by == "ops"
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["monitor.start", "monitor.stop"]
