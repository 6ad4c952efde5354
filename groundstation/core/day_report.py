"""A day's records summarised for the daily report, pure: which district each record belongs to, the key figures,
and the report's tables (patrol coverage and hours flown, gatherings and how they ended, responses with timings,
fever hints, risk changes, alert handling times, venues). The shell (shell/report.py) reads the rows
(storage.day_records), draws the maps and plots and writes HTML or PDF.

Districts: with a grid, each district of it gets a section holding what happened in its cells (a record's zone, cell
or position; a patrol by the cells its waypoints lie in; a venue by where it stands); without one, one section for
the whole area. Times are shown in the report's time zone.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from groundstation.core.response_data import SCREENING_NOTICE
from missions.areas import CountingZone
from missions.grid import Grid

WHOLE_AREA = "all"


@dataclass(frozen=True)
class DistrictScope:
    """What belongs to one section: its grid units, counting zones, schedules and venues (ids)."""

    district_id: str
    name: str
    units: frozenset[str]  # every grid unit in it (cells, communities, streets, itself)
    zones: frozenset[str]  # counting zone ids ("grid:<cell>" and the zones over its cells)
    schedules: frozenset[str]
    venues: frozenset[str]
    everything: bool = False  # the whole-area section (no grid): every record belongs


def scopes(grid: Grid | None, zones: Iterable[CountingZone], schedule_points: Mapping[str, Sequence[tuple[float, float]]],
           venues: Mapping[str, tuple[float, float]]) -> tuple[DistrictScope, ...]:
    """One scope per district of the grid (in file order), or one for the whole area without a grid."""
    if grid is None:
        return (DistrictScope(WHOLE_AREA, "Whole area", frozenset(), frozenset(z.zone_id for z in zones),
                              frozenset(schedule_points), frozenset(venues), everything=True),)
    zones = tuple(zones)
    out = []
    for district in (u for u in grid.units if u.level == "district"):
        units = frozenset(u.unit_id for u in grid.units if district in grid.chain(u.unit_id))
        cells = {c.unit_id for c in grid.cells if c.unit_id in units}
        zone_ids = {f"grid:{c}" for c in cells}
        zone_ids |= {z.zone_id for z in zones if not z.zone_id.startswith("grid:")
                     and set(grid.cells_covering(z.parts)) & cells}

        def inside(points: Sequence[tuple[float, float]]) -> bool:
            return any((cell := grid.cell_at(lat, lon)) is not None and cell.unit_id in cells for lat, lon in points)
        out.append(DistrictScope(district.unit_id, district.name, units, frozenset(zone_ids),
                                 frozenset(s for s, pts in schedule_points.items() if inside(pts)),
                                 frozenset(v for v, pos in venues.items() if inside([pos]))))
    return tuple(out)


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "none"  # what the report says when there are no rows
    note: str = ""


@dataclass(frozen=True)
class Section:
    scope: DistrictScope
    figures: tuple[tuple[str, str], ...]  # key figures: (label, value)
    tables: tuple[Table, ...]
    rows: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)  # the section's records (for the plots)

    @property
    def has_records(self) -> bool:
        """Something was recorded that day (a gathering still open from an earlier day is not enough)."""
        return any(self.rows.get(k) for k in ("patrol_runs", "responses", "alerts", "risk_levels", "zone_counts",
                                               "venue_counts", "risk_inputs", "crowd_observations"))


@dataclass(frozen=True)
class DayReport:
    day: date
    tz_name: str
    start_s: float
    end_s: float
    sections: tuple[Section, ...]


# --- formatting -------------------------------------------------------------------------------------------------


def _clock(t_s: float | None, tz: ZoneInfo) -> str:
    return "-" if t_s is None else datetime.fromtimestamp(t_s, tz).strftime("%H:%M:%S")


def duration(seconds: float | None) -> str:
    """'45 s', '12 min', '2 h 05 min', or '-'."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(int(round(seconds / 60)), 60)
    return f"{hours} h {rest:02d} min"


# --- what belongs to a section ---------------------------------------------------------------------------------


def _positions(data: Any) -> list[tuple[float, float]]:
    if not isinstance(data, Mapping):
        return []
    if isinstance(data.get("lat_deg"), (int, float)) and isinstance(data.get("lon_deg"), (int, float)):
        return [(float(data["lat_deg"]), float(data["lon_deg"]))]
    people = data.get("people")
    return [(float(p["lat_deg"]), float(p["lon_deg"])) for p in people or () if isinstance(p, Mapping)
            and isinstance(p.get("lat_deg"), (int, float)) and isinstance(p.get("lon_deg"), (int, float))]


