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
such as reloading the patrol schedules). Every SQL statement of the project is in this module. `StorageReader`
opens its own connection in query-only mode (tests, tools, later the web map); use one per thread. The
`schedule` CLI, a separate process, writes schedules with the functions at the end of this module.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

from groundstation.core.crowds import CrowdObservationRow, GatheringRow, StreamStatusRow, ViewCountRow, ZoneCountRow
from groundstation.core.patrols import PatrolRunRow, ScheduleFiredRow
from groundstation.core.records import CommandResultRow, CommandRow, EventRow, LinkRow, MissionRunRow, VehicleRow
from groundstation.core.response_data import AlertRow, BroadcastRow, ResponseRow, ResponseStepRow, ThermalReadingRow
from missions.zone import multipolygon_geojson

log = logging.getLogger(__name__)
T = TypeVar("T")
Row = Any  # one of the *Row dataclasses write_row knows


@dataclass(frozen=True)
class SnapshotRow:
    """An alert's evidence snapshot written to disk (shell/snapshots.py): `path` relative to the database's folder."""

    alert_id: str
    at_s: float
    stream_id: str
    path: str
    people_blurred: int
    width_px: int
    height_px: int
    captured_at_s: float | None = None
    frame_index: int | None = None

MIGRATIONS: tuple[str, ...] = (
    # 1: the audit trail and the event log
    """
    CREATE TABLE vehicles (
        vehicle_id   TEXT PRIMARY KEY,
        url          TEXT NOT NULL,
        system_id    INTEGER,
        is_simulator INTEGER,
        first_seen_s REAL NOT NULL,
        last_seen_s  REAL NOT NULL
    );
    CREATE TABLE link_changes (
        id         INTEGER PRIMARY KEY,
        vehicle_id TEXT NOT NULL,
        at_s       REAL NOT NULL,
        up         INTEGER NOT NULL CHECK (up IN (0, 1)),
        reason     TEXT NOT NULL
    );
    CREATE TABLE commands (
        id             INTEGER PRIMARY KEY,
        request_id     TEXT NOT NULL,
        vehicle_id     TEXT NOT NULL,
        action         TEXT NOT NULL,
        params_json    TEXT NOT NULL,
        requested_by   TEXT NOT NULL,
        requested_at_s REAL NOT NULL,
        decision       TEXT NOT NULL CHECK (decision IN ('sent', 'refused')),
        reason         TEXT NOT NULL,
        status         TEXT,
        command        INTEGER,
        result         INTEGER,
        result_name    TEXT,
        round_trip_s   REAL,
        error          TEXT,
        finished_at_s  REAL
    );
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        vehicle_id TEXT,
        at_s       REAL NOT NULL,
        kind       TEXT NOT NULL,
        severity   TEXT NOT NULL,
        text       TEXT NOT NULL,
        data_json  TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: mission runs, command attempts, indexes for the per-vehicle queries
    """
    CREATE TABLE mission_runs (
        run_id           TEXT PRIMARY KEY,
        vehicle_id       TEXT NOT NULL,
        mission_type     TEXT NOT NULL,
        item_count       INTEGER NOT NULL,
        status           TEXT NOT NULL,
        last_reached_seq INTEGER,
        created_at_s     REAL NOT NULL,
        updated_at_s     REAL NOT NULL
    );
    ALTER TABLE commands ADD COLUMN attempts INTEGER;
    CREATE INDEX commands_request ON commands (request_id);
    CREATE INDEX commands_vehicle_at ON commands (vehicle_id, requested_at_s);
    CREATE INDEX events_vehicle_at ON events (vehicle_id, at_s);
    CREATE INDEX link_changes_vehicle_at ON link_changes (vehicle_id, at_s);
    """,
    # 3: patrol schedules and patrol runs. A schedule stores the mission as planned and checked when it was
    # added (plan_json: items without the home slot, start point, estimates) and, for the record and a later
    # re-plan, the zone file's text and the pattern parameters (zone_text, spec_json).
    """
    CREATE TABLE schedules (
        schedule_id   TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        zone_file     TEXT NOT NULL,
        zone_text     TEXT NOT NULL,
        spec_json     TEXT NOT NULL,
        plan_json     TEXT NOT NULL,
        cron          TEXT,
        interval_s    REAL,
        tz_name       TEXT NOT NULL,
        grace_s       REAL NOT NULL,
        cover_s       REAL,
        enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        created_at_s  REAL NOT NULL,
        updated_at_s  REAL NOT NULL,
        last_fired_s  REAL,
        CHECK ((cron IS NULL) != (interval_s IS NULL))
    );
    CREATE TABLE patrol_runs (
        run_id            TEXT PRIMARY KEY,
        schedule_id       TEXT NOT NULL,
        vehicle_id        TEXT,
        status            TEXT NOT NULL CHECK (status IN ('planned', 'launched', 'completed', 'aborted', 'missed')),
        reason            TEXT NOT NULL DEFAULT '',
        scheduled_for_s   REAL,
        planned_at_s      REAL NOT NULL,
        launched_at_s     REAL,
        ended_at_s        REAL,
        last_reached_item INTEGER,
        resume_item       INTEGER,
        resume_from_item  INTEGER,
        resumed_from_run  TEXT,
        mission_run_id    TEXT,
        relieves_run      TEXT,
        updated_at_s      REAL NOT NULL
    );
    CREATE INDEX patrol_runs_schedule ON patrol_runs (schedule_id, planned_at_s);
    """,
    # 4: ground counting from the vision streams: crowd observations (every one the core handled), zone counts
    # (on change and every few seconds), gatherings (a zone over capacity for hold_s, then dispersed), each
    # stream's view counts (people in view, placed, or flagged pose_missing) and stream status changes.
    """
    CREATE TABLE crowd_observations (
        id             INTEGER PRIMARY KEY,
        stream_id      TEXT NOT NULL,
        vehicle_id     TEXT NOT NULL,
        at_s           REAL NOT NULL,
        observed_at_s  REAL NOT NULL,
        lat_deg        REAL NOT NULL,
        lon_deg        REAL NOT NULL,
        count          INTEGER NOT NULL,
        radius_m       REAL NOT NULL,
        density_per_m2 REAL NOT NULL,
        confidence     REAL NOT NULL,
        zone_id        TEXT
    );
    CREATE INDEX crowd_observations_at ON crowd_observations (at_s);
    CREATE INDEX crowd_observations_vehicle_at ON crowd_observations (vehicle_id, at_s);
    CREATE TABLE zone_counts (
        id               INTEGER PRIMARY KEY,
        zone_id          TEXT NOT NULL,
        at_s             REAL NOT NULL,
        count            INTEGER NOT NULL,
        capacity_persons INTEGER NOT NULL,
        over_capacity    INTEGER NOT NULL CHECK (over_capacity IN (0, 1))
    );
    CREATE INDEX zone_counts_zone_at ON zone_counts (zone_id, at_s);
    CREATE TABLE gatherings (
        gathering_id     TEXT PRIMARY KEY,
        zone_id          TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('gathering', 'dispersed')),
        started_at_s     REAL NOT NULL,
        detected_at_s    REAL NOT NULL,
        ended_at_s       REAL,
        count            INTEGER NOT NULL,
        peak_count       INTEGER NOT NULL,
        capacity_persons INTEGER NOT NULL,
        reason           TEXT NOT NULL,
        end_reason       TEXT,
        updated_at_s     REAL NOT NULL
    );
    CREATE INDEX gatherings_zone ON gatherings (zone_id, started_at_s);
    CREATE TABLE view_counts (
        id            INTEGER PRIMARY KEY,
        stream_id     TEXT NOT NULL,
        vehicle_id    TEXT NOT NULL,
        at_s          REAL NOT NULL,
        captured_at_s REAL NOT NULL,
        frame_index   INTEGER NOT NULL,
        count_in_view INTEGER NOT NULL,
        unique_seen   INTEGER NOT NULL,
        placed        INTEGER NOT NULL,
        pose_missing  INTEGER NOT NULL CHECK (pose_missing IN (0, 1))
    );
    CREATE INDEX view_counts_stream_at ON view_counts (stream_id, at_s);
    CREATE TABLE stream_status (
        id            INTEGER PRIMARY KEY,
        stream_id     TEXT NOT NULL,
        vehicle_id    TEXT NOT NULL,
        at_s          REAL NOT NULL,
        state         TEXT NOT NULL,
        message       TEXT NOT NULL,
        reported_at_s REAL
    );
    CREATE INDEX stream_status_stream_at ON stream_status (stream_id, at_s);
    """,
    # 5: the crowd response: each response and every transition with its cause, alerts for operators and officers,
    # every thermal reading (a screening hint), every loudspeaker broadcast
    """
    CREATE TABLE responses (
        response_id  TEXT PRIMARY KEY,
        zone_id      TEXT NOT NULL,
        gathering_id TEXT NOT NULL,
        vehicle_id   TEXT,
        state        TEXT NOT NULL,
        outcome      TEXT,
        reason       TEXT NOT NULL DEFAULT '',
        count        INTEGER,
        lat_deg      REAL,
        lon_deg      REAL,
        started_at_s REAL NOT NULL,
        ended_at_s   REAL,
        updated_at_s REAL NOT NULL
    );
    CREATE TABLE response_steps (
        id          INTEGER PRIMARY KEY,
        response_id TEXT NOT NULL,
        at_s        REAL NOT NULL,
        state       TEXT NOT NULL,
        cause       TEXT NOT NULL,
        by          TEXT NOT NULL,
        data_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX response_steps_response ON response_steps (response_id, id);
    CREATE TABLE alerts (
        alert_id    TEXT PRIMARY KEY,
        at_s        REAL NOT NULL,
        kind        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        text        TEXT NOT NULL,
        zone_id     TEXT,
        vehicle_id  TEXT,
        response_id TEXT,
        data_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_at ON alerts (at_s);
    CREATE TABLE thermal_readings (
        id            INTEGER PRIMARY KEY,
        response_id   TEXT NOT NULL,
        at_s          REAL NOT NULL,
        shot          INTEGER NOT NULL,
        person_id     INTEGER NOT NULL,
        lat_deg       REAL NOT NULL,
        lon_deg       REAL NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('measured', 'unmeasured')),
        temp_c        REAL,
        uncertainty_c REAL,
        fever         INTEGER,
        reason        TEXT NOT NULL
    );
    CREATE INDEX thermal_readings_response ON thermal_readings (response_id);
    CREATE TABLE broadcasts (
        broadcast_id TEXT PRIMARY KEY,
        response_id  TEXT NOT NULL,
        vehicle_id   TEXT NOT NULL,
        method       TEXT NOT NULL,
        status       TEXT NOT NULL,
        text         TEXT NOT NULL,
        repeat       INTEGER NOT NULL,
        duration_s   REAL,
        reason       TEXT NOT NULL DEFAULT '',
        requested_at_s REAL NOT NULL,
        updated_at_s REAL NOT NULL
    );
    """,
    # 6: the web map: its users (argon2 hashes, roles) and the operators' acknowledgements of alerts
    """
    CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        password_hash TEXT NOT NULL,
        created_at_s  REAL NOT NULL,
        updated_at_s  REAL NOT NULL
    );
    CREATE TABLE alert_acks (
        alert_id   TEXT PRIMARY KEY,
        acked_by   TEXT NOT NULL,
        acked_at_s REAL NOT NULL,
        note       TEXT NOT NULL DEFAULT ''
    );
    """,
    # 7: counts carry their uncertainty: a zone count's bounds, a crowd observation's estimate and how it was made
    """
    ALTER TABLE zone_counts ADD COLUMN count_low REAL;
    ALTER TABLE zone_counts ADD COLUMN count_high REAL;
    ALTER TABLE crowd_observations ADD COLUMN count_estimate REAL;
    ALTER TABLE crowd_observations ADD COLUMN count_sigma REAL;
    ALTER TABLE crowd_observations ADD COLUMN count_method TEXT;
    """,
    # 8: grid management: the grid in force (its units and their officers), every alert's notices to officers, every
    # attempt of every delivery (webhook, email, sms), acknowledgements and escalations (core/notices.py)
    """
    CREATE TABLE grid_units (
        unit_id          TEXT PRIMARY KEY,
        level            TEXT NOT NULL CHECK (level IN ('district', 'street', 'community', 'cell')),
        parent_id        TEXT,
        name             TEXT NOT NULL,
        officer_id       TEXT NOT NULL,
        capacity_persons INTEGER,
        dwell_s          REAL,
        geometry_json    TEXT NOT NULL,
        source           TEXT NOT NULL,
        loaded_at_s      REAL NOT NULL
    );
    CREATE TABLE officers (
        officer_id  TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        webhook_url TEXT,
        email       TEXT,
        sms_number  TEXT,
        loaded_at_s REAL NOT NULL
    );
    CREATE TABLE notices (
        notice_id    TEXT PRIMARY KEY,
        alert_id     TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'unanswered')),
        unit_id      TEXT NOT NULL,
        level        TEXT NOT NULL,
        officer_id   TEXT NOT NULL,
        deadline_s   REAL,
        escalations  INTEGER NOT NULL,
        reason       TEXT NOT NULL DEFAULT '',
        created_at_s REAL NOT NULL,
        updated_at_s REAL NOT NULL
    );
    CREATE INDEX notices_alert ON notices (alert_id);
    CREATE TABLE deliveries (
        delivery_id    TEXT NOT NULL,
        attempt        INTEGER NOT NULL,
        notice_id      TEXT NOT NULL,
        officer_id     TEXT NOT NULL,
        channel        TEXT NOT NULL CHECK (channel IN ('webhook', 'email', 'sms')),
        address        TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('sending', 'delivered', 'failed', 'cancelled')),
        reason         TEXT NOT NULL DEFAULT '',
        retry_at_s     REAL,
        duration_s     REAL,
        requested_at_s REAL NOT NULL,
        updated_at_s   REAL NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
    );
    CREATE INDEX deliveries_notice ON deliveries (notice_id);
    CREATE TABLE notice_acks (
        id         INTEGER PRIMARY KEY,
        notice_id  TEXT NOT NULL,
        alert_id   TEXT NOT NULL,
        at_s       REAL NOT NULL,
        by         TEXT NOT NULL,
        via        TEXT NOT NULL CHECK (via IN ('callback', 'operator')),
        officer_id TEXT,
        note       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX notice_acks_notice ON notice_acks (notice_id);
    CREATE TABLE escalations (
        id           INTEGER PRIMARY KEY,
        notice_id    TEXT NOT NULL,
        at_s         REAL NOT NULL,
        from_unit    TEXT NOT NULL,
        from_level   TEXT NOT NULL,
        from_officer TEXT NOT NULL,
        to_unit      TEXT NOT NULL,
        to_level     TEXT NOT NULL,
        to_officer   TEXT NOT NULL,
        reason       TEXT NOT NULL
    );
    CREATE INDEX escalations_notice ON escalations (notice_id);
    """,
    # 9: the risk map (every level change with its reasons, health officials' inputs), venue occupancy, purges of old
    # records (what, when, by which retention rule), and time indexes for reports, the audit export and purges
    """
    CREATE TABLE risk_levels (
        id           INTEGER PRIMARY KEY,
        area_id      TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('cell', 'community', 'zone')),
        at_s         REAL NOT NULL,
        level        TEXT NOT NULL CHECK (level IN ('green', 'blue', 'yellow', 'orange', 'red')),
        previous     TEXT,
        reasons_json TEXT NOT NULL,
        values_json  TEXT NOT NULL,
        trigger      TEXT NOT NULL
    );
    CREATE INDEX risk_levels_at ON risk_levels (at_s);
    CREATE INDEX risk_levels_area ON risk_levels (area_id, at_s);
    CREATE TABLE risk_inputs (
        input_id       TEXT PRIMARY KEY,
        at_s           REAL NOT NULL,
        unit_id        TEXT NOT NULL,
        by             TEXT NOT NULL,
        cases          INTEGER NOT NULL DEFAULT 0,
        close_contacts INTEGER NOT NULL DEFAULT 0,
        lockdown       INTEGER CHECK (lockdown IN (0, 1)),
        note           TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX risk_inputs_at ON risk_inputs (at_s);
    CREATE TABLE venue_counts (
        id            INTEGER PRIMARY KEY,
        venue_id      TEXT NOT NULL,
        entrance_id   TEXT NOT NULL,
        at_s          REAL NOT NULL,
        entered       INTEGER NOT NULL,
        exited        INTEGER NOT NULL,
        occupancy     INTEGER NOT NULL,
        limit_persons INTEGER NOT NULL,
        over_limit    INTEGER NOT NULL CHECK (over_limit IN (0, 1)),
        note          TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX venue_counts_venue_at ON venue_counts (venue_id, at_s);
    CREATE TABLE purges (
        id           INTEGER PRIMARY KEY,
        at_s         REAL NOT NULL,
        rule         TEXT NOT NULL,
        table_name   TEXT NOT NULL,
        days         REAL NOT NULL,
        cutoff_s     REAL NOT NULL,
        rows_deleted INTEGER NOT NULL
    );
    CREATE INDEX zone_counts_at ON zone_counts (at_s);
    CREATE INDEX view_counts_at ON view_counts (at_s);
    CREATE INDEX events_at ON events (at_s);
    CREATE INDEX commands_at ON commands (requested_at_s);
    CREATE INDEX thermal_readings_at ON thermal_readings (at_s);
    CREATE INDEX responses_started ON responses (started_at_s);
    CREATE INDEX notices_created ON notices (created_at_s);
    """,
    # 10: alerts' evidence snapshots (shell/snapshots.py): the file of each (relative to the database's folder), every
    # person in it blurred by the vision worker that served it (vision/privacy.py); purged with their files
    """
    CREATE TABLE snapshots (
        alert_id       TEXT PRIMARY KEY,
        at_s           REAL NOT NULL,
        stream_id      TEXT NOT NULL,
        path           TEXT NOT NULL,
        people_blurred INTEGER NOT NULL CHECK (people_blurred >= 0),
        width_px       INTEGER NOT NULL,
        height_px      INTEGER NOT NULL,
        captured_at_s  REAL,
        frame_index    INTEGER
    );
    CREATE INDEX snapshots_at ON snapshots (at_s);
    """,
)

TABLES = ("vehicles", "link_changes", "commands", "events", "mission_runs", "schedules", "patrol_runs",
          "crowd_observations", "zone_counts", "gatherings", "view_counts", "stream_status", "responses",
          "response_steps", "alerts", "thermal_readings", "broadcasts", "risk_levels", "risk_inputs", "venue_counts",
          "purges", "snapshots")


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


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def write_row(conn: sqlite3.Connection, row: Row) -> None:
    """Write one core row (inside the caller's transaction)."""
    if isinstance(row, EventRow):
        conn.execute(
            "INSERT INTO events (vehicle_id, at_s, kind, severity, text, data_json) VALUES (?, ?, ?, ?, ?, ?)",
            (row.vehicle_id, row.at_s, row.kind, row.severity, row.text, _json(dict(row.data))),
        )
    elif isinstance(row, CommandRow):
        conn.execute(
            "INSERT INTO commands (request_id, vehicle_id, action, params_json, requested_by, requested_at_s,"
            " decision, reason, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.request_id, row.vehicle_id, row.action, _json(row.params), row.requested_by, row.requested_at_s,
             row.decision, row.reason, "refused_by_station" if row.decision == "refused" else "sent"),
        )
    elif isinstance(row, CommandResultRow):
        cur = conn.execute(
            "UPDATE commands SET status = ?, command = ?, result = ?, result_name = ?, attempts = ?,"
            " round_trip_s = ?, error = ?, finished_at_s = ?"
            " WHERE id = (SELECT max(id) FROM commands WHERE request_id = ? AND decision = 'sent')",
            (row.status, row.command, row.result, row.result_name, row.attempts, row.round_trip_s, row.error,
             row.finished_at_s, row.request_id),
        )
        if cur.rowcount != 1:
            raise StorageError(f"result for unknown command request {row.request_id!r}")
    elif isinstance(row, LinkRow):
        conn.execute(
            "INSERT INTO link_changes (vehicle_id, at_s, up, reason) VALUES (?, ?, ?, ?)",
            (row.vehicle_id, row.at_s, int(row.up), row.reason),
        )
    elif isinstance(row, VehicleRow):
        conn.execute(
            "INSERT INTO vehicles (vehicle_id, url, system_id, is_simulator, first_seen_s, last_seen_s)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vehicle_id) DO UPDATE SET"
            " url = CASE WHEN excluded.url != '' THEN excluded.url ELSE url END,"
            " system_id = coalesce(excluded.system_id, system_id),"
            " is_simulator = coalesce(excluded.is_simulator, is_simulator),"
            " last_seen_s = excluded.last_seen_s",
            (row.vehicle_id, row.url, row.system_id, None if row.is_simulator is None else int(row.is_simulator),
             row.at_s, row.at_s),
        )
    elif isinstance(row, MissionRunRow):
        conn.execute(
            "INSERT INTO mission_runs (run_id, vehicle_id, mission_type, item_count, status, last_reached_seq,"
            " created_at_s, updated_at_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET"
            " status = excluded.status, last_reached_seq = coalesce(excluded.last_reached_seq, last_reached_seq),"
            " updated_at_s = excluded.updated_at_s",
            (row.run_id, row.vehicle_id, row.mission_type, row.item_count, row.status, row.last_reached_seq,
             row.at_s, row.at_s),
        )
    elif isinstance(row, PatrolRunRow):
        values = (row.run_id, row.schedule_id, row.vehicle_id, row.status, row.reason, row.scheduled_for_s, row.at_s,
                  row.launched_at_s, row.ended_at_s, row.last_reached_item, row.resume_item, row.resume_from_item,
                  row.resumed_from_run, row.mission_run_id, row.relieves_run, row.at_s)
        columns = ("run_id, schedule_id, vehicle_id, status, reason, scheduled_for_s, planned_at_s, launched_at_s,"
                   " ended_at_s, last_reached_item, resume_item, resume_from_item, resumed_from_run, mission_run_id,"
                   " relieves_run, updated_at_s")
        if row.status == "missed":  # a fire time may be judged missed again after a restart: recorded once
            conn.execute(f"INSERT OR IGNORE INTO patrol_runs ({columns}) VALUES ({', '.join('?' * 16)})", values)
        else:
            conn.execute(
                f"INSERT INTO patrol_runs ({columns}) VALUES ({', '.join('?' * 16)}) ON CONFLICT (run_id) DO UPDATE SET"
                " status = excluded.status,"
                " reason = CASE WHEN excluded.reason != '' THEN excluded.reason ELSE reason END,"
                " vehicle_id = coalesce(excluded.vehicle_id, vehicle_id),"
                " launched_at_s = coalesce(excluded.launched_at_s, launched_at_s),"
                " ended_at_s = coalesce(excluded.ended_at_s, ended_at_s),"
                " last_reached_item = coalesce(excluded.last_reached_item, last_reached_item),"
                " resume_item = coalesce(excluded.resume_item, resume_item),"
                " mission_run_id = coalesce(excluded.mission_run_id, mission_run_id),"
                " updated_at_s = excluded.updated_at_s",
                values)
    elif isinstance(row, ScheduleFiredRow):  # the schedule may have been removed meanwhile: then nothing
        conn.execute("UPDATE schedules SET last_fired_s = max(coalesce(last_fired_s, 0), ?) WHERE schedule_id = ?",
                     (row.fired_for_s, row.schedule_id))
    elif isinstance(row, CrowdObservationRow):
        conn.execute(
            "INSERT INTO crowd_observations (stream_id, vehicle_id, at_s, observed_at_s, lat_deg, lon_deg, count,"
            " radius_m, density_per_m2, confidence, zone_id, count_estimate, count_sigma, count_method)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.stream_id, row.vehicle_id, row.at_s, row.observed_at_s, row.lat_deg, row.lon_deg, row.count,
             row.radius_m, row.density_per_m2, row.confidence, row.zone_id, row.count_estimate, row.count_sigma,
             row.count_method),
        )
    elif isinstance(row, ZoneCountRow):
        conn.execute(
            "INSERT INTO zone_counts (zone_id, at_s, count, capacity_persons, over_capacity, count_low, count_high)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.zone_id, row.at_s, row.count, row.capacity_persons, int(row.over_capacity), row.count_low,
             row.count_high),
        )
    elif isinstance(row, ViewCountRow):
        conn.execute(
            "INSERT INTO view_counts (stream_id, vehicle_id, at_s, captured_at_s, frame_index, count_in_view,"
            " unique_seen, placed, pose_missing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.stream_id, row.vehicle_id, row.at_s, row.captured_at_s, row.frame_index, row.count_in_view,
             row.unique_seen, row.placed, int(row.pose_missing)),
        )
    elif isinstance(row, GatheringRow):
        conn.execute(
            "INSERT INTO gatherings (gathering_id, zone_id, status, started_at_s, detected_at_s, ended_at_s, count,"
            " peak_count, capacity_persons, reason, updated_at_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (gathering_id) DO UPDATE SET status = excluded.status, ended_at_s = excluded.ended_at_s,"
            " count = excluded.count, peak_count = max(peak_count, excluded.peak_count),"
            " end_reason = excluded.reason, updated_at_s = excluded.updated_at_s",
            (row.gathering_id, row.zone_id, row.status, row.started_at_s, row.at_s, row.ended_at_s, row.count,
             row.peak_count, row.capacity_persons, row.reason, row.at_s),
        )
    elif isinstance(row, StreamStatusRow):
        conn.execute(
            "INSERT INTO stream_status (stream_id, vehicle_id, at_s, state, message, reported_at_s)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (row.stream_id, row.vehicle_id, row.at_s, row.state, row.message, row.reported_at_s),
        )
    elif isinstance(row, ResponseRow):
        conn.execute(
            "INSERT INTO responses (response_id, zone_id, gathering_id, vehicle_id, state, outcome, reason, count,"
            " lat_deg, lon_deg, started_at_s, ended_at_s, updated_at_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (response_id) DO UPDATE SET state = excluded.state,"
            " vehicle_id = coalesce(excluded.vehicle_id, vehicle_id), outcome = coalesce(excluded.outcome, outcome),"
            " reason = CASE WHEN excluded.reason != '' THEN excluded.reason ELSE reason END,"
            " ended_at_s = coalesce(excluded.ended_at_s, ended_at_s), updated_at_s = excluded.updated_at_s",
            (row.response_id, row.zone_id, row.gathering_id, row.vehicle_id, row.state, row.outcome, row.reason,
             row.count, row.lat_deg, row.lon_deg, row.started_at_s if row.started_at_s is not None else row.at_s,
             row.ended_at_s, row.at_s))
    elif isinstance(row, ResponseStepRow):
        conn.execute("INSERT INTO response_steps (response_id, at_s, state, cause, by, data_json) VALUES (?,?,?,?,?,?)",
                     (row.response_id, row.at_s, row.state, row.cause, row.by, _json(row.data)))
    elif isinstance(row, AlertRow):
        conn.execute("INSERT OR IGNORE INTO alerts (alert_id, at_s, kind, severity, text, zone_id, vehicle_id,"
                     " response_id, data_json) VALUES (?,?,?,?,?,?,?,?,?)",
                     (row.alert_id, row.at_s, row.kind, row.severity, row.text, row.zone_id, row.vehicle_id,
                      row.response_id, _json(row.data)))
    elif isinstance(row, ThermalReadingRow):
        conn.execute("INSERT INTO thermal_readings (response_id, at_s, shot, person_id, lat_deg, lon_deg, status,"
                     " temp_c, uncertainty_c, fever, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (row.response_id, row.at_s, row.shot, row.person_id, row.lat_deg, row.lon_deg, row.status,
                      row.temp_c, row.uncertainty_c, None if row.fever is None else int(row.fever), row.reason))
    elif isinstance(row, BroadcastRow):
        conn.execute(
            "INSERT INTO broadcasts (broadcast_id, response_id, vehicle_id, method, status, text, repeat, duration_s,"
            " reason, requested_at_s, updated_at_s) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (broadcast_id) DO"
            " UPDATE SET status = excluded.status, duration_s = coalesce(excluded.duration_s, duration_s),"
            " reason = excluded.reason, updated_at_s = excluded.updated_at_s",
            (row.broadcast_id, row.response_id, row.vehicle_id, row.method, row.status, row.text, row.repeat,
             row.duration_s, row.reason, row.at_s, row.at_s))
    elif isinstance(row, SnapshotRow):  # written once per alert: a second snapshot of one alert replaces nothing
        conn.execute("INSERT OR IGNORE INTO snapshots (alert_id, at_s, stream_id, path, people_blurred, width_px,"
                     " height_px, captured_at_s, frame_index) VALUES (?,?,?,?,?,?,?,?,?)",
                     (row.alert_id, row.at_s, row.stream_id, row.path, row.people_blurred, row.width_px, row.height_px,
                      row.captured_at_s, row.frame_index))
    elif not (_write_notice_row(conn, row)  # the grid and notices to its officers (migration 8, end of module)
              or _write_risk_row(conn, row)):  # the risk map and venues (migration 9, end of module)
        raise StorageError(f"cannot store {type(row).__name__}")


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


