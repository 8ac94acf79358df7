"""SQLite (the embedded default): no commit on the order path pays for a WAL checkpoint.

SQLite copies its write-ahead log back into the database on the commit that takes the log
past 1,000 pages: an fsync, milliseconds on this kind of machine, on whichever commit it is,
a listing's included (BENCHMARKS.md). The monitor turns that off for its own connections and
checkpoints from a background thread instead, every 10 s: the log then holds a few hundred
pages at most. (Every second was measured too: the commit after each pass was slower, and
the median of a listing's path rose by ~0.4 ms.)
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection
from django.db.backends.signals import connection_created

log = logging.getLogger(__name__)
CHECKPOINT_INTERVAL_S = 10.0


def disable_autocheckpoint(dbapi_connection) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(dbapi_connection) -> tuple[int, int, int]:
    """Copy what it can of the log into the database without waiting for anyone (PASSIVE).

    Returns SQLite's (busy, frames in the log, frames checkpointed)."""
    return tuple(dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())


def checkpoint_in_background(interval_s: float = CHECKPOINT_INTERVAL_S) -> bool:
    """In this process: commits never checkpoint; a daemon thread does, every `interval_s`.

    False (nothing done) on another database.
    """
    if connection.vendor != "sqlite":
        return False
    connection_created.connect(_on_connection_created, weak=False)
    if connection.connection is not None:  # opened before this call
        disable_autocheckpoint(connection.connection)
    threading.Thread(
        target=_checkpoint_forever, args=(interval_s,), name="sqlite-checkpoint", daemon=True
    ).start()
    return True


def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        disable_autocheckpoint(connection.connection)


def _checkpoint_forever(interval_s: float) -> None:
    while True:
        time.sleep(interval_s)
        try:
            connection.ensure_connection()
            checkpoint(connection.connection)
        except Exception:
            log.exception("sqlite.checkpoint_failed")  # the log grows; the next pass retries
