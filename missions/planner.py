"""Patrol planning: a zone and a pattern in, a checked mission (items, geofence, rally points) out.

Patterns: `lawnmower` (camera coverage of the zone), `perimeter` (a loop inset from the boundary),
`route` (the zone file's LineString or waypoint Points) and `orbit` (a circle round a point, camera
on the centre). Holes and exclusion zones are no-fly: paths route around them with `margin_m` to
spare. The default geofence is the convex hull of the zone, home and route, `fence_margin_m` wider,
with every no-fly polygon as an exclusion fence. Every plan is checked before it is returned
(`check_mission`): it is refused, with all the reasons, if it leaves the fence, crosses a no-fly
polygon, flies outside the altitude limits or cannot be flown on the battery the drone has.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import shapely
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.polygon import orient

from missions import mission as m
from missions.camera import Camera, footprint, line_spacing_m
from missions.coverage import best_sweep, coverage_fraction
from missions.errors import PlanError, PlanRefused
from missions.estimate import Estimate, VehicleProfile, estimate_flight, path_length_m
from missions.fence import Area, FenceGeometry, areas_of
from missions.geo import GeoPoint, LocalFrame
from missions.mission import Fence, FencePolygon, MissionFile, MissionItem, RallyPoint
from missions.router import Router
from missions.zone import Zone, ZoneKind, ZoneSet

PATTERNS = ("lawnmower", "perimeter", "route", "orbit")
Point2 = tuple[float, float]
_TOL_M = 0.5  # tolerance of the fence and no-fly checks (projection and float error)


@dataclass(frozen=True)
class PlanLimits:
    """Altitude limits above ground (home). Above 120 m only when `allow_above_120_m`."""

    min_alt_m: float = 10.0
    max_alt_m: float = 120.0
    allow_above_120_m: bool = False

    @property
    def ceiling_m(self) -> float:
        return self.max_alt_m if self.allow_above_120_m else min(self.max_alt_m, 120.0)


@dataclass(frozen=True)
class PatrolSpec:
    """What to fly. Speeds in m/s, distances in metres, angles in degrees."""

    pattern: str
    alt_m: float
    speed_m_s: float = 8.0
    camera: Camera = field(default_factory=Camera)
    gimbal_pitch_deg: float = -90.0
    side_overlap: float = 0.2
    inset_m: float | None = None  # perimeter: distance in from the boundary (default: half the swath)
    orbit_centre: GeoPoint | None = None  # orbit: default the zone file's orbit point, else the zone's centre
    orbit_radius_m: float = 50.0
    orbit_laps: int = 1
    loiter_s: float = 0.0  # hold at the end of the pattern (0 = none)
    margin_m: float = 3.0  # kept from no-fly polygons
    fence_margin_m: float = 20.0  # default fence: this much beyond the zone
    sweep_angle_deg: float | None = None  # lawnmower: None = choose the best

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise PlanError(f"unknown pattern {self.pattern!r}; use one of {', '.join(PATTERNS)}")
        if not (math.isfinite(self.alt_m) and self.alt_m > 0):
            raise PlanError(f"altitude must be a positive number of metres, got {self.alt_m}")
        if not (math.isfinite(self.speed_m_s) and 0 < self.speed_m_s <= 30):
            raise PlanError(f"speed must be in (0, 30] m/s, got {self.speed_m_s}")
        if not (math.isfinite(self.orbit_radius_m) and self.orbit_radius_m > 0):
            raise PlanError(f"orbit radius must be positive, got {self.orbit_radius_m}")
        if self.orbit_laps < 1:
            raise PlanError(f"orbit laps must be at least 1, got {self.orbit_laps}")
        for name in ("loiter_s", "margin_m", "fence_margin_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise PlanError(f"{name} must be a non-negative number, got {v}")
        if self.inset_m is not None and not (math.isfinite(self.inset_m) and self.inset_m >= 0):
            raise PlanError(f"inset must be a non-negative number of metres, got {self.inset_m}")


@dataclass(frozen=True)
class PatrolPlan:
    spec: PatrolSpec
    home: GeoPoint
    waypoints: tuple[GeoPoint, ...]  # every waypoint flown after takeoff, in order, at spec.alt_m
    items: tuple[MissionItem, ...]
    fence: Fence
    rally: tuple[RallyPoint, ...]
    estimate: Estimate
    coverage: float  # share of the zone's area (less no-fly) the camera footprint sees, 0..1
    pattern_length_m: float  # length of the pattern alone, without the transit from and to home
    zone_area_m2: float
    sweep_angle_deg: float | None = None

    def mission_file(self) -> MissionFile:
        return MissionFile(
            items=self.items, home=self.home, cruise_speed_m_s=self.spec.speed_m_s,
            hover_speed_m_s=self.spec.speed_m_s, fence=self.fence, rally=self.rally,
        )


# --- geometry helpers -------------------------------------------------------------------------


def _local_polygon(frame: LocalFrame, pts: Sequence[GeoPoint], holes: Sequence[Sequence[GeoPoint]] = ()) -> Polygon:
    return Polygon([frame.to_xy(p) for p in pts], [[frame.to_xy(p) for p in h] for h in holes])


def _nofly(zone: Zone | None, exclusions: Sequence[Zone]) -> tuple[Area, ...]:
    """The zone file's no-fly polygons as fence exclusion areas: its exclusion zones and the patrol zone's holes."""
    out = tuple(Area(f"exclusion zone {z.name!r}", False, z.exterior, z.holes) for z in exclusions)
    if zone is not None:
        out += tuple(Area(f"hole {i + 1} of zone {zone.name!r}", False, h) for i, h in enumerate(zone.holes))
    return out


def _largest(geom) -> Polygon | None:
    polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    return max(polys, key=lambda g: g.area) if polys else None


def _dedupe(pts: Sequence[Point2]) -> list[Point2]:
    out: list[Point2] = []
    for p in pts:
        if not out or math.dist(out[-1], p) > 1e-6:
            out.append(p)
    return out


def _ring_from(ring_pts: list[Point2], start: Point2 | None) -> list[Point2]:
    """A closed loop over the ring's vertices beginning at the vertex nearest `start`."""
    k = 0 if start is None else min(range(len(ring_pts)), key=lambda i: math.dist(ring_pts[i], start))
    loop = ring_pts[k:] + ring_pts[:k]
    return loop + [loop[0]]