class StorageReader:
    """Queries for tests, the CLI and (later) the web map; one per thread, query-only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise StorageError(f"{self.path}: no such database")
        self._conn = sqlite3.connect(self.path, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        version = schema_version(self._conn)
        if version > len(MIGRATIONS):
            self._conn.close()
            raise SchemaTooNew(str(self.path), version, len(MIGRATIONS))
        if version < len(MIGRATIONS):
            self._conn.close()
            raise StorageError(f"{self.path}: schema version {version}, not yet migrated to {len(MIGRATIONS)} "
                               "(open it with the station, or open_database(), first)")
        self._conn.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "StorageReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        out = []
        for r in self._conn.execute(sql, params):
            d = dict(r)
            for key in ("params_json", "data_json"):
                if key in d:
                    d[key[:-5]] = json.loads(d.pop(key))
            out.append(d)
        return out

    @staticmethod
    def _where(vehicle_id: str | None, extra: dict[str, Any] | None = None) -> tuple[str, tuple[Any, ...]]:
        clauses, params = [], []
        if vehicle_id is not None:
            clauses.append("vehicle_id = ?")
            params.append(vehicle_id)
        for column, value in (extra or {}).items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    def vehicles(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM vehicles ORDER BY vehicle_id")

    def commands(self, vehicle_id: str | None = None, *, decision: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """Most recent first."""
        where, params = self._where(vehicle_id, {"decision": decision})
        return self._rows(f"SELECT * FROM commands{where} ORDER BY id DESC LIMIT ?", params + (limit,))

    def command(self, request_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM commands WHERE request_id = ? ORDER BY id DESC LIMIT 1", (request_id,))
        return rows[0] if rows else None

    def events(self, vehicle_id: str | None = None, *, kind: str | None = None,
               limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(vehicle_id, {"kind": kind})
        rows = self._rows(f"SELECT * FROM events{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        return rows[::-1]

    def link_changes(self, vehicle_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(vehicle_id)
        return self._rows(f"SELECT * FROM link_changes{where} ORDER BY id", params)

    def mission_runs(self, vehicle_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(vehicle_id)
        return self._rows(f"SELECT * FROM mission_runs{where} ORDER BY created_at_s", params)

    def schedules(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM schedules ORDER BY created_at_s, name")

    def patrol_runs(self, schedule_id: str | None = None, *, status: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"schedule_id": schedule_id, "status": status})
        return self._rows(f"SELECT * FROM patrol_runs{where} ORDER BY planned_at_s, rowid", params)

    def crowd_observations(self, vehicle_id: str | None = None, *, stream_id: str | None = None,
                           since_s: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`), optionally only those handled at or after `since_s`."""
        where, params = self._where(vehicle_id, {"stream_id": stream_id})
        if since_s is not None:
            where, params = (where + " AND" if where else " WHERE") + " at_s >= ?", params + (since_s,)
        rows = self._rows(f"SELECT * FROM crowd_observations{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        return rows[::-1]

    def zone_counts(self, zone_id: str | None = None, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(None, {"zone_id": zone_id})
        rows = self._rows(f"SELECT * FROM zone_counts{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        for r in rows:
            r["over_capacity"] = bool(r["over_capacity"])
        return rows[::-1]

    def latest_zone_counts(self) -> dict[str, dict[str, Any]]:
        """The last recorded count of every zone."""
        rows = self._rows("SELECT * FROM zone_counts WHERE id IN (SELECT max(id) FROM zone_counts GROUP BY zone_id)"
                          " ORDER BY zone_id")
        return {r["zone_id"]: {**r, "over_capacity": bool(r["over_capacity"])} for r in rows}

    def gatherings(self, zone_id: str | None = None, *, status: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"zone_id": zone_id, "status": status})
        return self._rows(f"SELECT * FROM gatherings{where} ORDER BY started_at_s, rowid", params)

    def view_counts(self, stream_id: str | None = None, *, pose_missing: bool | None = None,
                    limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(None, {"stream_id": stream_id,
                                           "pose_missing": None if pose_missing is None else int(pose_missing)})
        rows = self._rows(f"SELECT * FROM view_counts{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        for r in rows:
            r["pose_missing"] = bool(r["pose_missing"])
        return rows[::-1]

    def stream_status(self, stream_id: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"stream_id": stream_id})
        return self._rows(f"SELECT * FROM stream_status{where} ORDER BY id", params)

    def responses(self, zone_id: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"zone_id": zone_id})
        return self._rows(f"SELECT * FROM responses{where} ORDER BY started_at_s, rowid", params)

    def response_steps(self, response_id: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"response_id": response_id})
        return self._rows(f"SELECT * FROM response_steps{where} ORDER BY id", params)

    def alerts(self, kind: str | None = None, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(None, {"kind": kind})
        return self._rows(f"SELECT * FROM alerts{where} ORDER BY at_s DESC, rowid DESC LIMIT ?",
                          params + (limit,))[::-1]

    def thermal_readings(self, response_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(None, {"response_id": response_id})
        rows = self._rows(f"SELECT * FROM thermal_readings{where} ORDER BY id", params)
        for r in rows:
            r["fever"] = None if r["fever"] is None else bool(r["fever"])
        return rows

    def broadcasts(self, response_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(None, {"response_id": response_id})
        return self._rows(f"SELECT * FROM broadcasts{where} ORDER BY requested_at_s, rowid", params)

    def snapshots(self, alert_id: str | None = None) -> list[dict[str, Any]]:
        """Alerts' evidence snapshots, oldest first."""
        where, params = self._where(None, {"alert_id": alert_id})
        return self._rows(f"SELECT * FROM snapshots{where} ORDER BY at_s, rowid", params)

    def counts(self) -> dict[str, int]:
        return {t: int(self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}

    def integrity(self) -> str:
        """'ok' when SQLite finds the file consistent."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


# --- patrol schedules: the `schedule` CLI (its own process) and the station's loader (through StorageWriter.call)


class DuplicateName(StorageError):
    """A schedule with that name exists already."""


def _schedule_dict(row: sqlite3.Row | tuple, names: list[str]) -> dict[str, Any]:
    d = dict(zip(names, row))
    d["plan"] = json.loads(d.pop("plan_json"))
    d["spec"] = json.loads(d.pop("spec_json"))
    d.pop("zone_text", None)
    d["enabled"] = bool(d["enabled"])
    return d


def _schedule_columns(conn: sqlite3.Connection) -> list[str]:
    return [d[0] for d in conn.execute("SELECT * FROM schedules LIMIT 0").description]


def insert_schedule(conn: sqlite3.Connection, schedule_id: str, name: str, zone_file: str, zone_text: str,
                    spec: dict[str, Any], plan: dict[str, Any], cron: str | None, interval_s: float | None,
                    tz_name: str, grace_s: float, cover_s: float | None, now_s: float) -> dict[str, Any]:
    """Store one schedule in one transaction; DuplicateName if the name is taken. Returns the stored row."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO schedules (schedule_id, name, zone_file, zone_text, spec_json, plan_json, cron, interval_s,"
            " tz_name, grace_s, cover_s, enabled, created_at_s, updated_at_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,1,?,?)",
            (schedule_id, name, zone_file, zone_text, json.dumps(spec), json.dumps(plan), cron, interval_s, tz_name,
             grace_s, cover_s, now_s, now_s))
        conn.execute("COMMIT")
    except sqlite3.IntegrityError as e:
        conn.execute("ROLLBACK")
        if "UNIQUE" in str(e) and "name" in str(e):
            raise DuplicateName(f"a schedule named {name!r} already exists") from None
        raise StorageError(f"cannot store the schedule: {e}") from e
    row = conn.execute("SELECT * FROM schedules WHERE schedule_id = ?", (schedule_id,)).fetchone()
    return _schedule_dict(row, _schedule_columns(conn))


def delete_schedule(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    """Remove a schedule by id or name (its recorded runs stay); the removed row, or None if there is none."""
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute("SELECT * FROM schedules WHERE schedule_id = ? OR name = ?", (key, key)).fetchone()
    if row is None:
        conn.execute("ROLLBACK")
        return None
    out = _schedule_dict(row, _schedule_columns(conn))
    conn.execute("DELETE FROM schedules WHERE schedule_id = ?", (out["schedule_id"],))
    conn.execute("COMMIT")
    return out


def schedule_rows(conn: sqlite3.Connection, order: str = "created") -> list[dict[str, Any]]:
    """Every schedule (plan and spec decoded), by creation time, or by id with order="id"."""
    by = "schedule_id" if order == "id" else "created_at_s, name"
    names = _schedule_columns(conn)
    return [_schedule_dict(r, names) for r in conn.execute(f"SELECT * FROM schedules ORDER BY {by}")]


def schedules_fingerprint(conn: sqlite3.Connection) -> tuple:
    """Changes whenever a schedule is added, removed or edited (not when the station records a firing)."""
    return tuple(conn.execute("SELECT schedule_id, updated_at_s FROM schedules ORDER BY schedule_id").fetchall())


def latest_patrol_run(conn: sqlite3.Connection, schedule_id: str, *, statuses: tuple[str, ...] | None = None,
                      first_runs_only: bool = False) -> dict[str, Any] | None:
    """The newest run of a schedule (optionally only with one of `statuses`, and only runs that relieve none)."""
    sql, params = "SELECT * FROM patrol_runs WHERE schedule_id = ?", [schedule_id]
    if statuses:
        sql += f" AND status IN ({', '.join('?' * len(statuses))})"
        params += list(statuses)
    if first_runs_only:
        sql += " AND relieves_run IS NULL"
    cur = conn.execute(sql + " ORDER BY planned_at_s DESC, rowid DESC LIMIT 1", params)
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row))


def unfinished_patrol_runs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Runs recorded planned or launched (left unfinished when a station stopped)."""
    cur = conn.execute("SELECT * FROM patrol_runs WHERE status IN ('planned', 'launched')")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# --- the web map's users and alert acknowledgements (migration 6): the `user` CLI and the web bridge, each on its
# own connection (open_database), one short transaction per change


class DuplicateUser(StorageError):
    """A user of that name exists already."""


def _user_dict(cur: sqlite3.Cursor, row: tuple | None) -> dict[str, Any] | None:
    return None if row is None else dict(zip([d[0] for d in cur.description], row))


def insert_user(conn: sqlite3.Connection, name: str, role: str, password_hash: str, now_s: float) -> dict[str, Any]:
    """Store a new user; DuplicateUser if the name is taken. Returns the stored row."""
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO users (name, role, password_hash, created_at_s, updated_at_s)"
                         " VALUES (?, ?, ?, ?, ?)", (name, role, password_hash, now_s, now_s))
    except sqlite3.IntegrityError as e:
        if "UNIQUE" in str(e) or "PRIMARY KEY" in str(e):
            raise DuplicateUser(f"a user named {name!r} already exists") from None
        raise StorageError(f"cannot store the user: {e}") from e
    found = user_row(conn, name)
    assert found is not None
    return found


def user_row(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM users WHERE name = ?", (name,))
    return _user_dict(cur, cur.fetchone())


def user_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT * FROM users ORDER BY name")
    return [d for r in cur.fetchall() if (d := _user_dict(cur, r)) is not None]


def update_user(conn: sqlite3.Connection, name: str, now_s: float, *, role: str | None = None,
                password_hash: str | None = None) -> bool:
    """Change a user's role and/or password hash; False if there is no such user."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("UPDATE users SET role = coalesce(?, role), password_hash = coalesce(?, password_hash),"
                           " updated_at_s = ? WHERE name = ?", (role, password_hash, now_s, name))
    return cur.rowcount == 1


def delete_user(conn: sqlite3.Connection, name: str) -> bool:
    """Remove a user; False if there is no such user."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("DELETE FROM users WHERE name = ?", (name,))
    return cur.rowcount == 1


def alert_exists(conn: sqlite3.Connection, alert_id: str) -> bool:
    return conn.execute("SELECT 1 FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone() is not None


def insert_alert_ack(conn: sqlite3.Connection, alert_id: str, acked_by: str, acked_at_s: float,
                     note: str = "") -> dict[str, Any]:
    """Record an acknowledgement; an alert acknowledged before keeps its first one. Returns the stored row."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR IGNORE INTO alert_acks (alert_id, acked_by, acked_at_s, note) VALUES (?, ?, ?, ?)",
                     (alert_id, acked_by, acked_at_s, note))
    cur = conn.execute("SELECT * FROM alert_acks WHERE alert_id = ?", (alert_id,))
    found = _user_dict(cur, cur.fetchone())
    assert found is not None
    return found


def alert_ack_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every acknowledgement, oldest first."""
    cur = conn.execute("SELECT * FROM alert_acks ORDER BY acked_at_s, rowid")
    return [d for r in cur.fetchall() if (d := _user_dict(cur, r)) is not None]


# --- grid management (migration 8): the grid in force and notices to its officers, written by the station's writer
# (write_row), read by the functions below on any connection (the web map, reports, tests)


def _write_notice_row(conn: sqlite3.Connection, row: Row) -> bool:
    """Write one row of core/notice_data.py (inside the caller's transaction); False for any other kind of row."""
    from groundstation.core.notice_data import DeliveryRow, EscalationRow, GridRow, NoticeAckRow, NoticeRow

    if isinstance(row, NoticeRow):
        conn.execute(
            "INSERT INTO notices (notice_id, alert_id, status, unit_id, level, officer_id, deadline_s, escalations,"
            " reason, created_at_s, updated_at_s) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (notice_id) DO UPDATE SET"
            " status = excluded.status, unit_id = excluded.unit_id, level = excluded.level,"
            " officer_id = excluded.officer_id, deadline_s = excluded.deadline_s, escalations = excluded.escalations,"
            " reason = CASE WHEN excluded.reason != '' THEN excluded.reason ELSE reason END,"
            " updated_at_s = excluded.updated_at_s",
            (row.notice_id, row.alert_id, row.status, row.unit_id, row.level, row.officer_id, row.deadline_s,
             row.escalations, row.reason, row.at_s, row.at_s))
    elif isinstance(row, DeliveryRow):
        conn.execute(
            "INSERT INTO deliveries (delivery_id, attempt, notice_id, officer_id, channel, address, status, reason,"
            " retry_at_s, duration_s, requested_at_s, updated_at_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (delivery_id, attempt) DO UPDATE SET status = excluded.status, reason = excluded.reason,"
            " retry_at_s = excluded.retry_at_s, duration_s = coalesce(excluded.duration_s, duration_s),"
            " updated_at_s = excluded.updated_at_s",
            (row.delivery_id, row.attempt, row.notice_id, row.officer_id, row.channel, row.address, row.status,
             row.reason, row.retry_at_s, row.duration_s, row.at_s, row.at_s))
    elif isinstance(row, NoticeAckRow):
        conn.execute("INSERT INTO notice_acks (notice_id, alert_id, at_s, by, via, officer_id, note)"
                     " VALUES (?,?,?,?,?,?,?)",
                     (row.notice_id, row.alert_id, row.at_s, row.by, row.via, row.officer_id, row.note))
    elif isinstance(row, EscalationRow):
        conn.execute("INSERT INTO escalations (notice_id, at_s, from_unit, from_level, from_officer, to_unit, to_level,"
                     " to_officer, reason) VALUES (?,?,?,?,?,?,?,?,?)",
                     (row.notice_id, row.at_s, row.from_unit, row.from_level, row.from_officer, row.to_unit,
                      row.to_level, row.to_officer, row.reason))
    elif isinstance(row, GridRow):  # the grid in force replaces the one recorded before
        conn.execute("DELETE FROM grid_units")
        conn.execute("DELETE FROM officers")
        conn.executemany(
            "INSERT INTO officers (officer_id, name, webhook_url, email, sms_number, loaded_at_s) VALUES (?,?,?,?,?,?)",
            [(o.officer_id, o.name, o.webhook_url, o.email, o.sms_number, row.at_s) for o in row.grid.officers()])
        conn.executemany(
            "INSERT INTO grid_units (unit_id, level, parent_id, name, officer_id, capacity_persons, dwell_s,"
            " geometry_json, source, loaded_at_s) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(u.unit_id, u.level, u.parent_id, u.name, u.officer.officer_id, u.capacity_persons, u.dwell_s,
              _json(multipolygon_geojson(u.parts)), row.source, row.at_s) for u in row.grid.units])
    else:
        return False
    return True


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def grid_unit_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The grid in force, districts first; each unit's `geometry` a GeoJSON MultiPolygon."""
    rows = _dicts(conn.execute(
        "SELECT * FROM grid_units ORDER BY CASE level WHEN 'district' THEN 0 WHEN 'street' THEN 1"
        " WHEN 'community' THEN 2 ELSE 3 END, rowid"))
    for r in rows:
        r["geometry"] = json.loads(r.pop("geometry_json"))
    return rows


