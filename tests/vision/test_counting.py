"""Crowd clusters in one frame. (Zones and the city grid: tests/missions/test_areas.py; counting people across
frames and drones without counting anyone twice: tests/vision_station/test_core_crowds.py.)"""
import math

import pytest

from vision.counting import crowd_clusters
from missions.geo import enu_to_latlon
from vision.records import PersonOnGround

ORIGIN = (22.05, 112.46)


def at(east, north, drone="d1", track=None, t=0.0, conf=0.8, unc=1.0):
    lat, lon = enu_to_latlon(*ORIGIN, east, north)
    return PersonOnGround(float(lat), float(lon), unc, conf, drone, t, track)


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
