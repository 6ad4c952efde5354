"""Ground counting: zones (GeoJSON polygons with a safe capacity), a fixed city grid of square cells,
a registry of people on the ground that does not count one person twice, and crowd clusters.

Pure logic: every method takes the time it is about (no clock is read). Double counting is avoided
by identity first and position second: a person keeps its identity while its (drone, track id) is
seen; a new identity that appears within ``merge_radius_m`` of a known person who was not seen in the
same frame is taken to be that person (a lost-and-found track, another drone's view, a repeated
pass). Two people seen in the same frame are always two people. A person not seen for ``window_s``
leaves the counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.geodesy import latlon_to_enu
from vision.records import CellCount, CrowdObservation, PersonOnGround, ZoneCount


@dataclass(frozen=True)
class Zone:
    zone_id: str
    name: str
    rings_lonlat: tuple[tuple[tuple[float, float], ...], ...]  # GeoJSON order: outer ring, then holes
    capacity_persons: int

    def contains(self, lat_deg, lon_deg) -> np.ndarray:
        """Even-odd point-in-polygon over all rings (holes excluded); arrays in, bool array out."""
        lat = np.atleast_1d(np.asarray(lat_deg, dtype=float))
        lon = np.atleast_1d(np.asarray(lon_deg, dtype=float))
        inside = np.zeros(lat.shape, dtype=bool)
        for ring in self.rings_lonlat:
            pts = np.asarray(ring, dtype=float)
            x1, y1 = pts[:, 0], pts[:, 1]
            x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
            for ax, ay, bx, by in zip(x1, y1, x2, y2):
                crosses = (ay > lat) != (by > lat)
                with np.errstate(divide="ignore", invalid="ignore"):
                    x_at = ax + (lat - ay) * (bx - ax) / (by - ay)
                inside ^= crosses & (lon < x_at)
        return inside


def zones_from_geojson(data: dict) -> tuple[Zone, ...]:
    """Zones from a GeoJSON FeatureCollection of Polygon/MultiPolygon features.

    Each feature's properties need a capacity (``capacity`` or ``safe_capacity``); ``id``/``name``
    come from the feature or its properties.
    """
    if data.get("type") != "FeatureCollection":
        raise ValueError("zones must be a GeoJSON FeatureCollection")
    zones = []
    for n, feature in enumerate(data.get("features", [])):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        capacity = props.get("capacity", props.get("safe_capacity"))
        if capacity is None:
            raise ValueError(f"zone feature {n} has no 'capacity' property")
        zone_id = str(feature.get("id", props.get("id", f"zone-{n}")))
        if geometry.get("type") == "Polygon":
            polygons = [geometry["coordinates"]]
        elif geometry.get("type") == "MultiPolygon":
            polygons = geometry["coordinates"]
        else:
            raise ValueError(f"zone {zone_id}: geometry must be Polygon or MultiPolygon, got {geometry.get('type')}")
        rings = tuple(tuple((float(p[0]), float(p[1])) for p in ring) for poly in polygons for ring in poly)
        zones.append(Zone(zone_id, str(props.get("name", zone_id)), rings, int(capacity)))
    return tuple(zones)


@dataclass(frozen=True)
class CityGrid:
    """Square cells of ``cell_size_m`` counted east and north from a fixed origin (stable across days)."""

    origin_lat_deg: float
    origin_lon_deg: float
    cell_size_m: float = 50.0

    def cells_of(self, lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
        east, north = latlon_to_enu(self.origin_lat_deg, self.origin_lon_deg, lat_deg, lon_deg)
        return np.floor(east / self.cell_size_m).astype(int), np.floor(north / self.cell_size_m).astype(int)


@dataclass
class _Person:
    lat_deg: float
    lon_deg: float
    east_m: float
    north_m: float
    last_seen_s: float
    confidence: float
    drone_id: str


class GroundRegistry:
    """People currently on the ground, without double counting (owned by one thread or process)."""

    def __init__(self, grid: CityGrid, zones: tuple[Zone, ...] = (), window_s: float = 30.0, merge_radius_m: float = 2.0):
        self.grid = grid
        self.zones = zones
        self.window_s = window_s
        self.merge_radius_m = merge_radius_m
        self._people: dict[int, _Person] = {}
        self._by_key: dict[tuple[str, int], int] = {}
        self._next_id = 0

    def observe(self, people: tuple[PersonOnGround, ...], time_s: float) -> None:
        """Add one frame's people (one drone, one capture time)."""
        self._expire(time_s)
        matched: set[int] = set()
        pending = []
        for p in people:
            key = (p.drone_id, p.track_id) if p.track_id is not None else None
            pid = self._by_key.get(key) if key is not None else None
            if pid is not None and pid in self._people and pid not in matched:
                self._update(pid, p)
                matched.add(pid)
            else:
                pending.append((key, p))
        for key, p in pending:
            east, north = latlon_to_enu(self.grid.origin_lat_deg, self.grid.origin_lon_deg, p.lat_deg, p.lon_deg)
            best, best_d = None, self.merge_radius_m
            for pid, known in self._people.items():
                if pid in matched:
                    continue  # seen in this very frame: a different person
                d = math.hypot(known.east_m - float(east), known.north_m - float(north))
                if d <= best_d:
                    best, best_d = pid, d
            if best is None:
                best = self._next_id
                self._next_id += 1
                self._people[best] = _Person(p.lat_deg, p.lon_deg, float(east), float(north), p.time_s, p.confidence, p.drone_id)
            else:
                self._update(best, p)
            matched.add(best)
            if key is not None:
                self._by_key[key] = best

    def _update(self, pid: int, p: PersonOnGround) -> None:
        east, north = latlon_to_enu(self.grid.origin_lat_deg, self.grid.origin_lon_deg, p.lat_deg, p.lon_deg)
        person = self._people[pid]
        person.lat_deg, person.lon_deg, person.east_m, person.north_m = p.lat_deg, p.lon_deg, float(east), float(north)
        person.last_seen_s = max(person.last_seen_s, p.time_s)
        person.confidence, person.drone_id = p.confidence, p.drone_id

    def _expire(self, time_s: float) -> None:
        horizon = time_s - self.window_s
        gone = {pid for pid, person in self._people.items() if person.last_seen_s < horizon}
        for pid in gone:
            del self._people[pid]
        self._by_key = {k: v for k, v in self._by_key.items() if v not in gone}

    def current(self, time_s: float) -> tuple[PersonOnGround, ...]:
        """One record per distinct person seen within the window."""
        self._expire(time_s)
        return tuple(
            PersonOnGround(p.lat_deg, p.lon_deg, 0.0, p.confidence, p.drone_id, p.last_seen_s, pid)
            for pid, p in sorted(self._people.items())
        )

    def total(self, time_s: float) -> int:
        self._expire(time_s)
        return len(self._people)

    def zone_counts(self, time_s: float) -> tuple[ZoneCount, ...]:
        people = self.current(time_s)
        lat = np.array([p.lat_deg for p in people])
        lon = np.array([p.lon_deg for p in people])
        return tuple(
            ZoneCount(z.zone_id, int(z.contains(lat, lon).sum()) if len(people) else 0, z.capacity_persons, time_s)
            for z in self.zones
        )

    def cell_counts(self, time_s: float) -> tuple[CellCount, ...]:
        """Counts of the cells that hold at least one person, sorted by cell."""
        people = self.current(time_s)
        if not people:
            return ()
        ce, cn = self.grid.cells_of([p.lat_deg for p in people], [p.lon_deg for p in people])
        cells: dict[tuple[int, int], int] = {}
        for e, n in zip(ce.tolist(), cn.tolist()):
            cells[(e, n)] = cells.get((e, n), 0) + 1
        return tuple(CellCount(e, n, c, time_s) for (e, n), c in sorted(cells.items()))