def officer_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _dicts(conn.execute("SELECT * FROM officers ORDER BY rowid"))


def notice_rows(conn: sqlite3.Connection, alert_id: str | None = None, *, status: str | None = None
                ) -> list[dict[str, Any]]:
    """Oldest first."""
    where, params = StorageReader._where(None, {"alert_id": alert_id, "status": status})
    return _dicts(conn.execute(f"SELECT * FROM notices{where} ORDER BY created_at_s, rowid", params))


def delivery_rows(conn: sqlite3.Connection, notice_id: str | None = None) -> list[dict[str, Any]]:
    """Every attempt, oldest first."""
    where, params = StorageReader._where(None, {"notice_id": notice_id})
    return _dicts(conn.execute(f"SELECT * FROM deliveries{where} ORDER BY requested_at_s, rowid", params))


def notice_ack_rows(conn: sqlite3.Connection, notice_id: str | None = None) -> list[dict[str, Any]]:
    where, params = StorageReader._where(None, {"notice_id": notice_id})
    return _dicts(conn.execute(f"SELECT * FROM notice_acks{where} ORDER BY id", params))


def escalation_rows(conn: sqlite3.Connection, notice_id: str | None = None) -> list[dict[str, Any]]:
    where, params = StorageReader._where(None, {"notice_id": notice_id})
    return _dicts(conn.execute(f"SELECT * FROM escalations{where} ORDER BY id", params))


