"""The station core: every decision the station takes, as a pure function.

`handle(state, event, now_s) -> (new_state, actions)` is the whole interface. It reads no clock, opens no
socket, starts no thread and touches no database (import-linter enforces it): the shell (station.py)
supplies `now_s` (wall time, seconds) and carries out the actions it returns:

- `Record(row)`: a row for storage (the audit trail and the event log),
- `SendCommand(...)`: a command that PASSED the safety checks, for the shell to send to a vehicle,
- `Reply(outcome)`: the answer to whoever asked (operator, web, automatic rule).

Events in: the telemetry events (LinkChanged, StateUpdated, StatusText, MissionProgress, LinkError),
`VehicleConfigured` / `VehicleUnavailable` from the shell, operator/automatic `CommandRequest`s and the
`CommandFinished` results of commands the shell sent.

Safety first: every command request is checked before it is sent (link up, geofence, altitude limit,
battery, vehicle state); a refused command is recorded with its reason and never sent. RTL, LAND and
disarm (and the safety flight modes) are always allowed while the link is up. Every decision is recorded
with its reason. Mode/arm/link changes and battery warnings are derived from the stream of states and
recorded; plain state updates are not recorded, only kept as the latest per vehicle.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from enum import Enum
from functools import cached_property
from types import MappingProxyType
from typing import Any

import shapely

from groundstation import crowds as cr
from missions.geo import distance_m
from groundstation import patrols as pt
from groundstation.patrols import (
    PatrolPolicy,
    PatrolRun,
    PatrolRunRow,
    PatrolState,
    ResumePoint,
    ScheduleFiredRow,
    SchedulesLoaded,
    Tick,
)
from missions.errors import MissionError
from telemetry.records import (
    LinkChanged,
    LinkError,
    MissionItem,
    MissionProgress,
    MissionType,
    StateUpdated,
    StatusText,
    VehicleState,
)

ACTIONS = ("arm", "disarm", "takeoff", "goto", "rtl", "land", "set_mode", "upload_mission", "set_mission_current",
           "point_gimbal", "abort_patrol")
SAFETY_ACTIONS = frozenset({"rtl", "land", "disarm"})
COPTER_MODES = frozenset({
    "STABILIZE", "ACRO", "ALT_HOLD", "AUTO", "GUIDED", "LOITER", "RTL", "CIRCLE", "LAND", "DRIFT", "SPORT",
    "FLIP", "AUTOTUNE", "POSHOLD", "BRAKE", "THROW", "AVOID_ADSB", "GUIDED_NOGPS", "SMART_RTL", "FLOWHOLD",
    "FOLLOW", "ZIGZAG", "SYSTEMID", "AUTOROTATE", "AUTO_RTL",
})
SAFETY_MODES = frozenset({"RTL", "LAND", "BRAKE", "LOITER", "SMART_RTL"})

# MAV_CMD ids of mission items, for the checks of an upload
_NAV_WITH_POSITION = frozenset({16, 17, 18, 19, 21, 31, 82})  # WAYPOINT, LOITER_*, LAND, LOITER_TO_ALT, SPLINE
_NAV_WITH_ALTITUDE = frozenset({16, 17, 18, 19, 22, 31, 82})  # ... and TAKEOFF
_NAV_RTL = 20
_RELATIVE_FRAMES = frozenset({3, 6})  # GLOBAL_RELATIVE_ALT(_INT)
_AMSL_FRAMES = frozenset({0, 5})  # GLOBAL(_INT)

LINK_ERROR_RECORD_INTERVAL_S = 1.0
AUTO_RTL_RETRY_S = 30.0
BATTERY_WARNING_HYSTERESIS_PCT = 3.0


# --- geometry (pure; shapely for polygons, haversine for distances) --------------------------------------


@dataclass(frozen=True)
class Policy:
    """Limits and geofence the core enforces (built from the config's [limits] and [geofence])."""

    max_alt_rel_m: float = 120.0
    min_battery_to_launch_pct: float = 50.0
    battery_reserve_pct: float = 25.0
    low_battery_warning_pct: float = 35.0
    max_distance_from_home_m: float = 2000.0
    battery_use_pct_per_km: float = 4.0
    auto_rtl_below_reserve: bool = True
    inclusion: tuple[tuple[float, float], ...] | None = None  # (lat_deg, lon_deg) vertices
    radius_m: float | None = None  # around home
    exclusions: tuple[tuple[tuple[float, float], ...], ...] = ()

    @classmethod
    def from_config(cls, limits: Any, geofence: Any | None) -> "Policy":
        """From config.Limits / config.Geofence (duck-typed, so the core does not depend on pydantic)."""
        fence: dict[str, Any] = {}
        if geofence is not None:
            fence = {
                "inclusion": tuple(tuple(p) for p in geofence.inclusion) if geofence.inclusion else None,
                "radius_m": geofence.radius_m,
                "exclusions": tuple(tuple(tuple(p) for p in poly) for poly in geofence.exclusions),
            }
        return cls(
            max_alt_rel_m=limits.max_alt_rel_m,
            min_battery_to_launch_pct=limits.min_battery_to_launch_pct,
            battery_reserve_pct=limits.battery_reserve_pct,
            low_battery_warning_pct=limits.low_battery_warning_pct,
            max_distance_from_home_m=limits.max_distance_from_home_m,
            battery_use_pct_per_km=limits.battery_use_pct_per_km,
            auto_rtl_below_reserve=limits.auto_rtl_below_reserve,
            **fence,
        )

    @property
    def has_fence(self) -> bool:
        return self.inclusion is not None or self.radius_m is not None or bool(self.exclusions)

    @cached_property
    def _inclusion_polygon(self) -> shapely.Polygon | None:
        return None if self.inclusion is None else shapely.Polygon([(lon, lat) for lat, lon in self.inclusion])

    @cached_property
    def _exclusion_polygons(self) -> tuple[shapely.Polygon, ...]:
        return tuple(shapely.Polygon([(lon, lat) for lat, lon in poly]) for poly in self.exclusions)

    def fence_problem(self, lat_deg: float, lon_deg: float, home: tuple[float, float] | None) -> str | None:
        """Why a point is outside the fence, or None. (Lon/lat containment equals containment on a local
        metric projection: the projection is affine at city scale.)"""
        point = shapely.Point(lon_deg, lat_deg)
        if self._inclusion_polygon is not None and not self._inclusion_polygon.covers(point):
            return f"({lat_deg:.6f}, {lon_deg:.6f}) is outside the inclusion fence"
        if self.radius_m is not None:
            if home is None:
                return "home is unknown, so the circular fence cannot be checked"
            d = distance_m(home[0], home[1], lat_deg, lon_deg)
            if d > self.radius_m:
                return f"({lat_deg:.6f}, {lon_deg:.6f}) is {d:.0f} m from home, beyond the fence radius {self.radius_m:g} m"
        for i, polygon in enumerate(self._exclusion_polygons):
            if polygon.intersects(point):
                return f"({lat_deg:.6f}, {lon_deg:.6f}) is inside exclusion zone {i}"
        return None

    def leg_problem(self, start: tuple[float, float], end: tuple[float, float]) -> str | None:
        """Why the straight leg start->end (lat, lon) leaves the inclusion polygon or crosses an exclusion.
        (A circle is convex: both ends inside means the leg is inside.)"""
        if start == end:
            return None
        line = shapely.LineString([(start[1], start[0]), (end[1], end[0])])
        if self._inclusion_polygon is not None and not self._inclusion_polygon.covers(line):
            return "the straight path there leaves the inclusion fence"
        for i, polygon in enumerate(self._exclusion_polygons):
            if polygon.intersects(line):
                return f"the straight path there crosses exclusion zone {i}"
        return None


# --- events in ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VehicleConfigured:
    """The shell added a vehicle from the config to the fleet."""

    vehicle_id: str
    url: str
    system_id: int | None = None


@dataclass(frozen=True)
class VehicleUnavailable:
    """The shell could not set up a configured vehicle (e.g. its link could not be opened)."""

    vehicle_id: str
    url: str
    reason: str


@dataclass(frozen=True)
class CommandRequest:
    """An operator's (or an automatic rule's) request to command a vehicle.

    action/args: arm, disarm, rtl, land: no args; takeoff: alt_rel_m; goto: lat_deg, lon_deg, alt_rel_m;
    set_mode: mode (name); point_gimbal: pitch_deg (0 horizon, -90 down), yaw_deg (from the nose, default 0);
    set_mission_current: seq; upload_mission: items (MissionItem or mappings of its fields: the mission as flown,
    WITHOUT ArduPilot's home slot, which the station adds as item 0) and mission_type (default "mission").
    """

    vehicle_id: str
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    requested_by: str = "operator"
    request_id: str = ""


@dataclass(frozen=True)
class CommandFinished:
    """What happened to a command the shell sent (success, vehicle refusal, timeout, link down...)."""

    request_id: str
    vehicle_id: str
    action: str
    ok: bool
    command: int | None = None  # MAV_CMD
    result: int | None = None  # MAV_RESULT (or MAV_MISSION_RESULT for missions)
    result_name: str | None = None
    attempts: int | None = None
    round_trip_s: float | None = None
    error_kind: str | None = None  # refused | timeout | link_down | mission | param | internal
    error: str | None = None
    detail: str | None = None


Event = (
    LinkChanged | StateUpdated | StatusText | MissionProgress | LinkError
    | VehicleConfigured | VehicleUnavailable | CommandRequest | CommandFinished | Tick | SchedulesLoaded
)


# --- rows to record -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VehicleRow:
    vehicle_id: str
    url: str
    at_s: float
    system_id: int | None = None
    is_simulator: bool | None = None


@dataclass(frozen=True)
class LinkRow:
    vehicle_id: str
    at_s: float
    up: bool
    reason: str


@dataclass(frozen=True)
class CommandRow:
    """The decision on a command request: 'sent' (checks passed) or 'refused' (with why)."""

    request_id: str
    vehicle_id: str
    action: str
    params: Mapping[str, Any]  # JSON-able
    requested_by: str
    requested_at_s: float
    decision: str  # sent | refused
    reason: str


@dataclass(frozen=True)
class CommandResultRow:
    request_id: str
    finished_at_s: float
    status: str  # accepted | refused_by_vehicle | failed
    command: int | None
    result: int | None
    result_name: str | None
    attempts: int | None
    round_trip_s: float | None
    error: str | None


@dataclass(frozen=True)
class EventRow:
    vehicle_id: str | None
    at_s: float
    kind: str  # link | mode | armed | ready | home | battery | statustext | link_error | decision | command | mission | vehicle
    severity: str  # info | warning | error | critical
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MissionRunRow:
    """Insert-or-update of one mission run (keyed by run_id = the upload's request id)."""

    run_id: str
    vehicle_id: str
    at_s: float
    status: str  # uploaded | running | interrupted | completed | ended
    item_count: int
    mission_type: str
    last_reached_seq: int | None = None


Row = VehicleRow | LinkRow | CommandRow | CommandResultRow | EventRow | MissionRunRow | PatrolRunRow | ScheduleFiredRow


# --- actions out --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandOutcome:
    """The answer to a CommandRequest."""

    request_id: str
    vehicle_id: str
    action: str
    status: str  # accepted | refused_by_station | refused_by_vehicle | failed
    reason: str
    result: int | None = None
    result_name: str | None = None
    round_trip_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class Record:
    row: Row


@dataclass(frozen=True)
class SendCommand:
    request_id: str
    vehicle_id: str
    action: str
    args: Mapping[str, Any]  # normalised: floats, MissionItem tuples, MissionType


@dataclass(frozen=True)
class Reply:
    outcome: CommandOutcome


Action = Record | SendCommand | Reply


# --- domain state -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissionRun:
    run_id: str
    item_count: int
    mission_type: str
    status: str
    last_reached_seq: int | None = None


@dataclass(frozen=True)
class VehicleView:
    """What the station knows about one vehicle."""

    vehicle_id: str
    url: str = ""
    state: VehicleState | None = None
    link_up: bool = False
    link_changes: int = 0
    identified: tuple[int | None, bool | None] = (None, None)  # (system_id, is_simulator) last recorded
    battery_level: str = "ok"  # ok | low | reserve
    mission_run: MissionRun | None = None
    last_link_error_record_s: float | None = None
    suppressed_link_errors: int = 0
    auto_rtl_at_s: float | None = None


@dataclass(frozen=True)
class StationState:
    policy: Policy = field(default_factory=Policy)
    vehicles: Mapping[str, VehicleView] = field(default_factory=dict)
    pending: Mapping[str, CommandRequest] = field(default_factory=dict)  # sent, awaiting CommandFinished
    events_handled: int = 0
    patrols: PatrolState = field(default_factory=PatrolState)
    patrol_policy: PatrolPolicy = field(default_factory=PatrolPolicy)
    crowds: cr.CrowdState = field(default_factory=cr.CrowdState)


def initial_state(policy: Policy, patrol_policy: PatrolPolicy | None = None) -> StationState:
    return StationState(policy=policy, patrol_policy=patrol_policy or PatrolPolicy())


# --- the function ---------------------------------------------------------------------------------------


def handle(state: StationState, event: Event, now_s: float) -> tuple[StationState, list[Action]]:
    """Apply one event; return the new state and the actions for the shell to carry out."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return replace(state, events_handled=state.events_handled + 1), [
            Record(EventRow(None, now_s, "internal", "error", f"unknown event type {type(event).__name__}"))
        ]
    new_state, actions = handler(state, event, now_s)
    return replace(new_state, events_handled=new_state.events_handled + 1), actions


def _with_vehicle(state: StationState, view: VehicleView) -> StationState:
    vehicles = dict(state.vehicles)
    vehicles[view.vehicle_id] = view
    return replace(state, vehicles=vehicles)


def _view(state: StationState, vehicle_id: str) -> VehicleView:
    return state.vehicles.get(vehicle_id) or VehicleView(vehicle_id=vehicle_id)


def _on_configured(state: StationState, ev: VehicleConfigured, now_s: float):
    view = replace(_view(state, ev.vehicle_id), url=ev.url)
    return _with_vehicle(state, view), [
        Record(VehicleRow(ev.vehicle_id, ev.url, now_s, system_id=ev.system_id)),
        Record(EventRow(ev.vehicle_id, now_s, "vehicle", "info", f"vehicle {ev.vehicle_id} configured at {ev.url}")),
    ]


def _on_unavailable(state: StationState, ev: VehicleUnavailable, now_s: float):
    view = replace(_view(state, ev.vehicle_id), url=ev.url, link_up=False)
    return _with_vehicle(state, view), [
        Record(VehicleRow(ev.vehicle_id, ev.url, now_s)),
        Record(EventRow(ev.vehicle_id, now_s, "vehicle", "error",
                        f"vehicle {ev.vehicle_id} unavailable: {ev.reason}", {"url": ev.url})),
    ]


def _on_link(state: StationState, ev: LinkChanged, now_s: float):
    view = _view(state, ev.vehicle_id)
    if view.link_up == ev.up and view.link_changes > 0:
        return state, []
    view = replace(view, link_up=ev.up, link_changes=view.link_changes + 1)
    armed = view.state is not None and view.state.armed
    if ev.up:
        severity, text = "info", f"link up ({ev.reason})" if ev.reason else "link up"
    elif armed:
        severity, text = "critical", f"link lost while armed: {ev.reason}; the vehicle's own failsafe applies"
    else:
        severity, text = "warning", f"link down: {ev.reason}"
    return _with_vehicle(state, view), [
        Record(LinkRow(ev.vehicle_id, now_s, ev.up, ev.reason)),
        Record(EventRow(ev.vehicle_id, now_s, "link", severity, text)),
    ]


def _severity_of(mav_severity: int) -> str:
    return "critical" if mav_severity <= 2 else "error" if mav_severity == 3 else "warning" if mav_severity == 4 else "info"


def _on_statustext(state: StationState, ev: StatusText, now_s: float):
    return state, [Record(EventRow(ev.vehicle_id, now_s, "statustext", _severity_of(ev.severity), ev.text,
                                   {"mav_severity": ev.severity}))]


def _on_link_error(state: StationState, ev: LinkError, now_s: float):
    view = _view(state, ev.vehicle_id)
    last = view.last_link_error_record_s
    if last is not None and now_s - last < LINK_ERROR_RECORD_INTERVAL_S:
        view = replace(view, suppressed_link_errors=view.suppressed_link_errors + ev.count)
        return _with_vehicle(state, view), []
    count = ev.count + view.suppressed_link_errors
    view = replace(view, last_link_error_record_s=now_s, suppressed_link_errors=0)
    text = f"link error ({ev.kind}): {ev.detail}" + (f" [{count} since last report]" if count > 1 else "")
    return _with_vehicle(state, view), [
        Record(EventRow(ev.vehicle_id, now_s, "link_error", "warning", text, {"kind": ev.kind, "count": count}))
    ]


def _on_progress(state: StationState, ev: MissionProgress, now_s: float):
    view = _view(state, ev.vehicle_id)
    run = view.mission_run
    if ev.reached_seq is None or run is None or run.status not in ("running", "uploaded", "interrupted"):
        return state, []
    actions: list[Action] = [Record(EventRow(ev.vehicle_id, now_s, "mission", "info",
                                             f"reached mission item {ev.reached_seq}", {"seq": ev.reached_seq}))]
    total = view.state.mission_count if view.state and view.state.mission_count else None
    last_seq = (total - 1) if total else run.item_count  # item 0 is home on ArduPilot
    status = "completed" if ev.reached_seq >= last_seq else run.status
    run = replace(run, last_reached_seq=ev.reached_seq, status=status)
    actions.append(Record(MissionRunRow(run.run_id, ev.vehicle_id, now_s, run.status, run.item_count,
                                       run.mission_type, run.last_reached_seq)))
    return _with_vehicle(state, replace(view, mission_run=run)), actions


_BATTERY_RANK = MappingProxyType({"ok": 0, "low": 1, "reserve": 2})


def _battery_level(policy: Policy, pct: float, previous: str) -> str:
    """ok | low | reserve; a level gets worse at once but better only with a margin (hysteresis)."""
    worse = "reserve" if pct < policy.battery_reserve_pct else "low" if pct < policy.low_battery_warning_pct else "ok"
    if _BATTERY_RANK[worse] >= _BATTERY_RANK[previous]:
        return worse
    margin = BATTERY_WARNING_HYSTERESIS_PCT
    better = ("reserve" if pct < policy.battery_reserve_pct + margin
              else "low" if pct < policy.low_battery_warning_pct + margin else "ok")
    return better if _BATTERY_RANK[better] < _BATTERY_RANK[previous] else previous


def _on_state(state: StationState, ev: StateUpdated, now_s: float):
    new = ev.state
    view = _view(state, new.vehicle_id)
    old = view.state
    vid = new.vehicle_id
    actions: list[Action] = []
    policy = state.policy

    identity = (new.system_id, new.is_simulator)
    if new.system_id is not None and identity != view.identified:
        actions.append(Record(VehicleRow(vid, view.url, now_s, new.system_id, new.is_simulator)))
        view = replace(view, identified=identity)

    if new.mode is not None and (old is None or old.mode != new.mode):
        previous = old.mode if old is not None else None
        text = f"mode {new.mode}" if previous is None else f"mode {previous} -> {new.mode}"
        actions.append(Record(EventRow(vid, now_s, "mode", "info", text, {"from": previous, "to": new.mode})))
    if old is None and new.armed or old is not None and old.armed != new.armed:
        actions.append(Record(EventRow(vid, now_s, "armed", "info", "armed" if new.armed else "disarmed",
                                       {"armed": new.armed})))
    if new.ready_to_arm and (old is None or not old.ready_to_arm):
        actions.append(Record(EventRow(vid, now_s, "ready", "info", "ready to arm")))
    if new.home is not None and (old is None or old.home != new.home):
        actions.append(Record(EventRow(vid, now_s, "home", "info",
                                       f"home set at ({new.home.lat_deg:.6f}, {new.home.lon_deg:.6f})",
                                       {"lat_deg": new.home.lat_deg, "lon_deg": new.home.lon_deg,
                                        "alt_amsl_m": new.home.alt_amsl_m})))

    # battery levels, with hysteresis so a noisy reading does not flap
    level = view.battery_level
    if new.battery_pct is not None:
        pct = new.battery_pct
        level_now = _battery_level(policy, pct, level)
        if level_now != level:
            if level_now == "reserve":
                severity, text = "critical", f"battery {pct:.0f}% below the reserve of {policy.battery_reserve_pct:g}%"
            elif level_now == "low" and level == "ok":
                severity, text = "warning", f"battery low: {pct:.0f}% (warning at {policy.low_battery_warning_pct:g}%)"
            else:
                severity, text = "info", f"battery back to {pct:.0f}% ({level_now})"
            actions.append(Record(EventRow(vid, now_s, "battery", severity, text,
                                           {"battery_pct": pct, "level": level_now})))
            level = level_now
    view = replace(view, battery_level=level)

    # mission run status follows the vehicle's mode and arming
    run = view.mission_run
    if run is not None and run.mission_type == "MISSION":
        status = run.status
        if new.mode == "AUTO" and new.armed and status in ("uploaded", "interrupted"):
            status = "running"
        elif status == "running" and not new.armed:
            status = "ended"
        elif status == "running" and new.mode != "AUTO":
            status = "interrupted"
        if status != run.status:
            run = replace(run, status=status)
            view = replace(view, mission_run=run)
            actions.append(Record(MissionRunRow(run.run_id, vid, now_s, status, run.item_count, run.mission_type,
                                                run.last_reached_seq)))

    view = replace(view, state=new)
    state = _with_vehicle(state, view)

    # automatic RTL below the battery reserve: checked and recorded like any command
    if (policy.auto_rtl_below_reserve and level == "reserve" and new.armed and view.link_up
            and (new.alt_rel_m or 0.0) > 1.0 and new.mode not in ("RTL", "LAND", "SMART_RTL")
            and (view.auto_rtl_at_s is None or now_s - view.auto_rtl_at_s >= AUTO_RTL_RETRY_S)):
        state = _with_vehicle(state, replace(view, auto_rtl_at_s=now_s))
        request = CommandRequest(vid, "rtl", {}, requested_by="station:battery-reserve",
                                 request_id=f"auto-rtl-{vid}-{int(now_s * 1000)}")
        state, more = _on_request(state, request, now_s)
        actions.extend(more)
    return state, actions


# --- command requests: argument parsing and the safety checks ------------------------------------------------


class _Refusal(Exception):
    pass


def _number(args: Mapping[str, Any], name: str) -> float:
    if name not in args:
        raise _Refusal(f"missing argument {name}")
    value = args[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Refusal(f"argument {name} must be a finite number, got {value!r}")
    return float(value)


def _mission_type(value: Any) -> MissionType:
    if isinstance(value, MissionType):
        return value
    if isinstance(value, str) and value.upper() in MissionType.__members__:
        return MissionType[value.upper()]
    raise _Refusal(f"mission_type must be one of {', '.join(m.name.lower() for m in MissionType)}, got {value!r}")


def _mission_item(value: Any, index: int) -> MissionItem:
    if isinstance(value, MissionItem):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in fields(MissionItem)}
        unknown = set(value) - known
        if unknown:
            raise _Refusal(f"mission item {index}: unknown field(s) {', '.join(sorted(unknown))}")
        data = dict(value)
        if "mission_type" in data:
            data["mission_type"] = _mission_type(data["mission_type"])
        try:
            item = MissionItem(**data)
        except TypeError as exc:
            raise _Refusal(f"mission item {index}: {exc}") from None
        for name in ("command", "frame"):
            if isinstance(getattr(item, name), bool) or not isinstance(getattr(item, name), int):
                raise _Refusal(f"mission item {index}: {name} must be an integer")
        for name in ("param1", "param2", "param3", "param4", "lat_deg", "lon_deg", "alt_m"):
            v = getattr(item, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _Refusal(f"mission item {index}: {name} must be a finite number")
        return item
    raise _Refusal(f"mission item {index}: expected a MissionItem or a mapping, got {type(value).__name__}")


_ARGUMENTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "arm": (), "disarm": (), "rtl": (), "land": (),
    "takeoff": ("alt_rel_m",),
    "goto": ("lat_deg", "lon_deg", "alt_rel_m"),
    "set_mode": ("mode",),
    "upload_mission": ("items", "mission_type"),
    "set_mission_current": ("seq",),
    "point_gimbal": ("pitch_deg", "yaw_deg"),
})


def _normalise(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    if action not in _ARGUMENTS:
        raise _Refusal(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    unexpected = set(args) - set(_ARGUMENTS[action])
    if unexpected:
        raise _Refusal(f"unexpected argument(s) for {action}: {', '.join(sorted(map(str, unexpected)))}")
    if action == "takeoff":
        return {"alt_rel_m": _number(args, "alt_rel_m")}
    if action == "goto":
        out = {name: _number(args, name) for name in ("lat_deg", "lon_deg", "alt_rel_m")}
        if not (-90 <= out["lat_deg"] <= 90 and -180 <= out["lon_deg"] <= 180):
            raise _Refusal(f"({out['lat_deg']}, {out['lon_deg']}) is not a latitude/longitude")
        return out
    if action == "set_mode":
        mode = args.get("mode")
        if not isinstance(mode, str) or mode.upper() not in COPTER_MODES:
            raise _Refusal(f"unknown flight mode {mode!r}")
        return {"mode": mode.upper()}
    if action == "set_mission_current":
        seq = _number(args, "seq")
        if seq != int(seq) or seq < 1:
            raise _Refusal(f"seq must be a mission item number >= 1 (0 is home), got {args['seq']!r}")
        return {"seq": int(seq)}
    if action == "point_gimbal":
        pitch, yaw = _number(args, "pitch_deg"), float(args.get("yaw_deg", 0.0))
        if not (-90.0 <= pitch <= 30.0 and -180.0 <= yaw <= 360.0):
            raise _Refusal(f"gimbal pitch {pitch:g} deg must be -90..30 and yaw {yaw:g} deg -180..360")
        return {"pitch_deg": pitch, "yaw_deg": yaw}
    if action == "upload_mission":
        items = args.get("items")
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
            raise _Refusal("upload_mission needs a non-empty list of items")
        mission_type = _mission_type(args.get("mission_type", MissionType.MISSION))
        parsed = tuple(_mission_item(item, i) for i, item in enumerate(items))
        return {"items": parsed, "mission_type": mission_type}
    return {}


def _home(view: VehicleView) -> tuple[float, float] | None:
    s = view.state
    return None if s is None or s.home is None else (s.home.lat_deg, s.home.lon_deg)


def _position(view: VehicleView) -> tuple[float, float] | None:
    s = view.state
    if s is None or not s.position_known:  # 0,0 while a vehicle starts up is not a position
        return None
    return (s.lat_deg, s.lon_deg)


def _check_altitude(policy: Policy, alt_rel_m: float) -> None:
    if alt_rel_m <= 0:
        raise _Refusal(f"altitude {alt_rel_m:g} m must be above home")
    if alt_rel_m > policy.max_alt_rel_m:
        raise _Refusal(f"altitude {alt_rel_m:g} m is above the limit of {policy.max_alt_rel_m:g} m")


def _check_position_in_fence(policy: Policy, view: VehicleView, what: str) -> None:
    if not policy.has_fence:
        return
    pos = _position(view)
    if pos is None:
        raise _Refusal(f"{what}: vehicle position unknown, so the geofence cannot be checked")
    problem = policy.fence_problem(pos[0], pos[1], _home(view))
    if problem:
        raise _Refusal(f"{what}: vehicle is outside the geofence: {problem}")


def _check_battery_to_launch(policy: Policy, view: VehicleView) -> None:
    pct = view.state.battery_pct if view.state else None
    if pct is None:
        raise _Refusal("battery level unknown")
    if pct < policy.min_battery_to_launch_pct:
        raise _Refusal(f"battery {pct:.0f}% is below the {policy.min_battery_to_launch_pct:g}% needed to launch")


def _check_flying_guided(view: VehicleView, action: str) -> None:
    s = view.state
    if s is None or not s.armed:
        raise _Refusal(f"{action} needs an armed vehicle")
    if s.mode != "GUIDED":
        raise _Refusal(f"{action} needs GUIDED mode (vehicle is in {s.mode})")


def _check_point(policy: Policy, view: VehicleView, lat: float, lon: float) -> None:
    """A target position: within the distance limit of home and inside the geofence."""
    home = _home(view)
    if home is None:
        raise _Refusal("home position unknown, so distance limits cannot be checked")
    d_home = distance_m(home[0], home[1], lat, lon)
    if d_home > policy.max_distance_from_home_m:
        raise _Refusal(f"target is {d_home:.0f} m from home, beyond the limit of {policy.max_distance_from_home_m:g} m")
    problem = policy.fence_problem(lat, lon, home)
    if problem:
        raise _Refusal(f"target outside the geofence: {problem}")


def _check(policy: Policy, view: VehicleView, action: str, args: Mapping[str, Any], has_mission: bool) -> str:
    """Raise _Refusal with why, or return a short summary of what was checked."""
    if not view.link_up:
        raise _Refusal("link to the vehicle is down")
    if action in SAFETY_ACTIONS:
        return "safety action, always allowed while the link is up"
    if action == "set_mode":
        mode = args["mode"]
        if mode in SAFETY_MODES:
            return f"safety mode {mode}, always allowed while the link is up"
        if mode == "AUTO" and not has_mission:
            raise _Refusal("AUTO needs a mission uploaded (and checked) by this station first")
        return f"mode {mode} allowed"
    if action == "arm":
        _check_battery_to_launch(policy, view)
        _check_position_in_fence(policy, view, "arm")
        return f"battery {view.state.battery_pct:.0f}% >= {policy.min_battery_to_launch_pct:g}%, inside the fence"
    if action == "takeoff":
        _check_flying_guided(view, "takeoff")
        _check_altitude(policy, args["alt_rel_m"])
        _check_battery_to_launch(policy, view)
        _check_position_in_fence(policy, view, "takeoff")
        return f"armed in GUIDED, altitude {args['alt_rel_m']:g} m within limit, battery ok, inside the fence"
    if action == "goto":
        _check_flying_guided(view, "goto")
        lat, lon, alt = args["lat_deg"], args["lon_deg"], args["alt_rel_m"]
        _check_altitude(policy, alt)
        _check_point(policy, view, lat, lon)
        pos, home = _position(view), _home(view)
        if pos is None:
            raise _Refusal("vehicle position unknown")
        problem = policy.leg_problem(pos, (lat, lon))
        if problem:
            raise _Refusal(problem)
        pct = view.state.battery_pct
        if pct is None:
            raise _Refusal("battery level unknown, so the reserve cannot be kept")
        route_m = distance_m(pos[0], pos[1], lat, lon) + distance_m(lat, lon, home[0], home[1])
        left = pct - route_m / 1000.0 * policy.battery_use_pct_per_km
        if left < policy.battery_reserve_pct:
            raise _Refusal(f"going there and back home ({route_m:.0f} m) would leave about {left:.0f}% battery, "
                           f"below the reserve of {policy.battery_reserve_pct:g}%")
        return f"target inside the fence and limits, about {left:.0f}% battery left after return"
    if action == "point_gimbal":
        return "pointing the camera moves no aircraft; allowed while the link is up"
    if action == "upload_mission":
        return _check_mission(policy, view, args["items"], args["mission_type"])
    if action == "set_mission_current":
        run = view.mission_run
        if not has_mission or run is None:
            raise _Refusal("set_mission_current needs a mission uploaded (and checked) by this station first")
        if args["seq"] > run.item_count - 1:  # item_count includes the home slot
            raise _Refusal(f"mission item {args['seq']} is beyond the uploaded mission ({run.item_count - 1} items)")
        return f"item {args['seq']} of the mission this station uploaded"
    raise _Refusal(f"unknown action {action!r}")  # pragma: no cover - _normalise already refused it


def _check_mission(policy: Policy, view: VehicleView, items: tuple[MissionItem, ...], mission_type: MissionType) -> str:
    if mission_type is not MissionType.MISSION:
        return f"{mission_type.name.lower()} items are not flight paths; not checked against the fence"
    home = _home(view)
    if home is None:
        raise _Refusal("home position unknown, so the mission cannot be checked")
    home_amsl = view.state.home.alt_amsl_m if view.state and view.state.home else None
    route: list[tuple[float, float]] = [home]
    for i, item in enumerate(items):
        if item.command in _NAV_WITH_ALTITUDE:
            if item.frame in _RELATIVE_FRAMES:
                alt_rel = item.alt_m
            elif item.frame in _AMSL_FRAMES and home_amsl is not None:
                alt_rel = item.alt_m - home_amsl
            else:
                raise _Refusal(f"item {i}: frame {item.frame} cannot be checked (use a relative-altitude frame)")
            if alt_rel > policy.max_alt_rel_m:
                raise _Refusal(f"item {i}: altitude {alt_rel:g} m is above the limit of {policy.max_alt_rel_m:g} m")
        has_position = item.command in _NAV_WITH_POSITION and not (item.lat_deg == 0 and item.lon_deg == 0)
        if has_position:
            try:
                _check_point(policy, view, item.lat_deg, item.lon_deg)
            except _Refusal as r:
                raise _Refusal(f"item {i}: {r}") from None
            point = (item.lat_deg, item.lon_deg)
            problem = policy.leg_problem(route[-1], point)
            if problem:
                raise _Refusal(f"item {i}: {problem}")
            route.append(point)
        if item.command == _NAV_RTL:
            route.append(home)
    length_m = sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in zip(route, route[1:] + [home]))
    pct = view.state.battery_pct if view.state else None
    needed = length_m / 1000.0 * policy.battery_use_pct_per_km
    if pct is not None and pct - needed < policy.battery_reserve_pct:
        raise _Refusal(f"the route ({length_m:.0f} m with the way home) needs about {needed:.0f}% battery; "
                       f"{pct:.0f}% would leave less than the reserve of {policy.battery_reserve_pct:g}%")
    return f"{len(items)} items inside the fence and altitude limit; route {length_m:.0f} m, about {needed:.0f}% battery"


def plain(value: Any) -> Any:
    """A JSON-able copy of command arguments (dataclasses -> dicts, enums -> names)."""
    if isinstance(value, Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _refuse(state: StationState, request: CommandRequest, now_s: float, reason: str) -> tuple[StationState, list[Action]]:
    vid, action = request.vehicle_id, request.action
    return state, [
        Record(CommandRow(request.request_id, vid, str(action), plain(request.args), request.requested_by,
                          now_s, "refused", reason)),
        Record(EventRow(vid, now_s, "decision", "warning",
                        f"refused {action} requested by {request.requested_by}: {reason}",
                        {"request_id": request.request_id, "action": action, "decision": "refused"})),
        Reply(CommandOutcome(request.request_id, vid, str(action), "refused_by_station", reason)),
    ]


def _on_request(state: StationState, request: CommandRequest, now_s: float):
    if not request.request_id:
        return _refuse(state, request, now_s, "request without a request id")
    if request.request_id in state.pending:
        return _refuse(state, request, now_s, f"duplicate request id {request.request_id!r}")
    view = state.vehicles.get(request.vehicle_id)
    if view is None:
        return _refuse(state, request, now_s, f"unknown vehicle {request.vehicle_id!r}")
    try:
        if not isinstance(request.args, Mapping):
            raise _Refusal("arguments must be a mapping")
        args = _normalise(str(request.action), request.args)
        has_mission = view.mission_run is not None and view.mission_run.mission_type == "MISSION"
        summary = _check(state.policy, view, request.action, args, has_mission)
    except _Refusal as refusal:
        return _refuse(state, request, now_s, str(refusal))
    if request.action == "upload_mission" and args["mission_type"] is MissionType.MISSION:
        # ArduPilot's mission item 0 is home (the vehicle overwrites it): the operator's items follow it
        home = view.state.home
        home_slot = MissionItem(16, frame=0, lat_deg=home.lat_deg, lon_deg=home.lon_deg, alt_m=home.alt_amsl_m or 0.0)
        args = dict(args, items=(home_slot,) + args["items"])
    pending = dict(state.pending)
    pending[request.request_id] = request
    vid = request.vehicle_id
    return replace(state, pending=pending), [
        Record(CommandRow(request.request_id, vid, request.action, plain(args), request.requested_by, now_s,
                          "sent", summary)),
        Record(EventRow(vid, now_s, "decision", "info",
                        f"sending {request.action} requested by {request.requested_by}: {summary}",
                        {"request_id": request.request_id, "action": request.action, "decision": "sent"})),
        SendCommand(request.request_id, vid, request.action, args),
    ]


def _on_finished(state: StationState, ev: CommandFinished, now_s: float):
    pending = dict(state.pending)
    request = pending.pop(ev.request_id, None)
    state = replace(state, pending=pending)
    if ev.ok:
        status, reason = "accepted", ev.result_name or "done"
    elif ev.error_kind == "refused":
        status, reason = "refused_by_vehicle", ev.error or f"refused: {ev.result_name}"
    else:
        status, reason = "failed", ev.error or ev.error_kind or "failed"
    actions: list[Action] = [
        Record(CommandResultRow(ev.request_id, now_s, status, ev.command, ev.result, ev.result_name, ev.attempts,
                                ev.round_trip_s, None if ev.ok else reason)),
        Record(EventRow(ev.vehicle_id, now_s, "command", "info" if ev.ok else "warning",
                        f"{ev.action} {status}" + ("" if ev.ok else f": {reason}") +
                        (f" ({ev.round_trip_s * 1000:.0f} ms)" if ev.round_trip_s is not None else ""),
                        {"request_id": ev.request_id, "status": status, "result_name": ev.result_name})),
        Reply(CommandOutcome(ev.request_id, ev.vehicle_id, ev.action, status, reason, ev.result, ev.result_name,
                             ev.round_trip_s)),
    ]
    if ev.ok and ev.action == "upload_mission" and request is not None:
        items = request.args.get("items") or ()
        mission_type = _mission_type(request.args.get("mission_type", MissionType.MISSION)).name
        if mission_type == "MISSION":
            run = MissionRun(ev.request_id, len(items), mission_type, "uploaded")
            view = replace(_view(state, ev.vehicle_id), mission_run=run)
            state = _with_vehicle(state, view)
            actions.append(Record(MissionRunRow(run.run_id, ev.vehicle_id, now_s, run.status, run.item_count,
                                                mission_type)))
    return state, actions



# --- automatic patrols: schedules fire, a vehicle is assigned, the launch goes through the checks above -------
# (the pure decisions are in patrols.py; here they become checked commands and recorded rows)


def _patrol_state(state: StationState, **changes: Any) -> StationState:
    return replace(state, patrols=replace(state.patrols, **changes))


def _run_row(run: PatrolRun, now_s: float, **kw: Any) -> Record:
    base = dict(run_id=run.run_id, schedule_id=run.schedule_id, at_s=now_s, status=run.status,
                vehicle_id=run.vehicle_id, scheduled_for_s=run.scheduled_for_s, last_reached_item=run.last_reached_item,
                resume_from_item=run.resume_from_item, resumed_from_run=run.resumed_from_run,
                mission_run_id=run.mission_run_id, relieves_run=run.relieves_run)
    base.update(kw)
    return Record(PatrolRunRow(**base))


def _schedule_name(state: StationState, schedule_id: str) -> str:
    s = state.patrols.schedules.get(schedule_id)
    return s.name if s is not None else schedule_id


def _on_schedules(state: StationState, ev: SchedulesLoaded, now_s: float):
    first = not state.patrols.loaded
    state = _patrol_state(state, **{"loaded": True})
    p = pt.load(state.patrols, ev)
    state = replace(state, patrols=p)
    actions: list[Action] = []
    if first:
        actions.append(Record(EventRow(None, now_s, "patrol", "info",
                                       f"{len(ev.schedules)} patrol schedule(s) loaded "
                                       f"({sum(1 for s in ev.schedules if s.enabled)} enabled)")))
        resume = dict(p.resume)
        for stale in ev.stale_runs:  # in the air (or launching) when the station stopped: ended as aborted
            actions.append(Record(PatrolRunRow(stale.run_id, stale.schedule_id, now_s, "aborted",
                                               "the station stopped while the run was in progress",
                                               ended_at_s=now_s, resume_item=stale.resume_item)))
            if stale.resume_item is not None:
                resume[stale.schedule_id] = ResumePoint(stale.run_id, stale.resume_item)
        state = _patrol_state(state, resume=resume)
    else:
        actions.append(Record(EventRow(None, now_s, "patrol", "info",
                                       f"patrol schedules reloaded: {len(ev.schedules)} schedule(s)")))
    return state, actions


def _on_tick(state: StationState, ev: Tick, now_s: float):
    if not state.patrols.loaded:
        return state, []
    actions: list[Action] = []
    for sid in sorted(state.patrols.schedules):
        sched = state.patrols.schedules[sid]
        since = state.patrols.checked_until_s.get(sid, now_s)
        try:
            due = pt.due(sched, since, now_s)
        except MissionError as exc:
            due = []
            actions.append(Record(EventRow(None, now_s, "patrol", "error", f"schedule {sched.name}: {exc}")))
        checked = dict(state.patrols.checked_until_s)
        checked[sid] = max(since, now_s)
        state = _patrol_state(state, checked_until_s=checked)
        for d in due:
            t = d.scheduled_utc.timestamp()
            run_id = f"{sid}@{int(t)}"
            if not d.fire:
                actions.append(Record(PatrolRunRow(run_id, sid, now_s, "missed", d.reason, scheduled_for_s=t,
                                                   ended_at_s=now_s)))
                continue
            actions.append(Record(ScheduleFiredRow(sid, t, now_s)))
            state, more = _patrol_fire(state, sched, run_id, t, now_s, d.reason)
            actions.extend(more)
    for run in list(state.patrols.runs.values()):
        state, more = _patrol_rotation(state, run, now_s)
        actions.extend(more)
    return state, actions


def _candidates(state: StationState, exclude: str | None = None) -> dict[str, tuple[Any, bool, str]]:
    out: dict[str, tuple[Any, bool, str]] = {}
    for vid, view in state.vehicles.items():
        busy = ""
        run = state.patrols.run_on(vid)
        if run is not None:
            busy = f"flying patrol run {run.run_id}"
        elif vid == exclude:
            busy = "the vehicle being relieved"
        out[vid] = (view.state, view.link_up, busy)
    return out


def _patrol_fire(state: StationState, sched: pt.PatrolSchedule, run_id: str, t: float, now_s: float, why: str):
    active = state.patrols.runs_of(sched.schedule_id)
    if active:
        reason = f"missed: the previous run {active[0].run_id} is still in progress on {active[0].vehicle_id}"
        return state, [Record(PatrolRunRow(run_id, sched.schedule_id, now_s, "missed", reason, scheduled_for_s=t,
                                           ended_at_s=now_s)),
                       Record(EventRow(None, now_s, "patrol", "warning", f"patrol {sched.name}: {reason}"))]
    policy = state.patrol_policy
    vid, detail = pt.choose_vehicle(sched, _candidates(state), policy.profile,
                                    state.policy.min_battery_to_launch_pct, policy.speed_m_s)
    if vid is None:
        reason = f"missed: no vehicle available: {detail}"
        return state, [Record(PatrolRunRow(run_id, sched.schedule_id, now_s, "missed", reason, scheduled_for_s=t,
                                           ended_at_s=now_s)),
                       Record(EventRow(None, now_s, "patrol", "warning", f"patrol {sched.name}: {reason}"))]
    resume = state.patrols.resume.get(sched.schedule_id)
    cover_until = t + sched.cover_s if sched.cover_s is not None else None
    return _patrol_start(state, sched, run_id, vid, t, now_s, f"{why}; assigned {detail}",
                         resume.from_item if resume else None, resume.run_id if resume else None, cover_until, None)


def _patrol_start(state: StationState, sched: pt.PatrolSchedule, run_id: str, vid: str, t: float, now_s: float,
                  reason: str, resume_from: int | None, resumed_from_run: str | None, cover_until: float | None,
                  relieves: str | None):
    items, index_map = pt.launch_items(sched, resume_from, loop=sched.cover_s is not None)
    run = PatrolRun(run_id, sched.schedule_id, vid, t, now_s, items, index_map,
                    resume_from_item=resume_from if resume_from else None,
                    resumed_from_run=resumed_from_run if resume_from else None,
                    cover_until_s=cover_until, relieves_run=relieves)
    runs = dict(state.patrols.runs)
    runs[run_id] = run
    resume = dict(state.patrols.resume)
    if relieves is None:
        resume.pop(sched.schedule_id, None)  # consumed; put back if the launch fails
    state = _patrol_state(state, runs=runs, resume=resume, runs_started=state.patrols.runs_started + 1)
    text = f"patrol {sched.name}: run {run_id} planned on {vid}"
    if run.resume_from_item is not None:
        text += f", resuming {resumed_from_run} at item {run.resume_from_item}"
    if relieves is not None:
        text += f", relieving {relieves}"
    actions: list[Action] = [_run_row(run, now_s, status="planned", reason=reason),
                             Record(EventRow(vid, now_s, "patrol", "info", text, {"run_id": run_id}))]
    state, more = _patrol_step(state, run, "upload", now_s)
    return state, actions + more


_STEP_REQUESTS: Mapping[str, tuple[str, Mapping[str, Any]]] = MappingProxyType({
    # ArduPilot keeps its current mission item across an upload (AUTO resumes there): start from item 1
    "first_item": ("set_mission_current", MappingProxyType({"seq": 1})),
    "guided": ("set_mode", MappingProxyType({"mode": "GUIDED"})),
    "arm": ("arm", MappingProxyType({})),
    "auto": ("set_mode", MappingProxyType({"mode": "AUTO"})),
})
_NEXT_STEP: Mapping[str, str] = MappingProxyType({"upload": "first_item", "first_item": "guided", "guided": "arm",
                                                  "arm": "auto", "auto": "flying"})


def _patrol_step(state: StationState, run: PatrolRun, step: str, now_s: float):
    """Ask for one launch step through the ordinary checked path (_on_request)."""
    if step == "upload":
        action, args = "upload_mission", {"items": run.items}
    else:
        action, args = _STEP_REQUESTS[step][0], dict(_STEP_REQUESTS[step][1])
    rid = f"{run.run_id}:{step}"
    run = replace(run, step=step, request_id=rid)
    runs = dict(state.patrols.runs)
    runs[run.run_id] = run
    requests = dict(state.patrols.requests)
    requests[rid] = run.run_id
    state = _patrol_state(state, runs=runs, requests=requests)
    request = CommandRequest(run.vehicle_id, action, args,
                             requested_by=f"patrol:{_schedule_name(state, run.schedule_id)}", request_id=rid)
    state, actions = _on_request(state, request, now_s)
    refusal = next((a.outcome for a in actions if isinstance(a, Reply) and a.outcome.status == "refused_by_station"),
                   None)
    if refusal is not None:
        requests = dict(state.patrols.requests)
        requests.pop(rid, None)
        state = _patrol_state(state, requests=requests)
        state, more = _patrol_end(state, run, "aborted", f"refused by the station at {step}: {refusal.reason}", now_s)
        actions = actions + more
    return state, actions


def _patrol_end(state: StationState, run: PatrolRun, status: str, reason: str, now_s: float, *,
                send_home: str | None = None):
    """Record the end of an active run; leave a resume point when it was interrupted; optionally send the
    vehicle home (RTL, requested by `send_home`)."""
    runs = dict(state.patrols.runs)
    runs.pop(run.run_id, None)
    sched = state.patrols.schedules.get(run.schedule_id)
    resume = dict(state.patrols.resume)
    resume_item = None
    relief_pending = run.relieves_run is not None and run.relieves_run in runs
    if status == "aborted" and not relief_pending:
        if run.launched_at_s is None:
            if run.resume_from_item is not None and run.resumed_from_run is not None:  # not flown: keep it
                resume[run.schedule_id] = ResumePoint(run.resumed_from_run, run.resume_from_item)
                resume_item = run.resume_from_item
        else:
            resume_item = (pt.resume_point(sched, run.last_reached_item) if sched is not None and
                           run.last_reached_item is not None else run.resume_from_item)
            if resume_item is not None:
                resume[run.schedule_id] = ResumePoint(run.run_id, resume_item)
    if relief_pending and status == "aborted":  # a failed relief: the drone on station tries again
        runs[run.relieves_run] = replace(runs[run.relieves_run], relief_run=None, relief_problem=reason)
    state = _patrol_state(state, runs=runs, resume=resume)
    severity = "info" if status == "completed" else "warning"
    text = f"patrol run {run.run_id} {status}: {reason}"
    if resume_item is not None and status == "aborted":
        text += f" (the next launch resumes at item {resume_item})"
    ended = replace(run, status=status)
    actions: list[Action] = [_run_row(ended, now_s, reason=reason, ended_at_s=now_s, resume_item=resume_item),
                             Record(EventRow(run.vehicle_id, now_s, "patrol", severity, text, {"run_id": run.run_id}))]
    view = state.vehicles.get(run.vehicle_id)
    if send_home is not None:
        state, more = _on_request(state, CommandRequest(run.vehicle_id, "rtl", {}, requested_by=send_home,
                                                        request_id=f"{run.run_id}:rtl"), now_s)
        actions.extend(more)
    elif (status == "aborted" and run.step == "auto" and view is not None and view.state is not None
          and view.state.armed and (view.state.alt_rel_m or 0.0) < 1.0):
        state, more = _on_request(state, CommandRequest(run.vehicle_id, "disarm", {}, requested_by="patrol:launch",
                                                        request_id=f"{run.run_id}:disarm"), now_s)
        actions.extend(more)
    return state, actions


def _patrol_finished(state: StationState, ev: CommandFinished, now_s: float):
    run_id = state.patrols.requests.get(ev.request_id)
    if run_id is None:
        return state, []
    requests = dict(state.patrols.requests)
    requests.pop(ev.request_id)
    state = _patrol_state(state, requests=requests)
    run = state.patrols.runs.get(run_id)
    if run is None or run.request_id != ev.request_id:
        # the run ended meanwhile (operator abort, link lost): an arm that still went through is undone
        if ev.ok and ev.action == "arm":
            return _on_request(state, CommandRequest(ev.vehicle_id, "disarm", {}, requested_by="patrol:launch",
                                                     request_id=f"{ev.request_id}:undo"), now_s)
        return state, []
    step = run.step
    if not ev.ok:
        who = "the vehicle" if ev.error_kind in ("refused", "mission") else None
        detail = ev.error or ev.result_name or ev.error_kind or "failed"
        reason = f"refused by {who} at {step}: {detail}" if who else f"{step} failed ({ev.error_kind}): {detail}"
        return _patrol_end(state, run, "aborted", reason, now_s)
    if step == "upload":
        run = replace(run, mission_run_id=ev.request_id)
    nxt = _NEXT_STEP[step]
    if nxt == "flying":
        run = replace(run, status="launched", step="flying", request_id=None, launched_at_s=now_s)
        runs = dict(state.patrols.runs)
        runs[run.run_id] = run
        state = _patrol_state(state, runs=runs)
        return state, [_run_row(run, now_s, reason="launched in AUTO", launched_at_s=now_s),
                       Record(EventRow(run.vehicle_id, now_s, "patrol", "info",
                                       f"patrol run {run.run_id} launched in AUTO", {"run_id": run.run_id}))]
    return _patrol_step(state, run, nxt, now_s)


def _patrol_on_state(state: StationState, ev: StateUpdated, now_s: float):
    vid = ev.state.vehicle_id
    run = state.patrols.run_on(vid)
    if run is None or run.status != "launched":
        return state, []
    view = state.vehicles[vid]
    s = view.state
    if s is None:
        return state, []
    if s.armed and s.mode == "AUTO":
        if not run.seen_auto:
            runs = dict(state.patrols.runs)
            runs[run.run_id] = replace(run, seen_auto=True)
            state = _patrol_state(state, runs=runs)
        return state, []
    if not s.armed:
        if run.seen_auto and pt.completed_by(run, s):
            return _patrol_end(state, run, "completed", "landed and disarmed after the last item", now_s)
        at = f" (last item reached: {run.last_reached_item})" if run.last_reached_item is not None else ""
        return _patrol_end(state, run, "aborted", f"the vehicle disarmed before the patrol ended{at}", now_s)
    if not run.seen_auto:
        return state, []
    mode = s.mode
    if view.battery_level == "reserve" or (mode in ("RTL", "LAND", "SMART_RTL") and view.battery_level != "ok"):
        reason = f"battery RTL: battery {s.battery_pct:.0f}%, vehicle in {mode}" if s.battery_pct is not None \
            else f"battery RTL, vehicle in {mode}"
    elif mode in ("RTL", "LAND", "SMART_RTL"):
        reason = f"the vehicle left AUTO for {mode} (its failsafe or another operator)"
    else:
        reason = f"the vehicle left AUTO for {mode} (another operator?)"
    return _patrol_end(state, run, "aborted", reason, now_s)


def _patrol_link(state: StationState, ev: LinkChanged, now_s: float):
    run = state.patrols.run_on(ev.vehicle_id)
    if ev.up or run is None:
        return state, []
    return _patrol_end(state, run, "aborted", f"link lost ({ev.reason}); the vehicle's own failsafe applies", now_s)


def _patrol_progress(state: StationState, ev: MissionProgress, now_s: float):
    run = state.patrols.run_on(ev.vehicle_id)
    if run is None or run.status != "launched" or ev.reached_seq is None:
        return state, []
    if run.last_reached_seq is not None and ev.reached_seq == run.last_reached_seq:
        return state, []
    item = pt.item_of_seq(run, ev.reached_seq)
    run = replace(run, last_reached_seq=ev.reached_seq,
                  last_reached_item=item if item is not None else run.last_reached_item)
    runs = dict(state.patrols.runs)
    runs[run.run_id] = run
    state = _patrol_state(state, runs=runs)
    actions: list[Action] = [_run_row(run, now_s)]
    view = state.vehicles.get(ev.vehicle_id)
    if ev.reached_seq >= run.last_seq and view is not None and view.state is not None and not view.state.armed:
        state, more = _patrol_end(state, run, "completed", "landed and disarmed after the last item", now_s)
        return state, actions + more
    relieved = state.patrols.runs.get(run.relieves_run) if run.relieves_run else None
    reached_cmd = run.items[ev.reached_seq - 1].command if 1 <= ev.reached_seq <= len(run.items) else None
    if relieved is not None and reached_cmd == 16:  # the relief is on its first waypoint: the other goes home
        state, more = _patrol_end(state, relieved, "completed", f"relieved by run {run.run_id} on {run.vehicle_id}",
                                  now_s, send_home="patrol:rotation")
        actions.extend(more)
    return state, actions


def _patrol_rotation(state: StationState, run: PatrolRun, now_s: float):
    """Rotation for runs of schedules with a coverage window: relief before the drone must return; home at the end."""
    sched = state.patrols.schedules.get(run.schedule_id)
    if run.cover_until_s is None or run.status != "launched" or not run.seen_auto:
        return state, []
    view = state.vehicles.get(run.vehicle_id)
    if now_s < run.cover_until_s and (sched is None or view is None or view.state is None):
        return state, []
    policy = state.patrol_policy
    left = pt.time_left_on_station_s(view.state, policy.profile, policy.speed_m_s) if view and view.state else None
    home = view.state.home if view and view.state else None
    base = pt.GeoPoint(home.lat_deg, home.lon_deg) if home is not None else None
    lead = pt.relief_lead_s(sched, base, policy) if sched is not None else 0.0
    todo = pt.rotation_action(left, lead, now_s, run.cover_until_s, run.relief_run is not None)
    if todo == "end":
        return _patrol_end(state, run, "completed", "the coverage window ended", now_s, send_home="patrol:rotation")
    if todo == "return":
        why = (f"relief {run.relief_run} not on station yet" if run.relief_run is not None
               else f"no relief available: {run.relief_problem or 'none launched'}")
        return _patrol_end(state, run, "aborted", f"no flying time left on station ({left:.0f} s): sent home; {why}",
                           now_s, send_home="patrol:rotation")
    if todo != "relief":
        return state, []
    vid, detail = pt.choose_vehicle(sched, _candidates(state, exclude=run.vehicle_id), policy.profile,
                                    state.policy.min_battery_to_launch_pct, policy.speed_m_s)
    if vid is None:
        if run.relief_problem == detail:
            return state, []
        runs = dict(state.patrols.runs)
        runs[run.run_id] = replace(run, relief_problem=detail)
        state = _patrol_state(state, runs=runs)
        return state, [Record(EventRow(run.vehicle_id, now_s, "patrol", "warning",
                                       f"patrol run {run.run_id}: {left:.0f} s left on station and no relief "
                                       f"available: {detail}", {"run_id": run.run_id}))]
    relief_id = f"{run.schedule_id}@{int(run.scheduled_for_s)}#relief-{int(now_s * 1000)}"
    runs = dict(state.patrols.runs)
    runs[run.run_id] = replace(run, relief_run=relief_id)
    state = _patrol_state(state, runs=runs)
    from_item = pt.resume_point(sched, run.last_reached_item)
    return _patrol_start(state, sched, relief_id, vid, run.scheduled_for_s, now_s,
                         f"rotation: {run.vehicle_id} has {left:.0f} s left on station (lead {lead:.0f} s); "
                         f"assigned {detail}", from_item, run.run_id if from_item else None, run.cover_until_s,
                         run.run_id)


def _on_abort_patrol(state: StationState, request: CommandRequest, now_s: float):
    """An operator aborts the automatic patrol of a vehicle: the run is recorded aborted (who, why), then RTL."""
    run = state.patrols.run_on(request.vehicle_id)
    args = request.args if isinstance(request.args, Mapping) else {}
    if not request.request_id or request.request_id in state.pending:
        return _refuse(state, request, now_s, "request without a request id or a duplicate one")
    unexpected = set(args) - {"reason"}
    if unexpected:
        return _refuse(state, request, now_s, f"unexpected argument(s) for abort_patrol: {', '.join(sorted(unexpected))}")
    if run is None:
        return _refuse(state, request, now_s, f"no automatic patrol is running on {request.vehicle_id}")
    why = str(args.get("reason") or "no reason given")
    state, actions = _patrol_end(state, run, "aborted", f"operator abort by {request.requested_by}: {why}", now_s)
    state, more = _on_request(state, replace(request, action="rtl", args={}), now_s)
    return state, actions + more


def _on_request_or_abort(state: StationState, request: CommandRequest, now_s: float):
    if request.action == "abort_patrol":
        return _on_abort_patrol(state, request, now_s)
    return _on_request(state, request, now_s)


def _then(base: Callable[[StationState, Any, float], tuple[StationState, list[Action]]],
          hook: Callable[[StationState, Any, float], tuple[StationState, list[Action]]]):
    def handler(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
        state, actions = base(state, event, now_s)
        state, more = hook(state, event, now_s)
        return state, actions + more
    return handler


def _crowds(step: Callable[[cr.CrowdState, Any, float], tuple[cr.CrowdState, list[cr.CrowdRow]]]):
    """Run a ground-counting step (crowds.py) on the crowd part of the state; its notes go to the event log."""
    def handler(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
        crowd_state, rows = step(state.crowds, event, now_s)
        return replace(state, crowds=crowd_state), [
            Record(EventRow(r.vehicle_id, now_s, "vision", r.severity, r.text, r.data) if isinstance(r, cr.Note) else r)
            for r in rows]
    return handler


_HANDLERS: Mapping[type, Callable[[StationState, Any, float], tuple[StationState, list[Action]]]] = MappingProxyType({
    VehicleConfigured: _on_configured,
    VehicleUnavailable: _on_unavailable,
    LinkChanged: _then(_on_link, _patrol_link),
    StateUpdated: _then(_on_state, _patrol_on_state),
    StatusText: _on_statustext,
    MissionProgress: _then(_on_progress, _patrol_progress),
    LinkError: _on_link_error,
    CommandRequest: _on_request_or_abort,
    CommandFinished: _then(_on_finished, _patrol_finished),
    Tick: _then(_on_tick, _crowds(lambda crowds, _tick, now_s: cr.on_tick(crowds, now_s))),
    cr.StreamConfigured: _crowds(cr.on_configured),
    cr.VisionObserved: _crowds(cr.on_observed),
    cr.StreamStatus: _crowds(cr.on_status),
    cr.WorkerStats: _crowds(cr.on_stats),
    SchedulesLoaded: _on_schedules,
})
