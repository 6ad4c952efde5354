"""Ground counting in the station core: people from every vision stream on one map, per-zone and per-grid-cell
counts, crowd observations, and gatherings (a zone over its safe capacity for ``hold_s``) and their dispersal.

Pure: every function takes the state, the event and ``now_s`` (the station's wall clock, injected) and returns
the new state and the rows to record; no clock, no I/O. The core (dispatch.py) dispatches to it and wraps the
rows into ``Record`` actions (``Note`` rows become event-log rows).

Events in: ``StreamConfigured`` (from the shell, once per configured camera), ``VisionObserved`` (one
analysed frame of a stream and/or its crowd observations), vision's ``StreamStatus`` and ``WorkerStats``,
and the patrol ``Tick`` (people not seen for ``window_s`` leave the counts even when no frame comes).

No double counting: a person keeps its identity while its (stream, track id) is seen; a new identity within
``merge_radius_m`` of a known person not seen in the same frame is that person (lost-and-found track,
another drone's view, a repeated pass); two people seen in the same frame are always two people; a known
person inside a frame's seen area (where that camera would have seen them: vision.camera.seen_area) and not seen
in ``miss_frames`` of its frames in a row has left the map (gone, or a second placing of someone while the drone
turned); someone within the merge radius or their position's uncertainty of the area's edge is not judged by it
(last seen walking out of view). Frames
flagged ``pose_missing`` are recorded as such and never placed in zones or cells. The zones and the city
grid are missions.areas' geometry.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import shapely

from missions.areas import CityGrid, CountingZone
from missions.geo import latlon_to_enu
from vision.records import CrowdObservation, FrameResult, PersonOnGround, StreamStatus, WorkerStats

_EMPTY: Mapping[Any, Any] = MappingProxyType({})
COUNT_Z = 1.645  # the counts' bounds: this many sigmas of each frame's estimate (one-sided 95 % each way)


# --- policy (from the config's [counting]) ------------------------------------------------------------------


@dataclass(frozen=True)
class CountingPolicy:
    zones: tuple[CountingZone, ...] = ()
    grid: CityGrid | None = None  # None: no per-cell counts
    hold_s: float = 10.0  # a zone over capacity this long is a gathering
    clear_s: float = 5.0  # a gathering's zone back at or under capacity this long has dispersed
    window_s: float = 30.0  # a person not seen for this long leaves the counts
    merge_radius_m: float = 2.0
    record_interval_s: float = 10.0  # zone / view count rows: on change, and at least this often
    cell_capacity_persons: int | None = None  # a grid cell over this is watched like a zone (id "cell:E:N")
    # a person inside a frame's seen area (where that camera would have seen them) and not seen in it this many of
    # its frames in a row has left, or was a second placing of someone (the frame is the better evidence); 0: never
    miss_frames: int = 3


# --- events in --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamConfigured:
    """The shell started (or will start) a vision worker for a configured camera."""

    stream_id: str
    vehicle_id: str
    source: str


@dataclass(frozen=True)
class VisionObserved:
    """What a stream's worker produced since the core last looked: the latest analysed frame (None when only
    crowd observations arrived) and every crowd observation (the shell merges them when it coalesces frames)."""

    stream_id: str
    frame: FrameResult | None
    crowds: tuple[CrowdObservation, ...] = ()
    frames_coalesced: int = 0  # frames the shell replaced by a newer one before the core saw them


# --- rows out ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrowdObservationRow:
    stream_id: str
    vehicle_id: str
    at_s: float  # when the core handled it
    observed_at_s: float  # the frame's capture time (the worker's clock)
    lat_deg: float
    lon_deg: float
    count: int
    radius_m: float
    density_per_m2: float
    confidence: float
    zone_id: str | None
    count_estimate: float | None = None  # the worker's estimate of the people really there, and its one sigma
    count_sigma: float = 0.0
    count_method: str = "detections"  # detections | density


@dataclass(frozen=True)
class ZoneCountRow:
    zone_id: str
    at_s: float
    count: int  # people placed in the zone
    capacity_persons: int
    over_capacity: bool  # credibly over: count_low > capacity
    count_low: float | None = None  # the count's bounds, from each frame's estimate (COUNT_Z sigmas each way)
    count_high: float | None = None


@dataclass(frozen=True)
class ViewCountRow:
    """One stream's view: people in view, how many were placed on the ground, or flagged without a pose."""

    stream_id: str
    vehicle_id: str
    at_s: float
    captured_at_s: float
    frame_index: int
    count_in_view: int
    unique_seen: int
    placed: int
    pose_missing: bool


