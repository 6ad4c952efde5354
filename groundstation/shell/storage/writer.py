"""The single writer: one thread owns the station's read-write connection, writes the queued rows (write_row) and
commits once per batch; the station's other threads reach the database only through it (`submit`, `call`).
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from groundstation.shell.storage.rows import Row, write_row
from groundstation.shell.storage.schema import StorageError, open_database

log = logging.getLogger(__package__)  # the package's logger, as before the split
T = TypeVar("T")


@dataclass(frozen=True)
class WriterCounters:
    rows_submitted: int
    rows_written: int
    batches_committed: int
    write_errors: int
    queue_depth: int


_STOP = object()


class _Call:
    """A function to run on the writer thread with its connection (StorageWriter.call)."""

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], future: Future[Any]):
        self.fn = fn
        self.future = future

    def run(self, conn: sqlite3.Connection) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(conn)
        except BaseException as exc:  # handed to the caller
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class StorageWriter:
    """The single writer: a thread that owns the read-write connection and commits once per batch.

    Queue policy: unbounded, never drops a row (rows are small and derived events are rare; the core thread
    must never block on the disk). A row that cannot be written (a bug or a full disk) is logged and counted
    in `write_errors`; the other rows of its batch are still written.
    """

    def __init__(self, path: str | Path, *, batch_max: int = 1000):
        self.path = Path(path)
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._committed = threading.Condition(self._lock)
        self._next_seq = 0
        self._committed_seq = 0
        self._rows_written = 0
        self._batches = 0
        self._errors = 0
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    def start(self) -> "StorageWriter":
        """Open and migrate the database (errors are raised here, in the caller's thread), then start writing."""
        self._conn = open_database(self.path, check_same_thread=False)
        self._thread = threading.Thread(target=self._run, name="storage-writer", daemon=True)
        self._thread.start()
        return self

    def submit(self, rows: list[Row]) -> int:
        """Queue rows (in order); return the sequence number to pass to wait_committed."""
        with self._lock:
            for row in rows:
                self._next_seq += 1
                self._queue.put((self._next_seq, row))
            return self._next_seq

    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = 30.0) -> T:
        """Run `fn(connection)` on the writer thread, after every row submitted before it; return its result
        (or raise its exception; StorageError if the writer is not running or does not get to it in time)."""
        if self._thread is None:
            raise StorageError(f"{self.path}: storage is not open")
        future: Future[T] = Future()
        self._queue.put(_Call(fn, future))
        try:
            return future.result(timeout_s)
        except TimeoutError:
            raise StorageError(f"{self.path}: storage did not answer within {timeout_s:g} s") from None

    def after_committed(self, fn: Callable[[], None]) -> None:
        """Run `fn()` on the writer thread once every row submitted before it is committed (at once when the
        writer is not running); never blocks."""
        if self._thread is None:
            fn()
            return
        self._queue.put(_Call(lambda _conn: fn(), Future()))

    def wait_committed(self, seq: int, timeout_s: float | None = None) -> bool:
        with self._committed:
            return self._committed.wait_for(lambda: self._committed_seq >= seq, timeout_s)

    def flush(self, timeout_s: float | None = 10.0) -> bool:
        with self._lock:
            seq = self._next_seq
        return self.wait_committed(seq, timeout_s)

    def counters(self) -> WriterCounters:
        with self._lock:
            return WriterCounters(self._next_seq, self._rows_written, self._batches, self._errors,
                                  self._next_seq - self._committed_seq)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued, then close the connection."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("storage writer did not finish within %.0f s", timeout_s)
        self._thread = None

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if any(item is _STOP for item in batch):
                stopping = True
                batch = [item for item in batch if item is not _STOP]
            rows: list[tuple[int, Row]] = []
            for item in batch:  # rows in order; a call runs after the rows queued before it are committed
                if isinstance(item, _Call):
                    if rows:
                        self._write_batch(conn, rows)
                        rows = []
                    item.run(conn)
                else:
                    rows.append(item)
            if rows:
                self._write_batch(conn, rows)
        conn.close()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[tuple[int, Row]]) -> None:
        written = errors = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            for _, row in batch:
                write_row(conn, row)
            conn.execute("COMMIT")
            written = len(batch)
        except (sqlite3.Error, StorageError) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.error("storage: batch of %d rows failed (%s); writing them one by one", len(batch), exc)
            for _, row in batch:  # salvage every row that can be written
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    write_row(conn, row)
                    conn.execute("COMMIT")
                    written += 1
                except (sqlite3.Error, StorageError) as row_exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    errors += 1
                    log.error("storage: cannot write %r: %s", row, row_exc)
        with self._committed:
            self._rows_written += written
            self._errors += errors
            self._batches += 1
            self._committed_seq = max(self._committed_seq, batch[-1][0])
            self._committed.notify_all()
