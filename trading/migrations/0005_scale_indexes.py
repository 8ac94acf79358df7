"""Indexes for the history at millions of trades (issue: scale).

- trade_recent (created_at DESC, id DESC): the history's order, its keyset export and the
  latency window's newest-first sample read it without a sort.
- trade_exchange_order (exchange_order_id, non-blank only): the admin's exact search.

Written as SQL with no model state on purpose: PostgreSQL builds them CONCURRENTLY (no write
lock on a big live table), which AddIndex cannot do on both databases. Django's model state
does not know them, so `makemigrations` stays clean; moving them into Trade.Meta.indexes
later needs SeparateDatabaseAndState with these names.
"""

from django.db import migrations

INDEXES = (
    ("trade_recent", "trading_trade", "(created_at DESC, id DESC)", ""),
    ("trade_exchange_order", "trading_trade", "(exchange_order_id)", "exchange_order_id <> ''"),
)


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, table, columns, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} {columns}"
            + (f" WHERE {where}" if where else "")
        )


def drop(apps, schema_editor):
    for name, *_ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("trading", "0004_entry_cap")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