@dataclass(frozen=True)
class GatheringRow:
    """Insert-or-update of one gathering (keyed by gathering_id)."""

    gathering_id: str
    zone_id: str
    at_s: float
    status: str  # gathering | dispersed
    started_at_s: float  # when the zone went over capacity
    count: int
    peak_count: int
    capacity_persons: int
    reason: str
    ended_at_s: float | None = None


@dataclass(frozen=True)
class StreamStatusRow:
    stream_id: str
    vehicle_id: str
    at_s: float
    state: str  # configured | opening | live | dead | reconnecting | ended | failed | restarting | stopped
    message: str
    reported_at_s: float | None = None  # the worker's own time stamp


@dataclass(frozen=True)
class Note:
    """A line for the station's event log (the core turns it into an EventRow of kind 'vision')."""

    vehicle_id: str | None
    severity: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


CrowdRow = CrowdObservationRow | ZoneCountRow | ViewCountRow | GatheringRow | StreamStatusRow | Note


# --- state ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamView:
    stream_id: str
    vehicle_id: str = ""
    source: str = ""
    state: str = "configured"
    message: str = ""
    frames: int = 0
    frames_without_pose: int = 0
    frames_coalesced: int = 0
    crowds: int = 0
    count_in_view: int = 0
    unique_seen: int = 0
    pose_missing: bool | None = None
    last_frame_at_s: float | None = None
    last_capture_s: float | None = None
    last_row: tuple[int, bool] | None = None  # (count_in_view, pose_missing) of the last view row
    last_row_s: float | None = None
    latest_crowds: tuple[CrowdObservation, ...] = ()


@dataclass(frozen=True)
class GroundPerson:
    person_id: int
    lat_deg: float
    lon_deg: float
    east_m: float
    north_m: float
    last_seen_s: float
    confidence: float
    drone_id: str
    low: float = 1.0  # this person's weight in the count's low and high bounds (its frame's estimate / its boxes)
    high: float = 1.0
    uncertainty_m: float = 0.0  # how far the true position may be from this one (the camera's placement error)
    missed: int = 0  # frames in a row that would have seen this person and did not


@dataclass(frozen=True)
class ZoneView:
    zone_id: str
    name: str
    capacity_persons: int
    count: int = 0
    over_since_s: float | None = None
    under_since_s: float | None = None
    gathering_id: str | None = None
    gathering_since_s: float | None = None
    peak_count: int = 0
    last_row: tuple[int, float, float] | None = None  # (count, low, high) of the last count row
    last_row_s: float | None = None
    hold_s: float | None = None  # this zone's dwell time (None: the policy's hold_s)
    count_low: float = 0.0  # the count's bounds: over capacity means credibly over (count_low > capacity),
    count_high: float = 0.0  # back under means credibly under (count_high <= capacity)

    @property
    def gathering(self) -> bool:
        return self.gathering_id is not None


@dataclass(frozen=True)
class CrowdState:
    policy: CountingPolicy = field(default_factory=CountingPolicy)
    streams: Mapping[str, StreamView] = field(default_factory=lambda: _EMPTY)
    people: tuple[GroundPerson, ...] = ()
    by_key: Mapping[tuple[str, int], int] = field(default_factory=lambda: _EMPTY)  # (stream, track id) -> person id
    next_person_id: int = 0
    zones: Mapping[str, ZoneView] = field(default_factory=lambda: _EMPTY)
    cells: Mapping[tuple[int, int], int] = field(default_factory=lambda: _EMPTY)  # (cell east, cell north) -> people
    # the risk map's capacity factor of each zone (risk.py sets them; 1 when not given): see capacity_of
    capacity_factors: Mapping[str, float] = field(default_factory=lambda: _EMPTY)


