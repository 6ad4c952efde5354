"""Counting areas: zones with a safe capacity read by the zone-file parser, and the fixed city grid."""
import json

import pytest

from missions.areas import CityGrid, counting_zones_from_text
from missions.errors import ZoneError
from missions.geo import enu_to_latlon

ORIGIN = (22.05, 112.46)
GRID = CityGrid(*ORIGIN, cell_size_m=50.0)


def at(east, north):
    lat, lon = enu_to_latlon(*ORIGIN, east, north)
    return float(lat), float(lon)


def ring(e0, n0, e1, n1):
    corners = [(e0, n0), (e1, n0), (e1, n1), (e0, n1), (e0, n0)]
    return [[at(e, n)[1], at(e, n)[0]] for e, n in corners]


def square_zone(zone_id, e0, n0, e1, n1, capacity, **props):
    return {"type": "Feature", "id": zone_id, "properties": {"name": zone_id, "capacity": capacity, **props},
            "geometry": {"type": "Polygon", "coordinates": [ring(e0, n0, e1, n1)]}}


def collection(*features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def test_zones_keep_their_id_name_and_capacity():
    plaza, market = counting_zones_from_text(collection(square_zone("plaza", 0, 0, 40, 40, 3),
                                                        square_zone("market", 100, 0, 140, 40, "10")))
    assert (plaza.zone_id, plaza.name, plaza.capacity_persons) == ("plaza", "plaza", 3)
    assert (market.zone_id, market.capacity_persons) == ("market", 10)
    unnamed = {"type": "Feature", "properties": {"safe_capacity": 7},
               "geometry": {"type": "Polygon", "coordinates": [ring(0, 0, 10, 10)]}}
    (zone,) = counting_zones_from_text(collection(unnamed))
    assert (zone.zone_id, zone.capacity_persons) == ("zone-0", 7)


def test_a_zone_may_set_its_own_dwell_time():
    plaza, market = counting_zones_from_text(collection(square_zone("plaza", 0, 0, 40, 40, 3, dwell_s=30),
                                                        square_zone("market", 100, 0, 140, 40, 10)))
    assert (plaza.dwell_s, market.dwell_s) == (30.0, None)


def test_a_zone_may_set_how_its_gatherings_are_answered():
    plaza, market = counting_zones_from_text(collection(square_zone("plaza", 0, 0, 40, 40, 3, policy="watch-only"),
                                                        square_zone("market", 100, 0, 140, 40, 10)))
    assert (plaza.policy, market.policy) == ("watch-only", None)


def test_zone_contains_and_holes():
    (plaza,) = counting_zones_from_text(collection(square_zone("plaza", 0, 0, 40, 40, 3)))
    assert plaza.contains(*at(20, 20))[0]
    assert not plaza.contains(*at(60, 20))[0]
    outer = square_zone("z", 0, 0, 40, 40, 1)
    outer["geometry"]["coordinates"].append(ring(10, 10, 30, 30))
    (zone,) = counting_zones_from_text(collection(outer))
    assert not zone.contains(*at(20, 20))[0]  # in the hole
    assert zone.contains(*at(5, 5))[0]
    lats, lons = zip(at(5, 5), at(20, 20), at(60, 20))
    assert zone.contains(list(lats), list(lons)).tolist() == [True, False, False]


def test_a_multipolygon_is_one_zone_of_several_parts():
    feature = {"type": "Feature", "id": "twin", "properties": {"name": "Twin squares", "capacity": 4},
               "geometry": {"type": "MultiPolygon", "coordinates": [[ring(0, 0, 10, 10)], [ring(50, 0, 60, 10)]]}}
    (zone,) = counting_zones_from_text(collection(feature))
    assert (zone.zone_id, zone.name, len(zone.parts)) == ("twin", "Twin squares", 2)
    assert zone.contains(*at(5, 5))[0] and zone.contains(*at(55, 5))[0] and not zone.contains(*at(30, 5))[0]


def test_a_patrol_zone_file_with_capacities_is_a_counting_file_too():
    home = {"type": "Feature", "properties": {"kind": "home"},
            "geometry": {"type": "Point", "coordinates": [ORIGIN[1], ORIGIN[0]]}}
    school = square_zone("school", 200, 200, 220, 220, None, kind="exclusion")
    zones = counting_zones_from_text(collection(square_zone("plaza", 0, 0, 40, 40, 3), home, school))
    assert [z.zone_id for z in zones] == ["plaza"]  # points and no-fly polygons are not counted


def test_kml_zones_carry_their_capacity():
    kml = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
 <Placemark id="plaza"><name>Plaza</name>
  <ExtendedData><Data name="capacity"><value>12</value></Data></ExtendedData>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>
   {" ".join(f"{lon},{lat}" for lon, lat in ring(0, 0, 40, 40))}
  </coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Document></kml>"""
    (zone,) = counting_zones_from_text(kml, "zones.kml")
    assert (zone.zone_id, zone.name, zone.capacity_persons) == ("plaza", "Plaza", 12)


@pytest.mark.parametrize("bad, message", [
    ({"type": "Feature"}, "no geometry"),
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"capacity": 1}}]},
     "a Point needs a kind"),
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}]},
     "Polygon without rings"),
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "p", "geometry": {"type": "Polygon", "coordinates": [ring(0, 0, 9, 9)]}}]},
     "zone 'p' has no 'capacity' property"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, -2)]}, "capacity must be a whole number"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, 2.5)]}, "capacity must be a whole number"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, 1), square_zone("p", 20, 0, 29, 9, 1)]},
     "id 'p' is used by another feature"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, 1, kind="fence")]}, "no zone polygon"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, 1, dwell_s=-5)]}, "dwell_s must be"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, 1, dwell_s="soon")]}, "dwell_s must be"),
    ({"type": "FeatureCollection", "features": [square_zone("p", 0, 0, 9, 9, 1, policy="ignore")]},
     "policy must be one of auto, approve, watch-only"),
])
def test_bad_zone_files_are_refused_saying_why(bad, message):
    with pytest.raises(ZoneError, match=message):
        counting_zones_from_text(json.dumps(bad))


def test_grid_cells_are_fixed_to_the_origin():
    p, q, r = at(10, 10), at(60, -10), at(-0.5, 149.9)
    e, n = GRID.cells_of([p[0], q[0], r[0]], [p[1], q[1], r[1]])
    assert list(zip(e.tolist(), n.tolist())) == [(0, 0), (1, -1), (-1, 2)]
