"""Patrol schedules in the station database: validate and plan, add, list, remove, and load for the station.

`add_schedule` does every check first (zone file readable and non-empty, polygon valid, plan inside the
geofence and under the altitude limit, cron/interval and time zone valid, name unique) and then writes ONE
row in ONE transaction: a bad input stores nothing. What is stored: the mission as planned and checked
(plan_json: items without ArduPilot's home slot, the plan's start point and estimates) plus the zone file's
text and the pattern parameters for the record (zone_text, spec_json). The station flies the stored mission;
its own upload checks (fence, altitude, distance, battery) run again at every launch.

Writing while a station runs is safe: the database is in WAL mode, writes wait for the station's writer
(busy timeout), and the running station notices a changed schedules table on its next tick and reloads it
(through its storage writer: `load_for_station` runs on the writer's connection). The SQL is in storage/admin.py.
"""
from __future__ import annotations

import math
import sqlite3
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from groundstation.core.patrols import PatrolSchedule, ResumePoint, StaleRun, resume_point
from groundstation.shell import storage
from telemetry.records import MissionItem


class ScheduleInputError(Exception):
    """Bad input for a schedule: nothing was stored."""


@dataclass(frozen=True)
class NewSchedule:
    name: str
    zone_path: str
    pattern: str
    alt_m: float
    cron: str | None = None
    interval_s: float | None = None
    tz_name: str = "UTC"
    grace_s: float = 600.0
    cover_s: float | None = None  # rotation: keep the zone covered this long after each fire time
    speed_m_s: float = 8.0
    overlap: float = 0.2
    gimbal_pitch_deg: float = -90.0
    camera_hfov_deg: float = 84.0
    camera_vfov_deg: float = 66.0
    zone_name: str | None = None
    home: tuple[float, float] | None = None
    loiter_s: float = 0.0
    radius_m: float = 50.0


def _item(it) -> dict[str, Any]:
    """A missions item as a stored telemetry MissionItem: unset params (None) become 0 (ignored by ArduCopter
    for the items planned here: takeoff and waypoint yaw)."""
    def num(v):
        return 0.0 if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)
    return {"command": int(it.command), "frame": int(it.frame), "param1": num(it.param1), "param2": num(it.param2),
            "param3": num(it.param3), "param4": num(it.param4), "lat_deg": num(it.lat_deg), "lon_deg": num(it.lon_deg),
            "alt_m": num(it.alt_m), "autocontinue": bool(it.autocontinue)}