def capacity_of(state: CrowdState, zone_id: str, base_persons: int) -> int:
    """A zone's safe capacity in force: its configured capacity times its risk factor (risk.py), rounded down and at
    least 1 (a capacity of 0 stays 0): a zone in a red area tolerates a smaller gathering."""
    factor = state.capacity_factors.get(zone_id, 1.0)
    if base_persons <= 0 or factor == 1.0:
        return base_persons
    return max(1, int(math.floor(base_persons * factor + 1e-9)))


def with_capacity_factors(state: CrowdState, factors: Mapping[str, float]) -> CrowdState:
    """The risk map's capacity factors (zone id -> factor): each zone's capacity in force changes now; a zone's count
    is judged against it from the next recount (each frame and Tick)."""
    state = replace(state, capacity_factors=MappingProxyType(dict(factors)))
    zones = dict(state.zones)
    for zone in state.policy.zones:
        view = zones.get(zone.zone_id)
        if view is not None:
            zones[zone.zone_id] = replace(view, capacity_persons=capacity_of(state, zone.zone_id, zone.capacity_persons))
    return replace(state, zones=MappingProxyType(zones))


def initial(policy: CountingPolicy) -> CrowdState:
    zones = {z.zone_id: ZoneView(z.zone_id, z.name, z.capacity_persons, hold_s=z.dwell_s) for z in policy.zones}
    return CrowdState(policy=policy, zones=MappingProxyType(zones))


@dataclass(frozen=True)
class CellCount:
    """People counted in one cell of the city grid (cell indices east and north of the grid's origin)."""

    cell_east: int
    cell_north: int
    count: int
    time_s: float


@dataclass(frozen=True)
class CrowdSnapshot:
    """What the map shows: latest zone counts (with gathering flags), occupied cells, recent crowds, streams."""

    at_s: float
    people: int
    zones: tuple[ZoneView, ...]
    cells: tuple[CellCount, ...]
    crowds: tuple[CrowdObservation, ...]
    streams: tuple[StreamView, ...]


def snapshot(state: CrowdState, now_s: float) -> CrowdSnapshot:
    horizon = now_s - state.policy.window_s
    crowds = tuple(c for v in state.streams.values() if (v.last_frame_at_s or -math.inf) >= horizon
                   for c in v.latest_crowds)
    return CrowdSnapshot(
        at_s=now_s,
        people=len(state.people),
        zones=tuple(state.zones.values()),
        cells=tuple(CellCount(e, n, c, now_s) for (e, n), c in sorted(state.cells.items())),
        crowds=crowds,
        streams=tuple(state.streams.values()),
    )


# --- geometry ---------------------------------------------------------------------------------------------


def _enu(origin: tuple[float, float], lat_deg: float, lon_deg: float) -> tuple[float, float]:
    """East/north metres from origin (missions.geo's local projection)."""
    east, north = latlon_to_enu(origin[0], origin[1], lat_deg, lon_deg)
    return float(east), float(north)


def _origin(policy: CountingPolicy, fallback: tuple[float, float]) -> tuple[float, float]:
    return (policy.grid.origin_lat_deg, policy.grid.origin_lon_deg) if policy.grid is not None else fallback


def zone_of(policy: CountingPolicy, lat_deg: float, lon_deg: float) -> str | None:
    for zone in policy.zones:
        if bool(zone.contains(lat_deg, lon_deg)[0]):
            return zone.zone_id
    return None


# --- the registry of people (no double counting) ----------------------------------------------------------


def _expire(state: CrowdState, now_s: float) -> CrowdState:
    horizon = now_s - state.policy.window_s
    kept = tuple(p for p in state.people if p.last_seen_s >= horizon)
    if len(kept) == len(state.people):
        return state
    alive = {p.person_id for p in kept}
    by_key = {k: v for k, v in state.by_key.items() if v in alive}
    return replace(state, people=kept, by_key=MappingProxyType(by_key))


