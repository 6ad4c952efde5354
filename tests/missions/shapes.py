"""Test shapes: polygons drawn in local metres about a Zhaoqing origin, turned into zone files."""
from __future__ import annotations

import json
import math

from missions.geo import GeoPoint, LocalFrame

ORIGIN = GeoPoint(23.05, 112.46)
FRAME = LocalFrame(ORIGIN)


def ring_lonlat(xy):
    pts = [FRAME.to_geo(x, y) for x, y in xy]
    coords = [[p.lon_deg, p.lat_deg] for p in pts]
    return coords + [coords[0]]


def feature(kind, rings_xy, name=None):
    return {"type": "Feature", "properties": {"kind": kind, "name": name or kind},
            "geometry": {"type": "Polygon", "coordinates": [ring_lonlat(r) for r in rings_xy]}}


def point_feature(kind, x, y):
    p = FRAME.to_geo(x, y)
    return {"type": "Feature", "properties": {"kind": kind}, "geometry": {"type": "Point", "coordinates": [p.lon_deg, p.lat_deg]}}


def geojson(*features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def rotated(xy, deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return [(x * c - y * s, x * s + y * c) for x, y in xy]


def regular(n, r, phase_deg=0.0):
    return [(r * math.cos(math.radians(phase_deg + 360 * i / n)), r * math.sin(math.radians(phase_deg + 360 * i / n))) for i in range(n)]


# convex test polygons (local metres)
CONVEX = {
    "square 600 m": rect(-300, -300, 300, 300),
    "rectangle 900x300 rotated 30": rotated(rect(-450, -150, 450, 150), 30),
    "hexagon r 350": regular(6, 350, 15),
    "pentagon irregular": [(-400, -200), (300, -350), (450, 100), (50, 380), (-380, 200)],
    "parallelogram thin": [(-500, -100), (300, -100), (500, 100), (-300, 100)],
    "triangle": [(-400, -300), (400, -250), (-100, 350)],
}

# 1 km2 (1000 m x 1000 m) with two holes
KM2 = rect(-500, -500, 500, 500)
KM2_HOLES = [rect(-300, -250, -100, -50), regular(12, 110, 0)]
KM2_HOLES[1] = [(x + 220, y + 200) for x, y in KM2_HOLES[1]]
