"""Grid management (migration 8): the grid in force and the notices to its officers (their deliveries,
acknowledgements and escalations), written by the station's writer (write_row), read here on any connection (the
web map, reports, tests).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from groundstation.shell.storage.reader import StorageReader, _dicts


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
