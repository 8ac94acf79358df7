"""The seeded recvWindow moves from 500 to 1000 ms (500 lost races under load; MEXC allows up
to 60000, the client caps it at 1000). A value an operator chose is left alone."""

from django.db import migrations


def seeded_500_to_1000(apps, schema_editor):
    TradeConfig = apps.get_model("risk", "TradeConfig")
    TradeConfig.objects.filter(recv_window_ms=500).update(recv_window_ms=1000)


class Migration(migrations.Migration):
    dependencies = [("risk", "0004_config_bounds")]

    operations = [migrations.RunPython(seeded_500_to_1000, migrations.RunPython.noop)]