def _observe(state: CrowdState, stream_id: str, people: tuple[PersonOnGround, ...], now_s: float,
             weights: tuple[float, float] = (1.0, 1.0), seen_area: tuple[tuple[float, float], ...] = ()
             ) -> CrowdState:
    """Add one frame's people (seen now), each weighing `weights` (low, high) in the counts' bounds; the people
    known inside the frame's seen area and not seen in it are missed once more (gone after miss_frames)."""
    looked = bool(seen_area) and state.policy.miss_frames > 0 and bool(state.people)
    if not people and not looked:
        return state
    anchor = people[0] if people else state.people[0]
    origin = _origin(state.policy, (anchor.lat_deg, anchor.lon_deg))
    known: dict[int, GroundPerson] = {p.person_id: p for p in state.people}
    if state.policy.grid is None and known:  # keep one origin for the positions already known
        first = next(iter(known.values()))
        origin = (first.lat_deg, first.lon_deg)
        known = {pid: replace(p, **dict(zip(("east_m", "north_m"), _enu(origin, p.lat_deg, p.lon_deg))))
                 for pid, p in known.items()}
    by_key = dict(state.by_key)
    next_id = state.next_person_id
    matched: set[int] = set()

    def placed(pid: int, p: PersonOnGround) -> GroundPerson:
        east, north = _enu(origin, p.lat_deg, p.lon_deg)
        return GroundPerson(pid, p.lat_deg, p.lon_deg, east, north, now_s, p.confidence, p.drone_id, *weights,
                            uncertainty_m=p.uncertainty_m)

    pending = []
    for p in people:
        key = (stream_id, p.track_id) if p.track_id is not None else None
        pid = by_key.get(key) if key is not None else None
        if pid is not None and pid in known and pid not in matched:
            known[pid] = placed(pid, p)
            matched.add(pid)
        else:
            pending.append((key, p))
    for key, p in pending:
        east, north = _enu(origin, p.lat_deg, p.lon_deg)
        best, best_d = None, state.policy.merge_radius_m
        for pid, person in known.items():
            if pid in matched:
                continue  # seen in this very frame: a different person
            d = math.hypot(person.east_m - east, person.north_m - north)
            if d <= best_d:
                best, best_d = pid, d
        if best is None:
            best, next_id = next_id, next_id + 1
        known[best] = placed(best, p)
        matched.add(best)
        if key is not None:
            by_key[key] = best
    if looked:
        known = _missed(known, matched, [_enu(origin, lat, lon) for lat, lon in seen_area], state.policy)
        by_key = {k: v for k, v in by_key.items() if v in known}
    return replace(state, people=tuple(known[pid] for pid in sorted(known)), by_key=MappingProxyType(by_key),
                   next_person_id=next_id)


def _missed(known: dict[int, GroundPerson], matched: set[int], area_enu: list[tuple[float, float]],
            policy: CountingPolicy) -> dict[int, GroundPerson]:
    """The known people after a frame that looked at ``area_enu`` (local metres): each one well inside it (further
    from its edge than the merge radius and the person's own position uncertainty: someone last seen walking out
    of view is not judged by the frames after) and not seen in the frame is missed once more, and leaves the map
    at ``miss_frames``."""
    others = [known[pid] for pid in known if pid not in matched]
    if not others:
        return known
    area = shapely.Polygon(area_enu)
    points = shapely.points([p.east_m for p in others], [p.north_m for p in others])
    inside = shapely.contains(area, points) & (
        shapely.distance(area.exterior, points) > [max(policy.merge_radius_m, p.uncertainty_m) for p in others])
    out = dict(known)
    for person, yes in zip(others, inside.tolist()):
        if not yes:
            continue
        pid = person.person_id
        person = replace(person, missed=person.missed + 1)
        if person.missed >= policy.miss_frames:
            del out[pid]
        else:
            out[pid] = person
    return out


# --- counts and gatherings --------------------------------------------------------------------------------


