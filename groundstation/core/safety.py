"""The safety checks: may this command be sent to this vehicle now? `check` says why not, or what it checked.

Every command request passes here before it is sent (requests.py); nothing else sends commands. RTL, LAND and
disarm (and the safety flight modes) are always allowed while the link is up; everything else is checked
against the link, the vehicle's state, the altitude limit, the geofence and distance limit, and the battery
(enough to launch; enough to go there and come back home with the reserve).
"""
from __future__ import annotations

from missions.geo import distance_m
from groundstation.core.commands import (
    Arm,
    CaptureImage,
    ClearRoi,
    Goto,
    PointGimbal,
    Refusal,
    SAFETY_MODES,
    SetMissionCurrent,
    SetMode,
    SetRelay,
    SetRoi,
    StartMission,
    Takeoff,
    UploadMission,
    VehicleCommand,
)
from groundstation.core.policy import Policy
from groundstation.core.state import VehicleView
from telemetry.records import MissionItem, MissionType

# MAV_CMD ids of mission items, for the checks of an upload
_NAV_WITH_POSITION = frozenset({16, 17, 18, 19, 21, 31, 82})  # WAYPOINT, LOITER_*, LAND, LOITER_TO_ALT, SPLINE
_NAV_WITH_ALTITUDE = frozenset({16, 17, 18, 19, 22, 31, 82})  # ... and TAKEOFF
_NAV_RTL = 20
_RELATIVE_FRAMES = frozenset({3, 6})  # GLOBAL_RELATIVE_ALT(_INT)
_AMSL_FRAMES = frozenset({0, 5})  # GLOBAL(_INT)
ON_THE_GROUND_M = 1.0


def check(policy: Policy, view: VehicleView, command: VehicleCommand) -> str:
    """Raise Refusal with why, or return a short summary of what was checked."""
    if not view.link_up:
        raise Refusal("link to the vehicle is down")
    if command.safety:
        return "safety action, always allowed while the link is up"
    match command:
        case SetMode(mode=mode):
            if mode in SAFETY_MODES:
                return f"safety mode {mode}, always allowed while the link is up"
            if mode == "AUTO" and not view.has_mission:
                raise Refusal("AUTO needs a mission uploaded (and checked) by this station first")
            return f"mode {mode} allowed"
        case Arm():
            battery_to_launch(policy, view)
            position_in_fence(policy, view, "arm")
            return f"battery {view.state.battery_pct:.0f}% >= {policy.min_battery_to_launch_pct:g}%, inside the fence"
        case Takeoff(alt_rel_m=alt):
            flying_guided(view, "takeoff")
            altitude(policy, alt)
            battery_to_launch(policy, view)
            position_in_fence(policy, view, "takeoff")
            return f"armed in GUIDED, altitude {alt:g} m within limit, battery ok, inside the fence"
        case Goto(lat_deg=lat, lon_deg=lon, alt_rel_m=alt):
            flying_guided(view, "goto")
            altitude(policy, alt)
            left = reachable(policy, view, lat, lon)
            return f"target inside the fence and limits, about {left:.0f}% battery left after return"
        case StartMission():
            if not view.has_mission:
                raise Refusal("start_mission needs a mission uploaded (and checked) by this station first")
            s = view.state
            if s is None or (s.alt_rel_m or 0.0) < ON_THE_GROUND_M:
                battery_to_launch(policy, view)
            position_in_fence(policy, view, "start_mission")
            return f"the mission this station uploaded ({view.mission_run.item_count} items), inside the fence"
        case UploadMission(items=items, mission_type=mission_type):
            return mission(policy, view, items, mission_type)
        case SetMissionCurrent(seq=seq):
            run = view.mission_run
            if not view.has_mission or run is None:
                raise Refusal("set_mission_current needs a mission uploaded (and checked) by this station first")
            if seq > run.item_count:
                raise Refusal(f"mission item {seq} is beyond the uploaded mission ({run.item_count} items)")
            return f"item {seq} of the mission this station uploaded"
        case PointGimbal() | SetRoi() | ClearRoi():
            return "pointing the camera moves no aircraft; allowed while the link is up"
        case SetRelay() | CaptureImage():
            return "a payload action moves no aircraft; allowed while the link is up"
    raise Refusal(f"no safety check is defined for {command.action!r}; not sent")


def altitude(policy: Policy, alt_rel_m: float) -> None:
    if alt_rel_m <= 0:
        raise Refusal(f"altitude {alt_rel_m:g} m must be above home")
    if alt_rel_m > policy.max_alt_rel_m:
        raise Refusal(f"altitude {alt_rel_m:g} m is above the limit of {policy.max_alt_rel_m:g} m")


def position_in_fence(policy: Policy, view: VehicleView, what: str) -> None:
    if not policy.has_fence:
        return
    pos = view.position
    if pos is None:
        raise Refusal(f"{what}: vehicle position unknown, so the geofence cannot be checked")
    problem = policy.fence_problem(pos[0], pos[1], view.home)
    if problem:
        raise Refusal(f"{what}: vehicle is outside the geofence: {problem}")