def crowd_clusters(
    people: tuple[PersonOnGround, ...], radius_m: float, min_people: int, drone_id: str, time_s: float
) -> tuple[CrowdObservation, ...]:
    """Groups of at least ``min_people`` linked by gaps of at most ``radius_m`` (single linkage).

    ``radius_m`` of the record is the largest distance of a member from the centroid (at least half
    the linking distance, so two people side by side still cover an area); density is count over that
    disc's area; confidence is the members' mean detection confidence, scaled down when their
    position uncertainty is large compared with the linking distance.
    """
    if len(people) < max(1, min_people):
        return ()
    lat0, lon0 = people[0].lat_deg, people[0].lon_deg
    east, north = latlon_to_enu(lat0, lon0, [p.lat_deg for p in people], [p.lon_deg for p in people])
    xy = np.stack([east, north], axis=1)
    parent = list(range(len(people)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    for i, j in zip(*np.nonzero(np.triu(dist <= radius_m, k=1))):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(people)):
        groups.setdefault(root(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < min_people:
            continue
        centre = xy[members].mean(axis=0)
        spread = float(np.max(np.hypot(*(xy[members] - centre).T)))
        radius = max(spread, radius_m / 2.0)
        mean_conf = float(np.mean([people[i].confidence for i in members]))
        mean_unc = float(np.mean([people[i].uncertainty_m for i in members]))
        confidence = mean_conf * float(np.clip(1.0 - mean_unc / (4.0 * radius_m), 0.1, 1.0))
        clat = float(np.mean([people[i].lat_deg for i in members]))
        clon = float(np.mean([people[i].lon_deg for i in members]))
        out.append(
            CrowdObservation(clat, clon, len(members), radius, len(members) / (math.pi * radius**2), confidence, drone_id, time_s)
        )
    return tuple(sorted(out, key=lambda c: -c.count))
