"""groundstation/shell/web_bridge.py over a real Station with the in-memory fleet double: the map's layout (zones as
GeoJSON, geofence, grid lines), grid cells with their bounds, every record kind the API offers, the users table."""
from __future__ import annotations

import json
import time

import pytest

from groundstation.config import parse_config
from groundstation.core.crowds import VisionObserved
from groundstation.shell.station import Station
from groundstation.shell.web_bridge import DatabaseUsers, StationBridge
from tests.groundstation.fakes import FakeFleet
from tests.patrols.helpers import FENCE, ZONE
from tests.waiting import wait_for
from vision.records import FrameResult, PersonOnGround
from web.errors import Conflict, InvalidInput, NotFound
from web.port import RECORD_KINDS

PERSON = (23.0474, 112.4658)  # inside the plaza


@pytest.fixture
def station(tmp_path):
    zones = tmp_path / "zones.geojson"
    feature = dict(ZONE["features"][0], id="plaza", properties={"name": "plaza", "capacity": 5})
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    config = parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "v1", "url": "tcp:127.0.0.1:5760"}],
        "geofence": {"inclusion": FENCE},
        "counting": {"zones_file": str(zones), "grid_origin": [23.0400, 112.4580], "grid_cell_m": 50.0},
    })
    s = Station(config, fleet_factory=FakeFleet).start()
    yield s, config
    s.stop()


def test_the_layout_has_the_zones_fence_and_grid(station):
    s, config = station
    layout = StationBridge(s, config).layout()
    (zone,) = layout["zones"]["features"]
    assert zone["properties"] == {"zone_id": "plaza", "name": "plaza", "capacity_persons": 5}
    ring = zone["geometry"]["coordinates"][0][0]
    assert ring[0] == ring[-1] and [112.4654, 23.0472] in ring
    assert [list(p) for p in layout["geofence"]["inclusion"]] == FENCE
    grid = layout["grid"]
    assert grid["cell_m"] == 50.0 and grid["origin"] == [23.04, 112.458]
    assert 20 < len(grid["lines"]) <= 400  # a 1.4 km fence in 50 m cells
    assert layout["centre"] and layout["vehicles"] == ["v1"]


def test_a_counted_cell_comes_with_its_bounds(station):
    s, config = station
    bridge = StationBridge(s, config)
    now = time.time()
    s.observe(VisionObserved("cam", FrameResult("cam", 0, now, (), 1, 1, "test",
                                                people=(PersonOnGround(*PERSON, 1.0, 0.9, "v1", now, track_id=1),))))
    (cell,) = wait_for(lambda: bridge.view()["cells"], 10, "a counted cell")
    (south, west), (north, east) = cell["bounds"]
    assert south <= PERSON[0] <= north and west <= PERSON[1] <= east
    assert north - south == pytest.approx(50.0 / 111_000, rel=0.02)


@pytest.mark.parametrize("kind", list(RECORD_KINDS))
def test_every_record_kind_of_the_api_can_be_read_and_filtered(station, kind):
    s, config = station
    assert s.flush()
    bridge = StationBridge(s, config)
    assert isinstance(bridge.records(kind, {}, 10), list)
    assert bridge.records(kind, {f: "nothing" for f in RECORD_KINDS[kind]}, 10) == []
    bridge.close()


def test_users_live_in_the_station_database(station):
    s, config = station
    users = DatabaseUsers(config.station.storage_path)
    users.add("ann", "admin", "$argon2id$hash", 1.0)
    assert users.get("ann").role == "admin" and [u.name for u in users.all()] == ["ann"]
    with pytest.raises(Conflict):
        users.add("ann", "viewer", "h", 2.0)
    users.remove("ann")
    with pytest.raises(NotFound):
        users.remove("ann")
    assert users.get("ann") is None
    users.close()


MARKET = {"type": "Feature", "id": "market", "properties": {"name": "market", "capacity": 40, "policy": "approve"},
          "geometry": {"type": "Polygon", "coordinates": [[[112.466, 23.047], [112.467, 23.047],
                                                           [112.467, 23.048], [112.466, 23.047]]]}}


