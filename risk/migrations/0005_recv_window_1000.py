"""The seeded recvWindow moves from 500 to 1000 ms (500 lost races under load; MEXC allows up
to 60000, the client caps it at 1000). Fresh installs are seeded with 1000 (0002); an install
still at the old seed gets a new config version saying why. A value an operator chose is kept."""

from django.db import migrations
from django.utils import timezone

REASON = "recvWindow default 500 -> 1000 ms (migration risk 0005)"


def seeded_500_to_1000(apps, schema_editor):
    TradeConfig = apps.get_model("risk", "TradeConfig")
    History = apps.get_model("risk", "HistoricalTradeConfig")
    for config in TradeConfig.objects.filter(recv_window_ms=500):
        config.recv_window_ms = 1000
        config.save(update_fields=["recv_window_ms"])
        kept = {f.attname for f in History._meta.concrete_fields}
        values = {
            f.attname: getattr(config, f.attname)
            for f in TradeConfig._meta.concrete_fields
            if f.attname in kept
        }
        History.objects.create(
            **values,
            history_date=timezone.now(),
            history_type="~",
            history_change_reason=REASON,
        )


class Migration(migrations.Migration):
    dependencies = [("risk", "0004_config_bounds")]

    operations = [migrations.RunPython(seeded_500_to_1000, migrations.RunPython.noop)]