# --- the risk map, venues, retention, daily reports and the audit export (migration 9): rows written by the station's
# writer (write_row), the purge run through it (StorageWriter.call), the rest read on any connection


def _write_risk_row(conn: sqlite3.Connection, row: Row) -> bool:
    """Write one row of core/risk_data.py or core/venue_data.py (inside the caller's transaction); False otherwise."""
    from groundstation.core.risk_data import RiskInputRow, RiskLevelRow
    from groundstation.core.venue_data import VenueCountRow

    if isinstance(row, RiskLevelRow):
        conn.execute("INSERT INTO risk_levels (area_id, kind, at_s, level, previous, reasons_json, values_json, trigger)"
                     " VALUES (?,?,?,?,?,?,?,?)",
                     (row.area_id, row.kind, row.at_s, row.level, row.previous, _json(list(row.reasons)),
                      _json(dict(row.values)), row.trigger))
    elif isinstance(row, RiskInputRow):
        conn.execute("INSERT OR IGNORE INTO risk_inputs (input_id, at_s, unit_id, by, cases, close_contacts, lockdown,"
                     " note) VALUES (?,?,?,?,?,?,?,?)",
                     (row.input_id, row.at_s, row.unit_id, row.by, row.cases, row.close_contacts,
                      None if row.lockdown is None else int(row.lockdown), row.note))
    elif isinstance(row, VenueCountRow):
        conn.execute("INSERT INTO venue_counts (venue_id, entrance_id, at_s, entered, exited, occupancy, limit_persons,"
                     " over_limit, note) VALUES (?,?,?,?,?,?,?,?,?)",
                     (row.venue_id, row.entrance_id, row.at_s, row.entered, row.exited, row.occupancy,
                      row.limit_persons, int(row.over_limit), row.note))
    else:
        return False
    return True


