"""Flat-earth geodesy for short distances: metres north/east between WGS-84 points, as ArduPilot's Location does."""
from __future__ import annotations

import math

# ArduPilot's LOCATION_SCALING_FACTOR: metres per 1e-7 degree of latitude.
_M_PER_DEG = 111318.84502145034


def offset_m(lat_deg: float, lon_deg: float, to_lat_deg: float, to_lon_deg: float) -> tuple[float, float]:
    """(north_m, east_m) from the first point to the second."""
    north = (to_lat_deg - lat_deg) * _M_PER_DEG
    east = (to_lon_deg - lon_deg) * _M_PER_DEG * math.cos(math.radians((lat_deg + to_lat_deg) / 2.0))
    return north, east


def moved(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point north_m/east_m away from (lat_deg, lon_deg)."""
    lat = lat_deg + north_m / _M_PER_DEG
    scale = max(math.cos(math.radians((lat + lat_deg) / 2.0)), 1e-9)
    return lat, lon_deg + east_m / (_M_PER_DEG * scale)


def distance_m(lat_deg: float, lon_deg: float, to_lat_deg: float, to_lon_deg: float) -> float:
    north, east = offset_m(lat_deg, lon_deg, to_lat_deg, to_lon_deg)
    return math.hypot(north, east)


def bearing_deg(lat_deg: float, lon_deg: float, to_lat_deg: float, to_lon_deg: float) -> float:
    """Bearing 0..360 (0 = north, clockwise)."""
    north, east = offset_m(lat_deg, lon_deg, to_lat_deg, to_lon_deg)
    return math.degrees(math.atan2(east, north)) % 360.0


def inside_polygon(north_m: float, east_m: float, vertices_ne: list[tuple[float, float]]) -> bool:
    """Even-odd rule point-in-polygon in a local north/east frame."""
    inside = False
    n = len(vertices_ne)
    for i in range(n):
        n1, e1 = vertices_ne[i]
        n2, e2 = vertices_ne[(i + 1) % n]
        if (e1 > east_m) != (e2 > east_m):
            cross_n = n1 + (east_m - e1) * (n2 - n1) / (e2 - e1)
            if north_m < cross_n:
                inside = not inside
    return inside