# --- planning ---------------------------------------------------------------------------------


def default_fence(zones: ZoneSet, zone: Zone | None, home: GeoPoint | None, margin_m: float) -> Fence:
    """Inclusion: the zone file's fence polygons, else the convex hull of zone, route and home grown by
    margin_m. Exclusion: every exclusion zone and every hole of the patrol zone."""
    fence_zones = zones.of_kind(ZoneKind.FENCE)
    pts = [p for z in ([zone] if zone else []) for p in z.exterior] + [p for r in zones.routes for p in r]
    pts += [home] if home else []
    pts += list(zones.orbit_centres)
    if fence_zones:
        inclusions = tuple(FencePolygon(True, z.exterior) for z in fence_zones)
    else:
        if not pts:
            raise PlanError("nothing to build a geofence around")
        frame = LocalFrame(pts[0])
        hull = MultiPoint([frame.to_xy(p) for p in pts]).convex_hull.buffer(max(margin_m, 1.0), join_style="mitre")
        hull = orient(hull.simplify(0.5), -1.0)  # QGroundControl stores fence polygons clockwise
        inclusions = (FencePolygon(True, tuple(frame.to_geo(x, y) for x, y in list(hull.exterior.coords)[:-1])),)
    exclusions = tuple(FencePolygon(False, z.exterior) for z in zones.of_kind(ZoneKind.EXCLUSION))
    if zone is not None:
        exclusions += tuple(FencePolygon(False, h) for h in zone.holes)
    return Fence(polygons=inclusions + exclusions)