def _recount(state: CrowdState, now_s: float) -> tuple[CrowdState, list[CrowdRow]]:
    """Zone and cell counts of the people now on the map; gathering / dispersed transitions; zone count rows."""
    policy = state.policy
    lats = [p.lat_deg for p in state.people]
    lons = [p.lon_deg for p in state.people]
    cells: dict[tuple[int, int], int] = {}
    cell_weights: dict[tuple[int, int], tuple[float, float]] = {}
    if policy.grid is not None and state.people:
        ce, cn = policy.grid.cells_of(lats, lons)
        for e, n, p in zip(ce.tolist(), cn.tolist(), state.people):
            cells[(e, n)] = cells.get((e, n), 0) + 1
            low, high = cell_weights.get((e, n), (0.0, 0.0))
            cell_weights[(e, n)] = (low + p.low, high + p.high)
    rows: list[CrowdRow] = []
    zones = dict(state.zones)
    lows = [p.low for p in state.people]
    highs = [p.high for p in state.people]
    packed = _density_counts(state, now_s)
    for zone in policy.zones:
        inside = zone.contains(lats, lons).tolist() if state.people else []
        count = sum(inside)
        low = sum(w for w, yes in zip(lows, inside) if yes)
        high = sum(w for w, yes in zip(highs, inside) if yes)
        for c in packed.get(zone.zone_id, ()):  # a packed view counted by a density model: no people placed
            c_low, c_high = c.count_bounds(COUNT_Z)
            count, low, high = count + round(c.count_estimate or c.count), low + c_low, high + c_high
        view = zones[zone.zone_id]
        capacity = capacity_of(state, zone.zone_id, zone.capacity_persons)  # the risk-scaled capacity
        if view.capacity_persons != capacity:
            view = replace(view, capacity_persons=capacity)
        view, zone_rows = _zone_step(policy, view, count, now_s, low, high)
        zones[zone.zone_id] = view
        rows.extend(zone_rows)
    if policy.cell_capacity_persons is not None:  # cells: watched like zones while occupied or gathering
        watched = {cell_id(e, n): (e, n) for e, n in cells}
        watched.update({zid: parse_cell_id(zid) for zid, v in zones.items() if zid.startswith("cell:")})
        for zid, (e, n) in sorted(watched.items()):
            view = zones.get(zid) or ZoneView(zid, f"cell {e},{n}", policy.cell_capacity_persons)
            members_ = cell_weights.get((e, n), (0.0, 0.0))
            view, zone_rows = _zone_step(policy, view, cells.get((e, n), 0), now_s, *members_)
            rows.extend(zone_rows)
            if view.count == 0 and not view.gathering:
                zones.pop(zid, None)
            else:
                zones[zid] = view
    return replace(state, zones=MappingProxyType(zones), cells=MappingProxyType(cells)), rows


def cell_id(cell_east: int, cell_north: int) -> str:
    return f"cell:{cell_east}:{cell_north}"


def parse_cell_id(zone_id: str) -> tuple[int, int]:
    _, e, n = zone_id.split(":")
    return int(e), int(n)


def members(state: CrowdState, zone_id: str) -> list[GroundPerson]:
    """The people on the map now inside a zone, or a grid cell ("cell:E:N")."""
    policy = state.policy
    if zone_id.startswith("cell:"):
        if policy.grid is None or not state.people:
            return []
        cell = parse_cell_id(zone_id)
        ce, cn = policy.grid.cells_of([p.lat_deg for p in state.people], [p.lon_deg for p in state.people])
        return [p for p, e, n in zip(state.people, ce.tolist(), cn.tolist()) if (e, n) == cell]
    zone = next((z for z in policy.zones if z.zone_id == zone_id), None)
    if zone is None or not state.people:
        return []
    inside = zone.contains([p.lat_deg for p in state.people], [p.lon_deg for p in state.people])
    return [p for p, yes in zip(state.people, inside.tolist()) if yes]


