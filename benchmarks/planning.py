"""Patrol planning figures: camera coverage, path length against the best sweep angle, planning time.

Run: .venv/bin/python benchmarks/planning.py
Prints figures only (the machine is shared and noisy: nothing here asserts on time). Targets from
issue 4: coverage >= 98 % at the requested overlap; length within 10 % of the best sweep direction's
for convex polygons; a 1 km2 polygon with two holes planned in < 100 ms.
"""
from __future__ import annotations

import json
import math
import statistics
import time

from shapely.geometry import Polygon

from missions.camera import Camera, footprint, line_spacing_m
from missions.coverage import best_sweep, sweep_at
from missions.geo import GeoPoint, LocalFrame
from missions.planner import PatrolSpec, plan_patrol
from missions.router import Router
from missions.zone import zones_from_geojson

FRAME = LocalFrame(GeoPoint(23.05, 112.46))
CAMERA = Camera(84, 66)
ALT_M, OVERLAP, SPEED, ACCEL = 50.0, 0.2, 8.0, 2.5


def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def regular(n, r, cx=0.0, cy=0.0, phase=0.0):
    return [(cx + r * math.cos(math.radians(phase + 360 * i / n)), cy + r * math.sin(math.radians(phase + 360 * i / n))) for i in range(n)]


def rotated(xy, deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return [(x * c - y * s, x * s + y * c) for x, y in xy]


CONVEX = {
    "square 600 m": rect(-300, -300, 300, 300),
    "rectangle 900x300 rotated 30": rotated(rect(-450, -150, 450, 150), 30),
    "hexagon r 350": regular(6, 350, phase=15),
    "pentagon irregular": [(-400, -200), (300, -350), (450, 100), (50, 380), (-380, 200)],
    "parallelogram thin": [(-500, -100), (300, -100), (500, 100), (-300, 100)],
    "triangle": [(-400, -300), (400, -250), (-100, 350)],
}
KM2 = rect(-500, -500, 500, 500)
KM2_HOLES = [rect(-300, -250, -100, -50), regular(12, 110, 220, 200)]


def zone_text(exterior, holes=()):
    def ring(xy):
        pts = [FRAME.to_geo(x, y) for x, y in xy]
        c = [[p.lon_deg, p.lat_deg] for p in pts]
        return c + [c[0]]
    return json.dumps({"type": "Feature", "properties": {"kind": "inclusion", "name": "zone"},
                       "geometry": {"type": "Polygon", "coordinates": [ring(exterior)] + [ring(h) for h in holes]}})


def main() -> None:
    fp = footprint(CAMERA, ALT_M, -90)
    spacing = line_spacing_m(CAMERA, ALT_M, -90, OVERLAP)
    print(f"camera {CAMERA.hfov_deg:g}x{CAMERA.vfov_deg:g} deg at {ALT_M:g} m nadir: footprint {fp.swath_width_m:.1f} x "
          f"{fp.length_m:.1f} m; side overlap {OVERLAP:g} -> line spacing {spacing:.1f} m")
    print()
    print(f"{'polygon':32s} {'coverage':>9s} {'length m':>9s} {'best-angle m':>12s} {'ratio':>6s} {'angle':>6s}")
    for name, xy in CONVEX.items():
        plan = plan_patrol(zones_from_geojson(zone_text(xy)), PatrolSpec("lawnmower", alt_m=ALT_M, side_overlap=OVERLAP, camera=CAMERA))
        region = Polygon(xy)
        router = Router(region)
        chosen = best_sweep(region, router, spacing, fp.swath_width_m, SPEED, ACCEL)
        brute = min(sweep_at(region, router, spacing, fp.swath_width_m, a, SPEED, ACCEL).length_m for a in range(180))
        print(f"{name:32s} {100 * plan.coverage:8.2f}% {chosen.length_m:9.0f} {brute:12.0f} {chosen.length_m / brute:6.3f} "
              f"{chosen.angle_deg:5.0f}°")

    print()
    text = zone_text(KM2, KM2_HOLES)
    zones = zones_from_geojson(text)
    spec = PatrolSpec("lawnmower", alt_m=ALT_M, side_overlap=OVERLAP, camera=CAMERA)
    plan = plan_patrol(zones, spec)  # warm-up
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        plan = plan_patrol(zones_from_geojson(text), spec)
        times.append(time.perf_counter() - t0)
    region = Polygon(KM2, KM2_HOLES)
    area_km2 = region.area / 1e6
    print(f"1 km2 with two holes ({area_km2:.3f} km2 to cover): parse + plan + check, 15 runs: "
          f"median {1000 * statistics.median(times):.1f} ms, min {1000 * min(times):.1f} ms, max {1000 * max(times):.1f} ms "
          f"(target < 100 ms)")
    print(f"  coverage {100 * plan.coverage:.2f}%, pattern {plan.pattern_length_m:.0f} m, flight {plan.estimate.length_m:.0f} m, "
          f"{plan.estimate.duration_s / 60:.1f} min, {plan.estimate.turns} turns, sweep {plan.sweep_angle_deg:.0f}°, "
          f"{len(plan.waypoints)} waypoints")
    brute = []
    for a in range(0, 180, 5):
        brute.append((plan_patrol(zones, PatrolSpec("lawnmower", alt_m=ALT_M, side_overlap=OVERLAP, camera=CAMERA,
                                                    sweep_angle_deg=float(a))).pattern_length_m, a))
    best_len, best_a = min(brute)
    print(f"  non-convex check: length / best of 36 fixed angles ({best_a}°: {best_len:.0f} m) = "
          f"{plan.pattern_length_m / best_len:.3f}")
    oblique = plan_patrol(zones, PatrolSpec("lawnmower", alt_m=ALT_M, side_overlap=OVERLAP, camera=CAMERA, gimbal_pitch_deg=-60))
    print(f"  same zone, gimbal -60°: coverage {100 * oblique.coverage:.2f}%, flight {oblique.estimate.length_m:.0f} m")


if __name__ == "__main__":
    main()
