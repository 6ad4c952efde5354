"""Patrol plans: mission items, patterns' geometry, and every pre-flight refusal with its reason."""
import math

import pytest
from shapely.geometry import LineString, Polygon

from missions.errors import PlanError, PlanRefused
from missions.estimate import VehicleProfile
from missions.geo import GeoPoint
from missions.mission import Fence, FencePolygon, MavCmd, MissionFile, resume_items, return_to_launch, takeoff, waypoint
from missions.planner import PatrolSpec, PlanLimits, check_mission, plan_patrol
from missions.zone import zones_from_geojson

from tests.missions.shapes import FRAME, feature, geojson, point_feature, rect

SQUARE = rect(-300, -300, 300, 300)


def zones(*extra, exterior=SQUARE, holes=()):
    return zones_from_geojson(geojson(feature("inclusion", [exterior, *holes], "square"), *extra))


def xy(points):
    return [FRAME.to_xy(p) for p in points]


def test_mission_items_in_order():
    plan = plan_patrol(zones(point_feature("home", -320, -320)), PatrolSpec("lawnmower", alt_m=40, speed_m_s=6, gimbal_pitch_deg=-80))
    cmds = [it.command for it in plan.items]
    assert cmds[:3] == [MavCmd.NAV_TAKEOFF, MavCmd.DO_CHANGE_SPEED, MavCmd.DO_MOUNT_CONTROL]
    assert cmds[-1] == MavCmd.NAV_RETURN_TO_LAUNCH
    assert set(cmds[3:-1]) == {MavCmd.NAV_WAYPOINT}
    assert plan.items[0].alt_m == 40 and plan.items[1].param2 == 6 and plan.items[2].param1 == -80
    assert all(it.alt_m == 40 and it.frame == 3 for it in plan.items[3:-1])
    assert [it.position for it in plan.items[3:-1]] == list(plan.waypoints)
    assert plan.home == FRAME.to_geo(-320, -320)
    # the geofence goes up with it: an inclusion polygon round the zone and the home
    inc = [p for p in plan.fence.polygons if p.inclusion]
    assert len(inc) == 1 and Polygon(xy(inc[0].vertices)).covers(Polygon(SQUARE).buffer(19))


def test_rally_points_and_loiter():
    plan = plan_patrol(zones(point_feature("rally", 310, 310)), PatrolSpec("perimeter", alt_m=30, loiter_s=20))
    assert len(plan.rally) == 1 and plan.rally[0].alt_m == 30
    loiters = [it for it in plan.items if it.command == MavCmd.NAV_LOITER_TIME]
    assert len(loiters) == 1 and loiters[0].param1 == 20


def test_perimeter_is_inset_from_the_boundary():
    plan = plan_patrol(zones(), PatrolSpec("perimeter", alt_m=50, inset_m=25))
    pts = xy((plan.home, *plan.waypoints))
    boundary = Polygon(SQUARE).exterior
    for p in pts:
        assert boundary.distance(Polygon([p, p, p]).centroid) == pytest.approx(25, abs=0.01)
    assert math.dist(pts[0], pts[-1]) < 0.01  # a closed loop
    assert plan.pattern_length_m == pytest.approx(4 * 550, abs=0.1)


def test_orbit_waypoints_on_the_circle_camera_on_centre():
    plan = plan_patrol(zones(point_feature("orbit", 50, -20)), PatrolSpec("orbit", alt_m=60, orbit_radius_m=80, orbit_laps=2))
    pts = xy((plan.home, *plan.waypoints))
    assert all(math.dist(p, (50, -20)) == pytest.approx(80, abs=0.01) for p in pts)
    roi = [it for it in plan.items if it.command == MavCmd.DO_SET_ROI]
    assert FRAME.to_xy(GeoPoint(roi[0].lat_deg, roi[0].lon_deg)) == pytest.approx((50, -20), abs=0.01)
    assert roi[-1].lat_deg == 0 and roi[-1].lon_deg == 0  # cancelled before RTL
    n = max(12, math.ceil(2 * math.pi * 80 / 15))
    assert plan.pattern_length_m == pytest.approx(2 * n * 2 * 80 * math.sin(math.pi / n), rel=1e-6)


def test_route_detours_round_an_exclusion_zone():
    route = {"type": "Feature", "properties": {"kind": "route"}, "geometry": {"type": "LineString", "coordinates": [
        [FRAME.to_geo(-250, 0).lon_deg, FRAME.to_geo(-250, 0).lat_deg], [FRAME.to_geo(250, 0).lon_deg, FRAME.to_geo(250, 0).lat_deg]]}}
    school = rect(-50, -50, 50, 50)
    plan = plan_patrol(zones(route, feature("exclusion", [school], "school")), PatrolSpec("route", alt_m=40))
    pts = xy((plan.home, *plan.waypoints))
    path = LineString(pts)
    assert path.intersection(Polygon(school)).length < 0.01
    assert path.length > 500  # longer than the straight line it could not fly
    assert Polygon(school).exterior.distance(path) == pytest.approx(3.0, abs=0.05)  # the default margin


