"""Index for the listings list at a million listings (issue: scale).

- listing_source_recent (source, detected_at DESC, id DESC): `?source=` newest first without
  walking every listing of the other sources.

SQL with no model state, like trading 0005: CONCURRENTLY on PostgreSQL.
"""

from django.db import migrations

INDEXES = (("listing_source_recent", "listings_listing", "(source, detected_at DESC, id DESC)"),)


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, table, columns in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} {columns}"
        )


def drop(apps, schema_editor):
    for name, *_ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("listings", "0005_entry_cap")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