def select(rows: Mapping[str, list[dict[str, Any]]], scope: DistrictScope, grid: Grid | None
           ) -> dict[str, list[dict[str, Any]]]:
    """The records of one section."""
    if scope.everything or grid is None:
        return {k: list(v) for k, v in rows.items()}

    def at(points: list[tuple[float, float]]) -> bool:
        return any((c := grid.cell_at(lat, lon)) is not None and c.unit_id in scope.units for lat, lon in points)

    def alert_in(a: Mapping[str, Any]) -> bool:
        points = _positions(a.get("data"))
        return at(points) if points else a.get("zone_id") in scope.zones

    alerts = [a for a in rows.get("alerts", []) if alert_in(a)]
    alert_ids = {a["alert_id"] for a in alerts}
    responses = [r for r in rows.get("responses", []) if r.get("zone_id") in scope.zones]
    response_ids = {r["response_id"] for r in responses}
    return {
        "patrol_runs": [r for r in rows.get("patrol_runs", []) if r.get("schedule_id") in scope.schedules],
        "schedules": [s for s in rows.get("schedules", []) if s.get("schedule_id") in scope.schedules],
        "gatherings": [g for g in rows.get("gatherings", []) if g.get("zone_id") in scope.zones],
        "responses": responses,
        "response_steps": [s for s in rows.get("response_steps", []) if s.get("response_id") in response_ids],
        "alerts": alerts,
        "thermal_readings": [t for t in rows.get("thermal_readings", []) if t.get("response_id") in response_ids],
        "risk_levels": [r for r in rows.get("risk_levels", []) if r.get("area_id") in scope.units],
        "risk_inputs": [r for r in rows.get("risk_inputs", []) if r.get("unit_id") in scope.units],
        "notices": [n for n in rows.get("notices", []) if n.get("alert_id") in alert_ids],
        "notice_acks": [n for n in rows.get("notice_acks", []) if n.get("alert_id") in alert_ids],
        "alert_acks": [n for n in rows.get("alert_acks", []) if n.get("alert_id") in alert_ids],
        "zone_counts": [z for z in rows.get("zone_counts", []) if z.get("zone_id") in scope.zones],
        "crowd_observations": [c for c in rows.get("crowd_observations", []) if at([(c["lat_deg"], c["lon_deg"])])],
        "venue_counts": [v for v in rows.get("venue_counts", []) if v.get("venue_id") in scope.venues],
        "grid_units": [u for u in rows.get("grid_units", []) if u.get("unit_id") in scope.units],
    }


# --- the tables -------------------------------------------------------------------------------------------------


def _overlap_s(start: float | None, end: float | None, day_start: float, day_end: float) -> float:
    if start is None:
        return 0.0
    return max(0.0, min(end if end is not None else day_end, day_end) - max(start, day_start))


def patrol_table(rows: Mapping[str, list[dict[str, Any]]], start_s: float, end_s: float) -> tuple[Table, float, dict]:
    """Per schedule: fire times, flown, completed, aborted, missed, coverage (completed of fire times) and hours flown;
    the hours flown in all and the counts by status."""
    names = {s["schedule_id"]: s["name"] for s in rows.get("schedules", [])}
    per: dict[str, dict[str, float]] = {}
    for run in rows.get("patrol_runs", []):
        p = per.setdefault(run["schedule_id"], {"fired": 0, "launched": 0, "completed": 0, "aborted": 0,
                                                "missed": 0, "flown_s": 0.0})
        if run.get("relieves_run") is None and start_s <= (run.get("scheduled_for_s") or run["planned_at_s"]) < end_s:
            p["fired"] += 1
        if run.get("launched_at_s") is not None:
            p["launched"] += 1
        if run["status"] in ("completed", "aborted", "missed"):
            p[run["status"]] += 1
        p["flown_s"] += _overlap_s(run.get("launched_at_s"), run.get("ended_at_s"), start_s, end_s)
    table_rows = []
    for sid, p in sorted(per.items(), key=lambda kv: names.get(kv[0], kv[0])):
        coverage = f"{100.0 * p['completed'] / p['fired']:.0f} %" if p["fired"] else "-"
        table_rows.append((names.get(sid, sid), str(int(p["fired"])), str(int(p["launched"])),
                           str(int(p["completed"])), str(int(p["aborted"])), str(int(p["missed"])), coverage,
                           f"{p['flown_s'] / 3600:.2f}"))
    flown = sum(p["flown_s"] for p in per.values())
    totals = {k: int(sum(p[k] for p in per.values())) for k in ("fired", "launched", "completed", "aborted", "missed")}
    return (Table("Patrol coverage and hours flown",
                  ("schedule", "fire times", "flown", "completed", "aborted", "missed", "coverage", "hours flown"),
                  tuple(table_rows), "no patrol was scheduled or flown",
                  "coverage: runs completed of the schedule's fire times that day (relief flights of a rotation "
                  "not counted as fire times)"),
            flown, totals)


