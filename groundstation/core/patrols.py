"""Automatic patrols, the pure half: stored schedules, patrol runs and the decisions about them.

Nothing here reads a clock or touches a database: times come in as arguments (`now_s`, seconds since the
epoch) and the shell (shell/station.py, shell/schedules.py) does the I/O. patrol_runs.py calls these
functions and turns their answers into checked commands and recorded rows.

Policies (also in README-level docs: config/example.toml [patrols]):
- Firing and missed runs ("coalesce with a grace period", missions.schedule.due_runs): on every Tick the
  fire times that fell in (checked_until, now] are looked at; only the LATEST may fire, and only if it is at
  most `grace_s` old; every other one is recorded as a `missed` run (never flown late). After a restart,
  `checked_until` starts at the schedule's last fire time (or its creation time if it never fired), so the
  runs that fell while the station was down are recorded as missed, and the latest still fires if it is
  within the grace period. A new schedule never fires for times before it was created.
- A fire time that finds the previous run of the same schedule still in the air is recorded as missed.
- Assignment (missions.assignment.assign_vehicle): among vehicles whose link is up, that are disarmed on
  the ground, ready to arm, with a known position and home, and not already on a patrol, the nearest to the
  plan's start with enough battery for the plan, the transit and the reserve; none -> the run is recorded
  as missed with one reason per vehicle.
- Resume: a run interrupted after its takeoff (battery RTL, link loss, operator abort, mode change, station
  restart) leaves a resume point: the next launch of that schedule uploads
  missions.mission.resume_items(items, k), k = the first waypoint after the last one reached (takeoff and
  the latest speed/gimbal settings kept).
- Rotation (schedules with `cover_s`): the mission loops (DO_JUMP back to the first waypoint) and the
  coverage window lasts `cover_s` from the fire time. When the drone on station has only
  `relief_lead_s(...)` of flying left before it must turn home, the next drone is launched; once the relief
  has reached its first waypoint, the current one is sent home (RTL) and its run recorded completed
  ("relieved"). At the end of the window the drone on station is sent home. A drone whose flying time is
  used up before a relief arrived (none available, or late) is sent home anyway and its run recorded aborted
  (rotation_action).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from missions.assignment import NoVehicleAvailable, VehicleStatus, assign_vehicle
from missions.errors import MissionError
from missions.estimate import VehicleProfile, vertical_time_s
from missions.geo import GeoPoint, haversine_m
from missions.mission import MavCmd, resume_items
from missions.schedule import DueRun, Schedule, due_runs
from telemetry.records import MissionItem, VehicleState

UTC = timezone.utc
RUN_STATUSES = ("planned", "launched", "completed", "aborted", "missed")
DO_JUMP = 177
LAUNCH_STEPS = ("upload", "first_item", "guided", "arm", "start")  # then "flying"
MISSED_RECORD_LIMIT = 100  # at most this many missed runs are recorded per schedule per tick (the newest)


# --- events in (from the shell) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time passes: the shell sends one every `patrols.tick_s` (tests send them with an injected clock)."""


@dataclass(frozen=True)
class PatrolSchedule:
    """One stored schedule, as the shell loaded it from the database."""

    schedule_id: str
    name: str
    items: tuple[MissionItem, ...]  # the planned mission, without ArduPilot's home slot
    start_lat_deg: float  # the plan's first waypoint (for assignment: distance from each vehicle)
    start_lon_deg: float
    energy_wh: float  # the plan's estimated energy, home to home
    cron: str | None = None
    interval_s: float | None = None
    tz_name: str = "UTC"
    enabled: bool = True
    created_at_s: float = 0.0
    last_fired_s: float | None = None
    grace_s: float = 600.0
    cover_s: float | None = None  # rotation: keep the zone covered this long from each fire time

    def as_schedule(self) -> Schedule:
        """The missions.schedule view (raises ScheduleError if the stored row is malformed)."""
        return Schedule(self.schedule_id, self.name, cron=self.cron, interval_s=self.interval_s, tz_name=self.tz_name,
                        enabled=self.enabled, grace_s=self.grace_s,
                        anchor_utc=_utc(self.created_at_s))


