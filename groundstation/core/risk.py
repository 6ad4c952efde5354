"""The five-colour risk map, pure: evidence from what the station records, the rule table (risk_data.py documents it),
each area's level with its reasons, every change recorded, and what the levels change in the other concerns.

Evidence (dispatch.py shows this module every event's records, `on_actions`, as it does notices.py):
- a gathering (crowds.GatheringRow) counts for the cells of its zone (a grid cell's zone "grid:<id>" is that cell; a
  counting zone: the cells it covers); when it ends, its duration adds over-capacity minutes (while it lasts, the time
  so far counts);
- a fever hint (response_data.AlertRow of kind "fever_hint") counts for the cells its people stood in (else its zone's);
- a health official's input (the station action "risk_input", audited: args unit_id, cases, close_contacts, lockdown
  true/false, note) counts for that cell or community; a lockdown holds until lifted.
Without a [grid] file the areas are the counting zones, and evidence counts for its own zone.

Levels: a cell's level is the highest its own indicators reach, at least the lockdown level while it or its
community is locked down; a community's is the highest of the rule table on everything in it (its cells' evidence
and its own inputs, each item once), of its lockdown and of its cells' levels. Each computation keeps every reason
(the indicator values reaching a level, the lockdown, the cell that raised a community) and records an area whose
level changed (RiskLevelRow, and an event); the first computation records every area.

When: on the patrol Tick every `recompute_s` (the schedule), on demand (the station action "recompute_risk"), at once
after a health official's input, and at start (RiskLoaded: the shell's evidence from the database).

What it changes (LevelEffect of the level, config [risk.effects]):
- a counting zone's safe capacity: times the capacity factor of its cell's level (a counting zone: the highest level
  of the cells it covers) (crowds.capacity_of; a red area tolerates smaller gatherings);
- a venue's limit: the same, by the cell the venue stands in (venues.py);
- a patrol schedule's interval: times the patrol interval factor of the highest level among the cells its waypoints
  lie in (patrols.risk_scaled; interval schedules only, never under 60 s; cron schedules keep their times).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from groundstation.core import crowds as cr
from groundstation.core import venues
from groundstation.core.patrols import SchedulesLoaded, risk_scaled
from groundstation.core.records import Action, CommandRequest, EventRow, Record
from groundstation.core.requests import accepted, refuse
from groundstation.core.response_data import AlertRow
from groundstation.core.risk_data import (
    INDICATORS,
    LEVELS,
    Assessment,
    Evidence,
    Lockdown,
    RiskArea,
    RiskInputRow,
    RiskLevelRow,
    RiskLoaded,
    RiskPolicy,
    RiskState,
    highest,
    rank,
)
from groundstation.core.state import StationState
from missions.areas import CountingZone
from missions.grid import Grid

_INPUT_ARGS = frozenset({"unit_id", "cases", "close_contacts", "lockdown", "note"})
_NAV_WITH_POSITION = frozenset({16, 17, 18, 19, 21, 22})  # waypoint, loiters, land, takeoff


# --- areas ----------------------------------------------------------------------------------------------------------


def areas_of(grid: Grid | None, zones: Iterable[CountingZone]) -> Mapping[str, RiskArea]:
    """The risk map's areas: every cell and community of the grid; without one, every counting zone."""
    if grid is None:
        return MappingProxyType({z.zone_id: RiskArea(z.zone_id, "zone", z.name) for z in zones
                                 if not z.zone_id.startswith("grid:")})
    out: dict[str, RiskArea] = {}
    for unit in grid.units:
        if unit.level == "community":
            cells = tuple(c.unit_id for c in grid.cells if c.parent_id == unit.unit_id)
            out[unit.unit_id] = RiskArea(unit.unit_id, "community", unit.name, cells=cells)
    for cell in grid.cells:
        parent = grid.parent(cell)
        out[cell.unit_id] = RiskArea(cell.unit_id, "cell", cell.name,
                                     parent.unit_id if parent is not None and parent.level == "community" else None)
    return MappingProxyType(out)


def install(state: StationState, policy: RiskPolicy) -> StationState:
    """The state with the risk map's policy and areas (from the grid in force, so after the grid is installed)."""
    areas = areas_of(state.notices.policy.grid, state.crowds.policy.zones)
    return replace(state, risk=RiskState(policy=policy, areas=areas))