def test_altitude_over_the_limit_is_refused():
    with pytest.raises(PlanRefused) as e:
        plan_patrol(zones(), PatrolSpec("perimeter", alt_m=130))
    assert "130 m above ground exceeds the 120 m limit" in e.value.reasons[0]
    # a config may allow it
    plan_patrol(zones(), PatrolSpec("perimeter", alt_m=130), limits=PlanLimits(max_alt_m=150, allow_above_120_m=True))
    # but 120 stays the ceiling unless allowed, whatever max_alt_m says
    with pytest.raises(PlanRefused, match="120 m limit"):
        plan_patrol(zones(), PatrolSpec("perimeter", alt_m=130), limits=PlanLimits(max_alt_m=150))
    with pytest.raises(PlanRefused, match="below the 10 m minimum"):
        plan_patrol(zones(), PatrolSpec("perimeter", alt_m=5))


def test_zone_outside_the_fence_is_refused():
    fence = feature("fence", [rect(-1000, -1000, 0, 1000)], "west half")
    with pytest.raises(PlanRefused, match="outside the geofence"):
        plan_patrol(zones(fence), PatrolSpec("lawnmower", alt_m=50))


def test_home_in_an_exclusion_zone_is_refused():
    with pytest.raises(PlanRefused, match="home lies inside exclusion zone 'school'"):
        plan_patrol(zones(feature("exclusion", [rect(-20, -20, 20, 20)], "school"), point_feature("home", 0, 0)),
                    PatrolSpec("perimeter", alt_m=40))


def test_battery_refusals_say_why():
    z = zones(point_feature("home", -320, -320))
    small = VehicleProfile(battery_capacity_wh=50, flight_power_w=400)
    with pytest.raises(PlanRefused, match="more than the vehicle carries"):
        plan_patrol(z, PatrolSpec("lawnmower", alt_m=50), vehicle=small)
    plan = plan_patrol(z, PatrolSpec("perimeter", alt_m=50), vehicle=VehicleProfile(), battery_pct=90)
    need = plan.estimate.battery_pct
    with pytest.raises(PlanRefused, match=r"the drone has 30 %"):
        plan_patrol(z, PatrolSpec("perimeter", alt_m=50), vehicle=VehicleProfile(), battery_pct=30)
    assert 0 < need < 60


def test_check_mission_lists_every_reason():
    home = FRAME.to_geo(0, 0)
    fence = Fence((FencePolygon(True, tuple(FRAME.to_geo(x, y) for x, y in rect(-100, -100, 100, 100))),
                   FencePolygon(False, tuple(FRAME.to_geo(x, y) for x, y in rect(20, -10, 40, 10)))))
    items = (takeoff(30, home), waypoint(FRAME.to_geo(80, 0), 150), waypoint(FRAME.to_geo(300, 0), 30), return_to_launch())
    reasons = check_mission(MissionFile(items=items, home=home, fence=fence), limits=PlanLimits())
    text = "\n".join(reasons)
    assert "150 m above ground exceeds the 120 m limit" in text
    assert "leaves the geofence for 400 m" in text  # out 200 m and back 200 m
    assert "crosses fence exclusion polygon 1 for 40 m" in text  # 20 m out, 20 m back
    assert len(reasons) == 3
    ok = (takeoff(30, home), waypoint(FRAME.to_geo(-50, 50), 30), return_to_launch())
    assert check_mission(MissionFile(items=ok, home=home, fence=fence)) == []
    assert "no inclusion geofence" in check_mission(MissionFile(items=ok, home=home))[0]


def test_resume_keeps_settings_and_starts_at_the_interrupted_waypoint():
    plan = plan_patrol(zones(), PatrolSpec("perimeter", alt_m=50))
    resumed = resume_items(plan.items, 5)
    assert [it.command for it in resumed[:3]] == [MavCmd.NAV_TAKEOFF, MavCmd.DO_CHANGE_SPEED, MavCmd.DO_MOUNT_CONTROL]
    assert resumed[3:] == plan.items[5:]


@pytest.mark.parametrize("kw,match", [
    (dict(pattern="spiral"), "unknown pattern"),
    (dict(speed_m_s=0), "speed"),
    (dict(alt_m=float("nan")), "altitude"),
    (dict(orbit_laps=0), "laps"),
])
def test_bad_spec(kw, match):
    args = dict(pattern="lawnmower", alt_m=50) | kw
    with pytest.raises(PlanError, match=match):
        PatrolSpec(**args)


def test_route_pattern_needs_a_route():
    with pytest.raises(PlanError, match="needs a LineString"):
        plan_patrol(zones(), PatrolSpec("route", alt_m=50))


def test_zone_too_small_for_perimeter_inset():
    with pytest.raises(PlanError, match="too small for a perimeter"):
        plan_patrol(zones(exterior=rect(0, 0, 30, 30)), PatrolSpec("perimeter", alt_m=50, inset_m=20))
