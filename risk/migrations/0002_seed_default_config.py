"""Seed the one active TradeConfig: max trade 100, max position 1000, auto-trade off, dry-run.

History signals do not fire inside migrations, so the first version row is written here too:
every trade must be able to point at a version from the very first one.
"""

from decimal import Decimal

from django.db import migrations
from django.utils import timezone

DEFAULTS = {
    "snipe_quote_usdt": Decimal("20"),
    "max_trade_usdt": Decimal("100"),
    "max_position_usdt": Decimal("1000"),
    "auto_trade": False,
    "mode": "dry_run",
    "high_value_threshold_usdt": Decimal("50"),
    "max_trades_per_hour": 10,
    "recv_window_ms": 1000,
    "quote_asset": "USDT",
    "symbol_allowlist": [],
    "symbol_denylist": ["*3LUSDT", "*3SUSDT", "*5LUSDT", "*5SUSDT", "*STOCK*"],
    "kill_switch": False,
}


def seed(apps, schema_editor):
    TradeConfig = apps.get_model("risk", "TradeConfig")
    HistoricalTradeConfig = apps.get_model("risk", "HistoricalTradeConfig")
    config, created = TradeConfig.objects.get_or_create(name="default", defaults=DEFAULTS)
    if created:
        HistoricalTradeConfig.objects.create(
            id=config.id,
            name=config.name,
            **DEFAULTS,
            history_date=timezone.now(),
            history_type="+",
            history_change_reason="Initial safe defaults (migration)",
        )


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
