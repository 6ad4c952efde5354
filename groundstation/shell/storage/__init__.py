"""The station's record: SQLite with schema migrations, one writer thread, readers on their own connections.

What is stored (one table each): vehicles, link changes, commands (the audit trail: who asked, when, the
action and its parameters, the station's decision and reason, then the vehicle's result with the MAV_RESULT
name, attempts, round trip and error), events (status texts, mode/arm/link changes, battery warnings,
decisions) and mission runs.

Schema: `MIGRATIONS` is an ordered list of SQL steps; the database's `PRAGMA user_version` says how many
have been applied. Opening a database applies the missing ones, each in one transaction together with its
user_version bump (all or nothing); a database newer than this code is refused (`SchemaTooNew`).

Durability: WAL journal with synchronous=FULL, and the writer commits once per batch (everything queued
when it wakes up), so a row is either committed or was never acknowledged as committed, and a process
killed with -9 loses at most the batch in progress, never a committed one. `StorageWriter.wait_committed`
lets the station write the audit row of a command BEFORE it is sent to the vehicle.

Threads: exactly one thread (the writer's) owns the station's read-write connection; the station's other
threads reach the database only through it (`StorageWriter.submit` for rows, `StorageWriter.call` for a query
such as reloading the patrol schedules). Every SQL statement of the project is in this package. `StorageReader`
opens its own connection in query-only mode (tests, tools, later the web map); use one per thread. The
`schedule` CLI, a separate process, writes schedules with the functions of `admin`.

Every name below is re-exported here, so importers use `groundstation.shell.storage` and never a module of it:
- migrations: MIGRATIONS (the schema's SQL steps) and TABLES (the record tables counted by StorageReader.counts).
- schema: StorageError, SchemaTooNew, schema_version, migrate, open_database (WAL, migrations applied).
- rows: write_row (one core row of any kind, inside the caller's transaction), SnapshotRow, Row.
- writer: StorageWriter (the single writer thread, commits per batch) and WriterCounters.
- reader: StorageReader (query-only connection of its own, one per thread).
- admin: patrol schedules (DuplicateName, insert_schedule, delete_schedule, schedule_rows, schedules_fingerprint,
  latest_patrol_run, unfinished_patrol_runs), web users (DuplicateUser, insert_user, user_row, user_rows,
  update_user, delete_user) and alert acknowledgements (alert_exists, insert_alert_ack, alert_ack_rows).
- grid: the grid in force and notices to its officers (grid_unit_rows, officer_rows, notice_rows, delivery_rows,
  notice_ack_rows, escalation_rows).
- risk: the risk map and venues (risk_level_rows, risk_levels_at, risk_level_span, risk_input_rows, risk_history,
  venue_count_rows).
- retention: RETENTION, purge, purge_rows and the alerts' evidence snapshots (snapshot_row, snapshot_paths_before).
- records: reports and the audit export (time_span, day_records, audit_rows).
- mbtiles: local map tiles for the web map (open_mbtiles, mbtiles_metadata, mbtiles_tile).
"""
from __future__ import annotations

from groundstation.shell.storage.admin import (
    DuplicateName,
    DuplicateUser,
    alert_ack_rows,
    alert_exists,
    delete_schedule,
    delete_user,
    insert_alert_ack,
    insert_schedule,
    insert_user,
    latest_patrol_run,
    schedule_rows,
    schedules_fingerprint,
    unfinished_patrol_runs,
    update_user,
    user_row,
    user_rows,
)
from groundstation.shell.storage.grid import (
    delivery_rows,
    escalation_rows,
    grid_unit_rows,
    notice_ack_rows,
    notice_rows,
    officer_rows,
)
from groundstation.shell.storage.mbtiles import mbtiles_metadata, mbtiles_tile, open_mbtiles
from groundstation.shell.storage.migrations import MIGRATIONS, TABLES
from groundstation.shell.storage.reader import StorageReader
from groundstation.shell.storage.records import audit_rows, day_records, time_span
from groundstation.shell.storage.retention import RETENTION, purge, purge_rows, snapshot_paths_before, snapshot_row
from groundstation.shell.storage.risk import (
    risk_history,
    risk_input_rows,
    risk_level_rows,
    risk_level_span,
    risk_levels_at,
    venue_count_rows,
)
from groundstation.shell.storage.rows import Row, SnapshotRow, write_row
from groundstation.shell.storage.schema import SchemaTooNew, StorageError, migrate, open_database, schema_version
from groundstation.shell.storage.writer import StorageWriter, WriterCounters

__all__ = [
    # migrations, schema
    "MIGRATIONS", "TABLES", "StorageError", "SchemaTooNew", "schema_version", "migrate", "open_database",
    # rows, writer, reader
    "Row", "SnapshotRow", "write_row", "StorageWriter", "WriterCounters", "StorageReader",
    # admin
    "DuplicateName", "insert_schedule", "delete_schedule", "schedule_rows", "schedules_fingerprint",
    "latest_patrol_run", "unfinished_patrol_runs", "DuplicateUser", "insert_user", "user_row", "user_rows",
    "update_user", "delete_user", "alert_exists", "insert_alert_ack", "alert_ack_rows",
    # grid
    "grid_unit_rows", "officer_rows", "notice_rows", "delivery_rows", "notice_ack_rows", "escalation_rows",
    # risk
    "risk_level_rows", "risk_levels_at", "risk_level_span", "risk_input_rows", "risk_history", "venue_count_rows",
    # retention, records
    "RETENTION", "purge", "snapshot_row", "snapshot_paths_before", "purge_rows", "time_span", "day_records",
    "audit_rows",
    # mbtiles
    "open_mbtiles", "mbtiles_metadata", "mbtiles_tile",
]
