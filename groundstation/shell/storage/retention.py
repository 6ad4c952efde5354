"""Retention: how long each kind of record is kept (`RETENTION`), the purge (run through StorageWriter.call) and its
records, and the alerts' evidence snapshots (their rows, and the files the purge deletes before the rows).
"""
from __future__ import annotations

import sqlite3
from typing import Any

from groundstation.shell.storage.reader import _dicts
from groundstation.shell.storage.schema import StorageError


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
