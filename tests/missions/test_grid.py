"""The grid file: districts, streets, communities and cells with their officers, read from GeoJSON or KML, and every
mistake of a bad file reported with what is wrong."""
from __future__ import annotations

import copy

import pytest

from missions.errors import ZoneError
from missions.grid import GridError, address_problem, grid_from_text
from missions.zone import make_zone, ZoneKind
from missions.geo import GeoPoint
from tests.grid.city import at, geojson, kml, ring, unit, units


def test_a_grid_file_gives_each_unit_its_level_parent_officer_and_capacity():
    grid = grid_from_text(geojson(units()))
    assert [(u.unit_id, u.level, u.parent_id) for u in grid.units] == [
        ("duanzhou", "district", None), ("chengdong", "street", "duanzhou"), ("plaza-c", "community", "chengdong"),
        ("market-c", "community", "chengdong"), ("cell-a", "cell", "plaza-c"), ("cell-b", "cell", "plaza-c"),
        ("cell-e", "cell", "market-c")]
    a = grid.unit("cell-a")
    assert (a.name, a.capacity_persons, a.dwell_s, a.zone_id) == ("Cell A", 5, None, "grid:cell-a")
    assert a.officer.name == "Li Na" and a.officer.officer_id == "cell-a.officer"
    assert a.officer.channels == (("webhook", "https://hooks.example.org/li-na"), ("email", "li.na@example.org"))
    assert grid.unit("cell-b").dwell_s == 20.0
    assert grid.unit("duanzhou").officer.channels == (("email", "chen.hua@example.org"), ("sms", "+8613800138001"))


def test_one_officer_of_several_units_is_one_person():
    grid = grid_from_text(geojson(units()))
    assert grid.unit("cell-e").officer == grid.unit("market-c").officer
    assert [o.officer_id for o in grid.officers()].count("sun-li") == 1


def test_kml_gives_the_same_grid_as_geojson():
    assert grid_from_text(kml(units()), "grid.kml") == grid_from_text(geojson(units()), "grid.geojson")


def test_points_find_their_cell_and_the_chain_above_it():
    grid = grid_from_text(geojson(units()))
    assert grid.cell_at(*at(50, 50)).unit_id == "cell-a"
    assert grid.cell_at(*at(150, 199)).unit_id == "cell-b"
    assert grid.cell_at(*at(399, 1)).unit_id == "cell-e"
    assert grid.cell_at(*at(100, 50)).unit_id == "cell-a"  # a shared edge: the first cell of the file
    assert grid.cell_at(*at(450, 50)) is None
    assert [u.unit_id for u in grid.chain("cell-b")] == ["cell-b", "plaza-c", "chengdong", "duanzhou"]
    assert grid.cell_of_zone("grid:cell-e").unit_id == "cell-e"
    assert grid.cell_of_zone("grid:plaza-c") is None and grid.cell_of_zone("plaza") is None


def _parts(e0, n0, e1, n1):
    return (make_zone("z", ZoneKind.INCLUSION, tuple(GeoPoint(lat, lon) for lon, lat in ring(e0, n0, e1, n1)[:-1])),)


@pytest.mark.parametrize("box, expected", [
    ((20, 20, 60, 60), ("cell-a",)),  # inside one cell
    ((80, 20, 160, 60), ("cell-a", "cell-b")),  # across two
    ((390, 10, 450, 20), ("cell-e",)),  # partly outside the grid
    ((500, 10, 550, 20), ()),  # outside every cell
])
def test_a_zone_covers_the_cells_it_overlaps(box, expected):
    grid = grid_from_text(geojson(units()))
    assert grid.cells_covering(_parts(*box)) == expected


def test_cells_become_counting_zones_with_their_capacity_or_the_default():
    grid = grid_from_text(geojson(units()))
    assert [(z.zone_id, z.capacity_persons, z.dwell_s) for z in grid.counting_zones(None)] == [
        ("grid:cell-a", 5, None), ("grid:cell-b", 8, 20.0)]  # cell-e has no capacity and there is no default
    zones = grid.counting_zones(30)
    assert [(z.zone_id, z.capacity_persons) for z in zones][-1] == ("grid:cell-e", 30)
    assert zones[0].contains(*at(50, 50))[0] and not zones[0].contains(*at(150, 50))[0]


def _with(changes: dict[str, dict], drop: tuple[str, ...] = (), extra: tuple[dict, ...] = ()) -> str:
    features = [copy.deepcopy(f) for f in units() if f["id"] not in drop]
    for f in features:
        for key, value in changes.get(f["id"], {}).items():
            if value is None:
                f["properties"].pop(key, None)
            elif key == "geometry":
                f["geometry"] = value
            else:
                f["properties"][key] = value
    return geojson(features + list(extra))


def _box(*box):
    return {"type": "Polygon", "coordinates": [ring(*box)]}


