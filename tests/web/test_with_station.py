"""The web map against the real station (groundstation/shell/web_bridge.py) and two simulated vehicles over real
MAVLink: roles refused on the server leave no trace in the audit trail, an operator's RTL is in it with the user's
name, live updates continue the state without a gap, alert acknowledgements and users live in the station database,
an admin's schedule is planned and checked by the station's own code."""
from __future__ import annotations

import io
import json

import pytest
import requests
import socketio

from groundstation.cli import main as cli_main
from groundstation.config import parse_config
from groundstation.core.response_data import AlertRow
from groundstation.shell import storage
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from groundstation.shell.web_bridge import StationWeb
from tests.patrols.helpers import FENCE, ZONE
from tests.waiting import wait_for
from tests.web.conftest import PASSWORD, ROLES

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path, sim, passwords):
    config = parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": f"v{i + 1}", "url": url} for i, url in enumerate(sim.urls)],
        "geofence": {"inclusion": FENCE},
        "web": {"port": 0},
    })
    station = Station(config).start()
    web = StationWeb(station, config, passwords=passwords).start()
    for role in ROLES:
        web.users.add(role, role, passwords.hash(PASSWORD), 0.0)
    wait_for(lambda: all(v.link_up for v in station.snapshot().values()) and len(station.snapshot()) == 2, 60,
             "both links up")
    try:
        yield station, web, config
    finally:
        web.stop()
        station.stop()


def login(url: str, role: str) -> requests.Session:
    s = requests.Session()
    r = s.post(url + "api/session", json={"name": role, "password": PASSWORD}, timeout=10)
    r.raise_for_status()
    s.headers["X-CSRFToken"] = r.json()["csrf_token"]
    return s


def test_a_viewers_command_is_refused_unrecorded_and_an_operators_is_audited_with_the_name(served):
    station, web, config = served
    viewer, operator = login(web.url, "viewer"), login(web.url, "operator")
    r = viewer.post(web.url + "api/vehicles/v1/commands", json={"action": "rtl"}, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert requests.post(web.url + "api/vehicles/v1/commands", json={"action": "rtl"}, timeout=10).status_code == 401
    r = operator.post(web.url + "api/vehicles/v1/commands", json={"action": "rtl"}, timeout=60)
    assert r.status_code == 200
    outcome = r.json()["outcome"]
    assert station.flush()
    with StorageReader(config.station.storage_path) as db:
        commands = db.commands(limit=1000)
    assert [c["requested_by"] for c in commands if c["requested_by"].startswith("web:")] == ["web:operator"]
    (row,) = [c for c in commands if c["requested_by"] == "web:operator"]
    assert row["action"] == "rtl" and row["vehicle_id"] == "v1" and row["request_id"] == outcome["request_id"]
    assert row["status"] == outcome["status"], (row, outcome)
    audit = viewer.get(web.url + "api/audit?vehicle_id=v1", timeout=10).json()
    assert audit[0]["request_id"] == outcome["request_id"]


def test_the_live_updates_continue_the_state_without_a_gap(served):
    station, web, _ = served
    session = login(web.url, "viewer")
    state = session.get(web.url + "api/state", timeout=10).json()
    assert set(state["vehicles"]) == {"v1", "v2"} and state["vehicles"]["v1"]["link_up"]
    batches: list[dict] = []
    client = socketio.Client(reconnection=False)
    client.on("batch", batches.append)
    client.connect(web.url, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())},
                   transports=["websocket"], wait_timeout=10)
    try:
        client.call("join", {"seq": state["seq"]}, timeout=10)
        wait_for(lambda: sum(len(b["items"]) for b in batches) >= 50, 30, "fifty live items")
    finally:
        client.disconnect()
    seqs = [item["seq"] for b in batches for item in b["items"]]
    assert seqs == list(range(state["seq"] + 1, state["seq"] + 1 + len(seqs)))
    assert {item["kind"] for b in batches for item in b["items"]} >= {"vehicle"}


def test_an_alert_acknowledgement_is_recorded_in_the_station_database(served):
    station, web, config = served
    conn = storage.open_database(config.station.storage_path)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            storage.write_row(conn, AlertRow("alert-1", 1.0, "crowd", "warning", "crowd over capacity", "plaza"))
    finally:
        conn.close()
    operator = login(web.url, "operator")
    assert operator.post(web.url + "api/alerts/nope/ack", json={}, timeout=10).status_code == 404
    r = operator.post(web.url + "api/alerts/alert-1/ack", json={"note": "officer on the way"}, timeout=10)
    assert r.status_code == 200
    conn = storage.open_database(config.station.storage_path)
    try:
        (ack,) = storage.alert_ack_rows(conn)
    finally:
        conn.close()
    assert (ack["alert_id"], ack["acked_by"], ack["note"]) == ("alert-1", "operator", "officer on the way")
    (alert,) = login(web.url, "viewer").get(web.url + "api/alerts", timeout=10).json()["alerts"]
    assert alert["ack"]["by"] == "operator"


