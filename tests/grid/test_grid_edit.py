"""The grid edited from the web map while the station runs (groundstation/shell/web_bridge.py save_grid over a real
Station with the fleet double and a real database): checked by the grid parser, in force at once (cells watched,
alerts routed, risk areas), recorded (the grid's units and officers, the audit with who asked), a bad file refused
with every problem and nothing changed."""
from __future__ import annotations

import json

import pytest

from groundstation.config import parse_config
from groundstation.shell import storage
from groundstation.shell.station import Station
from groundstation.shell.web_bridge import StationBridge
from tests.grid.city import geojson, unit, units
from tests.groundstation.fakes import FakeFleet
from web.errors import InvalidInput


@pytest.fixture
def served(tmp_path):
    grid = tmp_path / "grid.geojson"
    grid.write_text(geojson(units()))
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('webhook_secret = "0123456789abcdef-webhook"\n')
    config = parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
        "response": {"mode": "watch-only", "speech_engines": ["espeak-ng"], "speech_cache_dir": str(tmp_path / "speech")},
        "counting": {"cell_capacity_persons": 5},
        "grid": {"file": str(grid), "secrets_file": str(secrets),
                 "smtp": {"host": "127.0.0.1", "port": 2525, "sender": "skyguard@example.org", "security": "none"},
                 "sms": {"url": "http://127.0.0.1:9/sms"}},
    })
    station = Station(config, fleet_factory=FakeFleet).start()
    bridge = StationBridge(station, config)
    try:
        yield station, bridge, config
    finally:
        bridge.close()
        station.stop()


def officers(config) -> dict[str, str]:
    db = storage.open_database(config.station.storage_path)
    try:
        return {r["unit_id"]: r["officer_id"] for r in storage.grid_unit_rows(db)} | {
            r["officer_id"]: r["name"] for r in storage.officer_rows(db)}
    finally:
        db.close()


def test_an_officer_changed_on_the_map_is_in_force_and_recorded_at_once(served):
    station, bridge, config = served
    doc = bridge.grid_document()
    assert doc["editable"] and {f["id"] for f in doc["features"]} >= {"cell-a", "cell-b", "cell-e"}
    features = doc["features"]
    cell_a = next(f for f in features if f["id"] == "cell-a")
    cell_a["properties"] = {**{k: v for k, v in cell_a["properties"].items() if k not in ("webhook", "email", "sms")},
                            "officer": "Zhou Lei", "officer_id": "zhou-lei", "email": "zhou.lei@example.org"}
    answer = bridge.save_grid(json.dumps({"type": "FeatureCollection", "features": features}), "grid.geojson",
                              "web:ann")
    assert answer["outcome"]["status"] == "accepted"
    assert "unit cell-a officer Li Na -> Zhou Lei" in answer["outcome"]["reason"]
    assert station.flush()
    known = officers(config)
    assert known["zhou-lei"] == "Zhou Lei" and known[known["cell-a"]] == "Zhou Lei"
    (row,) = [r for r in bridge.records("commands", {}, 20) if r["action"] == "load_zones"]
    assert row["requested_by"] == "web:ann" and row["decision"] == "sent"
    stored = {f["id"]: f for f in json.loads(config.grid.file.read_text())["features"]}
    assert stored["cell-a"]["properties"]["officer"] == "Zhou Lei"


def test_a_cell_removed_is_no_longer_watched_and_a_bad_grid_is_refused_with_nothing_changed(served):
    station, bridge, config = served
    zones = {z["zone_id"] for z in station.view()["zones"]}
    assert {"grid:cell-a", "grid:cell-e"} <= zones
    fewer = [f for f in units() if f["id"] != "cell-e"]
    answer = bridge.save_grid(geojson(fewer), "grid.geojson", "web:ann")
    assert "unit cell-e removed" in answer["outcome"]["reason"]
    view = station.view()
    assert "grid:cell-e" not in {z["zone_id"] for z in view["zones"]}
    assert "cell-e" not in {a["area_id"] for a in view["risk"]["areas"]}
    assert "cell-e" not in {f["id"] for f in bridge.layout()["risk_areas"]["features"]}
    before = config.grid.file.read_text()
    overlapping = fewer + [unit("cell-x", "cell", (50, 0, 150, 100), "plaza-c", officer="Wu Fang",
                                email="wu.fang@example.org")]
    with pytest.raises(InvalidInput, match="overlap"):
        bridge.save_grid(geojson(overlapping), "grid.geojson", "web:ann")
    no_officer = [dict(f, properties={k: v for k, v in f["properties"].items() if k != "officer"}) for f in fewer]
    with pytest.raises(InvalidInput, match="officer"):
        bridge.save_grid(geojson(no_officer), "grid.geojson", "web:ann")
    assert config.grid.file.read_text() == before
    assert "grid:cell-a" in {z["zone_id"] for z in station.view()["zones"]}


def test_a_kml_grid_uploaded_is_stored_as_geojson_and_in_force(served):
    from tests.grid.city import kml

    station, bridge, config = served
    fewer = [f for f in units() if f["id"] != "cell-b"]
    answer = bridge.save_grid(kml(fewer), "grid.kml", "web:ann")
    assert answer["outcome"]["status"] == "accepted" and "unit cell-b removed" in answer["outcome"]["reason"]
    stored = json.loads(config.grid.file.read_text())
    assert stored["type"] == "FeatureCollection" and {f["id"] for f in stored["features"]} == {f["id"] for f in fewer}
    cell_a = next(f for f in stored["features"] if f["id"] == "cell-a")["properties"]
    assert (cell_a["level"], cell_a["parent"], cell_a["officer"]) == ("cell", "plaza-c", "Li Na")
    assert "grid:cell-b" not in {z["zone_id"] for z in station.view()["zones"]}