def gathering_table(rows: Mapping[str, list[dict[str, Any]]], tz: ZoneInfo, end_s: float) -> Table:
    by_gathering = {r["gathering_id"]: r for r in rows.get("responses", [])}
    out = []
    for g in rows.get("gatherings", []):
        response = by_gathering.get(g["gathering_id"])
        if g["status"] == "dispersed":
            how = "dispersed" + (f" after a response ({response['outcome'] or response['state']})" if response else
                                 " by itself")
        else:
            how = "still gathering at the end of the day" if g.get("ended_at_s") is None else g["status"]
        end = g.get("ended_at_s")
        out.append((_clock(g["started_at_s"], tz), g["zone_id"], _clock(end, tz),
                    duration((end if end is not None else end_s) - g["started_at_s"]),
                    f"{g['peak_count']} / {g['capacity_persons']}", how))
    return Table("Gatherings and how they ended", ("started", "zone", "ended", "lasted", "peak / capacity", "outcome"),
                 tuple(out), "no gathering")


_STEP_COLUMNS = (("approaching", "drone sent"), ("thermal_sampling", "over the crowd"),
                 ("broadcasting", "broadcast"))


def response_table(rows: Mapping[str, list[dict[str, Any]]], tz: ZoneInfo) -> Table:
    steps: dict[str, dict[str, float]] = {}
    for s in rows.get("response_steps", []):
        steps.setdefault(s["response_id"], {}).setdefault(s["state"], s["at_s"])
    out = []
    for r in rows.get("responses", []):
        first = steps.get(r["response_id"], {})
        t0 = r["started_at_s"]
        timings = tuple("-" if state not in first else f"+{duration(first[state] - t0)}" for state, _ in _STEP_COLUMNS)
        out.append((_clock(t0, tz), r["zone_id"], r.get("vehicle_id") or "-", *timings,
                    duration(r["ended_at_s"] - t0) if r.get("ended_at_s") else "running",
                    r.get("outcome") or r["state"]))
    return Table("Crowd responses with timings",
                 ("confirmed", "zone", "drone", *(label for _, label in _STEP_COLUMNS), "total", "outcome"),
                 tuple(out), "no crowd response", "timings from the gathering's confirmation")


def fever_table(rows: Mapping[str, list[dict[str, Any]]], tz: ZoneInfo) -> Table:
    out = []
    for a in rows.get("alerts", []):
        if a["kind"] != "fever_hint":
            continue
        people = [p for p in (a.get("data") or {}).get("people", []) if isinstance(p, Mapping)]
        temps = ", ".join(f"{p.get('temp_c', 0):.1f} ± {p.get('uncertainty_c') or 0:.1f} °C" for p in people)
        out.append((_clock(a["at_s"], tz), a.get("zone_id") or "-", str(len(people)), temps or "-"))
    return Table("Fever hints", ("at", "zone", "people", "skin temperature"), tuple(out), "no fever hint",
                 f"A drone's reading: {SCREENING_NOTICE}.")


def risk_table(rows: Mapping[str, list[dict[str, Any]]], tz: ZoneInfo) -> Table:
    out = [(_clock(r["at_s"], tz), r["area_id"], r.get("previous") or "(first)", r["level"], r["trigger"],
            (r.get("reasons") or ["-"])[0]) for r in rows.get("risk_levels", []) if r.get("previous") is not None]
    out += [(_clock(r["at_s"], tz), r["unit_id"], "input", "-", r["by"],
             ", ".join(x for x in (f"{r['cases']} cases" if r["cases"] else "",
                                   f"{r['close_contacts']} close contacts" if r["close_contacts"] else "",
                                   {True: "lockdown declared", False: "lockdown lifted", None: ""}[r["lockdown"]],
                                   r.get("note") or "") if x))
            for r in rows.get("risk_inputs", [])]
    out.sort(key=lambda row: row[0])
    return Table("Risk changes and health officials' inputs", ("at", "area", "from", "to", "by", "why"), tuple(out),
                 "no change of risk level")


