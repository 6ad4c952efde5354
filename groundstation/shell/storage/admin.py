"""What operators change: the patrol schedules (the `schedule` CLI, its own process, and the station's loader through
StorageWriter.call), and the web map's users and alert acknowledgements (migration 6: the `user` CLI and the web
bridge, each on its own connection from open_database, one short transaction per change).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from groundstation.shell.storage.schema import StorageError


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
