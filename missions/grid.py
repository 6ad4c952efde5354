"""The city's grid management hierarchy: districts, streets, communities and cells, each with a responsible officer.

A grid file is GeoJSON (a FeatureCollection) or KML (Placemarks with ExtendedData): one feature per grid unit.
Parsing text is not I/O: the caller reads the file. The fields of a feature (GeoJSON `properties`, KML ExtendedData
`<Data name="...">`; the unit's id is the GeoJSON feature `id` or `properties.id`, the KML Placemark `id`
attribute or ExtendedData `id`):

    id          required, unique in the file: how the unit is named everywhere (its counting zone is "grid:<id>")
    level       required: district | street | community | cell
    parent      the id of the unit one level up (a street's district, a community's street, a cell's community);
                required for every level but district, which has none
    name        shown to people (default: the id)
    officer     required: the responsible officer's name
    officer_id  optional: one person responsible for several units gives the same officer_id (and the same
                contacts) in each; default: "<unit id>.officer"
    webhook     the officer's webhook: an http:// or https:// URL (a signed JSON POST, see notify.webhook)
    email       the officer's e-mail address
    sms         the officer's mobile number in E.164 form (+8613800138000)
                (at least one of webhook, email, sms)
    capacity    cells: the cell's safe number of people (default: [counting] cell_capacity_persons; a cell with
                neither is mapped and routed to but not watched for gatherings)
    dwell_s     cells: how long the cell must be over its capacity before it is a gathering (default: [counting])

Geometry: a Polygon or MultiPolygon (holes allowed), lon/lat as everywhere in GeoJSON/KML. Rules checked, each
broken one reported (all of them at once, in `GridError.problems`): the levels nest district > street > community
> cell, every unit lies within its parent (up to `tolerance_m2`), cells do not overlap one another (shared edges are
fine), every unit names an officer who can be reached, every address is well formed, ids are unique, and the file
holds at least one cell.

Example (GeoJSON, one feature per level; coordinates shortened):

    {"type": "FeatureCollection", "features": [
      {"type": "Feature", "id": "duanzhou", "properties": {"level": "district", "name": "Duanzhou",
        "officer": "Chen Hua", "email": "chen.hua@duanzhou.example.org", "sms": "+8613800138001"},
       "geometry": {"type": "Polygon", "coordinates": [[[112.45, 23.04], ...]]}},
      {"type": "Feature", "id": "chengdong", "properties": {"level": "street", "parent": "duanzhou", ...}},
      {"type": "Feature", "id": "plaza-community", "properties": {"level": "community", "parent": "chengdong", ...}},
      {"type": "Feature", "id": "plaza-n", "properties": {"level": "cell", "parent": "plaza-community",
        "name": "Plaza north", "officer": "Li Na", "webhook": "https://ops.example.org/hooks/li-na",
        "email": "li.na@example.org", "capacity": 20}, "geometry": ...}]}

In KML the same fields are ExtendedData of each Placemark:

    <Placemark id="plaza-n"><name>Plaza north</name>
      <ExtendedData><Data name="level"><value>cell</value></Data>
        <Data name="parent"><value>plaza-community</value></Data>
        <Data name="officer"><value>Li Na</value></Data> ...</ExtendedData>
      <Polygon>...</Polygon></Placemark>
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlsplit

import numpy as np
import shapely

from missions.areas import CountingZone
from missions.documents import parse_json
from missions.errors import ZoneError
from missions.geo import GeoPoint, LocalFrame
from missions.zone import (
    Zone,
    ZoneKind,
    _capacity,
    _children,
    _dwell,
    _find_all,
    _kml_data,
    _kml_ring,
    _local,
    _polygon_rings,
    make_zone,
)

LEVELS = ("district", "street", "community", "cell")  # from the top; each unit's parent is one level up
ZONE_PREFIX = "grid:"  # a grid cell's counting zone id: "grid:<unit id>"
FIELDS = ("id", "level", "parent", "name", "officer", "officer_id", "webhook", "email", "sms", "capacity", "dwell_s")

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class GridError(ZoneError):
    """A grid file that cannot be used; `.problems` holds one line per mistake found (all of them)."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("the grid file is not usable: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Officer:
    """The person responsible for a grid unit and how to reach them (at least one channel)."""

    officer_id: str
    name: str
    webhook_url: str | None = None
    email: str | None = None
    sms_number: str | None = None

    @property
    def channels(self) -> tuple[tuple[str, str], ...]:
        """(channel, address) for each way to reach the officer: webhook, email, sms, in that order."""
        return tuple((channel, address) for channel, address in (
            ("webhook", self.webhook_url), ("email", self.email), ("sms", self.sms_number)) if address)