def _cells_at(state: StationState, zone_id: str | None, points: Iterable[tuple[float, float]]) -> tuple[str, ...]:
    """The areas something happened in: the cells of its positions, else of its zone; without a grid, its zone."""
    grid = state.notices.policy.grid
    if grid is None:
        return (zone_id,) if zone_id is not None and zone_id in state.risk.areas else ()
    found: list[str] = []
    for lat, lon in points:
        cell = grid.cell_at(lat, lon)
        if cell is not None and cell.unit_id not in found:
            found.append(cell.unit_id)
    if found or not zone_id:
        return tuple(found)
    cell = grid.cell_of_zone(zone_id)
    if cell is not None:
        return (cell.unit_id,)
    return tuple(state.notices.policy.zone_cells.get(zone_id, ()))


def _points(data: Any) -> list[tuple[float, float]]:
    people = data.get("people") if isinstance(data, Mapping) else None
    if not isinstance(people, (list, tuple)):
        return []
    return [(float(p["lat_deg"]), float(p["lon_deg"])) for p in people if isinstance(p, Mapping)
            and isinstance(p.get("lat_deg"), (int, float)) and isinstance(p.get("lon_deg"), (int, float))]


# --- evidence -------------------------------------------------------------------------------------------------------


def _ingest(state: StationState, row: Any) -> StationState:
    """Take one recorded row as evidence (anything else is left alone)."""
    rs = state.risk
    evidence, open_ = dict(rs.evidence), dict(rs.open_gatherings)
    lockdowns = dict(rs.lockdowns)
    if isinstance(row, cr.GatheringRow):
        areas = _cells_at(state, row.zone_id, ())
        if not areas:
            return state
        gid = row.gathering_id
        evidence[f"gatherings:{gid}"] = Evidence(gid, "gatherings", areas, row.started_at_s, 1.0)
        if row.status == "gathering":
            open_[gid] = (areas, row.started_at_s)
        else:
            open_.pop(gid, None)
            ended = row.ended_at_s if row.ended_at_s is not None else row.at_s
            evidence[f"over_capacity_min:{gid}"] = Evidence(gid, "over_capacity_min", areas, ended,
                                                            max(0.0, (ended - row.started_at_s) / 60.0))
    elif isinstance(row, AlertRow) and row.kind == "fever_hint":
        areas = _cells_at(state, row.zone_id, _points(row.data))
        if not areas:
            return state
        evidence[f"fever_hints:{row.alert_id}"] = Evidence(row.alert_id, "fever_hints", areas, row.at_s, 1.0)
    elif isinstance(row, RiskInputRow):
        if row.unit_id not in rs.areas:
            return state
        for indicator, amount in (("cases", row.cases), ("close_contacts", row.close_contacts)):
            if amount:
                evidence[f"{indicator}:{row.input_id}"] = Evidence(row.input_id, indicator, (row.unit_id,), row.at_s,
                                                                   float(amount))
        if row.lockdown is True:
            lockdowns[row.unit_id] = Lockdown(row.unit_id, row.at_s, row.by, row.note)
        elif row.lockdown is False:
            lockdowns.pop(row.unit_id, None)
    else:
        return state
    return replace(state, risk=replace(rs, evidence=MappingProxyType(evidence), open_gatherings=MappingProxyType(open_),
                                       lockdowns=MappingProxyType(lockdowns)))


def on_actions(state: StationState, actions: list[Action], now_s: float) -> tuple[StationState, list[Action]]:
    """Every gathering and fever hint an event recorded becomes evidence (the map itself is redrawn when due)."""
    for action in actions:
        if isinstance(action, Record) and isinstance(action.row, (cr.GatheringRow, AlertRow)):
            state = _ingest(state, action.row)
    return state, []


def weight(e: Evidence, policy: RiskPolicy, now_s: float) -> float:
    """An item's weight now: its amount halved every half-life of its indicator since it happened."""
    rule = policy.rule(e.indicator)
    if rule is None:
        return 0.0
    return e.amount * 0.5 ** (max(0.0, now_s - e.at_s) / rule.half_life_s)


def _live(rs: RiskState, now_s: float) -> list[Evidence]:
    """The evidence, with each open gathering's over-capacity time so far."""
    items = list(rs.evidence.values())
    items += [Evidence(gid, "over_capacity_min", areas, now_s, max(0.0, (now_s - started) / 60.0))
              for gid, (areas, started) in rs.open_gatherings.items()]
    return items


def _prune(rs: RiskState, now_s: float) -> RiskState:
    policy = rs.policy
    kept = {}
    for key, e in rs.evidence.items():
        rule = policy.rule(e.indicator)
        if rule is not None and now_s - e.at_s <= policy.forget_half_lives * rule.half_life_s:
            kept[key] = e
    return rs if len(kept) == len(rs.evidence) else replace(rs, evidence=MappingProxyType(kept))


# --- the rules ------------------------------------------------------------------------------------------------------


