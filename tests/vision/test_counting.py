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


def test_count_estimate_weights_boxes_by_confidence_and_adds_the_misses():
    from vision.counting import CountModel, estimate_count

    sure = CountModel(((0.0, 1.0), (1.0, 1.0)), recall=1.0, relative_sigma=0.0)
    assert estimate_count([0.9] * 8, sure) == (8.0, 0.0)  # every box a person, nobody missed: no doubt
    half = CountModel(((0.0, 0.5), (1.0, 0.5)), recall=1.0, relative_sigma=0.0)
    est, sigma = estimate_count([0.3] * 16, half)
    assert est == pytest.approx(8.0) and sigma == pytest.approx(2.0)  # Bernoulli: sqrt(16 * 0.25)
    shy = CountModel(((0.0, 1.0), (1.0, 1.0)), recall=0.5, relative_sigma=0.0)
    est, sigma = estimate_count([0.9] * 10, shy)
    assert est == pytest.approx(20.0) and sigma == pytest.approx(math.sqrt(10 * 0.5 / 0.25))
    default_est, default_sigma = estimate_count([0.8] * 10)
    assert default_sigma > 0 and default_est > 10  # the drone detector misses some: the estimate is above the boxes
    assert estimate_count([]) == (0.0, 0.0)
    with pytest.raises(ValueError):
        CountModel(recall=0.0)
    with pytest.raises(ValueError):
        CountModel(((0.5, 0.5), (0.2, 0.9)))


def test_crowds_carry_their_count_uncertainty():
    from vision.counting import CountModel

    people = tuple(at(10 + dx, 10, conf=0.3) for dx in (0, 1, 2, 3))
    (crowd,) = crowd_clusters(people, 2.0, 3, "d1", 0.0, CountModel())
    assert crowd.count == 4 and crowd.count_method == "detections"
    assert crowd.count_estimate is not None and crowd.count_sigma > 0
    low, high = crowd.count_bounds()
    assert low < crowd.count_estimate < high
    (plain,) = crowd_clusters(people, 2.0, 3, "d1", 0.0)
    assert plain.count_estimate is None and plain.count_bounds() == (4.0, 4.0)