def _zone_step(policy: CountingPolicy, view: ZoneView, count: int, now_s: float, low: float | None = None,
               high: float | None = None) -> tuple[ZoneView, list[CrowdRow]]:
    """One zone's count and bounds now: credibly over its capacity for its dwell time is a gathering; credibly
    back under for clear_s, dispersed; in between (the bounds straddle the capacity) neither clock runs."""
    rows: list[CrowdRow] = []
    low = float(count) if low is None else round(low, 2)
    high = float(count) if high is None else round(high, 2)
    over = low > view.capacity_persons
    under = high <= view.capacity_persons
    view = replace(view, count=count, count_low=low, count_high=high)
    if over:
        view = replace(view, over_since_s=view.over_since_s if view.over_since_s is not None else now_s,
                       under_since_s=None)
    elif under:
        view = replace(view, over_since_s=None,
                       under_since_s=view.under_since_s if view.under_since_s is not None else now_s)
    else:
        view = replace(view, over_since_s=None, under_since_s=None)
    if view.gathering:
        view = replace(view, peak_count=max(view.peak_count, count))
    hold_s = view.hold_s if view.hold_s is not None else policy.hold_s
    if not view.gathering and over and now_s - view.over_since_s >= hold_s:
        started = view.over_since_s
        gid = f"{view.zone_id}@{started:.3f}"
        bounds = "" if low == high == count else f", credibly {low:.1f} to {high:.1f}"
        reason = (f"{count} people in zone {view.name}{bounds} (safe capacity {view.capacity_persons}) "
                  f"for {now_s - started:.0f} s >= hold {hold_s:g} s")
        view = replace(view, gathering_id=gid, gathering_since_s=started, peak_count=count)
        rows.append(GatheringRow(gid, view.zone_id, now_s, "gathering", started, count, count,
                                 view.capacity_persons, reason))
        rows.append(Note(None, "warning", f"gathering: {reason}",
                         {"zone_id": view.zone_id, "gathering_id": gid, "count": count,
                          "capacity_persons": view.capacity_persons}))
    elif view.gathering and under and now_s - view.under_since_s >= policy.clear_s:
        gid = view.gathering_id
        reason = (f"zone {view.name} back to {count} people (safe capacity {view.capacity_persons}) "
                  f"for {now_s - view.under_since_s:.0f} s; peak {view.peak_count}")
        rows.append(GatheringRow(gid, view.zone_id, now_s, "dispersed", view.gathering_since_s, count,
                                 view.peak_count, view.capacity_persons, reason, ended_at_s=now_s))
        rows.append(Note(None, "info", f"dispersed: {reason}",
                         {"zone_id": view.zone_id, "gathering_id": gid, "count": count, "peak": view.peak_count}))
        view = replace(view, gathering_id=None, gathering_since_s=None, peak_count=0)
    if view.last_row != (count, low, high) or view.last_row_s is None or \
            now_s - view.last_row_s >= policy.record_interval_s:
        rows.append(ZoneCountRow(view.zone_id, now_s, count, view.capacity_persons, over, low, high))
        view = replace(view, last_row=(count, low, high), last_row_s=now_s)
    return view, rows


def _density_counts(state: CrowdState, now_s: float) -> dict[str, list[CrowdObservation]]:
    """Fresh crowd observations counted by a density model (a packed view: no people placed), by zone."""
    horizon = now_s - state.policy.window_s
    out: dict[str, list[CrowdObservation]] = {}
    for view in state.streams.values():
        if (view.last_frame_at_s or -math.inf) < horizon:
            continue
        for c in view.latest_crowds:
            if c.count_method == "density":
                zid = zone_of(state.policy, c.centroid_lat_deg, c.centroid_lon_deg)
                if zid is not None:
                    out.setdefault(zid, []).append(c)
    return out


# --- handlers ---------------------------------------------------------------------------------------------


def _stream(state: CrowdState, stream_id: str) -> StreamView:
    return state.streams.get(stream_id) or StreamView(stream_id)


def _with_stream(state: CrowdState, view: StreamView) -> CrowdState:
    streams = dict(state.streams)
    streams[view.stream_id] = view
    return replace(state, streams=MappingProxyType(streams))


def on_configured(state: CrowdState, ev: StreamConfigured, now_s: float) -> tuple[CrowdState, list[CrowdRow]]:
    view = replace(_stream(state, ev.stream_id), vehicle_id=ev.vehicle_id, source=ev.source, state="configured")
    return _with_stream(state, view), [
        StreamStatusRow(ev.stream_id, ev.vehicle_id, now_s, "configured", f"camera of {ev.vehicle_id}: {ev.source}"),
    ]


_STATUS_SEVERITY = MappingProxyType({"dead": "warning", "reconnecting": "info", "failed": "error",
                                     "restarting": "warning", "ended": "info"})


def on_status(state: CrowdState, ev: StreamStatus, now_s: float) -> tuple[CrowdState, list[CrowdRow]]:
    view = _stream(state, ev.stream_id)
    rows: list[CrowdRow] = [StreamStatusRow(ev.stream_id, view.vehicle_id, now_s, ev.state, ev.message, ev.time_s)]
    severity = _STATUS_SEVERITY.get(ev.state)
    if severity is not None and ev.state != view.state:
        rows.append(Note(view.vehicle_id or None, severity, f"video stream {ev.stream_id} {ev.state}: {ev.message}",
                         {"stream_id": ev.stream_id, "state": ev.state}))
    return _with_stream(state, replace(view, state=ev.state, message=ev.message)), rows