def alert_handling(rows: Mapping[str, list[dict[str, Any]]], tz: ZoneInfo) -> tuple[Table, list[float]]:
    """Each alert: when it was first acknowledged (by an officer's notice or an operator) and how long that took."""
    acks: dict[str, tuple[float, str]] = {}
    for n in rows.get("notice_acks", []):
        if n["alert_id"] not in acks or n["at_s"] < acks[n["alert_id"]][0]:
            acks[n["alert_id"]] = (n["at_s"], n["by"])
    for n in rows.get("alert_acks", []):
        if n["alert_id"] not in acks or n["acked_at_s"] < acks[n["alert_id"]][0]:
            acks[n["alert_id"]] = (n["acked_at_s"], n["acked_by"])
    escalations = {}
    for n in rows.get("notices", []):
        escalations[n["alert_id"]] = max(escalations.get(n["alert_id"], 0), n["escalations"])
    out, taken = [], []
    for a in rows.get("alerts", []):
        ack = acks.get(a["alert_id"])
        if ack is not None:
            taken.append(ack[0] - a["at_s"])
        out.append((_clock(a["at_s"], tz), a["kind"], a.get("zone_id") or "-",
                    _clock(ack[0], tz) if ack else "not acknowledged", ack[1] if ack else "-",
                    duration(ack[0] - a["at_s"]) if ack else "-", str(escalations.get(a["alert_id"], 0))))
    return Table("Alert handling", ("alert at", "kind", "zone", "acknowledged", "by", "took", "escalations"),
                 tuple(out), "no alert"), taken


def venue_table(rows: Mapping[str, list[dict[str, Any]]]) -> Table:
    per: dict[str, dict[str, Any]] = {}
    for v in rows.get("venue_counts", []):
        p = per.setdefault(v["venue_id"], {"peak": 0, "limit": v["limit_persons"], "in": 0, "out": 0, "over": 0,
                                           "was_over": False})
        p["peak"] = max(p["peak"], v["occupancy"])
        p["limit"] = v["limit_persons"]
        p["in"] += v["entered"]
        p["out"] += v["exited"]
        if v["over_limit"] and not p["was_over"]:
            p["over"] += 1
        p["was_over"] = v["over_limit"]
    return Table("Venues", ("venue", "entered", "left", "peak occupancy", "limit", "times over the limit"),
                 tuple((vid, str(p["in"]), str(p["out"]), str(p["peak"]), str(p["limit"]), str(p["over"]))
                       for vid, p in sorted(per.items())), "no venue counts")


def section(rows: Mapping[str, list[dict[str, Any]]], scope: DistrictScope, tz: ZoneInfo, start_s: float,
            end_s: float) -> Section:
    patrols, flown_s, totals = patrol_table(rows, start_s, end_s)
    alerts, taken = alert_handling(rows, tz)
    fevers = [a for a in rows.get("alerts", []) if a["kind"] == "fever_hint"]
    changes = [r for r in rows.get("risk_levels", []) if r.get("previous") is not None]
    figures = (
        ("patrol runs completed / fire times", f"{totals['completed']} / {totals['fired']}"),
        ("hours flown on patrol", f"{flown_s / 3600:.2f}"),
        ("gatherings", str(len(rows.get("gatherings", [])))),
        ("crowd responses", str(len(rows.get("responses", [])))),
        ("fever hints (to confirm on the ground)", str(len(fevers))),
        ("risk level changes", str(len(changes))),
        ("alerts / acknowledged", f"{len(rows.get('alerts', []))} / {len(taken)}"),
        ("median time to acknowledge", duration(statistics.median(taken)) if taken else "-"),
    )
    tables = (patrols, gathering_table(rows, tz, end_s), response_table(rows, tz), fever_table(rows, tz),
              risk_table(rows, tz), alerts, venue_table(rows))
    return Section(scope, figures, tables, dict(rows))


def summarise(rows: Mapping[str, list[dict[str, Any]]], all_scopes: Sequence[DistrictScope], grid: Grid | None,
              day: date, tz_name: str, start_s: float, end_s: float, district: str | None = None) -> DayReport:
    """The report of one day: a section per district (or only `district`; KeyError naming the known ones)."""
    chosen = list(all_scopes)
    if district is not None:
        chosen = [s for s in all_scopes if district in (s.district_id, s.name)]
        if not chosen:
            raise KeyError(f"no district {district!r} (known: {', '.join(s.district_id for s in all_scopes)})")
    tz = ZoneInfo(tz_name)
    sections = tuple(section(select(rows, s, grid), s, tz, start_s, end_s) for s in chosen)
    return DayReport(day, tz_name, start_s, end_s, sections)
