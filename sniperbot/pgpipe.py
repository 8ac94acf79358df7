"""Statements pipelined to PostgreSQL through libpq itself, under psycopg's connection.

psycopg's own pipeline runs a Python generator, its prepared-statement bookkeeping and a
flush per statement: a transaction shaped like the order path's (BEGIN, three prepared
statements, the COMMIT) takes ~0.3 ms longer that way after 100 ms idle on the reference
machine, values adapted by psycopg's own `Transformer` either way (`bench/pg_round_trip.py`).
The listing -> order path sends every statement through here (`sniperbot.fastsql`).

Values are adapted, and rows loaded, exactly as psycopg's cursors do. Each statement is
prepared once per connection under a name of ours (psycopg's cache does not know it; the
two never share a name). Errors are psycopg's own exception classes, as a cursor raises them.
"""

from __future__ import annotations

import itertools
import select
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import IsolationLevel, errors, pq
from psycopg.adapt import PyFormat, Transformer

_S = pq.ExecStatus


class _Kept:
    """What a connection keeps between pipelines: its statements' names, and a Transformer
    whose adapters are already looked up (a new one looks up each value type's again)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.prepared: dict[tuple, bytes] = {}
        self.tx = Transformer(conn)
        self.names = itertools.count()  # never a name twice on a connection


_KEPT: weakref.WeakKeyDictionary[psycopg.Connection, _Kept] = weakref.WeakKeyDictionary()

# What a statement's results are for, read in order after the sync.
_PARSE, _ROW, _NOTHING = "parse", "row", "nothing"


class Pipeline:
    """Statements sent as they become known (`send`, `flush`); `close` syncs, reads each
    statement's first row (None when it returns none) and raises the first error.

    In a transaction (the connection not in autocommit) that has not begun on the server,
    BEGIN goes first, as psycopg would send it before a cursor's first statement.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._pgconn = conn.pgconn
        kept = _KEPT.get(conn)
        if kept is None:
            kept = _KEPT[conn] = _Kept(conn)
        self._tx, self._prepared, self._names = kept.tx, kept.prepared, kept.names
        self._parsed: dict[tuple, bytes] = {}  # prepared in this pipeline, not yet confirmed
        self._expect: list[Any] = []  # per result: _ROW, _NOTHING, or (_PARSE, key, name)
        self._pgconn.enter_pipeline_mode()
        if not conn.autocommit and self._pgconn.transaction_status == pq.TransactionStatus.IDLE:
            self._query(_begin(conn))

    def send(self, sql: str, params: Sequence[Any], *, prepare: bool = True) -> None:
        """Queue `sql` ($1, $2... placeholders) with `params`; its first row is read at `close`."""
        query = sql.encode()
        if not prepare:
            self._query(query, params, expect=_ROW)
            return
        values, types, formats = self._dump(params)
        key = (query, types)
        name = self._prepared.get(key) or self._parsed.get(key)
        if name is None:
            name = f"_sniperbot_{next(self._names)}".encode()
            self._pgconn.send_prepare(name, query, param_types=types or None)
            self._parsed[key] = name
            self._expect.append((_PARSE, key, name))
        self._pgconn.send_query_prepared(name, values, param_formats=formats)
        self._expect.append(_ROW)

    def _query(self, query: bytes, params: Sequence[Any] = (), *, expect: str = _NOTHING) -> None:
        values, types, formats = self._dump(params)
        self._pgconn.send_query_params(query, values, param_types=types, param_formats=formats)
        self._expect.append(expect)

    def _dump(self, params: Sequence[Any]) -> tuple[list | None, tuple[int, ...], list | None]:
        """The values as psycopg's cursors send them: (values, their types, their formats)."""
        if not params:
            return None, (), None
        values = self._tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
        return values, tuple(self._tx.types), list(self._tx.formats)

    def flush(self) -> None:
        """Hand what is queued to the server now (it runs it while the caller works on)."""
        while self._pgconn.flush():
            _wait(self._pgconn.socket, select.POLLOUT)

    def close(self) -> list[tuple | None]:
        """Sync and read every result: each statement's first row, in the order sent."""
        pgconn = self._pgconn
        try:
            pgconn.pipeline_sync()
            self.flush()
            rows, error = [], None
            for expected in self._expect:
                result = self._next_result()
                if result.status == _S.FATAL_ERROR and error is None:
                    error = errors.error_from_result(result, encoding=self._conn.info.encoding)
                if isinstance(expected, tuple):
                    if result.status == _S.COMMAND_OK:
                        self._prepared[expected[1]] = expected[2]
                elif expected is _ROW:
                    rows.append(self._first_row(result))
            sync = self._next_result(end_of_query=False)
            if sync.status != _S.PIPELINE_SYNC:  # pragma: no cover - a protocol error
                raise errors.InternalError(f"expected the pipeline's sync, got {sync.status}")
        finally:
            self._parsed.clear()
            self._leave()
        if error is not None:
            if isinstance(error, errors.InvalidSqlStatementName):
                self._prepared.clear()  # deallocated behind our back (DEALLOCATE, DISCARD ALL)
            raise error
        return rows

    def _leave(self) -> None:
        """Out of pipeline mode; a connection left mid-pipeline (it broke, or the read was
        interrupted) is closed, so its next user reconnects instead of reading our results."""
        if not self._pgconn.pipeline_status:
            return
        try:
            self._pgconn.exit_pipeline_mode()
        except psycopg.Error:
            self._conn.close()

    def _next_result(self, *, end_of_query: bool = True) -> pq.abc.PGresult:
        result = self._result()
        if result is None:  # pragma: no cover - a protocol error
            raise errors.InternalError("a pipelined statement has no result")
        if end_of_query:
            self._result()  # None: this statement's results are over
        return result

    def _result(self) -> pq.abc.PGresult | None:
        pgconn = self._pgconn
        while pgconn.is_busy():
            _wait(pgconn.socket, select.POLLIN)
            pgconn.consume_input()
        return pgconn.get_result()

    def _first_row(self, result: pq.abc.PGresult) -> tuple | None:
        if result.status != _S.TUPLES_OK or not result.ntuples:
            return None
        self._tx.set_pgresult(result)
        return self._tx.load_row(0, tuple)


def _begin(conn: psycopg.Connection) -> bytes:
    """The BEGIN psycopg sends for this connection's settings."""
    parts = [b"BEGIN"]
    if conn.isolation_level is not None:
        level = IsolationLevel(conn.isolation_level).name.replace("_", " ")
        parts += [b"ISOLATION LEVEL", level.encode()]
    if conn.read_only is not None:
        parts.append(b"READ ONLY" if conn.read_only else b"READ WRITE")
    if conn.deferrable is not None:
        parts.append(b"DEFERRABLE" if conn.deferrable else b"NOT DEFERRABLE")
    return b" ".join(parts)


def _wait(fd: int, event: int) -> None:
    poller = select.poll()
    poller.register(fd, event)
    poller.poll()