def on_stats(state: CrowdState, ev: WorkerStats, now_s: float) -> tuple[CrowdState, list[CrowdRow]]:
    view = _stream(state, ev.stream_id)
    return state, [Note(view.vehicle_id or None, "info",
                        f"video stream {ev.stream_id}: {ev.frames_analysed} frames analysed at "
                        f"{ev.analysed_fps:.1f}/s, peak memory {ev.peak_rss_mb:.0f} MB",
                        {"stream_id": ev.stream_id, "frames_analysed": ev.frames_analysed,
                         "analysed_fps": ev.analysed_fps, "dropped_frames": ev.dropped_frames,
                         "peak_rss_mb": ev.peak_rss_mb, "model_version": ev.model_version})]


def on_observed(state: CrowdState, ev: VisionObserved, now_s: float) -> tuple[CrowdState, list[CrowdRow]]:
    view = _stream(state, ev.stream_id)
    rows: list[CrowdRow] = []
    state = _expire(state, now_s)
    frame = ev.frame
    if frame is not None:
        if view.pose_missing is not frame.pose_missing and (frame.pose_missing or view.pose_missing is not None):
            text = (f"video stream {ev.stream_id}: no vehicle pose for its frames: people counted in view, "
                    "not placed on the map" if frame.pose_missing
                    else f"video stream {ev.stream_id}: pose available again, people placed on the map")
            rows.append(Note(view.vehicle_id or None, "warning" if frame.pose_missing else "info", text,
                             {"stream_id": ev.stream_id, "pose_missing": frame.pose_missing}))
        if not frame.pose_missing:
            low, high = frame.count_bounds(COUNT_Z)
            boxes = max(frame.count_in_view, 1)
            seen = frame.seen_area if frame.count_method == "detections" else ()  # a density count places no one
            state = _observe(state, ev.stream_id, frame.people, now_s, (low / boxes, high / boxes), seen)
        key = (frame.count_in_view, frame.pose_missing)
        if view.last_row != key or view.last_row_s is None or now_s - view.last_row_s >= state.policy.record_interval_s:
            rows.append(ViewCountRow(ev.stream_id, view.vehicle_id, now_s, frame.capture_time_s, frame.frame_index,
                                     frame.count_in_view, frame.unique_seen, len(frame.people), frame.pose_missing))
            view = replace(view, last_row=key, last_row_s=now_s)
        view = replace(view, frames=view.frames + 1,
                       frames_without_pose=view.frames_without_pose + int(frame.pose_missing),
                       count_in_view=frame.count_in_view, unique_seen=frame.unique_seen,
                       pose_missing=frame.pose_missing, last_frame_at_s=now_s, last_capture_s=frame.capture_time_s,
                       latest_crowds=())
        if view.state in ("configured", "opening"):
            view = replace(view, state="live")
    for crowd in ev.crowds:
        rows.append(CrowdObservationRow(ev.stream_id, view.vehicle_id, now_s, crowd.time_s, crowd.centroid_lat_deg,
                                        crowd.centroid_lon_deg, crowd.count, crowd.radius_m, crowd.density_per_m2,
                                        crowd.confidence, zone_of(state.policy, crowd.centroid_lat_deg,
                                                                  crowd.centroid_lon_deg),
                                        crowd.count_estimate, crowd.count_sigma, crowd.count_method))
    if ev.crowds:
        pool = view.latest_crowds + ev.crowds  # crowds of one frame may come after the frame itself
        latest = max(c.time_s for c in pool)
        view = replace(view, crowds=view.crowds + len(ev.crowds),
                       latest_crowds=tuple(c for c in pool if c.time_s == latest))
    view = replace(view, frames_coalesced=view.frames_coalesced + ev.frames_coalesced)
    state = _with_stream(state, view)
    state, counted = _recount(state, now_s)
    return state, rows + counted


def on_tick(state: CrowdState, now_s: float) -> tuple[CrowdState, list[CrowdRow]]:
    """People not seen for window_s leave the counts; holds and dispersals are judged even without frames."""
    if not state.policy.zones and not state.people:
        return state, []
    return _recount(_expire(state, now_s), now_s)
