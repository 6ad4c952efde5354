"""Opening a database: WAL, synchronous=FULL, foreign keys, and the missing migrations applied (each in one
transaction with its user_version bump); the storage errors every other module raises.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from groundstation.shell.storage.migrations import MIGRATIONS

log = logging.getLogger(__package__)  # the package's logger, as before the split


class StorageError(Exception):
    """The database cannot be opened, migrated or written."""


class SchemaTooNew(StorageError):
    def __init__(self, path: str, found: int, known: int):
        super().__init__(
            f"{path}: database schema version {found} is newer than this code knows ({known}); "
            "refusing to touch it (upgrade the station, or use another storage path)"
        )
        self.found = found
        self.known = known


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS, path: str = "<db>") -> int:
    """Apply the missing migrations, each in its own transaction with its user_version; return the version."""
    current = schema_version(conn)
    if current > len(migrations):
        raise SchemaTooNew(path, current, len(migrations))
    for version in range(current + 1, len(migrations) + 1):
        script = f"BEGIN IMMEDIATE;\n{migrations[version - 1]}\nPRAGMA user_version = {version};\nCOMMIT;"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"{path}: migration {version} failed: {exc}") from exc
        log.info("storage %s: schema migrated to version %d", path, version)
    return len(migrations)


def open_database(path: str | Path, migrations: tuple[str, ...] = MIGRATIONS, *,
                  check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) a database in WAL mode and bring its schema up to date."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread, timeout=10.0)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(f"{path}: cannot use WAL journal (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn, migrations, str(path))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StorageError(f"{path}: not a usable SQLite database: {exc}") from exc
    except StorageError:
        conn.close()
        raise
    return conn
