"""Zones, the city grid, counting without double counting, and crowd clusters."""
import math

import pytest

from vision.counting import CityGrid, GroundRegistry, crowd_clusters, zones_from_geojson
from vision.geodesy import enu_to_latlon
from vision.records import PersonOnGround

ORIGIN = (22.05, 112.46)
GRID = CityGrid(*ORIGIN, cell_size_m=50.0)


def at(east, north, drone="d1", track=None, t=0.0, conf=0.8, unc=1.0):
    lat, lon = enu_to_latlon(*ORIGIN, east, north)
    return PersonOnGround(float(lat), float(lon), unc, conf, drone, t, track)


def square_zone(zone_id, e0, n0, e1, n1, capacity):
    corners = [(e0, n0), (e1, n0), (e1, n1), (e0, n1), (e0, n0)]
    ring = []
    for e, n in corners:
        lat, lon = enu_to_latlon(*ORIGIN, e, n)
        ring.append([float(lon), float(lat)])
    return {"type": "Feature", "id": zone_id, "properties": {"name": zone_id, "capacity": capacity},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


ZONES = zones_from_geojson({"type": "FeatureCollection", "features": [
    square_zone("plaza", 0, 0, 40, 40, 3), square_zone("market", 100, 0, 140, 40, 10)]})


def test_zone_contains_and_holes():
    plaza = ZONES[0]
    inside = at(20, 20)
    assert plaza.contains(inside.lat_deg, inside.lon_deg)[0]
    outside = at(60, 20)
    assert not plaza.contains(outside.lat_deg, outside.lon_deg)[0]
    outer = square_zone("z", 0, 0, 40, 40, 1)
    hole = square_zone("h", 10, 10, 30, 30, 1)["geometry"]["coordinates"][0]
    outer["geometry"]["coordinates"].append(hole)
    zone = zones_from_geojson({"type": "FeatureCollection", "features": [outer]})[0]
    assert not zone.contains(inside.lat_deg, inside.lon_deg)[0]
    ring = at(5, 5)
    assert zone.contains(ring.lat_deg, ring.lon_deg)[0]


@pytest.mark.parametrize("bad", [
    {"type": "Feature"},
    {"type": "FeatureCollection", "features": [{"geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"capacity": 1}}]},
    {"type": "FeatureCollection", "features": [{"geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}]},
])
def test_bad_zone_files_are_refused(bad):
    with pytest.raises(ValueError):
        zones_from_geojson(bad)


def test_grid_cells_are_fixed_to_the_origin():
    p, q, r = at(10, 10), at(60, -10), at(-0.5, 149.9)
    e, n = GRID.cells_of([p.lat_deg, q.lat_deg, r.lat_deg], [p.lon_deg, q.lon_deg, r.lon_deg])
    assert list(zip(e.tolist(), n.tolist())) == [(0, 0), (1, -1), (-1, 2)]


def test_same_track_over_consecutive_frames_counts_once():
    reg = GroundRegistry(GRID, ZONES, window_s=30.0)
    for k in range(10):
        reg.observe((at(10 + 0.3 * k, 10, track=1, t=k * 0.1), at(20, 20, track=2, t=k * 0.1)), k * 0.1)
    assert reg.total(1.0) == 2
    assert [(z.zone_id, z.count) for z in reg.zone_counts(1.0)] == [("plaza", 2), ("market", 0)]
    assert [(c.cell_id, c.count) for c in reg.cell_counts(1.0)] == [("0:0", 2)]


def test_people_side_by_side_in_one_frame_are_two_people():
    reg = GroundRegistry(GRID, ZONES, merge_radius_m=2.0)
    reg.observe((at(10, 10, track=1), at(10.5, 10, track=2), at(11, 10, track=3)), 0.0)
    assert reg.total(0.0) == 3


def test_other_drone_and_repeated_pass_do_not_double_count():
    reg = GroundRegistry(GRID, ZONES, window_s=60.0, merge_radius_m=2.0)
    reg.observe((at(10, 10, "d1", 1), at(30, 30, "d1", 2)), 0.0)
    # another drone sees the same two people (position within its error) at the same time
    reg.observe((at(10.8, 10.5, "d2", 7), at(29.5, 30.6, "d2", 8)), 0.0)
    assert reg.total(0.0) == 2
    # drone 1 passes again 40 s later: new track ids, same people
    reg.observe((at(10.4, 9.7, "d1", 31, 40.0), at(30.2, 30.1, "d1", 32, 40.0), at(35, 5, "d1", 33, 40.0)), 40.0)
    assert reg.total(40.0) == 3
    assert reg.zone_counts(40.0)[0].count == 3
    assert reg.zone_counts(40.0)[0].over_capacity is False


def test_people_leave_the_count_after_the_window():
    reg = GroundRegistry(GRID, ZONES, window_s=10.0)
    reg.observe((at(10, 10, track=1),), 0.0)
    reg.observe((at(20, 20, track=2, t=8.0),), 8.0)
    assert reg.total(9.0) == 2
    assert reg.total(12.0) == 1
    assert reg.total(30.0) == 0


def test_over_capacity():
    reg = GroundRegistry(GRID, ZONES)
    reg.observe(tuple(at(5 + 3 * i, 5, track=i) for i in range(5)), 0.0)
    plaza = reg.zone_counts(0.0)[0]
    assert (plaza.count, plaza.capacity_persons, plaza.over_capacity) == (5, 3, True)


def test_crowd_clusters():
    people = tuple(at(10 + dx, 10 + dy) for dx, dy in [(0, 0), (1, 0), (0, 1), (1, 1), (1.5, 0.5)]) + (
        at(50, 50), at(51, 50), at(100, 100))
    crowds = crowd_clusters(people, radius_m=2.0, min_people=3, drone_id="d1", time_s=5.0)
    assert len(crowds) == 1
    c = crowds[0]
    assert c.count == 5 and c.drone_id == "d1" and c.time_s == 5.0
    centre = at(10.7, 10.5)
    assert c.centroid_lat_deg == pytest.approx(centre.lat_deg, abs=1e-7)
    assert c.centroid_lon_deg == pytest.approx(centre.lon_deg, abs=1e-7)
    assert 0.5 < c.radius_m < 1.2
    assert c.density_per_m2 == pytest.approx(5 / (math.pi * c.radius_m ** 2))
    assert 0 < c.confidence <= 0.8
    assert crowd_clusters(people[:2], 2.0, 3, "d1", 0.0) == ()


def test_chained_people_form_one_cluster():
    line = tuple(at(1.5 * i, 0) for i in range(6))
    crowds = crowd_clusters(line, radius_m=2.0, min_people=3, drone_id="d", time_s=0.0)
    assert [c.count for c in crowds] == [6]