def test_the_zones_file_is_edited_checked_by_the_stations_parser_and_kept_with_a_backup(station):
    s, config = station
    bridge = StationBridge(s, config)
    doc = bridge.zones_document()
    assert doc["editable"] and [f["id"] for f in doc["features"]] == ["plaza"]
    before = config.counting.zones_file.read_text()
    answer = bridge.save_zones({"type": "FeatureCollection", "features": doc["features"] + [MARKET]}, "web:ann")
    assert answer["zones"] == 2 and answer["applied"] is True and "counts them now" in answer["message"]
    assert [z.zone_id for z in config.counting.zones()] == ["plaza", "market"], "the station's own parser reads it"
    assert json.loads(config.counting.zones_file.read_text())["features"][1]["properties"]["policy"] == "approve"
    assert config.counting.zones_file.with_name("zones.geojson.bak").read_text() == before
    assert [f["id"] for f in bridge.layout()["zones"]["features"]] == ["plaza", "market"]
    saved = config.counting.zones_file.read_text()
    no_capacity = {**MARKET, "properties": {"name": "market"}}
    with pytest.raises(InvalidInput, match="capacity"):
        bridge.save_zones({"type": "FeatureCollection", "features": [no_capacity]}, "web:ann")
    with pytest.raises(InvalidInput, match="policy"):
        bridge.save_zones({"type": "FeatureCollection", "features": [
            {**MARKET, "properties": {"name": "m", "capacity": 3, "policy": "ignore"}}]}, "web:ann")
    assert config.counting.zones_file.read_text() == saved, "nothing stored when refused"


def test_edited_zones_are_counted_at_once_and_recorded_with_the_admin_who_asked(station):
    s, config = station
    bridge = StationBridge(s, config)
    plaza = dict(bridge.zones_document()["features"][0])
    plaza["properties"] = {**plaza["properties"], "capacity": 2, "policy": "watch-only"}
    answer = bridge.save_zones({"type": "FeatureCollection", "features": [plaza, MARKET]}, "web:ann")
    reason = answer["outcome"]["reason"]
    assert answer["outcome"]["status"] == "accepted"
    assert "added market" in reason and "plaza capacity 5 -> 2" in reason and "plaza policy auto -> watch-only" in reason
    zones = {z["zone_id"]: z for z in bridge.view()["zones"]}
    assert set(zones) == {"plaza", "market"} and zones["plaza"]["capacity_persons"] == 2
    assert s.flush()
    (row,) = [r for r in bridge.records("commands", {}, 10) if r["action"] == "load_zones"]
    assert row["requested_by"] == "web:ann" and [z["id"] for z in row["params"]["zones"]] == ["plaza", "market"]
    answer = bridge.save_zones({"type": "FeatureCollection", "features": [plaza]}, "web:bo")
    assert "removed market" in answer["outcome"]["reason"]
    assert [z["zone_id"] for z in bridge.view()["zones"]] == ["plaza"]


def test_removing_a_zone_with_a_gathering_is_refused_and_the_previous_zones_stay(station, tmp_path):
    s, config = station
    s.stop()
    config = config.model_copy(update={"counting": config.counting.model_copy(update={"hold_s": 0.0})})
    s = Station(config, fleet_factory=FakeFleet).start()
    try:
        bridge = StationBridge(s, config)
        now = time.time()
        people = tuple(PersonOnGround(PERSON[0] + i * 0.00004, PERSON[1], 0.5, 0.95, "v1", now, track_id=i)
                       for i in range(12))
        s.observe(VisionObserved("cam", FrameResult("cam", 0, now, (), 12, 12, "test", people=people)))
        wait_for(lambda: any(z["gathering_id"] for z in bridge.view()["zones"]), 10, "a gathering in the plaza")
        before = config.counting.zones_file.read_text()
        with pytest.raises(Conflict, match="plaza: gathering in progress"):
            bridge.save_zones({"type": "FeatureCollection", "features": [MARKET]}, "web:ann")
        assert config.counting.zones_file.read_text() == before, "the previous zones file is put back"
        assert [z["zone_id"] for z in bridge.view()["zones"]] == ["plaza"]
        assert s.flush()
        (row,) = [r for r in bridge.records("commands", {}, 10) if r["action"] == "load_zones"]
        assert row["decision"] == "refused" and row["requested_by"] == "web:ann"
    finally:
        s.stop()


