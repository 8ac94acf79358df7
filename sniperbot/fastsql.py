"""Plain SQL for the few statements between a detection and its order.

The ORM compiles every statement anew: about 0.5 ms each on the reference machine, more than
the database round trip itself, and the listing -> order path needs several before the order
may leave (see BENCHMARKS.md). These helpers build their SQL once per model from its own
metadata and prepare each value with its field's own methods, so a row written here is the
row the ORM would write. Everything off that path keeps using the ORM.

On PostgreSQL every statement here is a server-side prepared statement: the server parses
and plans it once per connection, not on every listing (parsing and planning were most of
the server's time per statement, see BENCHMARKS.md). Statements that do not depend on each
other's results go together (`first_rows`): on PostgreSQL in one round trip (libpq's
pipeline mode, `sniperbot.pgpipe`), elsewhere one after the other. The last statements of a
transaction can ride with its COMMIT (`commit`); a row written that way draws its id
beforehand (`next_id_statement`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.pq import TransactionStatus

from . import pgpipe

Statement = tuple[str, Sequence[Any]]


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _insert_sql(
    model: type[models.Model],
    vendor: str,
    conflict: str,
    condition: str,
    with_pk: bool,
    returning: tuple[str, ...],
) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if with_pk or not f.primary_key)
    columns = ", ".join(_quoted(f.column) for f in fields)
    if condition:
        # A SELECT list gives its parameters no column to take their type from: say it.
        marks = ", ".join(_typed_mark(f, vendor) for f in fields)
        rows = f"SELECT {marks} WHERE {condition}"
    else:
        rows = f"VALUES ({', '.join(['%s'] * len(fields))})"
    sql = f"INSERT INTO {_quoted(meta.db_table)} ({columns}) {rows}{conflict}"
    return f"{sql} RETURNING {', '.join((_quoted(meta.pk.column), *returning))}", fields


def _typed_mark(field: models.Field, vendor: str) -> str:
    return f"%s::{field.cast_db_type(connection)}" if vendor == "postgresql" else "%s"


def insert(instance: models.Model, **how: Any) -> bool:
    """INSERT one model instance and set its pk. Returns False when nothing was inserted.

    Takes `insert_statement`'s options.
    """
    return inserted(instance, first_row(*insert_statement(instance, **how)))


def insert_statement(
    instance: models.Model,
    *,
    ignore_conflicts: bool = False,
    upsert_on: Sequence[str] = (),
    upsert_fields: Sequence[str] = (),
    keep: Iterable[str] = (),
    unless: Statement | None = None,
    when: Statement | None = None,
    with_pk: bool = False,
    returning: tuple[str, ...] = (),
) -> Statement:
    """The INSERT of one model instance (RETURNING its pk), for `first_rows` + `inserted`.

    `ignore_conflicts`: ON CONFLICT DO NOTHING (any unique constraint).
    `upsert_on` / `upsert_fields`: ON CONFLICT (those fields) DO UPDATE SET those fields.
    `keep`: fields whose value is written as set on the instance, not by their pre_save
    (e.g. an `auto_now` timestamp deliberately set ahead).
    `unless`: a SELECT; when it finds a row, nothing is inserted.
    `when`: a condition; unless it holds, nothing is inserted.
    `with_pk`: the instance's pk is written too (drawn by `next_id_statement`).
    `returning`: more expressions for its row (after the pk), e.g. `next_ids`.
    """
    connection = _connection()
    conflict = ""
    if upsert_on:
        conflict = _upsert_clause(type(instance), tuple(upsert_on), tuple(upsert_fields))
    elif ignore_conflicts:
        conflict = " ON CONFLICT DO NOTHING"
    condition, condition_params = "", ()
    if unless is not None:
        condition, condition_params = f"NOT EXISTS ({unless[0]})", unless[1]
    elif when is not None:
        condition, condition_params = f"({when[0]})", when[1]
    sql, fields = _insert_sql(
        type(instance), connection.vendor, conflict, condition, with_pk, returning
    )
    kept = set(keep)
    params = [
        f.get_db_prep_save(
            getattr(instance, f.attname) if f.name in kept else f.pre_save(instance, True),
            connection,
        )
        for f in fields
    ]
    return sql, [*params, *condition_params]


def inserted(instance: models.Model, row: tuple | None) -> bool:
    """Set the pk an `insert_statement` returned; False when it inserted nothing."""
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    return True


def _connection() -> BaseDatabaseWrapper:
    """This thread's connection. Django's `connection` proxy looks it up again on every
    attribute (~2 µs), and preparing a row's values reads it dozens of times."""
    return connections[DEFAULT_DB_ALIAS]