@dataclass(frozen=True)
class ResumePoint:
    run_id: str  # the interrupted run
    from_item: int  # index into the schedule's items (0-based, no home slot)


@dataclass(frozen=True)
class StaleRun:
    """A run the database says was planned or in the air when the station stopped."""

    run_id: str
    schedule_id: str
    vehicle_id: str | None
    resume_item: int | None


@dataclass(frozen=True)
class SchedulesLoaded:
    """The shell read the schedules table (at start, and whenever it changed)."""

    schedules: tuple[PatrolSchedule, ...]
    resume_points: Mapping[str, ResumePoint] = field(default_factory=dict)  # schedule_id -> point (at start)
    stale_runs: tuple[StaleRun, ...] = ()  # at start only


# --- rows out -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatrolRunRow:
    """Insert-or-update of one patrol run (keyed by run_id); None leaves a column as it was."""

    run_id: str
    schedule_id: str
    at_s: float
    status: str  # planned | launched | completed | aborted | missed
    reason: str = ""
    vehicle_id: str | None = None
    scheduled_for_s: float | None = None
    launched_at_s: float | None = None
    ended_at_s: float | None = None
    last_reached_item: int | None = None
    resume_item: int | None = None  # where the next launch of this schedule should start
    resume_from_item: int | None = None  # where THIS run started, when it resumed an interrupted one
    resumed_from_run: str | None = None
    mission_run_id: str | None = None  # the upload's request id (mission_runs.run_id)
    relieves_run: str | None = None


@dataclass(frozen=True)
class ScheduleFiredRow:
    schedule_id: str
    fired_for_s: float  # the fire time handled (launched or not)
    at_s: float


# --- domain state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatrolRun:
    """An active run (planned or launched). Ended runs are only in the database."""

    run_id: str
    schedule_id: str
    vehicle_id: str
    scheduled_for_s: float
    planned_at_s: float
    items: tuple[MissionItem, ...]  # as uploaded (no home slot)
    index_map: tuple[int | None, ...]  # uploaded index -> index in the schedule's items (None: added DO_JUMP)
    status: str = "planned"
    step: str = "upload"  # upload | first_item | guided | arm | start | flying
    request_id: str | None = None  # the launch step's command in flight
    launched_at_s: float | None = None
    seen_auto: bool = False  # the vehicle was seen armed in AUTO after the launch
    last_reached_seq: int | None = None
    last_reached_item: int | None = None
    resume_from_item: int | None = None
    resumed_from_run: str | None = None
    cover_until_s: float | None = None  # rotation window end
    relieves_run: str | None = None
    relief_run: str | None = None
    relief_problem: str | None = None  # why no relief could be launched (recorded once)
    mission_run_id: str | None = None
    paused_by: str | None = None  # a crowd response has the drone (GUIDED over a crowd); the patrol resumes after

    @property
    def last_seq(self) -> int:
        """Vehicle seq of the last uploaded item (seq 0 is home)."""
        return len(self.items)


@dataclass(frozen=True)
class PatrolState:
    schedules: Mapping[str, PatrolSchedule] = field(default_factory=dict)
    checked_until_s: Mapping[str, float] = field(default_factory=dict)
    runs: Mapping[str, PatrolRun] = field(default_factory=dict)  # active runs by run_id
    requests: Mapping[str, str] = field(default_factory=dict)  # launch-step request id -> run id
    resume: Mapping[str, ResumePoint] = field(default_factory=dict)  # schedule_id -> where to resume
    loaded: bool = False
    runs_started: int = 0
    # the risk map's patrol interval factor of each schedule (risk.py sets them; 1 when not given): see risk_scaled
    interval_factors: Mapping[str, float] = field(default_factory=dict)

    def run_on(self, vehicle_id: str) -> PatrolRun | None:
        return next((r for r in self.runs.values() if r.vehicle_id == vehicle_id), None)

    def runs_of(self, schedule_id: str) -> list[PatrolRun]:
        return [r for r in self.runs.values() if r.schedule_id == schedule_id]