@dataclass(frozen=True)
class GridUnit:
    """One unit of the hierarchy: its level, parent, officer and area."""

    unit_id: str
    level: str  # district | street | community | cell
    name: str
    parent_id: str | None
    officer: Officer
    parts: tuple[Zone, ...]  # its polygons (holes excluded)
    capacity_persons: int | None = None
    dwell_s: float | None = None

    @property
    def zone_id(self) -> str:
        """The id of this unit's counting zone (cells are watched like zones)."""
        return ZONE_PREFIX + self.unit_id

    @cached_property
    def area_lonlat(self) -> shapely.MultiPolygon:
        area = shapely.MultiPolygon([part.polygon_lonlat() for part in self.parts])
        shapely.prepare(area)
        return area

    def contains(self, lat_deg, lon_deg) -> np.ndarray:
        """Which of the points (scalars or arrays) lie inside the unit or on its edge: a bool array."""
        lat = np.atleast_1d(np.asarray(lat_deg, dtype=float))
        lon = np.atleast_1d(np.asarray(lon_deg, dtype=float))
        return shapely.intersects_xy(self.area_lonlat, lon, lat)  # the boundary counts as inside


@dataclass(frozen=True)
class Grid:
    """A validated grid hierarchy (units in file order)."""

    units: tuple[GridUnit, ...]

    @cached_property
    def by_id(self) -> Mapping[str, GridUnit]:
        return MappingProxyType({u.unit_id: u for u in self.units})

    @cached_property
    def cells(self) -> tuple[GridUnit, ...]:
        return tuple(u for u in self.units if u.level == "cell")

    def unit(self, unit_id: str) -> GridUnit:
        """The unit with that id (KeyError when there is none)."""
        return self.by_id[unit_id]

    def parent(self, unit: GridUnit) -> GridUnit | None:
        return None if unit.parent_id is None else self.by_id.get(unit.parent_id)

    def chain(self, unit_id: str) -> tuple[GridUnit, ...]:
        """The unit and every unit above it, up to its district."""
        out = [self.by_id[unit_id]]
        while (up := self.parent(out[-1])) is not None and len(out) <= len(LEVELS):
            out.append(up)
        return tuple(out)

    def cell_at(self, lat_deg: float, lon_deg: float) -> GridUnit | None:
        """The cell a point lies in (on a shared edge: the first in file order), or None outside every cell."""
        if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
            return None
        return next((c for c in self.cells if bool(c.contains(lat_deg, lon_deg)[0])), None)

    def cell_of_zone(self, zone_id: str) -> GridUnit | None:
        """The cell whose counting zone is `zone_id` ("grid:<id>"), or None."""
        if not zone_id.startswith(ZONE_PREFIX):
            return None
        unit = self.by_id.get(zone_id[len(ZONE_PREFIX):])
        return unit if unit is not None and unit.level == "cell" else None

    def cells_covering(self, parts: tuple[Zone, ...], min_overlap_m2: float = 1.0) -> tuple[str, ...]:
        """The ids of the cells an area (a counting zone's polygons) overlaps by more than min_overlap_m2, in file
        order; an area in no cell: the cell of its centre, if any; else ()."""
        area = shapely.MultiPolygon([p.polygon_lonlat() for p in parts])
        centre = area.representative_point()
        frame = LocalFrame(GeoPoint(centre.y, centre.x))
        out = tuple(c.unit_id for c in self.cells
                    if frame.project(shapely.intersection(c.area_lonlat, area)).area > min_overlap_m2)
        if out:
            return out
        cell = self.cell_at(centre.y, centre.x)
        return () if cell is None else (cell.unit_id,)

    def counting_zones(self, default_capacity: int | None) -> tuple[CountingZone, ...]:
        """The cells as counting zones ("grid:<id>"), each with its own capacity or the default; a cell with
        neither is not watched (left out)."""
        out = []
        for cell in self.cells:
            capacity = cell.capacity_persons if cell.capacity_persons is not None else default_capacity
            if capacity is not None:
                out.append(CountingZone(cell.zone_id, cell.name, capacity, cell.parts, cell.dwell_s))
        return tuple(out)

    def officers(self) -> tuple[Officer, ...]:
        """Every officer once, in file order."""
        seen: dict[str, Officer] = {}
        for unit in self.units:
            seen.setdefault(unit.officer.officer_id, unit.officer)
        return tuple(seen.values())