def plan_patrol(zones: ZoneSet, spec: PatrolSpec, *, zone_name: str | None = None, home: GeoPoint | None = None,
                fence: Fence | None = None, rally: Sequence[RallyPoint] | None = None, limits: PlanLimits = PlanLimits(),
                vehicle: VehicleProfile | None = None, battery_pct: float | None = None) -> PatrolPlan:
    """Plan a patrol and check it; raises PlanError (cannot plan) or PlanRefused (fails a check).

    The battery is checked only when `vehicle` is given (against `battery_pct`, or a full battery);
    estimates use `vehicle` or the default profile.
    """
    profile = vehicle or VehicleProfile()
    zone = None if spec.pattern == "route" and not zones.of_kind(ZoneKind.INCLUSION) else zones.patrol_zone(zone_name)
    if spec.pattern == "route" and not zones.routes:
        raise PlanError("the route pattern needs a LineString (or waypoint Points) in the zone file")
    home = home or zones.home
    exclusions = zones.of_kind(ZoneKind.EXCLUSION)
    fence = fence or default_fence(zones, zone, home, spec.fence_margin_m)

    if zone is not None:
        c = zone.polygon_lonlat().centroid
        frame = LocalFrame(GeoPoint(c.y, c.x))
    else:
        frame = LocalFrame(zones.routes[0][0])
    nofly = _nofly(zone, exclusions)
    geometry = FenceGeometry(nofly + areas_of(fence), frame.origin)
    fence_in = geometry.inside()
    nofly_all = geometry.exclusion_regions()

    reasons = _altitude_reasons([spec.alt_m], limits)
    if fence_in is None or fence_in.is_empty:
        reasons.append("the geofence has no inclusion area")
    zone_poly = None
    if zone is not None:
        zone_poly = _local_polygon(frame, zone.exterior, zone.holes)
        if fence_in is not None and not fence_in.buffer(_TOL_M).covers(Polygon(zone_poly.exterior)):
            outside = Polygon(zone_poly.exterior).difference(fence_in).area if fence_in is not None else 0.0
            reasons.append(f"zone {zone.name!r} lies outside the geofence ({outside:.0f} m2 of it)")
    if home is not None:
        hx = Point(frame.to_xy(home))
        if fence_in is not None and not fence_in.buffer(_TOL_M).covers(hx):
            reasons.append("home lies outside the geofence")
        for name, poly in nofly_all:
            if poly.contains(hx):
                reasons.append(f"home lies inside {name}")
    if reasons:
        raise PlanRefused(reasons)
    assert fence_in is not None

    blocked = shapely.union_all([p for _, p in nofly_all]) if nofly_all else Polygon()
    blocked_buf = blocked.buffer(spec.margin_m, join_style="mitre") if not blocked.is_empty else blocked
    transit = fence_in.difference(blocked_buf) if not blocked_buf.is_empty else fence_in
    router = Router(transit)
    home_xy = frame.to_xy(home) if home is not None else None
    fp = footprint(spec.camera, spec.alt_m, spec.gimbal_pitch_deg)
    look_at = None
    sweep_angle = None

    if spec.pattern == "lawnmower":
        assert zone_poly is not None
        region = Polygon(zone_poly.exterior).intersection(fence_in)
        region = region.difference(blocked_buf) if not blocked_buf.is_empty else region
        if region.is_empty or region.area < 1.0:
            raise PlanError(f"zone {zone.name!r} has no flyable area left once no-fly margins are taken out")
        spacing = line_spacing_m(spec.camera, spec.alt_m, spec.gimbal_pitch_deg, spec.side_overlap)
        sweep = best_sweep(region, router, spacing, fp.swath_width_m, spec.speed_m_s, profile.accel_m_s2, start=home_xy, angle_deg=spec.sweep_angle_deg)
        pattern = list(sweep.points)
        sweep_angle = sweep.angle_deg
    elif spec.pattern == "perimeter":
        assert zone_poly is not None
        inset = spec.inset_m if spec.inset_m is not None else fp.swath_width_m / 2
        inner = Polygon(zone_poly.exterior).buffer(-max(inset, _TOL_M), join_style="mitre").intersection(fence_in)
        if not blocked_buf.is_empty:
            inner = inner.difference(blocked_buf)
        loop = _largest(inner)
        if loop is None or loop.area < 1.0:
            raise PlanError(f"zone {zone.name!r} is too small for a perimeter loop {inset:.0f} m in from its boundary")
        ring = list(orient(loop, 1.0).exterior.coords)[:-1]
        pattern = _ring_from(ring, home_xy)
    elif spec.pattern == "orbit":
        centre = spec.orbit_centre or (zones.orbit_centres[0] if zones.orbit_centres else None)
        if centre is None:
            assert zone_poly is not None
            cxy = zone_poly.centroid
            centre_xy = (cxy.x, cxy.y)
        else:
            centre_xy = frame.to_xy(centre)
        r = spec.orbit_radius_m
        n = max(12, math.ceil(2 * math.pi * r / 15.0))
        ring = [(centre_xy[0] + r * math.cos(2 * math.pi * i / n), centre_xy[1] + r * math.sin(2 * math.pi * i / n)) for i in range(n)]
        one = _ring_from(ring, home_xy)
        pattern = one + one[1:] * (spec.orbit_laps - 1)
        look_at = centre_xy
    else:  # route
        route = [frame.to_xy(p) for p in zones.routes[0]]
        pattern = [route[0]]
        for p in route[1:]:
            pattern += router.path(pattern[-1], p)[1:]
    pattern = _dedupe(pattern)

    start_xy = home_xy if home_xy is not None else pattern[0]
    home = home if home is not None else frame.to_geo(*start_xy)
    to_pattern = router.path(start_xy, pattern[0]) if math.dist(start_xy, pattern[0]) > 1e-6 else [start_xy]
    back = router.path(pattern[-1], start_xy) if math.dist(start_xy, pattern[-1]) > 1e-6 else [start_xy]
    flown = _dedupe(to_pattern[:-1] + pattern + back[1:-1])
    if flown and math.dist(flown[0], start_xy) < 1e-6:
        flown = flown[1:]  # home itself is not a waypoint: takeoff climbs there
    waypoints = tuple(frame.to_geo(x, y) for x, y in flown)
    if not waypoints:
        raise PlanError("the plan has no waypoint to fly")

    items: list[MissionItem] = [m.takeoff(spec.alt_m, home), m.change_speed(spec.speed_m_s), m.gimbal_pitch(spec.gimbal_pitch_deg)]
    if look_at is not None:
        items.append(m.region_of_interest(frame.to_geo(*look_at)))
    last_pattern = frame.to_geo(*pattern[-1])
    loiter_done = False
    for wp in waypoints:
        items.append(m.waypoint(wp, spec.alt_m))
        if spec.loiter_s > 0 and not loiter_done and wp == last_pattern:
            items.append(m.loiter_time(wp, spec.alt_m, spec.loiter_s))
            loiter_done = True
    if look_at is not None:
        items.append(m.region_of_interest(None))
    items.append(m.return_to_launch())

    target = None
    if zone_poly is not None:
        target = zone_poly.difference(blocked) if not blocked.is_empty else zone_poly
    coverage = coverage_fraction(pattern, fp, target, look_at) if target is not None else 0.0
    est = estimate_flight([start_xy, *flown, start_xy], spec.alt_m, spec.speed_m_s, profile, spec.loiter_s)
    plan = PatrolPlan(
        spec=spec, home=home, waypoints=waypoints, items=tuple(items), fence=fence,
        rally=tuple(rally) if rally is not None else tuple(RallyPoint(p, spec.alt_m) for p in zones.rally),
        estimate=est, coverage=coverage, pattern_length_m=path_length_m(pattern),
        zone_area_m2=float(target.area) if target is not None else 0.0, sweep_angle_deg=sweep_angle,
    )
    reasons = check_mission(plan.mission_file(), nofly=nofly, limits=limits, profile=vehicle, battery_pct=battery_pct,
                            estimate=est)
    if reasons:
        raise PlanRefused(reasons)
    return plan


