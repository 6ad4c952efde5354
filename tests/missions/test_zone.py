"""Zones from GeoJSON and KML: polygons with holes, kinds, points, and every bad input."""
import json

import pytest

from missions.errors import ZoneError
from missions.geo import GeoPoint
from missions.zone import ZoneKind, zones_from_geojson, zones_from_kml, zones_from_text

from tests.missions.shapes import feature, geojson, point_feature, rect

PARK = {
    "type": "Feature", "properties": {"name": "park"},
    "geometry": {"type": "Polygon", "coordinates": [
        [[112.46, 23.05], [112.47, 23.05], [112.47, 23.06], [112.46, 23.06], [112.46, 23.05]],
        [[112.462, 23.052], [112.464, 23.052], [112.464, 23.054], [112.462, 23.052]],
    ]},
}


def test_polygon_with_hole_default_inclusion():
    zs = zones_from_geojson(json.dumps(PARK))
    (z,) = zs.zones
    assert z.name == "park" and z.kind is ZoneKind.INCLUSION
    assert z.exterior[0] == GeoPoint(23.05, 112.46)  # GeoJSON is lon, lat
    assert len(z.exterior) == 4 and len(z.holes) == 1 and len(z.holes[0]) == 3  # closing vertex dropped
    assert zs.patrol_zone() is z


def test_feature_collection_with_kinds_and_points():
    text = geojson(
        feature("inclusion", [rect(-300, -300, 300, 300)], "square"),
        feature("exclusion", [rect(0, 0, 50, 50)], "school"),
        feature("fence", [rect(-400, -400, 400, 400)], "city"),
        point_feature("home", -350, -350),
        point_feature("rally", 350, 350),
        point_feature("orbit", 10, 10),
    )
    zs = zones_from_geojson(text)
    assert [z.kind for z in zs.zones] == [ZoneKind.INCLUSION, ZoneKind.EXCLUSION, ZoneKind.FENCE]
    assert zs.home is not None and len(zs.rally) == 1 and len(zs.orbit_centres) == 1
    assert zs.patrol_zone().name == "square"


def test_multipolygon_and_bare_geometry_and_route():
    mp = {"type": "MultiPolygon", "coordinates": [PARK["geometry"]["coordinates"][:1],
                                                   [[[112.48, 23.05], [112.49, 23.05], [112.49, 23.06], [112.48, 23.05]]]]}
    zs = zones_from_geojson(json.dumps(mp))
    assert len(zs.zones) == 2
    with pytest.raises(ZoneError, match="name one of"):
        zs.patrol_zone()
    route = {"type": "Feature", "properties": {"kind": "route"},
             "geometry": {"type": "LineString", "coordinates": [[112.46, 23.05], [112.47, 23.06]]}}
    zs = zones_from_geojson(json.dumps(route))
    assert zs.routes == ((GeoPoint(23.05, 112.46), GeoPoint(23.06, 112.47)),)


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
 <Placemark><name>park</name>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>
   112.46,23.05,0 112.47,23.05,0 112.47,23.06,0 112.46,23.06,0 112.46,23.05,0
  </coordinates></LinearRing></outerBoundaryIs>
  <innerBoundaryIs><LinearRing><coordinates>112.462,23.052 112.464,23.052 112.464,23.054 112.462,23.052</coordinates></LinearRing></innerBoundaryIs>
  </Polygon></Placemark>
 <Placemark><name>school</name><ExtendedData><Data name="kind"><value>exclusion</value></Data></ExtendedData>
  <MultiGeometry><Polygon><outerBoundaryIs><LinearRing><coordinates>112.466,23.055 112.468,23.055 112.467,23.057</coordinates></LinearRing></outerBoundaryIs></Polygon></MultiGeometry>
 </Placemark>
 <Placemark><name>base</name><ExtendedData><Data name="kind"><value>home</value></Data></ExtendedData>
  <Point><coordinates>112.4595,23.0495,0</coordinates></Point></Placemark>
</Document></kml>"""


def test_kml_polygons_holes_kinds_points():
    zs = zones_from_kml(KML)
    park, school = zs.zones
    assert park.kind is ZoneKind.INCLUSION and len(park.holes) == 1
    assert school.kind is ZoneKind.EXCLUSION and school.name == "school"
    assert zs.home == GeoPoint(23.0495, 112.4595)
    # the same zone read from GeoJSON and from KML is the same polygon
    assert park.exterior == zones_from_geojson(json.dumps(PARK)).zones[0].exterior


def test_zones_from_text_chooses_by_name_then_content():
    assert zones_from_text(KML, "zone.kml").zones[0].name == "park"
    assert zones_from_text(KML, "").zones[0].name == "park"
    assert zones_from_text(json.dumps(PARK), "zone.geojson").zones[0].name == "park"


BOWTIE = {"type": "Polygon", "coordinates": [[[112.46, 23.05], [112.47, 23.06], [112.47, 23.05], [112.46, 23.06], [112.46, 23.05]]]}


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("   \n", "empty"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not GeoJSON"),
    (json.dumps(BOWTIE), "intersects itself"),
    (json.dumps({"type": "MultiPoint", "coordinates": [[112.46, 23.05]]}), "unsupported geometry type 'MultiPoint'"),
    (json.dumps({"type": "GeometryCollection", "geometries": []}), "unsupported geometry type"),
    (json.dumps({"type": "Polygon", "coordinates": [[[112.46, 23.05], [112.47, 23.05], [112.46, 23.05]]]}), "at least 3 distinct"),
    (json.dumps({"type": "Polygon", "coordinates": [[[23.05, 112.46], [23.06, 112.46], [23.06, 112.47], [23.05, 112.46]]]}), "latitude"),
    (json.dumps({"type": "Polygon", "coordinates": [[["a", 1], [2, 3], [4, 5]]]}), "position must be"),
    (json.dumps({"type": "Polygon", "coordinates": [
        [[112.46, 23.05], [112.47, 23.05], [112.47, 23.06], [112.46, 23.05]],
        [[112.48, 23.05], [112.49, 23.05], [112.49, 23.06], [112.48, 23.05]]]}), "invalid polygon"),
    (json.dumps({"type": "Feature", "properties": {"kind": "lake"}, "geometry": PARK["geometry"]}), "unknown polygon kind"),
    (json.dumps({"type": "Point", "coordinates": [112.46, 23.05]}), "needs a kind"),
    (json.dumps({"type": "FeatureCollection", "features": []}), "no polygon"),
    (json.dumps({"type": "Feature", "properties": {}, "geometry": None}), "no geometry"),
])
def test_bad_geojson_is_refused_clearly(text, match):
    with pytest.raises(ZoneError, match=match):
        zones_from_geojson(text)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("<kml><Document>", "not valid KML"),
    ("<kml xmlns='http://www.opengis.net/kml/2.2'><Document/></kml>", "no <Placemark>"),
    ("<kml><Placemark><name>x</name></Placemark></kml>", "without a geometry"),
    ("<kml><Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>112.46,23.05 112.47,23.06 112.47,23.05 112.46,23.06"
     "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></kml>", "intersects itself"),
    ("<kml><Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>a,b c,d e,f</coordinates></LinearRing>"
     "</outerBoundaryIs></Polygon></Placemark></kml>", "bad coordinate"),
    ("<!DOCTYPE kml [<!ENTITY a 'x'>]><kml/>", "DOCTYPE"),
])
def test_bad_kml_is_refused_clearly(text, match):
    with pytest.raises(ZoneError, match=match):
        zones_from_kml(text)