def test_a_user_added_with_the_cli_logs_in_and_a_removed_one_is_logged_out(served, monkeypatch):
    station, web, config = served
    db = str(config.station.storage_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("a secret long enough\n"))
    assert cli_main(["user", "add", "--db", db, "--role", "operator", "olga", "--password-stdin"]) == 0
    olga = requests.Session()
    r = olga.post(web.url + "api/session", json={"name": "olga", "password": "a secret long enough"}, timeout=10)
    assert r.status_code == 200 and r.json()["role"] == "operator"
    assert cli_main(["user", "remove", "--db", db, "olga"]) == 0
    assert olga.get(web.url + "api/state", timeout=10).status_code == 401


def test_an_admins_schedule_is_planned_and_checked_by_the_station(served, tmp_path):
    station, web, config = served
    admin = login(web.url, "admin")
    body = {"name": "plaza-web", "zone": ZONE, "zone_name": "plaza", "pattern": "lawnmower", "alt_m": 20,
            "interval_s": 900}
    r = admin.post(web.url + "api/schedules", json=body, timeout=30)
    assert r.status_code == 200, r.json()
    stored = r.json()["schedule"]
    assert stored["plan"]["waypoints"] > 2
    too_high = admin.post(web.url + "api/schedules", json={**body, "name": "too-high", "alt_m": 400}, timeout=30)
    assert too_high.status_code == 400 and "plan refused" in too_high.json()["message"]
    listed = admin.get(web.url + "api/schedules", timeout=10).json()
    assert [s["name"] for s in listed] == ["plaza-web"] and listed[0]["next_fire_s"] is not None
    assert admin.delete(web.url + f"api/schedules/{stored['schedule_id']}", timeout=10).status_code == 200
    assert admin.get(web.url + "api/schedules", timeout=10).json() == []
    assert json.loads(json.dumps(listed))  # JSON all the way
    assert station.flush()
    audit = admin.get(web.url + "api/audit", timeout=10).json()
    changes = [(r["action"], r["requested_by"]) for r in audit if r["action"].endswith("_schedule")]
    assert sorted(changes) == [("add_schedule", "web:admin"), ("remove_schedule", "web:admin")]


def test_an_operator_starts_a_patrol_now_and_broadcasts_now_through_the_stations_checks(served):
    station, web, config = served
    admin, operator = login(web.url, "admin"), login(web.url, "operator")
    body = {"name": "plaza-now", "zone": ZONE, "zone_name": "plaza", "pattern": "lawnmower", "alt_m": 20,
            "interval_s": 3600}
    assert admin.post(web.url + "api/schedules", json=body, timeout=30).status_code == 200
    station.tick()  # the station reads the new schedule
    refused = operator.post(web.url + "api/schedules/nothing-like-it/start", json={}, timeout=60).json()["outcome"]
    assert refused["status"] == "refused_by_station" and "no patrol schedule" in refused["reason"]
    wait_for(lambda: all(s.ready_to_arm and s.home for s in station.snapshot().values()), 90, "both vehicles ready")
    r = operator.post(web.url + "api/schedules/plaza-now/start", json={"vehicle_id": "v2"}, timeout=60)
    assert r.status_code == 200
    started = r.json()["outcome"]
    assert started["status"] == "accepted" and "launching on v2" in started["reason"], started
    said = operator.post(web.url + "api/vehicles/v1/broadcast", json={"messages": {"en": "keep your distance"}},
                         timeout=60).json()["outcome"]
    assert said["status"] == "accepted" and "keep your distance" in said["reason"]
    assert station.flush()
    with StorageReader(config.station.storage_path) as db:
        asked = [(c["action"], c["vehicle_id"], c["decision"]) for c in db.commands(limit=1000)
                 if c["requested_by"] == "web:operator"]
        wait_for(lambda: station.flush() and db.broadcasts(), 30, "the broadcast recorded")
        (broadcast,) = db.broadcasts()
    assert ("start_patrol", "", "refused") in asked and ("broadcast", "v1", "sent") in asked
    assert any(a[0] == "start_patrol" and a[2] != "refused" for a in asked), asked
    assert broadcast["vehicle_id"] == "v1" and broadcast["text"] == "keep your distance"
