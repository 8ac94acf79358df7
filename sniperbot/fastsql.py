"""Plain SQL for the few statements between a detection and its order.

The ORM compiles every statement anew: about 0.5 ms each on the reference machine, more than
the database round trip itself, and the listing -> order path needs several before the order
may leave (see BENCHMARKS.md). These helpers build their SQL once per model from its own
metadata and prepare each value with its field's own methods, so a row written here is the
row the ORM would write. Everything off that path keeps using the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, models


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _insert_sql(
    model: type[models.Model], vendor: str, conflict: str
) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    columns = ", ".join(_quoted(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {_quoted(meta.db_table)} ({columns}) VALUES ({marks}){conflict}"
    return f"{sql} RETURNING {_quoted(meta.pk.column)}", fields


def insert(
    instance: models.Model,
    *,
    ignore_conflicts: bool = False,
    upsert_on: Sequence[str] = (),
    upsert_fields: Sequence[str] = (),
    keep: Iterable[str] = (),
) -> bool:
    """INSERT one model instance and set its pk. Returns False when a conflict skipped it.

    `ignore_conflicts`: ON CONFLICT DO NOTHING (any unique constraint).
    `upsert_on` / `upsert_fields`: ON CONFLICT (those fields) DO UPDATE SET those fields.
    `keep`: fields whose value is written as set on the instance, not by their pre_save
    (e.g. an `auto_now` timestamp deliberately set ahead).
    """
    meta = type(instance)._meta
    conflict = ""
    if upsert_on:
        on = ", ".join(_quoted(meta.get_field(f).column) for f in upsert_on)
        sets = ", ".join(
            f"{_quoted(c)} = excluded.{_quoted(c)}"
            for c in (meta.get_field(f).column for f in upsert_fields)
        )
        conflict = f" ON CONFLICT ({on}) DO UPDATE SET {sets}"
    elif ignore_conflicts:
        conflict = " ON CONFLICT DO NOTHING"
    sql, fields = _insert_sql(type(instance), connection.vendor, conflict)
    kept = set(keep)
    params = [
        f.get_db_prep_save(
            getattr(instance, f.attname) if f.name in kept else f.pre_save(instance, True),
            connection,
        )
        for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return True


def first_row(sql: str, params: Sequence[Any] = ()) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def when(value: datetime) -> Any:
    """A datetime as this database compares it (SQLite stores text in its own format)."""
    return connection.ops.adapt_datetimefield_value(value)


def for_update() -> str:
    """A row lock where the database has them (SQLite locks the whole file at BEGIN)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def money(value: Any, places: int = 8) -> Decimal:
    """A SUM as the Decimal the ORM would return (SQLite sums decimals as floats)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value or 0)).quantize(Decimal(1).scaleb(-places))
