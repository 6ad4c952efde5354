"""Geographic points and the project's one local metric projection (equirectangular about an origin).

Planning, counting and fences work in metres east/north of an origin: x east, y north. At city scale
(a few km) the projection error of the equirectangular approximation is far below GPS error. The
projection is affine in lon/lat, so containment tested in it equals containment in degrees.
`latlon_to_enu` / `enu_to_latlon` take scalars or numpy arrays; `LocalFrame` does the same for points and
shapely geometries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


@dataclass(frozen=True)
class GeoPoint:
    """A WGS84 position in degrees."""

    lat_deg: float
    lon_deg: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat_deg) and math.isfinite(self.lon_deg)):
            raise ValueError(f"coordinates must be finite numbers, got lat={self.lat_deg} lon={self.lon_deg}")
        if not -90.0 <= self.lat_deg <= 90.0:
            raise ValueError(f"latitude {self.lat_deg} is outside -90..90 (GeoJSON/KML give lon first)")
        if not -180.0 <= self.lon_deg <= 180.0:
            raise ValueError(f"longitude {self.lon_deg} is outside -180..180")


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """Metres per degree of latitude and per degree of longitude at latitude `lat_deg`."""
    per_deg_lat = EARTH_RADIUS_M * math.pi / 180.0
    return per_deg_lat, per_deg_lat * math.cos(math.radians(lat_deg))


def latlon_to_enu(origin_lat_deg: float, origin_lon_deg: float, lat_deg, lon_deg):
    """(lat_deg, lon_deg) (scalars or arrays) -> (east_m, north_m) from the origin, as numpy values."""
    per_lat, per_lon = metres_per_degree(origin_lat_deg)
    east = (np.asarray(lon_deg, dtype=float) - origin_lon_deg) * per_lon
    north = (np.asarray(lat_deg, dtype=float) - origin_lat_deg) * per_lat
    return east, north


def enu_to_latlon(origin_lat_deg: float, origin_lon_deg: float, east_m, north_m):
    """Offsets in metres (scalars or arrays) from the origin -> (lat_deg, lon_deg), as numpy values."""
    per_lat, per_lon = metres_per_degree(origin_lat_deg)
    lat = origin_lat_deg + np.asarray(north_m, dtype=float) / per_lat
    lon = origin_lon_deg + np.asarray(east_m, dtype=float) / per_lon
    return lat, lon


def distance_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1_deg), math.radians(lat2_deg)
    dp, dl = p2 - p1, math.radians(lon2_deg - lon1_deg)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres between two points."""
    return distance_m(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)


@dataclass(frozen=True)
class LocalFrame:
    """Equirectangular projection about `origin`: x metres east, y metres north."""

    origin: GeoPoint

    @property
    def _m_per_deg_lat(self) -> float:
        return metres_per_degree(self.origin.lat_deg)[0]

    @property
    def _m_per_deg_lon(self) -> float:
        return metres_per_degree(self.origin.lat_deg)[1]

    def to_xy(self, p: GeoPoint) -> tuple[float, float]:
        return (
            (p.lon_deg - self.origin.lon_deg) * self._m_per_deg_lon,
            (p.lat_deg - self.origin.lat_deg) * self._m_per_deg_lat,
        )

    def to_geo(self, x_m: float, y_m: float) -> GeoPoint:
        return GeoPoint(
            lat_deg=self.origin.lat_deg + y_m / self._m_per_deg_lat,
            lon_deg=self.origin.lon_deg + x_m / self._m_per_deg_lon,
        )

    def project(self, geom: BaseGeometry) -> BaseGeometry:
        """A shapely geometry in lon/lat degrees (x=lon, y=lat) -> the same geometry in local metres."""
        kx, ky = self._m_per_deg_lon, self._m_per_deg_lat
        ox, oy = self.origin.lon_deg, self.origin.lat_deg
        return shapely.transform(geom, lambda c: np.column_stack(((c[:, 0] - ox) * kx, (c[:, 1] - oy) * ky)))

    def unproject(self, geom: BaseGeometry) -> BaseGeometry:
        """A shapely geometry in local metres -> lon/lat degrees (x=lon, y=lat)."""
        kx, ky = self._m_per_deg_lon, self._m_per_deg_lat
        ox, oy = self.origin.lon_deg, self.origin.lat_deg
        return shapely.transform(geom, lambda c: np.column_stack((c[:, 0] / kx + ox, c[:, 1] / ky + oy)))