@cache
def _upsert_clause(model: type[models.Model], on: tuple[str, ...], fields: tuple[str, ...]) -> str:
    meta = model._meta
    columns = ", ".join(_quoted(meta.get_field(f).column) for f in on)
    sets = ", ".join(
        f"{_quoted(c)} = excluded.{_quoted(c)}" for c in (meta.get_field(f).column for f in fields)
    )
    return f" ON CONFLICT ({columns}) DO UPDATE SET {sets}"


def first_row(sql: str, params: Sequence[Any] = ()) -> tuple | None:
    return first_rows((sql, params))[0]


def next_id_statement(model: type[models.Model]) -> Statement | None:
    """The statement drawing the next id of `model`'s table, where the database has sequences
    (PostgreSQL): a row written with the COMMIT (`commit`) then has its id from the start.
    None elsewhere: insert such rows as usual, which sets their id at once."""
    if connection.vendor != "postgresql":
        return None
    meta = model._meta
    return "SELECT nextval(pg_get_serial_sequence(%s, %s))", (meta.db_table, meta.pk.column)


def next_ids(*models_: type[models.Model]) -> tuple[str, ...]:
    """Expressions drawing the next id of each model's table, e.g. for an insert's
    `returning`: rows written later then have their ids from the start. Empty where the
    database has no sequences (not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return ()
    return tuple(
        f"nextval(pg_get_serial_sequence('{m._meta.db_table}', '{m._meta.pk.column}'))"
        for m in models_
    )


def writes(main: Statement, *also: Statement) -> tuple[Statement, ...]:
    """Several writes, `main`'s row first: on PostgreSQL in one statement (`also` in its WITH
    clause; their rows are not returned), elsewhere one statement each."""
    if connection.vendor != "postgresql" or not also:
        return (main, *also)
    parts = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(also))
    params = [p for _, ps in also for p in ps]
    return ((f"WITH {parts} {main[0]}", [*params, *main[1]]),)


def insert_with_id(instance: models.Model, pk: int, **how: Any) -> Statement:
    """Give `instance` the id `next_id_statement` drew, and return its INSERT for `commit`.

    Takes `insert_statement`'s options."""
    instance.pk = pk
    statement = insert_statement(instance, with_pk=True, **how)
    inserted(instance, (pk,))
    return statement


class NotCommitted(Exception):
    """`commit`'s statements failed before the COMMIT: none of the transaction is committed
    (the caller's atomic block rolls it back). Raised from the database's own error."""


def commit(*statements: Statement) -> list[tuple | None]:
    """The caller's transaction's last statements, and its COMMIT, in one round trip; each
    statement's first row (`committing`, all statements known at once)."""
    if not statements:
        return []
    with committing() as trip:
        trip.send(*statements)
    return trip.rows


@contextmanager
def committing() -> Iterator[RoundTrip]:
    """The caller's transaction's last round trip (`round_trip`), its COMMIT sent on leaving.

    On PostgreSQL the COMMIT goes in the same pipeline as the statements, so Django's commit
    at the end of the atomic block finds the transaction already ended (nothing is sent) and
    runs its on_commit hooks as usual. Use it as the block's last statements: anything after
    it would run in a transaction of its own. Elsewhere, or inside an enclosing atomic block
    (whose own commit is the one that counts), the statements run and Django commits.
    A failure before the COMMIT raises `NotCommitted`.
    """
    connection = _connection()
    ends_here = (
        connection.vendor == "postgresql"
        and len(connection.atomic_blocks) == 1
        and not connection.needs_rollback
    )
    try:
        with round_trip() as trip:
            yield trip
            if ends_here and trip.sent:
                trip.end()
    except DatabaseError as exc:
        if connection.vendor == "postgresql" and _server_transaction() not in _OPEN:
            raise  # the connection broke: whether the COMMIT ran is unknown
        raise NotCommitted(repr(exc)) from exc