def _when(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def rule_level(policy: RiskPolicy, values: Mapping[str, float]) -> list[tuple[str, str]]:
    """(level, reason) of every indicator whose value reaches a level of the rule table, highest first. Values are
    compared as the reasons show them, to one decimal (a gathering an hour old, 0.99, still counts as one)."""
    out = []
    for rule in policy.rules:
        value = round(values.get(rule.indicator, 0.0), 1)
        level, at_least = rule.level(value)
        if at_least is not None:
            out.append((level, f"{rule.indicator.replace('_', ' ')} {value:.1f} (decayed, half-life "
                               f"{rule.half_life_s / 3600:g} h) reaches {level} (at least {at_least:g})"))
    return sorted(out, key=lambda lr: -rank(lr[0]))


def assess(rs: RiskState, now_s: float) -> dict[str, tuple[str, tuple[str, ...], dict[str, float]]]:
    """Every area's (level, reasons, indicator values) now: see the module docstring."""
    policy = rs.policy
    items = _live(rs, now_s)
    out: dict[str, tuple[str, tuple[str, ...], dict[str, float]]] = {}

    def values_of(members: set[str]) -> dict[str, float]:
        values = {i: 0.0 for i in INDICATORS}
        for e in items:
            if members.intersection(e.area_ids):
                values[e.indicator] = values.get(e.indicator, 0.0) + weight(e, policy, now_s)
        return {k: round(v, 3) for k, v in values.items()}

    def lockdown(unit_id: str | None, what: str) -> list[tuple[str, str]]:
        lock = rs.lockdowns.get(unit_id or "")
        if lock is None:
            return []
        return [(policy.lockdown_level, f"lockdown of {what} declared by {lock.by} at {_when(lock.since_s)}"
                                        + (f" ({lock.note})" if lock.note else ""))]

    def decide(candidates: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
        candidates = sorted(candidates, key=lambda lr: -rank(lr[0]))
        if not candidates:
            return "green", ("no indicator reaches blue",)
        return highest(level for level, _ in candidates), tuple(reason for _, reason in candidates)

    for area in rs.areas.values():
        if area.kind == "community":
            continue
        values = values_of({area.area_id})
        community = rs.areas.get(area.community_id or "")
        candidates = rule_level(policy, values) + lockdown(area.area_id, f"{area.kind} {area.name}")
        if community is not None:
            candidates += lockdown(community.area_id, f"its community {community.name}")
        level, reasons = decide(candidates)
        out[area.area_id] = (level, reasons, values)
    for area in rs.areas.values():
        if area.kind != "community":
            continue
        values = values_of({area.area_id, *area.cells})
        candidates = rule_level(policy, values) + lockdown(area.area_id, f"community {area.name}")
        candidates += [(out[c][0], f"its cell {rs.areas[c].name} is {out[c][0]}") for c in area.cells
                       if c in out and out[c][0] != "green"]
        level, reasons = decide(candidates)
        out[area.area_id] = (level, reasons, values)
    return out


# --- computing the map and applying it ------------------------------------------------------------------------------


def recompute(state: StationState, now_s: float, trigger: str) -> tuple[StationState, list[Action]]:
    """Redraw the map: every area's level and reasons; record the changes; apply the levels' effects."""
    rs = _prune(state.risk, now_s)
    if not rs.areas:
        return replace(state, risk=replace(rs, computed_at_s=now_s, trigger=trigger)), []
    assessments = dict(rs.assessments)
    recorded = dict(rs.recorded)
    actions: list[Action] = []
    changed = 0
    for area_id, (level, reasons, values) in assess(rs, now_s).items():
        area = rs.areas[area_id]
        before = recorded.get(area_id)
        old = assessments.get(area_id)
        since = old.since_s if old is not None and old.level == level else now_s
        assessments[area_id] = Assessment(area_id, level, reasons, MappingProxyType(values), since)
        if before == level:
            continue
        recorded[area_id] = level
        actions.append(Record(RiskLevelRow(area_id, area.kind, now_s, level, before, reasons, dict(values), trigger)))
        if before is not None:
            changed += 1
            up = rank(level) > rank(before)
            actions.append(Record(EventRow(None, now_s, "risk", "warning" if up else "info",
                                           f"risk of {area.kind} {area.name}: {before} -> {level} ({trigger}): "
                                           + "; ".join(reasons), {"area_id": area_id, "level": level,
                                                                  "previous": before})))
    rs = replace(rs, assessments=MappingProxyType(assessments), recorded=MappingProxyType(recorded),
                 computed_at_s=now_s, trigger=trigger)
    state = replace(state, risk=rs)
    counts = {lv: sum(1 for a in assessments.values() if a.level == lv) for lv in LEVELS}
    actions.append(Record(EventRow(None, now_s, "risk", "info",
                                   f"risk map computed ({trigger}): " + ", ".join(
                                       f"{n} {lv}" for lv, n in reversed(counts.items()) if n)
                                   + f"; {changed} change(s)", {"trigger": trigger, **counts})))
    state, more = apply_effects(state, now_s)
    return state, actions + more


def _zone_level(state: StationState, zone_id: str) -> str:
    rs = state.risk
    grid = state.notices.policy.grid
    if grid is None:
        return rs.level(zone_id)
    cell = grid.cell_of_zone(zone_id)
    if cell is not None:
        return rs.level(cell.unit_id)
    return highest(rs.level(c) for c in state.notices.policy.zone_cells.get(zone_id, ()))


def _level_at(state: StationState, points: Iterable[tuple[float, float]]) -> tuple[str, tuple[str, ...]]:
    """The highest level among the areas of some positions, and those areas."""
    grid = state.notices.policy.grid
    found: list[str] = []
    for lat, lon in points:
        if grid is not None:
            cell = grid.cell_at(lat, lon)
            ids = [cell.unit_id] if cell is not None else []
        else:
            ids = [z.zone_id for z in state.crowds.policy.zones if z.zone_id in state.risk.areas
                   and bool(z.contains(lat, lon)[0])]
        found += [i for i in ids if i not in found]
    return highest(state.risk.level(i) for i in found), tuple(found)


def apply_effects(state: StationState, now_s: float) -> tuple[StationState, list[Action]]:
    """Push the levels' effects into the other concerns: zone capacities (crowds), venue limits, patrol intervals."""
    rs = state.risk
    policy = rs.policy
    actions: list[Action] = []
    # counting zones
    factors: dict[str, float] = {}
    for zone in state.crowds.policy.zones:
        level = _zone_level(state, zone.zone_id)
        factor = policy.effect(level).capacity_factor
        if factor != 1.0:
            factors[zone.zone_id] = factor
        old = cr.capacity_of(state.crowds, zone.zone_id, zone.capacity_persons)
        new = cr.capacity_of(cr.with_capacity_factors(state.crowds, factors), zone.zone_id, zone.capacity_persons)
        if old != new:
            actions.append(Record(EventRow(None, now_s, "risk", "info",
                                           f"zone {zone.name}: safe capacity {old} -> {new} people (risk {level}; "
                                           f"configured {zone.capacity_persons})",
                                           {"zone_id": zone.zone_id, "capacity_persons": new, "level": level})))
    state = replace(state, crowds=cr.with_capacity_factors(state.crowds, factors))
    # venues
    venue_factors = {}
    for view in state.venues.venues.values():
        level, _ = _level_at(state, [(view.lat_deg, view.lon_deg)])
        venue_factors[view.venue_id] = policy.effect(level).capacity_factor
    vs, more = venues.with_limit_factors(state.venues, venue_factors, now_s)
    state = replace(state, venues=vs)
    actions += more
    # patrol schedules
    intervals: dict[str, float] = {}
    old_intervals = state.patrols.interval_factors
    for sid, sched in state.patrols.schedules.items():
        points = [(it.lat_deg, it.lon_deg) for it in sched.items
                  if it.command in _NAV_WITH_POSITION and (it.lat_deg or it.lon_deg)]
        level, where = _level_at(state, points)
        factor = policy.effect(level).patrol_interval_factor
        if factor != 1.0:
            intervals[sid] = factor
        if old_intervals.get(sid, 1.0) != factor and sched.interval_s is not None:
            was = risk_scaled(sched, old_intervals.get(sid, 1.0)).interval_s
            now_every = risk_scaled(sched, factor).interval_s
            actions.append(Record(EventRow(None, now_s, "risk", "info",
                                           f"patrol {sched.name}: every {was:g} s -> every {now_every:g} s (risk "
                                           f"{level} in {', '.join(where) or 'no area'}; scheduled every "
                                           f"{sched.interval_s:g} s)",
                                           {"schedule_id": sid, "interval_s": now_every, "level": level})))
    state = replace(state, patrols=replace(state.patrols, interval_factors=MappingProxyType(intervals)))
    return state, actions


# --- handlers -------------------------------------------------------------------------------------------------------


def on_tick(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
    """The scheduled redraw: every recompute_s (and the first Tick when nothing was computed yet)."""
    rs = state.risk
    if not rs.areas:
        return state, []
    if rs.computed_at_s is not None and now_s - rs.computed_at_s < rs.policy.recompute_s:
        return state, []
    return recompute(state, now_s, "schedule")


def on_loaded(state: StationState, ev: RiskLoaded, now_s: float) -> tuple[StationState, list[Action]]:
    """The evidence and last levels from before this start; the map is computed at once (its effects apply)."""
    rs = state.risk
    state = replace(state, risk=replace(rs, recorded=MappingProxyType({k: v for k, v in ev.levels.items()
                                                                       if k in rs.areas})))
    for row in (*ev.gatherings, *ev.alerts, *sorted(ev.inputs, key=lambda r: r.at_s)):
        state = _ingest(state, row)
    return recompute(state, now_s, "start")


def on_schedules(state: StationState, ev: SchedulesLoaded, now_s: float) -> tuple[StationState, list[Action]]:
    """New schedules: their intervals follow the levels in force."""
    if state.risk.computed_at_s is None:
        return state, []
    return apply_effects(state, now_s)


def on_input(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """The station action "risk_input": a health official's cases, close contacts or lockdown for a cell or community;
    recorded, audited, and the map redrawn at once."""
    args = request.args if isinstance(request.args, Mapping) else {}
    unexpected = set(map(str, args)) - _INPUT_ARGS
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for risk_input: {', '.join(sorted(unexpected))}")
    unit_id = str(args.get("unit_id") or "")
    area = state.risk.areas.get(unit_id)
    if area is None:
        kinds = "cell or community" if state.notices.policy.grid is not None else "counting zone"
        return refuse(state, request, now_s, f"no {kinds} {unit_id!r} on the risk map")
    counts = {}
    for key in ("cases", "close_contacts"):
        value = args.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return refuse(state, request, now_s, f"{key} must be a whole number, 0 or more, got {value!r}")
        counts[key] = value
    lockdown = args.get("lockdown")
    if lockdown is not None and not isinstance(lockdown, bool):
        return refuse(state, request, now_s, f"lockdown must be true (declare) or false (lift), got {lockdown!r}")
    if not any(counts.values()) and lockdown is None:
        return refuse(state, request, now_s, "give cases, close_contacts or lockdown")
    if lockdown is False and unit_id not in state.risk.lockdowns:
        return refuse(state, request, now_s, f"{area.kind} {area.name} is not locked down")
    by = request.requested_by
    row = RiskInputRow(request.request_id, now_s, unit_id, by, counts["cases"], counts["close_contacts"], lockdown,
                       str(args.get("note") or ""))
    state = _ingest(state, row)
    state, actions = recompute(state, now_s, f"input:{by}")
    what = ", ".join([f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n]
                     + ([{True: "lockdown declared", False: "lockdown lifted"}[lockdown]] if lockdown is not None
                        else []))
    summary = f"{area.kind} {area.name}: {what}; now {state.risk.level(unit_id)}"
    return state, [Record(row)] + actions + accepted(request, now_s, summary, vehicle_id="")


def on_recompute(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """The station action "recompute_risk" (args: reason): redraw the map now."""
    args = request.args if isinstance(request.args, Mapping) else {}
    unexpected = set(map(str, args)) - {"reason"}
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for recompute_risk: "
                                             f"{', '.join(sorted(unexpected))}")
    if not state.risk.areas:
        return refuse(state, request, now_s, "no risk map: no grid cells or counting zones are configured")
    state, actions = recompute(state, now_s, f"demand:{request.requested_by}")
    levels = [a.level for a in state.risk.assessments.values()]
    summary = "risk map redrawn: " + ", ".join(f"{levels.count(lv)} {lv}" for lv in reversed(LEVELS)
                                                if levels.count(lv))
    return state, actions + accepted(request, now_s, summary, vehicle_id="")


# --- what the map shows ---------------------------------------------------------------------------------------------


def snapshot(state: StationState) -> dict[str, Any]:
    """The map now (JSON-able): each area's level, since when, why, and its indicator values; lockdowns."""
    rs = state.risk
    areas = []
    for area in rs.areas.values():
        a = rs.assessments.get(area.area_id)
        areas.append({"area_id": area.area_id, "kind": area.kind, "name": area.name,
                      "community_id": area.community_id, "level": a.level if a else None,
                      "since_s": a.since_s if a else None, "reasons": list(a.reasons) if a else [],
                      "values": dict(a.values) if a else {}})
    return {"computed_at_s": rs.computed_at_s, "trigger": rs.trigger, "levels": list(LEVELS), "areas": areas,
            "lockdowns": [{"unit_id": k, "since_s": v.since_s, "by": v.by, "note": v.note}
                          for k, v in rs.lockdowns.items()]}