# --- pure decisions -------------------------------------------------------------------------------------


def _utc(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, UTC)


def load(state: PatrolState, ev: SchedulesLoaded) -> PatrolState:
    """New schedule set; in-memory progress (checked_until) is kept for schedules already known."""
    schedules = {s.schedule_id: s for s in ev.schedules}
    checked = {}
    for sid, s in schedules.items():
        previous = state.checked_until_s.get(sid)
        start = max(s.created_at_s, s.last_fired_s or s.created_at_s)
        checked[sid] = previous if previous is not None else start
    resume = dict(state.resume)
    for sid, point in ev.resume_points.items():
        resume.setdefault(sid, point)
    return replace(state, schedules=schedules, checked_until_s=checked, resume=resume, loaded=True)


MIN_INTERVAL_S = 60.0  # missions.schedule's shortest interval: a risk-scaled interval never goes below it


def risk_scaled(schedule: PatrolSchedule, factor: float) -> PatrolSchedule:
    """The schedule as the risk map has it flown: an interval schedule's interval times `factor` (risk.py: the
    highest level among the cells its waypoints lie in; 0.25 flies a red area's patrol four times as often), never
    under MIN_INTERVAL_S; the fire times keep the schedule's anchor (its creation time), so a factor of 1/n adds
    n - 1 runs between the usual ones. A cron schedule keeps its times (a cron line says when: opening hours, a
    market day)."""
    if factor == 1.0 or schedule.interval_s is None:
        return schedule
    return replace(schedule, interval_s=max(MIN_INTERVAL_S, schedule.interval_s * factor))


def due(schedule: PatrolSchedule, checked_until_s: float, now_s: float) -> list[DueRun]:
    """missions.schedule.due_runs for (checked_until, now]: see the module's missed-run policy."""
    if now_s <= checked_until_s or not schedule.enabled:
        return []
    return due_runs(schedule.as_schedule(), _utc(checked_until_s), _utc(now_s), limit=MISSED_RECORD_LIMIT)


def available(state: VehicleState | None, link_up: bool) -> tuple[bool, str]:
    """Can this vehicle start a patrol now? (True, "") or (False, why)."""
    if state is None or not link_up:
        return False, "link down"
    if state.armed:
        return False, "armed (flying or busy)"
    if state.landed_state not in (None, 1) or (state.alt_rel_m or 0.0) > 2.0:
        return False, "not on the ground"
    if not state.ready_to_arm:
        return False, "not ready to arm"
    if not state.position_known or state.home is None:
        return False, "position or home unknown"
    if state.battery_pct is None:
        return False, "battery level unknown"
    return True, ""


def choose_vehicle(schedule: PatrolSchedule, candidates: Mapping[str, tuple[VehicleState | None, bool, str]],
                   profile: VehicleProfile, min_battery_pct: float, speed_m_s: float) -> tuple[str | None, str]:
    """(vehicle_id, why) of the vehicle to fly `schedule`, or (None, every reason) when none can.

    candidates: vehicle_id -> (latest state, link up, "" or why it is busy).
    """
    statuses, reasons = [], []
    for vid in sorted(candidates):
        state, link_up, busy = candidates[vid]
        ok, why = (False, busy) if busy else available(state, link_up)
        if ok and state is not None and state.battery_pct is not None and state.battery_pct < min_battery_pct:
            ok, why = False, f"battery {state.battery_pct:.0f}% is below the {min_battery_pct:g}% needed to launch"
        if not ok:
            reasons.append(f"{vid}: {why}")
        pos = GeoPoint(state.lat_deg, state.lon_deg) if state is not None and state.position_known else None
        statuses.append(VehicleStatus(vid, state.battery_pct if state and state.battery_pct is not None else 0.0,
                                      ok, pos))
    try:
        a = assign_vehicle(statuses, schedule.energy_wh, GeoPoint(schedule.start_lat_deg, schedule.start_lon_deg),
                           profile, speed_m_s)
    except NoVehicleAvailable as e:
        detail = [r for r in e.reasons if not r.endswith(": not available")]
        return None, "; ".join(reasons + detail) or "no vehicles"
    except MissionError as e:
        return None, str(e)
    return a.vehicle_id, (f"{a.vehicle_id}: {a.transit_m:.0f} m from the start, needs about "
                          f"{a.battery_pct_needed:.0f}% and lands with about {a.battery_pct_at_landing:.0f}%")