@pytest.mark.parametrize("text, expected", [
    (_with({"cell-b": {"geometry": _box(90, 0, 200, 200)}}), "cells 'cell-a' and 'cell-b' overlap (2000 m²)"),
    (_with({"cell-b": {"geometry": _box(100, 0, 200, 260)}}),
     "unit 'cell-b': the cell lies outside its community 'plaza-c' (6000 m² of 26000 m² outside)"),
    (_with({"cell-a": {"officer": None}}), "unit 'cell-a': no officer"),
    (_with({"cell-b": {"email": None}}), "unit 'cell-b': officer 'Wang Fang' has no way to be reached"),
    (_with({"cell-a": {"parent": "old-town"}}), "unit 'cell-a': unknown parent 'old-town'"),
    (_with({"cell-a": {"parent": "chengdong"}}), "the parent of a cell must be a community; 'chengdong' is a street"),
    (_with({"cell-a": {"parent": None}}), "unit 'cell-a': a cell needs a parent (the id of its community)"),
    (_with({"duanzhou": {"parent": "cell-a"}}), "unit 'duanzhou': a district has no parent"),
    (_with({"cell-a": {"level": "block"}}), "unit 'cell-a': level 'block' is not one of district, street"),
    (_with({"cell-a": {"webhook": "ftp://hooks.example.org/x"}}),
     "officer 'Li Na': webhook 'ftp://hooks.example.org/x' is not an http:// or https:// URL"),
    (_with({"cell-a": {"email": "li.na at example.org"}}), "email 'li.na at example.org' is not an e-mail address"),
    (_with({"duanzhou": {"sms": "13800138001"}}), "sms '13800138001' is not a mobile number in E.164 form"),
    (_with({"cell-e": {"email": "sun.li@other.example.org"}}),
     "unit 'cell-e': officer_id 'sun-li' is given other contacts than in unit 'market-c'"),
    (_with({}, extra=(unit("cell-a", "cell", (0, 0, 10, 10), "plaza-c", officer="X", email="x@example.org"),)),
     "unit 'cell-a': id used by another unit of the file"),
    (_with({"cell-a": {"capacity": -3}}), "capacity must be a whole number of people >= 0"),
    (_with({}, drop=("cell-a", "cell-b", "cell-e")), "the grid file holds no cell"),
    (_with({"cell-a": {"geometry": {"type": "Point", "coordinates": [112.4651, 23.0469]}}}),
     "unit 'cell-a': its geometry must be a Polygon or MultiPolygon, got 'Point'"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"level": "cell"}, '
     '"geometry": null}]}', "feature 0: no id"),
    ("", "the grid file is empty"),
    ("{not json", "the grid file is not valid JSON"),
    ('{"type": "Polygon", "coordinates": []}', "not a GeoJSON FeatureCollection"),
    ("<kml><Document><Placemark", "not valid KML/XML"),
])
def test_a_bad_grid_file_is_refused_saying_what_is_wrong(text, expected):
    with pytest.raises(GridError) as caught:
        grid_from_text(text)
    assert any(expected in p for p in caught.value.problems), caught.value.problems
    assert isinstance(caught.value, ZoneError)


def test_every_mistake_of_a_file_is_reported_at_once():
    text = _with({"cell-a": {"officer": None}, "cell-b": {"parent": "nowhere"},
                  "duanzhou": {"sms": "12345"}})
    with pytest.raises(GridError) as caught:
        grid_from_text(text)
    assert len(caught.value.problems) == 3, caught.value.problems


def test_a_unit_that_cannot_be_read_is_reported_once_not_again_by_its_children():
    text = _with({"plaza-c": {"geometry": {"type": "Polygon", "coordinates": [
        [[112.4651, 23.0469], [112.4660, 23.0478], [112.4660, 23.0469], [112.4651, 23.0478], [112.4651, 23.0469]]]}}})
    with pytest.raises(GridError) as caught:
        grid_from_text(text)
    assert len(caught.value.problems) == 1 and "intersects itself" in caught.value.problems[0]


def test_a_kml_grid_is_checked_like_a_geojson_one():
    features = units()
    features[5]["geometry"] = _box(90, 0, 200, 200)
    with pytest.raises(GridError, match="cells 'cell-a' and 'cell-b' overlap"):
        grid_from_text(kml(features), "grid.kml")


@pytest.mark.parametrize("channel, address, ok", [
    ("webhook", "https://ops.example.org/hook?x=1", True), ("webhook", "http://127.0.0.1:8080/h", True),
    ("webhook", "https:///nohost", False), ("webhook", "https://a b.org/", False),
    ("email", "li.na+grid@sub.example.org", True), ("email", "li.na@localhost", False),
    ("email", "@example.org", False),
    ("sms", "+8613800138000", True), ("sms", "+0613800138000", False), ("sms", "+86 138 0013 8000", False),
])
def test_addresses_are_checked_per_channel(channel, address, ok):
    assert (address_problem(channel, address) is None) is ok