def committed() -> bool:
    """Did `commit` end the transaction on the server? (Django's own commit is then a formality
    that runs the on_commit hooks.)"""
    return connection.vendor == "postgresql" and _server_transaction() == TransactionStatus.IDLE


COMMIT: Statement = ("COMMIT", ())  # never prepared: a transaction's own statement
_OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


def _server_transaction() -> TransactionStatus:
    return connection.connection.info.transaction_status


def first_rows(*statements: Statement) -> list[tuple | None]:
    """Each statement's first row, the statements run in order in the caller's transaction.

    On PostgreSQL: prepared, and all sent in one round trip (`round_trip`). A failing
    statement raises here (as Django's own errors), and the ones after it did not run.
    """
    with round_trip() as trip:
        trip.send(*statements)
    return trip.rows


class RoundTrip:
    """Statements sent as they become known (`send`), their first rows (`rows`) read once
    the round trip is over. On PostgreSQL the server runs each one as it arrives, while the
    caller works out the next; elsewhere each runs when sent."""

    def __init__(self, pipeline: pgpipe.Pipeline | None) -> None:
        self._pipeline = pipeline
        self._rows: list[tuple | None] = []
        self._sent = 0

    def send(self, *statements: Statement) -> None:
        for sql, params in statements:
            self._sent += 1
            if self._pipeline is None:
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    self._rows.append(cursor.fetchone())
            else:
                self._pipeline.send(_native(sql), params, prepare=sql != "COMMIT")
        if self._pipeline is not None:
            self._pipeline.flush()

    def end(self) -> None:
        """The transaction's COMMIT, last: it has no row."""
        self.send(COMMIT)
        self._sent -= 1

    @property
    def sent(self) -> int:
        """Statements sent so far (the COMMIT aside)."""
        return self._sent

    @property
    def rows(self) -> list[tuple | None]:
        """Each statement's first row, in the order sent (after the round trip)."""
        return self._rows

    def _close(self) -> None:
        if self._pipeline is not None:
            rows = self._pipeline.close()
            self._rows = rows[: self._sent]  # the COMMIT's, if sent, is last

    def _abandon(self) -> None:
        """The caller failed: what was sent runs (and its transaction rolls back as the error
        leaves the atomic block), its results read and dropped."""
        if self._pipeline is not None:
            with suppress(psycopg.Error):
                self._pipeline.close()


def _usable(connection: BaseDatabaseWrapper) -> psycopg.Connection:
    """The psycopg connection under Django's, connected and not in a failed transaction."""
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    return connection.connection


@lru_cache(maxsize=512)  # bounded: a caller may put values into its SQL text
def _native(sql: str) -> str:
    """`sql` with PostgreSQL's own placeholders ($1, $2...), as the server binds them.

    Converted once per statement (psycopg's cursor re-parses a statement for its placeholders
    on every call once it is over 4 KB or 50 parameters, as the trade's guarded insert is:
    ~0.2 ms of regular expressions per listing).
    """
    count = 0

    def placeholder(match: re.Match) -> str:
        nonlocal count
        if match[1] == "%":
            return "%"
        if match[1] != "s":
            raise ValueError(f"only %s and %% may follow a % in {sql[:80]!r}")
        count += 1
        return f"${count}"

    return re.sub(r"%(.?)", placeholder, sql, flags=re.DOTALL)


@contextmanager
def round_trip() -> Iterator[RoundTrip]:
    """Statements run in order in the caller's transaction, in one round trip: on PostgreSQL,
    prepared and pipelined (`pgpipe`: results read on leaving; a failing statement raises
    then, as Django's own errors, and the ones after it did not run)."""
    connection = _connection()
    if connection.vendor != "postgresql":
        yield RoundTrip(None)
        return
    pg = _usable(connection)
    with connection.wrap_database_errors:
        trip = RoundTrip(pgpipe.Pipeline(pg))
        try:
            yield trip
        except BaseException:
            trip._abandon()
            raise
        trip._close()


def all_of(*conditions: Statement) -> Statement:
    """Conditions (for `insert_statement`'s `when`) that must all hold."""
    return " AND ".join(sql for sql, _ in conditions), [p for _, ps in conditions for p in ps]


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