def launch_items(schedule: PatrolSchedule, resume_from: int | None, loop: bool
                 ) -> tuple[tuple[MissionItem, ...], tuple[int | None, ...]]:
    """The items to upload (no home slot) and, for each, its index in the schedule's items.

    resume_from: start at that item (missions.mission.resume_items). loop: a DO_JUMP (repeat forever) back to
    the first waypoint goes before the final return-to-launch, for rotation; a looping mission resumed at a
    waypoint flies items[resume_from:] then the waypoints before resume_from, and jumps back to resume_from, so
    the relief covers the whole route (the same cycle as the drone it relieves).
    """
    items = list(schedule.items)
    index = list(range(len(items)))
    loop_start: int | None = None  # where the loop's DO_JUMP goes back to (upload index); None: the first waypoint
    if resume_from is not None and 0 < resume_from < len(items):
        kept = resume_items(tuple(_as_missions_item(it) for it in items), resume_from)
        # map each kept item back: the head (takeoff + latest DO settings) then items[resume_from:]
        tail = list(range(resume_from, len(items)))
        head_len = len(kept) - len(tail)
        head_idx = _head_indexes(items, resume_from)[:head_len]
        index = head_idx + tail
        if loop:
            # a looping relief must still cover the whole route: after the resumed part it flies the waypoints
            # before resume_from too, and the loop goes back to resume_from (the same cycle, entered later)
            first_wp = next((i for i, it in enumerate(items) if it.command == MavCmd.NAV_WAYPOINT), None)
            rtl = max((i for i, it in enumerate(items) if it.command == MavCmd.NAV_RETURN_TO_LAUNCH), default=None)
            if first_wp is not None and rtl is not None and first_wp < resume_from < rtl:
                at = index.index(rtl)
                index = index[:at] + list(range(first_wp, resume_from)) + index[at:]
                loop_start = len(head_idx)
        items = [items[i] for i in index]
    if loop:
        first_wp = loop_start if loop_start is not None else next(
            (i for i, it in enumerate(items) if it.command == MavCmd.NAV_WAYPOINT), None)
        rtl = max((i for i, it in enumerate(items) if it.command == MavCmd.NAV_RETURN_TO_LAUNCH), default=None)
        if first_wp is not None and rtl is not None and rtl > first_wp:
            jump = MissionItem(DO_JUMP, frame=2, param1=float(first_wp + 1), param2=-1.0)  # seq = index + 1 (home 0)
            items.insert(rtl, jump)
            index.insert(rtl, None)
    return tuple(items), tuple(index)


def _head_indexes(items: Sequence[MissionItem], from_index: int) -> list[int]:
    """Indexes resume_items keeps before from_index: the first takeoff, then the latest DO item of each kind
    (in the order resume_items emits them: first-seen order of the command)."""
    head = [i for i, it in enumerate(items[:from_index]) if it.command == MavCmd.NAV_TAKEOFF][:1]
    latest: dict[int, int] = {}
    for i, it in enumerate(items[:from_index]):
        if it.command not in _NAV and it.command != MavCmd.NAV_RETURN_TO_LAUNCH:
            latest[it.command] = i
    return head + list(latest.values())


_NAV = frozenset({16, 17, 18, 19, 21, 22})