def _risk_level_dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    rows = _dicts(cur)
    for r in rows:
        r["reasons"] = json.loads(r.pop("reasons_json"))
        r["values"] = json.loads(r.pop("values_json"))
    return rows


def risk_level_rows(conn: sqlite3.Connection, area_id: str | None = None, *, since_s: float | None = None,
                    until_s: float | None = None) -> list[dict[str, Any]]:
    """Every recorded level change (the map's history), oldest first; optionally one area's, within [since, until)."""
    where, params = StorageReader._where(None, {"area_id": area_id})
    for clause, value in ((" at_s >= ?", since_s), (" at_s < ?", until_s)):
        if value is not None:
            where, params = (where + " AND" if where else " WHERE") + clause, params + (value,)
    return _risk_level_dicts(conn.execute(f"SELECT * FROM risk_levels{where} ORDER BY at_s, id", params))


def risk_levels_at(conn: sqlite3.Connection, at_s: float) -> dict[str, dict[str, Any]]:
    """Each area's level as it was at `at_s` (its last change before then): the map at a point of its history."""
    return {r["area_id"]: r for r in _risk_level_dicts(conn.execute(
        "SELECT * FROM risk_levels WHERE id IN (SELECT max(id) FROM risk_levels WHERE at_s <= ? GROUP BY area_id)"
        " ORDER BY area_id", (at_s,)))}


