"""Patrol zones read from GeoJSON or KML text: polygons with holes, inclusion and exclusion, plus points.

A zone file may carry, besides the patrol zone(s):
- exclusion zones (no-fly: never flown through),
- fence polygons (the geofence the plan must stay inside),
- a route (LineString) for the `route` pattern, and points: home, rally, orbit centre.
The kind of each feature comes from `properties.kind` (GeoJSON) or an ExtendedData `kind` (KML);
polygons default to "inclusion". A feature's id (the GeoJSON feature `id` or `properties.id`, the KML
Placemark `id` attribute or ExtendedData `id`; else "zone-N", N its place in the file) and its safe
capacity in people (`capacity` or `safe_capacity`, for ground counting: missions.areas) are kept with
each polygon. Parsing text is not I/O: the caller reads the file.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

import shapely
from shapely.geometry import Polygon

from missions.documents import parse_json
from missions.errors import ZoneError
from missions.geo import GeoPoint


class ZoneKind(str, Enum):
    INCLUSION = "inclusion"  # an area to patrol
    EXCLUSION = "exclusion"  # no-fly: plans route around it
    FENCE = "fence"  # a geofence inclusion polygon


_POLYGON_KINDS = MappingProxyType({
    "inclusion": ZoneKind.INCLUSION, "zone": ZoneKind.INCLUSION, "patrol": ZoneKind.INCLUSION,
    "exclusion": ZoneKind.EXCLUSION, "no-fly": ZoneKind.EXCLUSION, "nofly": ZoneKind.EXCLUSION,
    "no_fly": ZoneKind.EXCLUSION, "fence": ZoneKind.FENCE, "geofence": ZoneKind.FENCE,
})
_POINT_KINDS = ("home", "rally", "orbit", "waypoint")


@dataclass(frozen=True)
class Zone:
    """One polygon (vertices not repeated at the end) with optional holes; holes are no-fly too.

    zone_id: the id of the feature it comes from (the parts of a MultiPolygon share it);
    capacity_persons: the feature's safe capacity, when it gives one;
    dwell_s: how long the zone must be over its capacity before it counts as a gathering (`dwell_s`), when given;
    policy: how the station answers its gatherings (`policy`: one of ZONE_POLICIES), when given."""

    name: str
    kind: ZoneKind
    exterior: tuple[GeoPoint, ...]
    holes: tuple[tuple[GeoPoint, ...], ...] = ()
    zone_id: str = ""
    capacity_persons: int | None = None
    dwell_s: float | None = None
    policy: str | None = None

    def polygon_lonlat(self) -> Polygon:
        """The zone as a shapely polygon with x=lon, y=lat."""
        return Polygon(
            [(p.lon_deg, p.lat_deg) for p in self.exterior],
            [[(p.lon_deg, p.lat_deg) for p in ring] for ring in self.holes],
        )


@dataclass(frozen=True)
class ZoneSet:
    """Everything a zone file says."""

    zones: tuple[Zone, ...] = ()
    routes: tuple[tuple[GeoPoint, ...], ...] = ()
    home: GeoPoint | None = None
    rally: tuple[GeoPoint, ...] = ()
    orbit_centres: tuple[GeoPoint, ...] = ()

    def of_kind(self, kind: ZoneKind) -> tuple[Zone, ...]:
        return tuple(z for z in self.zones if z.kind is kind)

    def patrol_zone(self, name: str | None = None) -> Zone:
        """The inclusion zone to patrol: the one named, or the only one."""
        inclusions = self.of_kind(ZoneKind.INCLUSION)
        if name is not None:
            for z in inclusions:
                if z.name == name:
                    return z
            raise ZoneError(f"no inclusion zone named {name!r}; zones: {[z.name for z in inclusions]}")
        if not inclusions:
            raise ZoneError("the zone file has no inclusion polygon to patrol")
        if len(inclusions) > 1:
            raise ZoneError(f"the zone file has {len(inclusions)} inclusion zones; name one of {[z.name for z in inclusions]}")
        return inclusions[0]


# --- validation ---------------------------------------------------------------------------


def multipolygon_geojson(parts: Any) -> dict[str, Any]:
    """Polygons (Zone parts: exterior and holes) as one GeoJSON MultiPolygon (lon, lat; rings closed)."""
    def ring(points: Any) -> list[list[float]]:
        return [[p.lon_deg, p.lat_deg] for p in (*points, points[0])]
    return {"type": "MultiPolygon", "coordinates": [[ring(z.exterior)] + [ring(h) for h in z.holes] for z in parts]}


def _ring(coords: Any, where: str) -> tuple[GeoPoint, ...]:
    if not isinstance(coords, (list, tuple)):
        raise ZoneError(f"{where}: a ring must be a list of [lon, lat] positions")
    pts = [_position(c, where) for c in coords]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    distinct = []
    for p in pts:  # drop consecutive duplicates
        if not distinct or distinct[-1] != p:
            distinct.append(p)
    if len(distinct) > 1 and distinct[0] == distinct[-1]:
        distinct.pop()
    if len(distinct) < 3:
        raise ZoneError(f"{where}: a polygon ring needs at least 3 distinct vertices, got {len(distinct)}")
    return tuple(distinct)


def _position(c: Any, where: str) -> GeoPoint:
    if not isinstance(c, (list, tuple)) or len(c) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c[:2]):
        raise ZoneError(f"{where}: a position must be [lon, lat(, alt)] numbers, got {c!r}")
    try:
        return GeoPoint(lat_deg=float(c[1]), lon_deg=float(c[0]))
    except ValueError as e:
        raise ZoneError(f"{where}: {e}") from None


def _capacity(value: Any, where: str) -> int | None:
    """A safe capacity: a whole number of people >= 0 (or None when the feature gives none)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit():
            return int(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and value >= 0 and float(value).is_integer():
        return int(value)
    raise ZoneError(f"{where}: capacity must be a whole number of people >= 0, got {value!r}")


# how the station answers a counting zone's gatherings: on its own, after an operator's approval, or not at all
ZONE_POLICIES = ("auto", "approve", "watch-only")


def _policy(value: Any, where: str) -> str | None:
    """A zone's response policy (or None when the feature gives none)."""
    if value is None:
        return None
    policy = value.strip() if isinstance(value, str) else value
    if policy not in ZONE_POLICIES:
        raise ZoneError(f"{where}: policy must be one of {', '.join(ZONE_POLICIES)}, got {value!r}")
    return policy


def _dwell(value: Any, where: str) -> float | None:
    """A dwell time in seconds >= 0 (or None when the feature gives none)."""
    if value is None:
        return None
    try:
        dwell = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        dwell = math.nan
    if isinstance(value, bool) or not math.isfinite(dwell) or dwell < 0:
        raise ZoneError(f"{where}: dwell_s must be a number of seconds >= 0, got {value!r}")
    return dwell


def make_zone(name: str, kind: ZoneKind, exterior: tuple[GeoPoint, ...], holes: tuple[tuple[GeoPoint, ...], ...] = (),
              zone_id: str = "", capacity_persons: int | None = None, dwell_s: float | None = None,
              policy: str | None = None) -> Zone:
    """A validated zone: a simple polygon (no self-intersection), holes inside it, non-zero area."""
    zone = Zone(name=name, kind=kind, exterior=exterior, holes=holes, zone_id=zone_id, capacity_persons=capacity_persons,
                dwell_s=dwell_s, policy=policy)
    poly = zone.polygon_lonlat()
    if not poly.is_valid:
        reason = shapely.is_valid_reason(poly)
        if reason.startswith("Self-intersection") or reason.startswith("Ring Self-intersection"):
            raise ZoneError(f"zone {name!r}: the polygon intersects itself ({reason}; coordinates are lon lat)")
        raise ZoneError(f"zone {name!r}: invalid polygon ({reason}; coordinates are lon lat)")
    if poly.area <= 0 or not math.isfinite(poly.area):
        raise ZoneError(f"zone {name!r}: the polygon has no area")
    return zone


# --- GeoJSON ----------------------------------------------------------------------------------


def zones_from_geojson(text: str) -> ZoneSet:
    """Parse GeoJSON text (FeatureCollection, Feature or bare geometry) into a ZoneSet."""
    return zones_from_geojson_dict(parse_json(text, "the zone file", ZoneError))


def zones_from_geojson_dict(doc: Any) -> ZoneSet:
    if not isinstance(doc, dict) or "type" not in doc:
        raise ZoneError("not GeoJSON: expected an object with a 'type'")
    kind = doc["type"]
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise ZoneError("GeoJSON FeatureCollection without a 'features' list")
    elif kind == "Feature":
        features = [doc]
    else:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    builder = _Builder()
    for i, feat in enumerate(features):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise ZoneError(f"feature {i}: not a GeoJSON Feature")
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            raise ZoneError(f"feature {i}: 'properties' must be an object")
        given_id = feat.get("id", props.get("id"))
        name = str(props.get("name") or given_id or f"feature {i}")
        geom = feat.get("geometry")
        if not isinstance(geom, dict):
            raise ZoneError(f"{name}: feature has no geometry")
        builder.feature(i, given_id, name, props.get("capacity", props.get("safe_capacity")), props.get("dwell_s"),
                        props.get("policy"))
        _add_geojson_geometry(builder, geom, name, props.get("kind"))
    return builder.build()


def _add_geojson_geometry(builder: "_Builder", geom: dict, name: str, kind: Any) -> None:
    gtype, coords = geom.get("type"), geom.get("coordinates")
    if gtype == "Polygon":
        builder.polygon(name, kind, _polygon_rings(coords, name))
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ZoneError(f"{name}: MultiPolygon without polygons")
        for j, poly in enumerate(coords):
            builder.polygon(f"{name}[{j}]" if len(coords) > 1 else name, kind, _polygon_rings(poly, name))
    elif gtype == "LineString":
        if not isinstance(coords, list) or len(coords) < 2:
            raise ZoneError(f"{name}: a route LineString needs at least 2 positions")
        builder.line(name, kind, tuple(_position(c, name) for c in coords))
    elif gtype == "Point":
        builder.point(name, kind, _position(coords, name))
    else:
        raise ZoneError(
            f"{name}: unsupported geometry type {gtype!r} (use Polygon or MultiPolygon for zones, "
            "LineString for a route, Point for home/rally/orbit)"
        )


def _polygon_rings(coords: Any, name: str) -> list[tuple[GeoPoint, ...]]:
    if not isinstance(coords, list) or not coords:
        raise ZoneError(f"{name}: Polygon without rings")
    return [_ring(r, name) for r in coords]


class _Builder:
    """Collects features while parsing (local to one parse call)."""

    def __init__(self) -> None:
        self.zone_id = ""  # of the feature being read
        self.capacity: int | None = None
        self.dwell_s: float | None = None
        self.policy: str | None = None
        self.ids: set[str] = set()
        self.zones: list[Zone] = []
        self.routes: list[tuple[GeoPoint, ...]] = []
        self.waypoints: list[GeoPoint] = []
        self.homes: list[GeoPoint] = []
        self.rally: list[GeoPoint] = []
        self.orbits: list[GeoPoint] = []

    def feature(self, index: int, given_id: Any, name: str, capacity: Any, dwell_s: Any = None,
                policy: Any = None) -> None:
        """The next feature starts: its id (unique in the file), its safe capacity, dwell time and response policy,
        if any."""
        zone_id = f"zone-{index}" if given_id is None or str(given_id).strip() == "" else str(given_id)
        if zone_id in self.ids:
            raise ZoneError(f"{name}: id {zone_id!r} is used by another feature of the file")
        self.ids.add(zone_id)
        self.zone_id, self.capacity, self.dwell_s = zone_id, _capacity(capacity, name), _dwell(dwell_s, name)
        self.policy = _policy(policy, name)

    def polygon(self, name: str, kind: Any, rings: list[tuple[GeoPoint, ...]]) -> None:
        key = "inclusion" if kind is None else str(kind).strip().lower()
        if key not in _POLYGON_KINDS:
            raise ZoneError(f"{name}: unknown polygon kind {kind!r}; use inclusion, exclusion or fence")
        self.zones.append(make_zone(name, _POLYGON_KINDS[key], rings[0], tuple(rings[1:]), self.zone_id, self.capacity,
                                    self.dwell_s, self.policy))

    def line(self, name: str, kind: Any, pts: tuple[GeoPoint, ...]) -> None:
        if kind is not None and str(kind).lower() != "route":
            raise ZoneError(f"{name}: a LineString must be a route, not {kind!r}")
        self.routes.append(pts)

    def point(self, name: str, kind: Any, p: GeoPoint) -> None:
        key = str(kind).strip().lower() if kind is not None else ""
        if key not in _POINT_KINDS:
            raise ZoneError(f"{name}: a Point needs a kind among {', '.join(_POINT_KINDS)}, got {kind!r}")
        {"home": self.homes, "rally": self.rally, "orbit": self.orbits, "waypoint": self.waypoints}[key].append(p)

    def build(self) -> ZoneSet:
        if len(self.homes) > 1:
            raise ZoneError(f"the zone file has {len(self.homes)} home points; give at most one")
        routes = list(self.routes)
        if self.waypoints:
            if len(self.waypoints) < 2:
                raise ZoneError("a route of waypoint Points needs at least 2 points")
            routes.append(tuple(self.waypoints))
        zs = ZoneSet(
            zones=tuple(self.zones), routes=tuple(routes), home=self.homes[0] if self.homes else None,
            rally=tuple(self.rally), orbit_centres=tuple(self.orbits),
        )
        if not zs.zones and not zs.routes:
            raise ZoneError("the zone file holds no polygon and no route")
        return zs


# --- KML --------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _find_all(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _kml_coords(el: ET.Element | None, where: str) -> list[list[float]]:
    if el is None or not (el.text or "").strip():
        raise ZoneError(f"{where}: missing <coordinates>")
    out = []
    for tup in el.text.split():
        try:
            out.append([float(v) for v in tup.split(",")])
        except ValueError:
            raise ZoneError(f"{where}: bad coordinate tuple {tup!r} (expected lon,lat[,alt])") from None
    return out


def _kml_ring(boundary: ET.Element, where: str) -> tuple[GeoPoint, ...]:
    rings = _find_all(boundary, "LinearRing")
    if not rings:
        raise ZoneError(f"{where}: boundary without <LinearRing>")
    coords = next((c for c in rings[0] if _local(c.tag) == "coordinates"), None)
    return _ring(_kml_coords(coords, where), where)


def _kml_data(pm: ET.Element, key: str) -> str | None:
    """A Placemark's ExtendedData value `key` (Data/value or SimpleData), or None."""
    for data in _find_all(pm, "Data"):
        if data.get("name") == key:
            value = next((c for c in data if _local(c.tag) == "value"), None)
            return (value.text or "").strip() if value is not None else None
    for sd in _find_all(pm, "SimpleData"):
        if sd.get("name") == key:
            return (sd.text or "").strip()
    return None


def zones_from_kml(text: str) -> ZoneSet:
    """Parse KML text: each Placemark's Polygon/LineString/Point (also inside MultiGeometry)."""
    if not text or not text.strip():
        raise ZoneError("the zone file is empty")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ZoneError("KML with a DOCTYPE or entities is refused")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ZoneError(f"the zone file is not valid KML/XML: {e}") from None
    placemarks = _find_all(root, "Placemark")
    if not placemarks:
        raise ZoneError("the KML holds no <Placemark>")
    builder = _Builder()
    for i, pm in enumerate(placemarks):
        name_el = next((c for c in pm if _local(c.tag) == "name"), None)
        name = (name_el.text or "").strip() if name_el is not None and name_el.text else f"placemark {i}"
        kind = _kml_data(pm, "kind")
        builder.feature(i, pm.get("id") or _kml_data(pm, "id"), name,
                        _kml_data(pm, "capacity") or _kml_data(pm, "safe_capacity"), _kml_data(pm, "dwell_s"),
                        _kml_data(pm, "policy"))
        found = False
        for el in pm.iter():
            tag = _local(el.tag)
            if tag == "Polygon":
                found = True
                outer = _children(el, "outerBoundaryIs")
                if not outer:
                    raise ZoneError(f"{name}: Polygon without <outerBoundaryIs>")
                rings = [_kml_ring(outer[0], name)] + [_kml_ring(b, name) for b in _children(el, "innerBoundaryIs")]
                builder.polygon(name, kind, rings)
            elif tag == "LineString":
                found = True
                coords = next((c for c in el if _local(c.tag) == "coordinates"), None)
                pts = tuple(_position(c, name) for c in _kml_coords(coords, name))
                if len(pts) < 2:
                    raise ZoneError(f"{name}: a route LineString needs at least 2 positions")
                builder.line(name, kind, pts)
            elif tag == "Point":
                found = True
                coords = next((c for c in el if _local(c.tag) == "coordinates"), None)
                pts = _kml_coords(coords, name)
                builder.point(name, kind, _position(pts[0], name))
            elif tag in ("LinearRing", "Model", "Track", "MultiTrack") and not _has_polygon_ancestor(pm, el):
                raise ZoneError(f"{name}: unsupported KML geometry <{tag}> (use Polygon, LineString or Point)")
        if not found:
            raise ZoneError(f"{name}: Placemark without a geometry")
    return builder.build()


def _has_polygon_ancestor(pm: ET.Element, target: ET.Element) -> bool:
    for poly in _find_all(pm, "Polygon"):
        if any(el is target for el in poly.iter()):
            return True
    return False


def zones_from_text(text: str, filename: str = "") -> ZoneSet:
    """GeoJSON or KML, chosen by the file name's extension or, failing that, by the first character."""
    lower = filename.lower()
    if lower.endswith(".kml"):
        return zones_from_kml(text)
    if lower.endswith((".geojson", ".json")):
        return zones_from_geojson(text)
    stripped = (text or "").lstrip()
    if stripped.startswith("<"):
        return zones_from_kml(text)
    return zones_from_geojson(text)