# --- pre-flight checks ------------------------------------------------------------------------


def _altitude_reasons(alts: Sequence[float], limits: PlanLimits, labels: Sequence[str] | None = None) -> list[str]:
    out = []
    for i, a in enumerate(alts):
        label = labels[i] if labels else "the patrol altitude"
        if a > limits.ceiling_m:
            extra = "" if limits.allow_above_120_m or limits.max_alt_m < 120 else " (above 120 m only when the config allows it)"
            out.append(f"{label} {a:g} m above ground exceeds the {limits.ceiling_m:g} m limit{extra}")
        elif a < limits.min_alt_m:
            out.append(f"{label} {a:g} m above ground is below the {limits.min_alt_m:g} m minimum")
    return out


def _command_name(command: int) -> str:
    try:
        return m.MavCmd(command).name
    except ValueError:
        return str(command)


def _mission_speed(mission: MissionFile) -> float:
    for it in mission.items:
        if it.command == m.MavCmd.DO_CHANGE_SPEED and it.param2:
            return float(it.param2)
    return mission.hover_speed_m_s


def check_mission(mission: MissionFile, *, nofly: Sequence[Area] = (), limits: PlanLimits = PlanLimits(),
                  profile: VehicleProfile | None = None, battery_pct: float | None = None,
                  estimate: Estimate | None = None, require_fence: bool = True) -> list[str]:
    """Every reason the mission must not fly (empty when it may): fence, no-fly, altitude, battery.

    The path checked is home -> each positioned nav item -> home (RTL flies straight back), against the
    mission's fence and the `nofly` areas (missions.fence, with a tolerance of half a metre).
    """
    reasons: list[str] = []
    frame = LocalFrame(mission.home)
    nav = [(i, it) for i, it in enumerate(mission.items) if it.is_nav]
    alts, labels = [], []
    for i, it in nav:
        if it.alt_m is None:
            continue
        alt = it.alt_m - mission.home_amsl_m if it.frame == m.MavFrame.GLOBAL else it.alt_m
        alts.append(alt)
        labels.append(f"item {i + 1} ({_command_name(it.command)})")
    if len(alts) > 0:
        alt_reasons = _altitude_reasons(alts, limits, labels)
        reasons += alt_reasons[:5] + ([f"... and {len(alt_reasons) - 5} more altitude violations"] if len(alt_reasons) > 5 else [])
    path = [mission.home] + [it.position for _, it in nav if it.position is not None] + [mission.home]
    geometry = FenceGeometry(tuple(nofly) + areas_of(mission.fence), mission.home, _TOL_M)
    if not geometry.has_inclusion and require_fence:
        reasons.append("the mission has no inclusion geofence")
    reasons += geometry.path_problems(path)
    path_pts = _dedupe([frame.to_xy(p) for p in path])

    if profile is not None:
        if estimate is None:
            estimate = estimate_flight(path_pts, max(alts, default=0.0), _mission_speed(mission), profile)
        need = estimate.battery_pct
        if need + profile.reserve_pct > 100.0:
            reasons.append(
                f"the flight needs {need:.0f} % of a full battery ({estimate.duration_s / 60:.1f} min) plus a "
                f"{profile.reserve_pct:.0f} % reserve: more than the vehicle carries")
        elif battery_pct is not None and battery_pct - need < profile.reserve_pct:
            reasons.append(
                f"the flight needs {need:.0f} % of the battery plus a {profile.reserve_pct:.0f} % reserve; "
                f"the drone has {battery_pct:.0f} %")
    return reasons