def test_kml_zones_are_read_but_not_edited_and_an_uploaded_kml_becomes_geojson(station, tmp_path):
    s, config = station
    kml = tmp_path / "zones.kml"
    kml.write_text(KML)
    kml_config = config.model_copy(update={"counting": config.counting.model_copy(update={"zones_file": kml})})
    bridge = StationBridge(s, kml_config)
    doc = bridge.zones_document()
    assert not doc["editable"] and "KML" in doc["why"]
    (feature,) = doc["features"]
    assert feature["properties"] == {"name": "square", "capacity": 12}
    assert feature["geometry"]["type"] == "MultiPolygon"
    with pytest.raises(Conflict, match="KML"):
        bridge.save_zones(doc)
    assert StationBridge(s, config).parse_zones(KML, "upload.kml")["features"][0]["id"] == feature["id"]
    with pytest.raises(InvalidInput, match="upload.kml"):
        bridge.parse_zones("<kml>", "upload.kml")


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>square</name>
<ExtendedData><Data name="capacity"><value>12</value></Data></ExtendedData>
<Polygon><outerBoundaryIs><LinearRing><coordinates>112.4654,23.0472 112.4662,23.0472 112.4662,23.0477 112.4654,23.0472
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>"""


def make_mbtiles(path, tiles: dict, metadata: dict) -> None:
    """A small MBTiles file (the format's two tables; rows numbered from the south, TMS)."""
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", metadata.items())
        conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", [(z, x, row, data) for (z, x, row), data in tiles.items()])
    conn.close()


def test_mbtiles_tiles_are_handed_over_in_xyz_numbering(station, tmp_path):
    s, config = station
    path = tmp_path / "city.mbtiles"
    make_mbtiles(path, {(2, 1, 2): b"\x89PNG z2", (16, 53000, 28000): b"\x89PNG z16"},
                 {"format": "png", "minzoom": "2", "maxzoom": "16", "bounds": "112.4,23.0,112.5,23.1",
                  "attribution": "survey office"})
    bridge = StationBridge(s, config, mbtiles=path)
    assert bridge.tiles() == {"format": "png", "media_type": "image/png", "min_zoom": 2, "max_zoom": 16,
                              "attribution": "survey office", "bounds": [[23.0, 112.4], [23.1, 112.5]], "name": "city"}
    assert bridge.tile(2, 1, 1) == b"\x89PNG z2", "TMS row 2 at zoom 2 is XYZ row 1"
    assert bridge.tile(16, 53000, (1 << 16) - 1 - 28000) == b"\x89PNG z16"
    assert bridge.tile(2, 1, 2) is None
    bridge.close()
    assert StationBridge(s, config).tiles() is None, "no MBTiles: no tiles"
    configured = config.model_copy(update={"web": config.web.model_copy(update={"tiles_mbtiles": path})})
    from_config = StationBridge(s, configured)
    assert from_config.tiles()["name"] == "city" and from_config.tile(2, 1, 1) == b"\x89PNG z2", "[web] tiles_mbtiles"
    from_config.close()
    vector = tmp_path / "vector.mbtiles"
    make_mbtiles(vector, {}, {"format": "pbf"})
    assert StationBridge(s, config, mbtiles=vector).tiles() is None, "vector tiles are not for this map"
    assert StationBridge(s, config, mbtiles=tmp_path / "missing.mbtiles").tiles() is None


def test_video_sources_are_the_workers_addresses_with_their_vehicles(station):
    s, config = station

    class WithVideo:
        def __getattr__(self, name):
            return getattr(s, name)

        def video_sources(self):
            return {"cam-v1": "http://127.0.0.1:4000/t/stream.mjpeg", "cam-gone": None}

    cam_config = config.model_copy(update={"cameras": []})
    assert StationBridge(s, cam_config).video_sources() == [], "a station without video offers none"
    (source,) = StationBridge(WithVideo(), cam_config).video_sources()
    assert source == {"stream_id": "cam-v1", "vehicle_id": "", "url": "http://127.0.0.1:4000/t/stream.mjpeg"}


def test_a_period_is_replayed_from_the_database_and_the_tracks_flown_in_the_tlogs(station, tmp_path):
    from tests.telemetry.test_tlog_tracks import fly

    s, config = station
    tlogs = tmp_path / "tlogs"
    now = time.time()
    fly(tlogs, "v1", now - 60.0, 30.0)
    people = tuple(PersonOnGround(PERSON[0] + i * 0.00004, PERSON[1], 0.5, 0.95, "v1", now, track_id=i)
                   for i in range(3))
    s.observe(VisionObserved("cam", FrameResult("cam", 0, now, (), 3, 3, "test", people=people)))
    bridge = StationBridge(s, config.model_copy(update={"station": config.station.model_copy(
        update={"tlog_dir": tlogs})}))
    wait_for(lambda: s.flush() and bridge.replay(now - 120.0, now + 60.0)["zone_counts"], 10, "a zone count recorded")
    got = bridge.replay(now - 120.0, now + 60.0)
    assert got["tracks_note"] is None and list(got["tracks"]) == ["v1"]
    track = got["tracks"]["v1"]
    assert 29 <= len(track) <= 30 and track[0][0] == pytest.approx(now - 60.0, abs=0.01)
    assert {c["zone_id"] for c in got["zone_counts"]} == {"plaza"} and got["zone_counts"][-1]["count"] == 3
    assert bridge.replay(now - 7200.0, now - 3600.0)["tracks"] == {}, "nothing flown then"
    without = StationBridge(s, config).replay(now - 120.0, now + 60.0)
    assert without["tracks"] == {} and "tlog_dir" in without["tracks_note"]
