"""The SQLite backend's writer queue (jingwu.core.db_sqlite3): a write transaction holds an
exclusive file lock on the database from its start to its commit, rollback or the connection's
close; a second writer waits for it; a writer that cannot get it within the busy timeout goes
on to SQLite's own lock instead of hanging.

These run against a database file of their own, through a connection handler of their own,
whatever database the suite runs on."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from jingwu.core.db_sqlite3 import base as writer_queue


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Iterator[tuple[ConnectionHandler, Path]]:
    # pytest-django guards every connection; this database is not the suite's
    django_db_blocker.unblock()
    path = tmp_path / "queue.sqlite3"
    handler = ConnectionHandler({"default": {
        "ENGINE": "jingwu.core.db_sqlite3", "NAME": str(path),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;",
                    "transaction_mode": "IMMEDIATE"}}})
    connection = handler["default"]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, note TEXT)")
    yield handler, path
    handler.close_all()
    django_db_blocker.restore()


def _lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops a lock this probe took
    return True


def _begin(connection: Any) -> None:
    """What transaction.atomic does on SQLite to open the outermost block."""
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()


def test_a_write_transaction_holds_the_lock_until_it_commits(database: tuple[ConnectionHandler, Path]) -> None:
    handler, path = database
    connection = handler["default"]
    assert _lock_is_free(path)
    _begin(connection)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO calls (note) VALUES ('first')")
    assert not _lock_is_free(path)
    connection.commit()
    assert _lock_is_free(path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM calls")
        assert cursor.fetchall() == [("first",)]


def test_rollback_and_close_release_the_lock(database: tuple[ConnectionHandler, Path]) -> None:
    handler, path = database
    connection = handler["default"]
    _begin(connection)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO calls (note) VALUES ('undone')")
    connection.rollback()
    assert _lock_is_free(path)
    _begin(connection)
    assert not _lock_is_free(path)
    connection.close()
    assert _lock_is_free(path)
    with handler["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls")
        assert cursor.fetchone() == (0,)


def test_a_second_writer_starts_only_after_the_first_commits(database: tuple[ConnectionHandler, Path]) -> None:
    handler, _path = database
    first = handler["default"]
    events: list[str] = []
    started = threading.Event()

    def second_writer() -> None:
        own: Any = ConnectionHandler({"default": dict(first.settings_dict)})["default"]
        started.set()
        _begin(own)
        events.append(f"second began holding the file lock: {own._writer_held}")
        with own.cursor() as cursor:
            cursor.execute("INSERT INTO calls (note) VALUES ('second')")
        own.commit()
        own.close()

    _begin(first)
    with first.cursor() as cursor:
        cursor.execute("INSERT INTO calls (note) VALUES ('first')")
    thread = threading.Thread(target=second_writer)
    thread.start()
    started.wait(5)
    time.sleep(0.2)  # the second writer is polling for the lock by now
    assert thread.is_alive()
    events.append("first commits")
    first.commit()
    thread.join(10)
    assert not thread.is_alive()
    assert events == ["first commits", "second began holding the file lock: True"]
    with first.cursor() as cursor:
        cursor.execute("SELECT note FROM calls ORDER BY id")
        assert cursor.fetchall() == [("first",), ("second",)]


def test_a_writer_that_cannot_get_the_lock_goes_on_after_the_busy_timeout(
        database: tuple[ConnectionHandler, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    handler, path = database
    monkeypatch.setattr(writer_queue, "BUSY_TIMEOUT", 0.3)
    holder = os.open(path, os.O_RDONLY)  # holds the file lock without holding SQLite's
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        connection = handler["default"]
        _begin(connection)  # returns once the timeout has passed, SQLite's lock being free
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO calls (note) VALUES ('went on')")
        connection.commit()
    finally:
        os.close(holder)
    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM calls")
        assert cursor.fetchall() == [("went on",)]
