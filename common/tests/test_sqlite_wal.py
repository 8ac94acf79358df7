"""The monitor's commits never checkpoint SQLite's log; its background pass does."""

from __future__ import annotations

import sqlite3

from common.sqlite_wal import checkpoint, disable_autocheckpoint

PAGES = 1500  # past SQLite's automatic checkpoint at 1,000 pages


def write_pages(conn: sqlite3.Connection, pages: int) -> None:
    for i in range(pages):
        with conn:  # one commit per row, as the monitor commits per listing
            conn.execute("INSERT INTO t (body) VALUES (?)", (f"{i}" * 4000,))


def open_wal(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
    return conn


def test_without_autocheckpoint_commits_leave_the_log_to_the_background_pass(tmp_path):
    conn = open_wal(tmp_path / "monitor.sqlite3")
    disable_autocheckpoint(conn)
    write_pages(conn, PAGES)
    busy, in_log, copied = checkpoint(conn)
    assert busy == 0 and in_log >= PAGES  # no commit copied anything back
    assert copied == in_log  # the pass copied it all


def test_by_default_a_commit_checkpoints_once_the_log_passes_1000_pages(tmp_path):
    conn = open_wal(tmp_path / "default.sqlite3")
    write_pages(conn, PAGES)
    _, in_log, _ = checkpoint(conn)
    assert in_log < 1000  # the commit that crossed 1,000 pages paid for the checkpoint