def _as_missions_item(it: MissionItem):
    from missions.mission import MissionItem as PlanItem

    return PlanItem(it.command, it.frame, it.param1, it.param2, it.param3, it.param4, it.lat_deg, it.lon_deg,
                    it.alt_m, it.autocontinue)


def item_of_seq(run: PatrolRun, seq: int) -> int | None:
    """The schedule's item index of vehicle mission seq `seq` (seq 0 is home)."""
    if 1 <= seq <= len(run.index_map):
        return run.index_map[seq - 1]
    return None


def resume_point(schedule: PatrolSchedule, last_reached_item: int | None) -> int | None:
    """Where a run interrupted after reaching `last_reached_item` should resume: the next waypoint after it,
    or None when nothing is left to fly but the return (or nothing was reached beyond the takeoff)."""
    if last_reached_item is None:
        return None
    items = schedule.items
    for i in range(last_reached_item + 1, len(items)):
        if items[i].command in (MavCmd.NAV_WAYPOINT, MavCmd.NAV_LOITER_TIME, MavCmd.NAV_LOITER_TURNS):
            return i
    return None


def completed_by(run: PatrolRun, state: VehicleState) -> bool:
    """A disarmed vehicle finished the mission: the last item was reached, or it was the current one."""
    if run.last_reached_seq is not None and run.last_reached_seq >= run.last_seq:
        return True
    return state.mission_seq is not None and state.mission_seq >= run.last_seq


def time_left_on_station_s(state: VehicleState, profile: VehicleProfile, speed_m_s: float) -> float | None:
    """Seconds the vehicle may keep patrolling before it must turn home to land with the reserve."""
    if state.battery_pct is None or not state.position_known or state.home is None:
        return None
    home_m = haversine_m(GeoPoint(state.lat_deg, state.lon_deg), GeoPoint(state.home.lat_deg, state.home.lon_deg))
    back_s = home_m / speed_m_s + vertical_time_s(max(state.alt_rel_m or 0.0, 0.0), profile)
    return profile.endurance_s(state.battery_pct) - back_s


def relief_lead_s(schedule: PatrolSchedule, base: GeoPoint | None, policy: "PatrolPolicy") -> float:
    """How long before the current drone must leave the next one has to be launched: the launch steps,
    the climb, the transit from `base` (where the relief takes off) to the plan's start, and a handover margin."""
    transit_s = 0.0
    if base is not None:
        transit_s = haversine_m(base, GeoPoint(schedule.start_lat_deg, schedule.start_lon_deg)) / policy.speed_m_s
    alt = max((it.alt_m for it in schedule.items if it.command == MavCmd.NAV_TAKEOFF), default=0.0)
    return policy.launch_overhead_s + alt / policy.profile.climb_rate_m_s + transit_s + policy.handover_s


def rotation_action(left_s: float | None, lead_s: float, now_s: float, cover_until_s: float,
                    relief_launched: bool) -> str:
    """What a rotation run on station needs now: "end" (the window is over: home), "return" (it has no flying
    time left: home now, relieved or not; a gap in coverage is better than a drone landing below its reserve),
    "relief" (launch the next drone: about `lead_s` left and the window outlasts it), or "" (nothing)."""
    if now_s >= cover_until_s:
        return "end"
    if left_s is None:
        return ""
    if left_s <= 0.0:
        return "return"
    if relief_launched or left_s > lead_s or now_s + left_s >= cover_until_s:
        return ""
    return "relief"


@dataclass(frozen=True)
class PatrolPolicy:
    """Settings of automatic patrols (built from the config's [patrols])."""

    profile: VehicleProfile = field(default_factory=VehicleProfile)
    speed_m_s: float = 8.0  # cruise speed assumed for transits (assignment, time to return)
    launch_overhead_s: float = 30.0  # upload, mode changes and arming before a relief leaves the ground
    handover_s: float = 60.0  # the relief is on station this long before the current drone must leave


