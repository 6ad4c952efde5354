"""The station port over loopback (groundstation/shell/remote_port.py) with web/fakes.py's station behind it: every
StationPort and UserStore call crosses as on the in-process port (records, outcomes, refusals as the same errors),
only the token's holder is served, the token file is private, and the feed follower continues after a reconnect
with no gap. The web map served over it: test_remote_web.py (real station, web process killed and restarted)."""
from __future__ import annotations

import os
import threading

import pytest
import requests

from groundstation.shell.remote_port import PortEndpoint, PortError, RemotePort, RemoteUsers, load_token
from tests.waiting import wait_for
from tests.web.conftest import PASSWORD, ROLES
from web.errors import Conflict, InvalidInput, NotFound, StationUnavailable
from web.fakes import FakeStation, MemoryUsers
from web.port import Acknowledgement, Outcome, ScheduleRequest
from web.server import WebServer
from web.settings import ServerSettings

TOKEN = "a-test-token-long-enough-to-use"


@pytest.fixture
def endpoint():
    station, users = FakeStation(capacity=100_000), MemoryUsers()
    ep = PortEndpoint(station, users, TOKEN).start()
    yield ep, station, users
    ep.stop()


def test_the_ports_calls_cross_with_their_records_and_refusals(endpoint):
    ep, station, users = endpoint
    port, remote_users = RemotePort(ep.url, TOKEN), RemoteUsers(ep.url, TOKEN)
    station.publish("alert", {"alert_id": "a1", "at_s": 1.0, "kind": "crowd", "text": "crowd"})
    assert port.view()["seq"] == 1 and set(port.view()["vehicles"]) == {"v1", "v2"}
    assert port.since(0)[0]["data"]["alert_id"] == "a1" and port.since(5) == []
    outcome = port.command("v1", "rtl", {}, "web:olga", 5.0)
    assert isinstance(outcome, Outcome) and outcome.status == "accepted"
    assert station.commands[-1]["requested_by"] == "web:olga"
    station.notice_links[("a1@cell-a", "cell-a.officer")] = "link-token"
    acked = port.acknowledge_notice("a1@cell-a", "cell-a.officer", "link-token", "on my way", 5.0)
    assert isinstance(acked, Outcome) and acked.status == "accepted" and acked.action == "acknowledge_notice"
    assert port.acknowledge_notice("a1@cell-a", "cell-a.officer", "forged", "", 5.0).status == "refused_by_station"
    assert port.records("alerts", {}, 10)[0]["alert_id"] == "a1"
    ack = port.acknowledge(Acknowledgement("a1", "olga", 2.0, "seen"))
    assert ack == Acknowledgement("a1", "olga", 2.0, "seen") and port.acknowledgements() == [ack]
    with pytest.raises(NotFound, match="no alert 'nope'"):
        port.acknowledge(Acknowledgement("nope", "olga", 2.0))
    zone = {"type": "FeatureCollection", "features": []}
    schedule = port.add_schedule(ScheduleRequest("night", zone, "lawnmower", 30.0, interval_s=600.0), 5.0)
    assert port.schedules(5.0) == [schedule]
    with pytest.raises(Conflict):
        port.add_schedule(ScheduleRequest("night", zone, "lawnmower", 30.0, interval_s=600.0), 5.0)
    with pytest.raises(InvalidInput):
        port.add_schedule(ScheduleRequest("bad", {"type": "Point"}, "lawnmower", 30.0, interval_s=600.0), 5.0)
    assert port.zones_document()["features"][0]["id"] == "plaza"
    station.tile_set[(3, 1, 2)] = b"\x89PNG"
    assert port.tiles()["format"] == "png" and port.tile(3, 1, 2) == b"\x89PNG" and port.tile(3, 1, 1) is None
    station.snapshots["resp-1:crowd:1"] = b"\xff\xd8jpeg"
    assert port.snapshot("resp-1:crowd:1") == b"\xff\xd8jpeg" and port.snapshot("nope") is None
    user = remote_users.add("olga", "operator", "$argon2id$hash", 1.0)
    assert remote_users.get("olga") == user and remote_users.all() == [user] and remote_users.get("nobody") is None
    with pytest.raises(Conflict):
        remote_users.add("olga", "viewer", "h", 2.0)
    remote_users.remove("olga")
    with pytest.raises(NotFound):
        remote_users.remove("olga")