def risk_level_span(conn: sqlite3.Connection) -> tuple[float | None, float | None]:
    """When the risk map's recorded history begins and ends (its first and last level change; None, None: none)."""
    first, last = conn.execute("SELECT min(at_s), max(at_s) FROM risk_levels").fetchone()
    return first, last


def risk_input_rows(conn: sqlite3.Connection, *, since_s: float | None = None) -> list[dict[str, Any]]:
    rows = _dicts(conn.execute("SELECT * FROM risk_inputs WHERE at_s >= ? ORDER BY at_s, rowid",
                               (since_s if since_s is not None else float("-inf"),)))
    for r in rows:
        r["lockdown"] = None if r["lockdown"] is None else bool(r["lockdown"])
    return rows


def risk_history(conn: sqlite3.Connection, since_s: float):
    """What the risk map needs from before a start (core/risk_data.RiskLoaded): gatherings that started since `since_s`
    or are still open, fever hints since then, every health official's input (lockdowns hold until lifted) and each
    area's last recorded level."""
    from groundstation.core.crowds import GatheringRow
    from groundstation.core.risk_data import RiskInputRow, RiskLoaded

    gatherings = tuple(
        GatheringRow(r["gathering_id"], r["zone_id"], r["updated_at_s"], r["status"], r["started_at_s"], r["count"],
                     r["peak_count"], r["capacity_persons"], r["reason"], r["ended_at_s"])
        for r in _dicts(conn.execute("SELECT * FROM gatherings WHERE started_at_s >= ? OR status = 'gathering'"
                                     " ORDER BY started_at_s", (since_s,))))
    alerts = tuple(
        AlertRow(r["alert_id"], r["at_s"], r["kind"], r["severity"], r["text"], r["zone_id"], r["vehicle_id"],
                 r["response_id"], json.loads(r["data_json"]))
        for r in _dicts(conn.execute("SELECT * FROM alerts WHERE kind = 'fever_hint' AND at_s >= ? ORDER BY at_s",
                                     (since_s,))))
    inputs = tuple(RiskInputRow(r["input_id"], r["at_s"], r["unit_id"], r["by"], r["cases"], r["close_contacts"],
                                r["lockdown"], r["note"]) for r in risk_input_rows(conn))
    levels = {area: r["level"] for area, r in risk_levels_at(conn, float("inf")).items()}
    return RiskLoaded(gatherings, alerts, inputs, levels)