def plan_schedule(new: NewSchedule, config: Any = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Read the zone, validate the timing, plan and check the patrol: (zone text, spec, plan) or
    ScheduleInputError saying what is wrong."""
    from missions.camera import Camera
    from missions.errors import MissionError, PlanRefused
    from missions.estimate import VehicleProfile
    from missions.geo import GeoPoint
    from missions.planner import PatrolSpec, plan_patrol
    from missions.schedule import Schedule
    from missions.zone import zones_from_text

    if not new.name or not new.name.strip():
        raise ScheduleInputError("a schedule needs a name")
    try:  # timing first: it is cheap and says the most common mistake at once
        Schedule("new", new.name, cron=new.cron, interval_s=new.interval_s, tz_name=new.tz_name, grace_s=new.grace_s)
    except MissionError as e:
        raise ScheduleInputError(str(e)) from None
    if new.cover_s is not None and not (math.isfinite(new.cover_s) and new.cover_s > 0):
        raise ScheduleInputError(f"the coverage window must be a positive number of seconds, got {new.cover_s}")
    path = Path(new.zone_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleInputError(f"zone file {path} not found") from None
    except IsADirectoryError:
        raise ScheduleInputError(f"zone file {path} is a directory") from None
    except UnicodeDecodeError:
        raise ScheduleInputError(f"zone file {path} is not UTF-8 text") from None
    except OSError as e:
        raise ScheduleInputError(f"cannot read zone file {path}: {e.strerror or e}") from None
    if not text.strip():
        raise ScheduleInputError(f"zone file {path} is empty")
    home = GeoPoint(*new.home) if new.home else None
    profile = VehicleProfile()
    if config is not None:
        profile = config.patrols.profile()
    try:
        from missions.planner import PlanLimits

        limits = config.limits.plan_limits() if config is not None else PlanLimits()
        fence = config.geofence.plan_fence(home) if config is not None and config.geofence is not None else None
        zones = zones_from_text(text, path.name)
        spec = PatrolSpec(pattern=new.pattern, alt_m=new.alt_m, speed_m_s=new.speed_m_s,
                          camera=Camera(hfov_deg=new.camera_hfov_deg, vfov_deg=new.camera_vfov_deg),
                          gimbal_pitch_deg=new.gimbal_pitch_deg, side_overlap=new.overlap, loiter_s=new.loiter_s,
                          orbit_radius_m=new.radius_m)
        plan = plan_patrol(zones, spec, zone_name=new.zone_name, home=home, fence=fence, limits=limits,
                           vehicle=profile)
    except PlanRefused as e:
        raise ScheduleInputError("plan refused: " + "; ".join(e.reasons)) from None
    except (MissionError, ValueError) as e:
        raise ScheduleInputError(str(e)) from None
    start = plan.waypoints[0]
    plan_doc = {
        "items": [_item(it) for it in plan.items],
        "home": [plan.home.lat_deg, plan.home.lon_deg],
        "start": [start.lat_deg, start.lon_deg],
        "waypoints": len(plan.waypoints),
        "length_m": round(plan.estimate.length_m, 1),
        "duration_s": round(plan.estimate.duration_s, 1),
        "energy_wh": plan.estimate.energy_wh,
        "battery_pct": round(plan.estimate.battery_pct, 1),
        "coverage": round(plan.coverage, 4),
    }
    spec_doc = {k: v for k, v in asdict(new).items() if k not in ("name", "cron", "interval_s", "tz_name", "grace_s",
                                                                 "cover_s")}
    return text, spec_doc, plan_doc


def add_schedule(db_path: str | Path, new: NewSchedule, now_s: float, config: Any = None) -> dict[str, Any]:
    """Validate and plan (ScheduleInputError), then store in one transaction; return the stored row."""
    text, spec_doc, plan_doc = plan_schedule(new, config)
    conn = storage.open_database(db_path)
    try:
        return storage.insert_schedule(conn, uuid.uuid4().hex[:12], new.name.strip(), str(new.zone_path), text,
                                       spec_doc, plan_doc, new.cron.strip() if new.cron else None, new.interval_s,
                                       new.tz_name, new.grace_s, new.cover_s, now_s)
    except storage.DuplicateName as e:
        raise ScheduleInputError(str(e)) from None
    finally:
        conn.close()


def remove_schedule(db_path: str | Path, key: str) -> dict[str, Any]:
    """Remove a schedule by id or name (its recorded runs stay); ScheduleInputError if there is none."""
    conn = storage.open_database(db_path)
    try:
        out = storage.delete_schedule(conn, key)
    finally:
        conn.close()
    if out is None:
        raise ScheduleInputError(f"no schedule with id or name {key!r}")
    return out


def list_schedules(db_path: str | Path, now_s: float) -> list[dict[str, Any]]:
    """Every schedule with its next fire time and its latest run."""
    from missions.errors import MissionError
    from missions.schedule import next_fire

    conn = storage.open_database(db_path)
    try:
        rows = storage.schedule_rows(conn)
        for r in rows:
            last = storage.latest_patrol_run(conn, r["schedule_id"])
            r["last_run"] = None if last is None else {k: last[k] for k in ("run_id", "status", "reason", "vehicle_id")}
            try:
                nxt = next_fire(to_patrol_schedule(r).as_schedule(),
                                datetime.fromtimestamp(max(now_s, r["last_fired_s"] or 0.0), timezone.utc))
            except MissionError:
                nxt = None
            r["next_fire_s"] = None if nxt is None else nxt.timestamp()
        return rows
    finally:
        conn.close()


def to_patrol_schedule(row: dict[str, Any]) -> PatrolSchedule:
    plan = row["plan"]
    return PatrolSchedule(
        schedule_id=row["schedule_id"], name=row["name"],
        items=tuple(MissionItem(**it) for it in plan["items"]),
        start_lat_deg=plan["start"][0], start_lon_deg=plan["start"][1], energy_wh=float(plan["energy_wh"]),
        cron=row["cron"], interval_s=row["interval_s"], tz_name=row["tz_name"], enabled=bool(row["enabled"]),
        created_at_s=row["created_at_s"], last_fired_s=row["last_fired_s"], grace_s=row["grace_s"],
        cover_s=row["cover_s"])


# --- what the running station reads (on the storage writer's connection, through StorageWriter.call) -------


SchedulesLoadedParts = tuple[tuple[PatrolSchedule, ...], dict[str, ResumePoint], tuple[StaleRun, ...]]


def load_for_station(conn: sqlite3.Connection, *, at_start: bool, seen: tuple | None = None
                     ) -> tuple[tuple, SchedulesLoadedParts | None]:
    """(fingerprint, parts): parts is None when the fingerprint equals `seen` (nothing changed). Parts are the
    schedules and, at start, each schedule's resume point and the runs left unfinished by a stop."""
    fingerprint = storage.schedules_fingerprint(conn)
    if not at_start and fingerprint == seen:
        return fingerprint, None
    schedules = tuple(to_patrol_schedule(r) for r in storage.schedule_rows(conn, order="id"))
    resume: dict[str, ResumePoint] = {}
    stale: list[StaleRun] = []
    if at_start:
        for s in schedules:
            last = storage.latest_patrol_run(conn, s.schedule_id, statuses=("launched", "completed", "aborted"),
                                             first_runs_only=True)
            if last is not None and last["status"] == "aborted" and last["resume_item"] is not None:
                resume[s.schedule_id] = ResumePoint(last["run_id"], int(last["resume_item"]))
        by_id = {s.schedule_id: s for s in schedules}
        for run in storage.unfinished_patrol_runs(conn):
            sched = by_id.get(run["schedule_id"])
            point = None
            if sched is not None and run["status"] == "launched":
                reached = run["last_reached_item"]
                point = resume_point(sched, reached) if reached is not None else run["resume_from_item"]
            stale.append(StaleRun(run["run_id"], run["schedule_id"], run["vehicle_id"], point))
    return fingerprint, (schedules, resume, tuple(stale))