# --- reading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Feature:
    """One feature as read, before the cross checks."""

    index: int
    unit_id: str
    fields: Mapping[str, Any]
    rings: tuple[list[tuple[GeoPoint, ...]], ...]  # polygons: exterior then holes


def grid_from_text(text: str, filename: str = "", tolerance_m2: float = 1.0) -> Grid:
    """A validated Grid from a grid file's text (GeoJSON or KML, chosen by the file name's extension or the first
    character); GridError listing every mistake otherwise. tolerance_m2: how much of a unit may lie outside its
    parent, and how much two cells may overlap, before it is a mistake (drawing slack)."""
    lower = filename.lower()
    is_kml = lower.endswith(".kml") or (not lower.endswith((".geojson", ".json")) and (text or "").lstrip()
                                        .startswith("<"))
    features, problems = _kml_features(text) if is_kml else _geojson_features(text)
    return _build(features, problems, tolerance_m2)


def _geojson_features(text: str) -> tuple[list[_Feature], list[str]]:
    try:
        doc = parse_json(text, "the grid file", ZoneError)
    except ZoneError as exc:
        return [], [str(exc)]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"),
                                                                                                  list):
        return [], ["the grid file is not a GeoJSON FeatureCollection (one Feature per grid unit)"]
    features, problems = [], []
    for i, feat in enumerate(doc["features"]):
        where = f"feature {i}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            problems.append(f"{where}: not a GeoJSON Feature")
            continue
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            problems.append(f"{where}: 'properties' must be an object")
            continue
        fields = {k: props.get(k) for k in FIELDS if props.get(k) is not None}
        if feat.get("id") is not None:
            fields["id"] = feat["id"]
        geom = feat.get("geometry")
        try:
            unit_id = _unit_id(fields.get("id"), where)
            where = f"unit {unit_id!r}"
            if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
                got = geom.get("type") if isinstance(geom, dict) else geom
                raise ZoneError(f"{where}: its geometry must be a Polygon or MultiPolygon, got {got!r}")
            coords = geom.get("coordinates")
            if geom["type"] == "Polygon":
                rings = (_polygon_rings(coords, where),)
            else:
                if not isinstance(coords, list) or not coords:
                    raise ZoneError(f"{where}: MultiPolygon without polygons")
                rings = tuple(_polygon_rings(poly, where) for poly in coords)
        except ZoneError as exc:
            problems.append(str(exc))
            continue
        features.append(_Feature(i, unit_id, fields, rings))
    return features, problems


