"""Local frame, shortest paths around obstacles and flight-time estimates, against hand computation."""
import math

import pytest
from shapely.geometry import Polygon

from missions.errors import PlanError
from missions.estimate import VehicleProfile, _leg_time_s, estimate_flight, path_time_s, turn_angle_deg, vertical_time_s
from missions.geo import GeoPoint, LocalFrame, haversine_m
from missions.router import Router


def test_local_frame_round_trip_and_distance_matches_haversine():
    frame = LocalFrame(GeoPoint(23.05, 112.46))
    for x, y in [(0, 0), (1000, 0), (0, -1000), (700, 700), (-1500, 300)]:
        p = frame.to_geo(x, y)
        assert frame.to_xy(p) == pytest.approx((x, y), abs=1e-6)
        assert math.hypot(x, y) == pytest.approx(haversine_m(frame.origin, p), rel=1e-3, abs=0.01)


def test_one_degree_of_latitude_is_111_km():
    assert haversine_m(GeoPoint(0, 0), GeoPoint(1, 0)) == pytest.approx(111_195, abs=1)


# free region: a 200 m square with a 20 m square obstacle in its middle
ROOM = Polygon([(-100, -100), (100, -100), (100, 100), (-100, 100)], [[(-10, -10), (10, -10), (10, 10), (-10, 10)]])


@pytest.mark.parametrize("a,b,expected", [
    ((-50, 50), (50, 50), 100.0),  # clear line of sight
    ((-20, 0), (20, 0), 2 * math.hypot(10, 10) + 20),  # round a corner pair of the obstacle
    ((-10, 0), (10, 0), 10 + 20 + 10),  # from edge to opposite edge: along two half edges and the side
    ((-20, -20), (20, 20), math.hypot(30, 10) * 2),  # diagonal: via the corner (10,-10) or (-10,10)
])
def test_shortest_path_round_an_obstacle(a, b, expected):
    path = Router(ROOM).path(a, b)
    length = sum(math.dist(path[i], path[i + 1]) for i in range(len(path) - 1))
    assert length == pytest.approx(expected, abs=1e-6)
    assert path[0] == a and path[-1] == b


def test_no_path_outside_the_region():
    with pytest.raises(PlanError, match="outside the flyable region"):
        Router(ROOM).path((0, 0), (50, 50))  # start inside the obstacle


def test_unreachable_part_is_an_error():
    two = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]).union(Polygon([(20, 0), (30, 0), (30, 10), (20, 10)]))
    with pytest.raises(PlanError, match="no path"):
        Router(two).path((5, 5), (25, 5))


@pytest.mark.parametrize("length,v_in,v_out,v,a,expected", [
    (100, 0, 0, 10, 2.5, 4 + 4 + 60 / 10),  # 20 m to accelerate, 20 m to brake, 60 m cruising
    (20, 0, 0, 10, 2.5, 2 * math.sqrt(2.5 * 20) / 2.5),  # triangle profile, peak sqrt(a L)
    (100, 10, 10, 10, 2.5, 10.0),  # flying through at cruise speed
    (100, 10, 0, 10, 2.5, 4 + 80 / 10),
])
def test_leg_time(length, v_in, v_out, v, a, expected):
    assert _leg_time_s(length, v_in, v_out, v, a) == pytest.approx(expected)


def test_turns_and_corner_speeds():
    assert turn_angle_deg((0, 0), (1, 0), (1, 1)) == pytest.approx(90)
    assert turn_angle_deg((0, 0), (1, 0), (0, 0)) == pytest.approx(180)
    assert turn_angle_deg((0, 0), (1, 0), (2, 0)) == pytest.approx(0)
    # a 100 m square loop: 3 corners of 90 degrees, each a full stop: 4 legs of 14 s
    t, turns = path_time_s([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)], 10, 2.5)
    assert turns == 3 and t == pytest.approx(4 * 14)
    # straight line with a midpoint: no turn, no stop
    t, turns = path_time_s([(0, 0), (50, 0), (100, 0)], 10, 2.5)
    assert turns == 0 and t == pytest.approx(14)


def test_vertical_time_and_energy():
    p = VehicleProfile(battery_capacity_wh=100, flight_power_w=360, reserve_pct=20)
    # climb 50 m at 2.5 m/s; descend 40 m at 1.5 m/s then 10 m at 0.5 m/s
    assert vertical_time_s(50, p) == pytest.approx(20 + 40 / 1.5 + 20)
    est = estimate_flight([(0, 0), (100, 0), (0, 0)], 50, 10, p)
    assert est.length_m == pytest.approx(200)
    assert est.duration_s == pytest.approx(28 + 20 + 40 / 1.5 + 20)
    assert est.energy_wh == pytest.approx(360 * est.duration_s / 3600)
    assert est.battery_pct == pytest.approx(est.energy_wh)  # 100 Wh pack: Wh == %
    assert p.endurance_s(100) == pytest.approx(80 / 360 * 3600)  # 80 Wh usable at 360 W: 800 s
