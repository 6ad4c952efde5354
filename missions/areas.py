"""Counting areas: zones with a safe capacity in people, and the city grid of fixed square cells.

The geometry ground counting needs (groundstation.core.crowds counts people in them; vision places the
people). Zones come from the same zone files as patrols (missions.zone: GeoJSON or KML), read by the same
parser: every inclusion polygon is a counting zone and must give its `capacity`; a MultiPolygon feature is
one zone of several parts. Exclusion and fence polygons, routes and points are not counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

from missions.errors import ZoneError
from missions.geo import latlon_to_enu
from missions.zone import Zone, ZoneKind, ZoneSet, zones_from_text


@dataclass(frozen=True)
class CountingZone:
    """A place whose head count is watched: more than `capacity_persons` people in it is over capacity."""

    zone_id: str
    name: str
    capacity_persons: int
    parts: tuple[Zone, ...]  # its polygons (holes excluded from the zone)
    dwell_s: float | None = None  # over capacity this long is a gathering (None: the counting policy's hold_s)
    policy: str | None = None  # how its gatherings are answered (missions.zone.ZONE_POLICIES; None: [response]'s)

    @cached_property
    def _area_lonlat(self) -> shapely.MultiPolygon:
        area = shapely.MultiPolygon([part.polygon_lonlat() for part in self.parts])
        shapely.prepare(area)  # counted against on every frame
        return area

    def contains(self, lat_deg, lon_deg) -> np.ndarray:
        """Which of the points (scalars or arrays) lie inside the zone (not in a hole): a bool array."""
        lat = np.atleast_1d(np.asarray(lat_deg, dtype=float))
        lon = np.atleast_1d(np.asarray(lon_deg, dtype=float))
        return shapely.contains_xy(self._area_lonlat, lon, lat)


def counting_zones(zone_set: ZoneSet) -> tuple[CountingZone, ...]:
    """The counting zones of a parsed zone file: one per inclusion feature, each with its capacity."""
    grouped: dict[str, list[Zone]] = {}
    for zone in zone_set.of_kind(ZoneKind.INCLUSION):
        grouped.setdefault(zone.zone_id, []).append(zone)
    if not grouped:
        raise ZoneError("the zones file holds no zone polygon to count people in")
    out = []
    for zone_id, parts in grouped.items():
        first = parts[0]
        if first.capacity_persons is None:
            raise ZoneError(f"zone {zone_id!r} has no 'capacity' property (its safe number of people)")
        name = first.name.removesuffix("[0]") if len(parts) > 1 else first.name  # a MultiPolygon's parts: name[j]
        out.append(CountingZone(zone_id, name, first.capacity_persons, tuple(parts), first.dwell_s, first.policy))
    return tuple(out)


def counting_zones_from_text(text: str, filename: str = "") -> tuple[CountingZone, ...]:
    """Counting zones from a zones file's text (GeoJSON or KML, as missions.zone.zones_from_text)."""
    return counting_zones(zones_from_text(text, filename))


@dataclass(frozen=True)
class CityGrid:
    """Square cells of ``cell_size_m`` counted east and north from a fixed origin (stable across days)."""

    origin_lat_deg: float
    origin_lon_deg: float
    cell_size_m: float = 50.0

    def cells_of(self, lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
        """The (east, north) cell indices of the points (scalars or arrays) as two int arrays."""
        east, north = latlon_to_enu(self.origin_lat_deg, self.origin_lon_deg, lat_deg, lon_deg)
        return np.floor(east / self.cell_size_m).astype(int), np.floor(north / self.cell_size_m).astype(int)