def _kml_features(text: str) -> tuple[list[_Feature], list[str]]:
    if not text or not text.strip():
        return [], ["the grid file is empty"]
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return [], ["KML with a DOCTYPE or entities is refused"]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        return [], [f"the grid file is not valid KML/XML: {e}"]
    features, problems = [], []
    for i, pm in enumerate(_find_all(root, "Placemark")):
        name_el = next((c for c in pm if _local(c.tag) == "name"), None)
        fields: dict[str, Any] = {k: v for k in FIELDS if (v := _kml_data(pm, k)) not in (None, "")}
        if name_el is not None and (name_el.text or "").strip() and "name" not in fields:
            fields["name"] = name_el.text.strip()
        if pm.get("id"):
            fields["id"] = pm.get("id")
        where = f"placemark {i}"
        try:
            unit_id = _unit_id(fields.get("id"), where)
            where = f"unit {unit_id!r}"
            polygons = [el for el in pm.iter() if _local(el.tag) == "Polygon"]
            if not polygons:
                raise ZoneError(f"{where}: its geometry must be a Polygon (or several in a MultiGeometry)")
            rings = []
            for poly in polygons:
                outer = _children(poly, "outerBoundaryIs")
                if not outer:
                    raise ZoneError(f"{where}: Polygon without <outerBoundaryIs>")
                rings.append([_kml_ring(outer[0], where)] + [_kml_ring(b, where)
                                                            for b in _children(poly, "innerBoundaryIs")])
        except ZoneError as exc:
            problems.append(str(exc))
            continue
        features.append(_Feature(i, unit_id, fields, tuple(rings)))
    if not features and not problems:
        problems.append("the KML holds no <Placemark>")
    return features, problems


def _unit_id(value: Any, where: str) -> str:
    if value is None or str(value).strip() == "":
        raise ZoneError(f"{where}: no id (every grid unit needs a unique id)")
    unit_id = str(value).strip()
    if not _ID_RE.match(unit_id):
        raise ZoneError(f"{where}: id {unit_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return unit_id


def _text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def address_problem(channel: str, address: str) -> str | None:
    """Why an officer's address for a channel (webhook, email, sms) is not usable, or None."""
    if channel == "webhook":
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in address):
            return f"webhook {address!r} is not an http:// or https:// URL"
    elif channel == "email":
        if len(address) > 254 or not _EMAIL_RE.match(address):
            return f"email {address!r} is not an e-mail address"
    elif channel == "sms":
        if not _E164_RE.match(address):
            return f"sms {address!r} is not a mobile number in E.164 form (like +8613800138000)"
    else:
        return f"unknown channel {channel!r}"
    return None


def _officer(unit_id: str, fields: Mapping[str, Any], problems: list[str]) -> Officer | None:
    where = f"unit {unit_id!r}"
    name = _text(fields.get("officer"))
    if name is None:
        problems.append(f"{where}: no officer (every unit needs its responsible officer's name in 'officer')")
        return None
    officer_id = _text(fields.get("officer_id")) or f"{unit_id}.officer"
    addresses = {c: _text(fields.get(c)) for c in ("webhook", "email", "sms")}
    if not any(addresses.values()):
        problems.append(f"{where}: officer {name!r} has no way to be reached (give webhook, email or sms)")
        return None
    bad = [p for c, a in addresses.items() if a is not None and (p := address_problem(c, a))]
    if bad:
        problems.extend(f"{where}: officer {name!r}: {p}" for p in bad)
        return None
    return Officer(officer_id, name, addresses["webhook"], addresses["email"], addresses["sms"])


