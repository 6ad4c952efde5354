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
from web.errors import Conflict, NotFound
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
