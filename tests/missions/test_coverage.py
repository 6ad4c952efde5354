"""Lawnmower coverage: >= 98 % of the polygon at the requested overlap, length within 10 % of the best
sweep direction (brute force over every degree) for convex polygons, holes never flown through."""
import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon

from missions.camera import Camera, footprint, line_spacing_m
from missions.coverage import best_sweep, candidate_angles_deg, sweep_at
from missions.planner import PatrolSpec, plan_patrol
from missions.router import Router
from missions.zone import zones_from_geojson

from tests.missions.shapes import CONVEX, FRAME, KM2, KM2_HOLES, feature, geojson, rect

CAMERA = Camera(84, 66)
SPEED, ACCEL = 8.0, 2.5


def measured_coverage(points, fp_width, fp_length, polygon) -> float:
    """Independent measure: each leg's nadir footprint sweeps a rectangle (leg +- half the footprint
    length along it, +- half its width across); union of those, intersected with the polygon."""
    rects = []
    for a, b in zip(points[:-1], points[1:]):
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = np.linalg.norm(b - a)
        if d < 1e-9:
            continue
        u = (b - a) / d
        n = np.array([-u[1], u[0]])
        p0, p1 = a - u * fp_length / 2, b + u * fp_length / 2
        w = n * fp_width / 2
        rects.append(Polygon([p0 - w, p1 - w, p1 + w, p0 + w]))
    seen = shapely.union_all(rects)
    return seen.intersection(polygon).area / polygon.area


def plan_in_metres(exterior, holes=(), alt=50.0, overlap=0.2, **kw):
    zs = zones_from_geojson(geojson(feature("inclusion", [exterior, *holes], "zone")))
    plan = plan_patrol(zs, PatrolSpec(pattern="lawnmower", alt_m=alt, side_overlap=overlap, camera=CAMERA, **kw))
    pts = [FRAME.to_xy(p) for p in (plan.home, *plan.waypoints)]  # takes off at home, flies the waypoints
    return plan, pts


@pytest.mark.parametrize("name", sorted(CONVEX))
@pytest.mark.parametrize("overlap", [0.1, 0.3])
def test_convex_coverage_at_least_98_percent(name, overlap):
    plan, pts = plan_in_metres(CONVEX[name], overlap=overlap)
    fp = footprint(CAMERA, 50, -90)
    cov = measured_coverage(pts, fp.swath_width_m, fp.length_m, Polygon(CONVEX[name]))
    assert cov >= 0.98, f"{name}: {cov:.4f}"
    assert plan.coverage == pytest.approx(cov, abs=0.01)  # the planner's own figure agrees


def test_km2_with_two_holes_coverage_and_holes_respected():
    plan, pts = plan_in_metres(KM2, KM2_HOLES)
    zone = Polygon(KM2, KM2_HOLES)
    fp = footprint(CAMERA, 50, -90)
    assert measured_coverage(pts, fp.swath_width_m, fp.length_m, zone) >= 0.98
    home = FRAME.to_xy(plan.home)
    path = LineString([*pts, home])
    for hole in KM2_HOLES:
        assert path.intersection(Polygon(hole)).length < 0.01  # routes round the holes, never through
    assert Polygon(KM2).buffer(20.5).covers(path)  # inside the default fence (zone + 20 m)


def test_l_shape_non_convex_coverage():
    l_shape = [(-400, -400), (400, -400), (400, -100), (-100, -100), (-100, 400), (-400, 400)]
    plan, pts = plan_in_metres(l_shape)
    fp = footprint(CAMERA, 50, -90)
    assert measured_coverage(pts, fp.swath_width_m, fp.length_m, Polygon(l_shape)) >= 0.98
    path = LineString(pts)
    assert Polygon(l_shape).buffer(0.5).covers(path)  # connections stay inside, never cut the corner


def test_line_spacing_follows_overlap():
    square = rect(-300, -300, 300, 300)
    spacing = line_spacing_m(CAMERA, 50, -90, 0.2)
    region = Polygon(square)
    sw = sweep_at(region, Router(region), spacing, footprint(CAMERA, 50, -90).swath_width_m, 0.0, SPEED, ACCEL)
    ys = sorted({round(p[1], 6) for p in sw.points})
    gaps = np.diff(ys)
    assert np.allclose(gaps, spacing)
    # outer lines no further than half a spacing from the edges (centred)
    assert ys[0] + 300 == pytest.approx(300 - ys[-1])
    assert ys[0] + 300 <= spacing / 2 + 1e-6
    assert len(ys) == math.ceil((600 - 90.04) / spacing) + 1


@pytest.mark.parametrize("name", sorted(CONVEX))
def test_chosen_direction_within_10_percent_of_brute_force(name):
    region = Polygon(CONVEX[name])
    router = Router(region)
    spacing = line_spacing_m(CAMERA, 50, -90, 0.2)
    swath = footprint(CAMERA, 50, -90).swath_width_m
    chosen = best_sweep(region, router, spacing, swath, SPEED, ACCEL)
    brute = min(sweep_at(region, router, spacing, swath, a, SPEED, ACCEL).length_m for a in range(180))
    assert chosen.length_m <= 1.10 * brute, f"{name}: {chosen.length_m:.0f} m vs best {brute:.0f} m at some angle"


def test_candidate_angles_include_every_edge_direction():
    tri = Polygon([(0, 0), (100, 0), (0, 100)])
    angles = candidate_angles_deg(tri)
    for edge in (0.0, 135.0, 90.0):
        assert any(abs(a - edge) < 0.5 for a in angles)


def test_rectangle_sweeps_along_its_long_side():
    plan, _ = plan_in_metres(rect(-450, -100, 450, 100))
    assert plan.sweep_angle_deg in (0.0, 180.0)  # lines along the 900 m side: fewest turns


def test_fixed_sweep_angle_is_honoured():
    plan, pts = plan_in_metres(rect(-300, -300, 300, 300), sweep_angle_deg=45.0)
    assert plan.sweep_angle_deg == pytest.approx(45.0)