def battery_to_launch(policy: Policy, view: VehicleView) -> None:
    pct = view.state.battery_pct if view.state else None
    if pct is None:
        raise Refusal("battery level unknown")
    if pct < policy.min_battery_to_launch_pct:
        raise Refusal(f"battery {pct:.0f}% is below the {policy.min_battery_to_launch_pct:g}% needed to launch")


def flying_guided(view: VehicleView, action: str) -> None:
    s = view.state
    if s is None or not s.armed:
        raise Refusal(f"{action} needs an armed vehicle")
    if s.mode != "GUIDED":
        raise Refusal(f"{action} needs GUIDED mode (vehicle is in {s.mode})")


def point(policy: Policy, view: VehicleView, lat: float, lon: float) -> None:
    """A target position: within the distance limit of home and inside the geofence."""
    home = view.home
    if home is None:
        raise Refusal("home position unknown, so distance limits cannot be checked")
    d_home = distance_m(home[0], home[1], lat, lon)
    if d_home > policy.max_distance_from_home_m:
        raise Refusal(f"target is {d_home:.0f} m from home, beyond the limit of {policy.max_distance_from_home_m:g} m")
    problem = policy.fence_problem(lat, lon, home)
    if problem:
        raise Refusal(f"target outside the geofence: {problem}")


def reachable(policy: Policy, view: VehicleView, lat: float, lon: float, hover_s: float = 0.0,
              hover_pct_per_min: float = 0.0) -> float:
    """The straight leg from the vehicle to (lat, lon) stays inside the fence and limits, and going there
    (hovering `hover_s` there) and back home leaves at least the battery reserve: returns the % left after."""
    point(policy, view, lat, lon)
    pos, home = view.position, view.home
    if pos is None:
        raise Refusal("vehicle position unknown")
    problem = policy.leg_problem(pos, (lat, lon))
    if problem:
        raise Refusal(problem)
    pct = view.state.battery_pct if view.state else None
    if pct is None:
        raise Refusal("battery level unknown, so the reserve cannot be kept")
    route_m = distance_m(pos[0], pos[1], lat, lon) + distance_m(lat, lon, home[0], home[1])
    left = pct - route_m / 1000.0 * policy.battery_use_pct_per_km - hover_s / 60.0 * hover_pct_per_min
    if left < policy.battery_reserve_pct:
        hover = f", hovering {hover_s:.0f} s" if hover_s > 0 else ""
        raise Refusal(f"going there and back home ({route_m:.0f} m{hover}) would leave about {left:.0f}% battery, "
                      f"below the reserve of {policy.battery_reserve_pct:g}%")
    return left


def mission(policy: Policy, view: VehicleView, items: tuple[MissionItem, ...], mission_type: MissionType) -> str:
    if mission_type is not MissionType.MISSION:
        return f"{mission_type.name.lower()} items are not flight paths; not checked against the fence"
    home = view.home
    if home is None:
        raise Refusal("home position unknown, so the mission cannot be checked")
    home_amsl = view.state.home.alt_amsl_m if view.state and view.state.home else None
    route: list[tuple[float, float]] = [home]
    for i, item in enumerate(items):
        if item.command in _NAV_WITH_ALTITUDE:
            if item.frame in _RELATIVE_FRAMES:
                alt_rel = item.alt_m
            elif item.frame in _AMSL_FRAMES and home_amsl is not None:
                alt_rel = item.alt_m - home_amsl
            else:
                raise Refusal(f"item {i}: frame {item.frame} cannot be checked (use a relative-altitude frame)")
            if alt_rel > policy.max_alt_rel_m:
                raise Refusal(f"item {i}: altitude {alt_rel:g} m is above the limit of {policy.max_alt_rel_m:g} m")
        has_position = item.command in _NAV_WITH_POSITION and not (item.lat_deg == 0 and item.lon_deg == 0)
        if has_position:
            try:
                point(policy, view, item.lat_deg, item.lon_deg)
            except Refusal as r:
                raise Refusal(f"item {i}: {r}") from None
            here = (item.lat_deg, item.lon_deg)
            problem = policy.leg_problem(route[-1], here)
            if problem:
                raise Refusal(f"item {i}: {problem}")
            route.append(here)
        if item.command == _NAV_RTL:
            route.append(home)
    length_m = sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in zip(route, route[1:] + [home]))
    pct = view.state.battery_pct if view.state else None
    needed = length_m / 1000.0 * policy.battery_use_pct_per_km
    if pct is not None and pct - needed < policy.battery_reserve_pct:
        raise Refusal(f"the route ({length_m:.0f} m with the way home) needs about {needed:.0f}% battery; "
                      f"{pct:.0f}% would leave less than the reserve of {policy.battery_reserve_pct:g}%")
    return f"{len(items)} items inside the fence and altitude limit; route {length_m:.0f} m, about {needed:.0f}% battery"
