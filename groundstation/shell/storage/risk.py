"""The risk map and venues (migration 9): level changes, health officials' inputs, what the risk map reloads at a
start (risk_history) and venue counts, written by the station's writer (write_row), read here on any connection.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from groundstation.core.response_data import AlertRow
from groundstation.shell.storage.reader import StorageReader, _dicts


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
