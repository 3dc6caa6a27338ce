"""Django's SQLite backend, with write transactions queued on a file lock of the database.

SQLite has one write lock. A writer that finds it taken waits in SQLite's busy handler, which
sleeps 1, 2, 5, 10, … up to 100 ms between tries: with several server processes writing, the
lock often sits free while every waiter sleeps (measured: 4 gunicorn workers took calls at
half the rate of 2). Here a transaction first takes an exclusive flock on the database file,
polled every fraction of a millisecond, so the next writer starts as soon as the last one
commits (flock and SQLite's own fcntl locks do not meet on a local file system, and WAL
mode needs a local one anyway). SQLite's own lock still decides: after the busy timeout without the file lock, the
transaction goes ahead and waits as before (another thread of this process holding the lock
while it waits for us must not hang)."""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any

from django.db.backends.sqlite3 import base

# Polling, not a blocking flock: a blocking wait could not give up after the busy timeout.
_FIRST_PAUSE = 0.0002
_LONGEST_PAUSE = 0.001
BUSY_TIMEOUT = 10.0  # seconds, as the busy_timeout pragma in settings


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer_fd: int | None = None
        self._writer_held = False

    def _writer_lock(self) -> None:
        if self.is_in_memory_db():
            return
        if self._writer_fd is None:
            try:
                self._writer_fd = os.open(self.settings_dict["NAME"], os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return  # SQLite reports what is wrong with the file
        deadline = time.monotonic() + BUSY_TIMEOUT
        pause = _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(self._writer_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # SQLite's busy handler takes over
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)
            else:
                self._writer_held = True
                return

    def _writer_unlock(self) -> None:
        if self._writer_held and self._writer_fd is not None:
            self._writer_held = False
            fcntl.flock(self._writer_fd, fcntl.LOCK_UN)

    def _start_transaction_under_autocommit(self) -> None:
        self._writer_lock()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in django-stubs
        except BaseException:
            self._writer_unlock()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._writer_unlock()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._writer_unlock()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._writer_unlock()
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None