def test_only_the_tokens_holder_is_served(endpoint):
    ep, _, _ = endpoint
    with pytest.raises(StationUnavailable, match="token"):
        RemotePort(ep.url, "a-wrong-token-of-the-same-size").view()
    assert requests.post(ep.url + "port/view", json={"args": []}, timeout=5).status_code == 401
    assert requests.get(ep.url + "feed", timeout=5).status_code == 401
    with pytest.raises(PortError, match="loopback"):
        PortEndpoint(FakeStation(), MemoryUsers(), TOKEN, host="0.0.0.0")


def test_an_unknown_method_is_not_found_and_a_station_away_is_unavailable(endpoint):
    ep, _, _ = endpoint
    r = requests.post(ep.url + "port/stop", json={"args": []}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    port = RemotePort(ep.url, TOKEN)
    ep.stop()
    with pytest.raises(StationUnavailable, match="does not answer"):
        port.view()


def test_the_token_file_is_made_private_and_a_readable_one_is_refused(tmp_path):
    path = tmp_path / "var" / "station-port.token"
    with pytest.raises(PortError, match="no station port token"):
        load_token(path)
    token = load_token(path, create=True)
    assert len(token) >= 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_token(path) == token and load_token(path, create=True) == token
    os.chmod(path, 0o644)
    with pytest.raises(PortError, match="chmod 600"):
        load_token(path)


def test_the_feed_follower_continues_after_a_reconnect_with_no_gap_and_no_duplicate(endpoint):
    ep, station, users = endpoint
    got: list[int] = []
    lock = threading.Lock()

    def on_item(item):
        with lock:
            got.append(item["seq"])

    for _ in range(3):
        station.publish("vehicle", {"vehicle_id": "v1"})  # before the subscription: not passed on
    port = RemotePort(ep.url, TOKEN, reconnect_max_s=0.2)
    unsubscribe = port.subscribe(on_item)
    try:
        for _ in range(50):
            station.publish("vehicle", {"vehicle_id": "v1"})
        wait_for(lambda: len(got) >= 50, 10, "fifty items")
        bound = ep.bound
        ep.stop()  # the station's port goes away (its feed is closed) while the station publishes on
        for _ in range(20):
            station.publish("vehicle", {"vehicle_id": "v2"})
        again = PortEndpoint(station, users, TOKEN, host=bound[0], port_number=bound[1]).start()
        try:
            for _ in range(30):
                station.publish("vehicle", {"vehicle_id": "v1"})
            wait_for(lambda: len(got) >= 100, 20, "every item after the reconnect")
        finally:
            again.stop()
    finally:
        unsubscribe()
    assert got == list(range(4, 104))


def test_the_web_map_served_over_the_port_reaches_the_station_with_the_users_name(endpoint, passwords):
    ep, station, users = endpoint
    for role in ROLES:
        users.add(role, role, passwords.hash(PASSWORD), 0.0)
    server = WebServer(RemotePort(ep.url, TOKEN), RemoteUsers(ep.url, TOKEN),
                       ServerSettings(secret_key=b"r" * 32, port=0), passwords=passwords).start()
    try:
        session = requests.Session()
        r = session.post(server.url + "api/session", json={"name": "operator", "password": PASSWORD}, timeout=10)
        assert r.status_code == 200
        session.headers["X-CSRFToken"] = r.json()["csrf_token"]
        assert set(session.get(server.url + "api/state", timeout=10).json()["vehicles"]) == {"v1", "v2"}
        r = session.post(server.url + "api/vehicles/v2/commands", json={"action": "land"}, timeout=10)
        assert r.status_code == 200 and r.json()["outcome"]["status"] == "accepted"
        assert station.commands[-1]["requested_by"] == "web:operator"
        assert session.post(server.url + "api/alerts/nope/ack", json={}, timeout=10).status_code == 404
    finally:
        server.stop()


def test_the_web_command_refuses_to_run_without_the_stations_token(tmp_path, caplog):
    from groundstation.cli import build_parser
    from groundstation.cli.web import serve

    def web(*argv: str) -> int:  # serve() itself: run() would take over the test process's signal handlers
        return serve(build_parser().parse_args(["web", *argv]), threading.Event())

    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nstorage_path = "{tmp_path / "station.sqlite"}"\n\n'
                      '[[vehicles]]\nid = "v1"\nurl = "tcp:127.0.0.1:5760"\n')
    assert web("--station", "http://127.0.0.1:9/", "--config", str(config), "--wait-s", "0") == 1
    assert any("station-port.token" in r.getMessage() for r in caplog.records)
    assert web("--station", "http://127.0.0.1:9/", "--config", str(tmp_path / "none.toml")) == 2
