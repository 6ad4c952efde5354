"""Local east/north metres around an origin <-> latitude/longitude (flat-earth, for city-sized areas).

An equirectangular projection on a sphere of the mean Earth radius: errors stay below a few
centimetres per kilometre, far under a detector's own placement error.
"""
from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


def enu_to_latlon(origin_lat_deg: float, origin_lon_deg: float, east_m, north_m):
    """Offsets in metres (scalars or arrays) from the origin -> (lat_deg, lon_deg)."""
    east_m = np.asarray(east_m, dtype=float)
    north_m = np.asarray(north_m, dtype=float)
    lat = origin_lat_deg + np.degrees(north_m / EARTH_RADIUS_M)
    lon = origin_lon_deg + np.degrees(east_m / (EARTH_RADIUS_M * np.cos(np.radians(origin_lat_deg))))
    return lat, lon


def latlon_to_enu(origin_lat_deg: float, origin_lon_deg: float, lat_deg, lon_deg):
    """(lat_deg, lon_deg) (scalars or arrays) -> (east_m, north_m) from the origin."""
    lat_deg = np.asarray(lat_deg, dtype=float)
    lon_deg = np.asarray(lon_deg, dtype=float)
    north = np.radians(lat_deg - origin_lat_deg) * EARTH_RADIUS_M
    east = np.radians(lon_deg - origin_lon_deg) * EARTH_RADIUS_M * np.cos(np.radians(origin_lat_deg))
    return east, north