def venue_count_rows(conn: sqlite3.Connection, venue_id: str | None = None, *, since_s: float | None = None,
                     until_s: float | None = None) -> list[dict[str, Any]]:
    """Oldest first."""
    where, params = StorageReader._where(None, {"venue_id": venue_id})
    for clause, value in ((" at_s >= ?", since_s), (" at_s < ?", until_s)):
        if value is not None:
            where, params = (where + " AND" if where else " WHERE") + clause, params + (value,)
    rows = _dicts(conn.execute(f"SELECT * FROM venue_counts{where} ORDER BY at_s, id", params))
    for r in rows:
        r["over_limit"] = bool(r["over_limit"])
    return rows


# retention: kind of record -> (table, its time column, default days; 0 keeps it for ever). Thermal readings (screening
# hints about people) and positions are kept shortest; the audit trail (commands, inputs, acknowledgements) longest.
RETENTION: dict[str, tuple[str, str, float]] = {
    "thermal_readings": ("thermal_readings", "at_s", 14.0),
    "crowd_observations": ("crowd_observations", "at_s", 30.0),
    "view_counts": ("view_counts", "at_s", 30.0),
    "zone_counts": ("zone_counts", "at_s", 90.0),
    "venue_counts": ("venue_counts", "at_s", 90.0),
    "stream_status": ("stream_status", "at_s", 90.0),
    "events": ("events", "at_s", 180.0),
    "gatherings": ("gatherings", "started_at_s", 365.0),
    "responses": ("responses", "started_at_s", 365.0),
    "response_steps": ("response_steps", "at_s", 365.0),
    "broadcasts": ("broadcasts", "requested_at_s", 365.0),
    "alerts": ("alerts", "at_s", 365.0),
    "notices": ("notices", "created_at_s", 365.0),
    "deliveries": ("deliveries", "requested_at_s", 365.0),
    "escalations": ("escalations", "at_s", 365.0),
    "link_changes": ("link_changes", "at_s", 365.0),
    "mission_runs": ("mission_runs", "created_at_s", 730.0),
    "patrol_runs": ("patrol_runs", "planned_at_s", 730.0),
    "risk_levels": ("risk_levels", "at_s", 1825.0),
    "risk_inputs": ("risk_inputs", "at_s", 1825.0),
    "notice_acks": ("notice_acks", "at_s", 1825.0),
    "alert_acks": ("alert_acks", "acked_at_s", 1825.0),
    "commands": ("commands", "requested_at_s", 1825.0),
    # alerts' evidence snapshots (people blurred); the housekeeping deletes their files before their rows
    "snapshots": ("snapshots", "at_s", 30.0),
}


def purge(conn: sqlite3.Connection, rules: dict[str, float], now_s: float) -> list[dict[str, Any]]:
    """Delete the rows older than each rule's days (0: none) in one transaction, and record each rule that deleted
    something in the purges table (what, when, by which rule, how many). Returns those records."""
    done: list[dict[str, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for rule, days in rules.items():
            if rule not in RETENTION:
                raise StorageError(f"no retention rule for {rule!r}")
            if days <= 0:
                continue
            table, column, _ = RETENTION[rule]
            cutoff = now_s - days * 86_400.0
            deleted = conn.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,)).rowcount
            if deleted:
                conn.execute("INSERT INTO purges (at_s, rule, table_name, days, cutoff_s, rows_deleted)"
                             " VALUES (?,?,?,?,?,?)", (now_s, rule, table, days, cutoff, deleted))
                done.append({"at_s": now_s, "rule": rule, "table_name": table, "days": days, "cutoff_s": cutoff,
                             "rows_deleted": deleted})
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done


