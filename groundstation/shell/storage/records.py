"""Reports and the audit export: the time span of the record, everything a daily report shows for a day
(day_records) and the audit trail in one shape for every kind (audit_rows).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from groundstation.shell.storage.grid import grid_unit_rows
from groundstation.shell.storage.reader import _dicts
from groundstation.shell.storage.risk import _risk_level_dicts, risk_input_rows, venue_count_rows


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