def _build(features: list[_Feature], problems: list[str], tolerance_m2: float) -> Grid:
    units: dict[str, GridUnit] = {}
    broken: set[str] = set()  # units of the file that could not be read: their children are not blamed for it
    officers: dict[str, tuple[str, Officer]] = {}
    for f in features:
        where = f"unit {f.unit_id!r}"
        if f.unit_id in units or f.unit_id in broken:
            problems.append(f"{where}: id used by another unit of the file")
            continue
        level = _text(f.fields.get("level"))
        level = None if level is None else level.lower()
        name = _text(f.fields.get("name")) or f.unit_id
        try:
            if level not in LEVELS:
                raise ZoneError(f"{where}: level {f.fields.get('level')!r} is not one of {', '.join(LEVELS)}")
            parts = tuple(make_zone(name if len(f.rings) == 1 else f"{name}[{j}]", ZoneKind.INCLUSION, rings[0],
                                    tuple(rings[1:]), f.unit_id) for j, rings in enumerate(f.rings))
            capacity = _capacity(f.fields.get("capacity"), where)
            dwell_s = _dwell(f.fields.get("dwell_s"), where)
        except ZoneError as exc:
            problems.append(str(exc) if str(exc).startswith(where) else f"{where}: {exc}")
            broken.add(f.unit_id)
            continue
        officer = _officer(f.unit_id, f.fields, problems)
        if officer is not None:
            known = officers.get(officer.officer_id)
            if known is not None and known[1] != officer:
                problems.append(f"{where}: officer_id {officer.officer_id!r} is given other contacts than in unit "
                                f"{known[0]!r} (one person, one set of contacts)")
            officers.setdefault(officer.officer_id, (f.unit_id, officer))
        units[f.unit_id] = GridUnit(f.unit_id, level, name, _text(f.fields.get("parent")),
                                    officer or Officer(f"{f.unit_id}.officer", "?"), parts, capacity, dwell_s)
    problems.extend(_hierarchy_problems(units, broken, tolerance_m2))
    if not problems and not any(u.level == "cell" for u in units.values()):
        problems.append("the grid file holds no cell (level = cell)")
    if problems:
        raise GridError(problems)
    return Grid(tuple(units.values()))


def _hierarchy_problems(units: Mapping[str, GridUnit], broken: set[str], tolerance_m2: float) -> list[str]:
    problems = []
    if not units:
        return problems
    first = next(iter(units.values())).parts[0].exterior[0]
    frame = LocalFrame(first)
    local = {uid: frame.project(u.area_lonlat) for uid, u in units.items()}
    for uid, unit in units.items():
        where = f"unit {uid!r}"
        depth = LEVELS.index(unit.level)
        if depth == 0:
            if unit.parent_id is not None:
                problems.append(f"{where}: a district has no parent, got parent {unit.parent_id!r}")
            continue
        wanted = LEVELS[depth - 1]
        if unit.parent_id is None:
            problems.append(f"{where}: a {unit.level} needs a parent (the id of its {wanted})")
            continue
        parent = units.get(unit.parent_id)
        if parent is None and unit.parent_id in broken:
            continue  # reported with the parent itself
        if parent is None:
            problems.append(f"{where}: unknown parent {unit.parent_id!r} (no unit of the file has that id)")
            continue
        if parent.level != wanted:
            problems.append(f"{where}: the parent of a {unit.level} must be a {wanted}; {unit.parent_id!r} is a "
                            f"{parent.level}")
            continue
        outside = shapely.difference(local[uid], local[parent.unit_id]).area
        if outside > tolerance_m2:
            problems.append(f"{where}: the {unit.level} lies outside its {wanted} {parent.unit_id!r} "
                            f"({outside:.0f} m² of {local[uid].area:.0f} m² outside)")
    cells = [uid for uid, u in units.items() if u.level == "cell"]
    tree = shapely.STRtree([local[uid] for uid in cells])
    for i, uid in enumerate(cells):
        for j in tree.query(local[uid]).tolist():
            if j <= i:
                continue
            other = cells[j]
            overlap = shapely.intersection(local[uid], local[other]).area
            if overlap > tolerance_m2:
                problems.append(f"cells {uid!r} and {other!r} overlap ({overlap:.0f} m²); cells must not overlap")
    return problems