def snapshot_row(conn: sqlite3.Connection, alert_id: str) -> dict[str, Any] | None:
    """The evidence snapshot recorded for an alert, or None."""
    rows = _dicts(conn.execute("SELECT * FROM snapshots WHERE alert_id = ?", (alert_id,)))
    return rows[0] if rows else None


def snapshot_paths_before(conn: sqlite3.Connection, cutoff_s: float) -> list[str]:
    """The files (relative to the database's folder) of the snapshots taken before `cutoff_s`: the retention purge
    deletes these, then their rows (purge)."""
    return [r[0] for r in conn.execute("SELECT path FROM snapshots WHERE at_s < ? ORDER BY at_s", (cutoff_s,))]


def purge_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every recorded purge, oldest first."""
    return _dicts(conn.execute("SELECT * FROM purges ORDER BY at_s, id"))


def time_span(conn: sqlite3.Connection) -> tuple[float | None, float | None]:
    """The first and last time anything was recorded (the event log, the commands), or (None, None)."""
    row = conn.execute("SELECT min(t), max(t) FROM (SELECT min(at_s) AS t FROM events UNION ALL SELECT max(at_s) FROM"
                       " events UNION ALL SELECT min(requested_at_s) FROM commands UNION ALL SELECT"
                       " max(requested_at_s) FROM commands)").fetchone()
    return row[0], row[1]


def day_records(conn: sqlite3.Connection, start_s: float, end_s: float) -> dict[str, list[dict[str, Any]]]:
    """Everything a daily report shows for [start_s, end_s): each list oldest first."""
    span = (start_s, end_s)

    def rows(sql: str, params: tuple[Any, ...] = span) -> list[dict[str, Any]]:
        out = _dicts(conn.execute(sql, params))
        for r in out:
            for key in ("data_json", "params_json"):
                if key in r:
                    r[key[:-5]] = json.loads(r.pop(key))
        return out

    responses = rows("SELECT * FROM responses WHERE started_at_s >= ? AND started_at_s < ? ORDER BY started_at_s")
    ids = tuple(r["response_id"] for r in responses)
    marks = ", ".join("?" * len(ids))
    alerts = rows("SELECT * FROM alerts WHERE at_s >= ? AND at_s < ? ORDER BY at_s, rowid")
    alert_ids = tuple(a["alert_id"] for a in alerts)
    alert_marks = ", ".join("?" * len(alert_ids))
    return {
        "schedules": _dicts(conn.execute("SELECT schedule_id, name, zone_file, plan_json, interval_s, cron FROM"
                                         " schedules ORDER BY name")),
        "patrol_runs": rows("SELECT * FROM patrol_runs WHERE (planned_at_s >= ? AND planned_at_s < ?) OR"
                            " (launched_at_s IS NOT NULL AND launched_at_s < ? AND coalesce(ended_at_s, ?) >= ?)"
                            " ORDER BY planned_at_s, rowid", (start_s, end_s, end_s, end_s, start_s)),
        "gatherings": rows("SELECT * FROM gatherings WHERE started_at_s < ? AND coalesce(ended_at_s, ?) >= ?"
                           " ORDER BY started_at_s", (end_s, end_s, start_s)),
        "responses": responses,
        "response_steps": rows(f"SELECT * FROM response_steps WHERE response_id IN ({marks}) ORDER BY id", ids)
        if ids else [],
        "alerts": alerts,
        "thermal_readings": rows("SELECT * FROM thermal_readings WHERE at_s >= ? AND at_s < ? ORDER BY at_s, id"),
        "risk_levels": _risk_level_dicts(conn.execute(
            "SELECT * FROM risk_levels WHERE at_s >= ? AND at_s < ? ORDER BY at_s, id", span)),
        "risk_inputs": [r for r in risk_input_rows(conn, since_s=start_s) if r["at_s"] < end_s],
        "notices": rows(f"SELECT * FROM notices WHERE alert_id IN ({alert_marks}) ORDER BY created_at_s",
                        alert_ids) if alert_ids else [],
        "notice_acks": rows(f"SELECT * FROM notice_acks WHERE alert_id IN ({alert_marks}) ORDER BY at_s",
                            alert_ids) if alert_ids else [],
        "alert_acks": rows(f"SELECT * FROM alert_acks WHERE alert_id IN ({alert_marks}) ORDER BY acked_at_s",
                           alert_ids) if alert_ids else [],
        "zone_counts": rows("SELECT zone_id, at_s, count, capacity_persons, over_capacity FROM zone_counts"
                            " WHERE at_s >= ? AND at_s < ? ORDER BY at_s, id"),
        "crowd_observations": rows("SELECT at_s, lat_deg, lon_deg, count, radius_m, zone_id FROM crowd_observations"
                                   " WHERE at_s >= ? AND at_s < ? ORDER BY at_s, id"),
        "venue_counts": venue_count_rows(conn, since_s=start_s, until_s=end_s),
        "grid_units": grid_unit_rows(conn),
        "events": rows("SELECT at_s FROM events WHERE at_s >= ? AND at_s < ? LIMIT 1"),
    }


def audit_rows(conn: sqlite3.Connection, from_s: float, to_s: float) -> list[dict[str, Any]]:
    """The audit trail in [from_s, to_s), oldest first, one shape for every kind: `record` (command, alert_ack,
    notice_ack, risk_input, purge), `at_s`, `who`, `what`, `decision`, `detail` (the row's other fields)."""
    out: list[dict[str, Any]] = []
    span = (from_s, to_s)
    for r in _dicts(conn.execute("SELECT * FROM commands WHERE requested_at_s >= ? AND requested_at_s < ?"
                                 " ORDER BY requested_at_s, id", span)):
        params = json.loads(r.pop("params_json"))
        out.append({"record": "command", "at_s": r["requested_at_s"], "who": r["requested_by"],
                    "what": f"{r['action']} {r['vehicle_id']}".strip(), "decision": r["decision"],
                    "detail": {**{k: v for k, v in r.items() if k not in ("id", "requested_at_s", "requested_by")},
                               "params": params}})
    for r in _dicts(conn.execute("SELECT * FROM alert_acks WHERE acked_at_s >= ? AND acked_at_s < ?", span)):
        out.append({"record": "alert_ack", "at_s": r["acked_at_s"], "who": r["acked_by"],
                    "what": f"acknowledged alert {r['alert_id']}", "decision": "", "detail": r})
    for r in _dicts(conn.execute("SELECT * FROM notice_acks WHERE at_s >= ? AND at_s < ?", span)):
        out.append({"record": "notice_ack", "at_s": r["at_s"], "who": r["by"],
                    "what": f"acknowledged notice {r['notice_id']}", "decision": r["via"], "detail": r})
    for r in risk_input_rows(conn, since_s=from_s):
        if r["at_s"] < to_s:
            out.append({"record": "risk_input", "at_s": r["at_s"], "who": r["by"],
                        "what": f"risk input for {r['unit_id']}", "decision": "", "detail": r})
    for r in _dicts(conn.execute("SELECT * FROM purges WHERE at_s >= ? AND at_s < ?", span)):
        out.append({"record": "purge", "at_s": r["at_s"], "who": "station (retention)",
                    "what": f"purged {r['rows_deleted']} {r['table_name']} row(s) older than {r['days']:g} days",
                    "decision": r["rule"], "detail": r})
    out.sort(key=lambda d: (d["at_s"], d["record"]))
    return out


# --- MBTiles: local map tiles for the web map (read-only; the file is made by a tile tool, never written here) ---

def open_mbtiles(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an MBTiles file (sqlite3.OperationalError when it cannot be opened as one)."""
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def mbtiles_metadata(conn: sqlite3.Connection) -> dict[str, str]:
    """The MBTiles `metadata` table (name -> value: format, minzoom, maxzoom, bounds, attribution, ...)."""
    return {str(name): str(value) for name, value in conn.execute("SELECT name, value FROM metadata")}


def mbtiles_tile(conn: sqlite3.Connection, z: int, x: int, y: int) -> bytes | None:
    """The tile at zoom z, column x, row y counted from the north (XYZ, as web maps ask), or None. MBTiles numbers
    rows from the south (TMS), so the row looked up is 2^z - 1 - y."""
    row = conn.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                       (z, x, (1 << z) - 1 - y)).fetchone()
    return None if row is None else bytes(row[0])
