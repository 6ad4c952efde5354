"""Geofence geometry: points, straight legs and whole paths against inclusion and exclusion polygons and circles."""
import pytest

from missions.fence import Area, FenceGeometry, areas_of
from missions.mission import Fence, FenceCircle, FencePolygon

from tests.missions.shapes import FRAME, ORIGIN, rect


def geo(*xy):
    return tuple(FRAME.to_geo(x, y) for x, y in xy)


# a U-shaped inclusion (the notch between x = -50 and 50 from y = 0 up is outside) and a square exclusion
U_SHAPE = geo((-200, -200), (200, -200), (200, 200), (50, 200), (50, 0), (-50, 0), (-50, 200), (-200, 200))
SCHOOL = geo(*rect(100, -150, 150, -100))
FENCE = FenceGeometry((Area("the inclusion fence", True, U_SHAPE), Area("exclusion zone 0", False, SCHOOL)), ORIGIN)


def test_a_point_is_checked_against_each_area_in_order():
    assert FENCE.point_problem(FRAME.to_geo(-100, 100)) is None
    p = FRAME.to_geo(0, 100)  # in the notch
    assert FENCE.point_problem(p) == f"({p.lat_deg:.6f}, {p.lon_deg:.6f}) is outside the inclusion fence"
    p = FRAME.to_geo(120, -120)
    assert FENCE.point_problem(p) == f"({p.lat_deg:.6f}, {p.lon_deg:.6f}) is inside exclusion zone 0"
    assert FENCE.point_problem(FRAME.to_geo(200, 0)) is None  # the boundary is inside


def test_a_leg_with_both_ends_inside_may_still_leave_or_cross():
    assert FENCE.leg_problem(FRAME.to_geo(-100, -100), FRAME.to_geo(-100, 150)) is None
    assert FENCE.leg_problem(FRAME.to_geo(-100, 100), FRAME.to_geo(100, 100)) == "leaves the inclusion fence"
    assert FENCE.leg_problem(FRAME.to_geo(125, -190), FRAME.to_geo(125, -50)) == "crosses exclusion zone 0"
    assert FENCE.leg_problem(FRAME.to_geo(0, -100), FRAME.to_geo(0, -100)) is None  # no leg at all


def test_a_circle_about_home_needs_home():
    fence = FenceGeometry((Area("the circular fence", True, radius_m=100.0),), ORIGIN)
    home = FRAME.to_geo(0, 0)
    assert fence.point_problem(FRAME.to_geo(60, 0)) == "home is unknown, so the circular fence cannot be checked"
    assert fence.point_problem(FRAME.to_geo(60, 0), home) is None
    p = FRAME.to_geo(0, 150)
    assert fence.point_problem(p, home) == (f"({p.lat_deg:.6f}, {p.lon_deg:.6f}) is 150 m from home, "
                                            "beyond the fence radius 100 m")
    # a circle is convex: a leg leaves it only if an end does; about an unknown home the point check says so
    assert fence.leg_problem(FRAME.to_geo(-90, 0), FRAME.to_geo(90, 0), home) is None
    assert fence.leg_problem(FRAME.to_geo(-90, 0), FRAME.to_geo(0, 120), home) == "leaves the circular fence"
    assert fence.leg_problem(FRAME.to_geo(-90, 0), FRAME.to_geo(0, 120)) is None


def test_an_exclusion_circle_is_crossed_by_a_leg_passing_through_it():
    fence = FenceGeometry(areas_of(Fence(circles=(FenceCircle(False, FRAME.to_geo(0, 0), 30.0),))), ORIGIN)
    assert fence.point_problem(FRAME.to_geo(0, 20)).endswith("is inside fence exclusion circle 1")
    assert fence.leg_problem(FRAME.to_geo(-100, 25), FRAME.to_geo(100, 25)) == "crosses fence exclusion circle 1"
    assert fence.leg_problem(FRAME.to_geo(-100, 35), FRAME.to_geo(100, 35)) is None
    (reason,) = fence.path_problems(geo((-100, 0), (100, 0)))
    assert reason == "the path crosses fence exclusion circle 1 for 60 m"


def test_the_tolerance_is_in_the_vehicles_favour():
    square = (Area("square", True, geo(*rect(-100, -100, 100, 100))), Area("pond", False, geo(*rect(0, 0, 20, 20))))
    just_out, just_in_pond = FRAME.to_geo(100.3, 0), FRAME.to_geo(10, 0.3)
    strict, lenient = FenceGeometry(square, ORIGIN), FenceGeometry(square, ORIGIN, tolerance_m=0.5)
    assert strict.point_problem(just_out) and lenient.point_problem(just_out) is None
    assert strict.point_problem(just_in_pond) and lenient.point_problem(just_in_pond) is None


def test_a_path_is_measured_outside_the_inclusions_and_inside_each_exclusion():
    fence = FenceGeometry(areas_of(Fence(
        polygons=(FencePolygon(True, geo(*rect(-100, -100, 100, 100))), FencePolygon(False, geo(*rect(20, -10, 40, 10)))),
        circles=(FenceCircle(True, FRAME.to_geo(0, 0), 150.0),))), ORIGIN)
    reasons = fence.path_problems(geo((0, 0), (300, 0), (0, 0)))
    assert reasons[0].startswith("the path leaves the geofence for 400 m (first at ")  # out 200 m and back
    assert reasons[1:] == ["the path crosses fence exclusion polygon 1 for 40 m"]
    assert fence.path_problems(geo((0, 0), (-50, 50), (0, 0))) == []
    # every inclusion must hold the vehicle: the region inside is their intersection
    assert fence.inside().area == pytest.approx(200 * 200, rel=1e-9)


def test_areas_of_a_fence_are_named_and_ordered_inclusions_first():
    fence = Fence(polygons=(FencePolygon(False, SCHOOL), FencePolygon(True, U_SHAPE)),
                  circles=(FenceCircle(True, ORIGIN, 10.0), FenceCircle(False, ORIGIN, 5.0)))
    assert [(a.name, a.inclusion, a.is_circle) for a in areas_of(fence)] == [
        ("fence inclusion polygon 1", True, False), ("fence inclusion circle 1", True, True),
        ("fence exclusion polygon 1", False, False), ("fence exclusion circle 1", False, True)]
