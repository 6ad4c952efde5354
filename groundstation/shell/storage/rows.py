"""Writing rows: `write_row` stores one core row of any concern (inside the caller's transaction), with the writers
of the grid's and notices' rows (migration 8) and the risk map's and venues' rows (migration 9) it falls back on.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from groundstation.core.crowds import CrowdObservationRow, GatheringRow, StreamStatusRow, ViewCountRow, ZoneCountRow
from groundstation.core.patrols import PatrolRunRow, ScheduleFiredRow
from groundstation.core.records import CommandResultRow, CommandRow, EventRow, LinkRow, MissionRunRow, VehicleRow
from groundstation.core.response_data import AlertRow, BroadcastRow, ResponseRow, ResponseStepRow, ThermalReadingRow
from groundstation.shell.storage.schema import StorageError
from missions.zone import multipolygon_geojson

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
