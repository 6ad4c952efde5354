"""The flight-test command: its steps go through the station's checked, audited command path (requested by
"flight-test"), against a scripted peer (refusal of a real vehicle) and the simulator (a full flight, a step the
station refuses, and the real CLI with --json)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from groundstation.config import parse_config
from groundstation.shell.flighttest import FlightPlan, FlightTest, distance_m, offset_deg
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from sim.fleet import SimFleet
from tests.telemetry.peer import ScriptedVehicle
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "groundstation"]
STEPS = ["connect", "identify", "wait ready", "guided", "arm", "takeoff", "fly 100 m", "upload mission",
         "read back mission", "auto mission", "rtl", "land", "disarm"]


def station_for(tmp_path: Path, url: str, **extra) -> Station:
    return Station(parse_config({
        "station": {"storage_path": str(tmp_path / "ft.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "ft", "url": url}],
        **extra,
    }))


def audit(tmp_path: Path) -> list[dict]:
    with StorageReader(tmp_path / "ft.sqlite") as r:
        return r.commands(limit=1000)[::-1]


def test_offset_and_distance():
    lat, lon = offset_deg(23.0469, 112.4651, 100.0, 0.0)
    assert distance_m(23.0469, 112.4651, lat, lon) == pytest.approx(100.0, rel=1e-3)
    lat, lon = offset_deg(23.0469, 112.4651, -30.0, 40.0)
    assert distance_m(23.0469, 112.4651, lat, lon) == pytest.approx(50.0, rel=1e-3)


@pytest.mark.slow
def test_refuses_a_vehicle_without_sim_params(tmp_path):
    peer = ScriptedVehicle().start()
    peer.state.params = {"WPNAV_SPEED": 1000.0}
    try:
        with station_for(tmp_path, peer.url) as station:
            steps = []
            report = FlightTest(station, "ft", on_step=steps.append).run()
        assert not report.ok
        assert [s.name for s in report.steps] == ["connect", "identify"]
        assert "no SIM_* parameters" in report.steps[-1].detail and "--allow-real-vehicle" in report.steps[-1].detail
        assert steps == list(report.steps)
        assert report.vehicle["is_simulator"] is False
        assert not [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM]
        assert audit(tmp_path) == [], "nothing was commanded"
    finally:
        peer.stop()


@pytest.fixture
def sim():
    fleet = SimFleet(vehicles=1, speedup=10, base_port=0, ready_after_s=5).start()
    try:
        yield fleet
    finally:
        fleet.stop()


@pytest.mark.slow
def test_full_flight_through_the_station_against_the_sim(sim, tmp_path):
    with station_for(tmp_path, sim.urls[0]) as station:
        report = FlightTest(station, "ft", plan=FlightPlan(timeout_s=240)).run()
        for s in report.steps:
            print(f"{s.name:<18} {s.ok} {s.wall_s:7.2f} s  {s.detail}")
        assert report.ok, report.steps[-1]
        assert [s.name for s in report.steps] == STEPS
        wait_for(lambda: not station.snapshot()["ft"].armed, 10, "the station sees the vehicle disarmed")
    commands = audit(tmp_path)
    assert {c["requested_by"] for c in commands} == {"flight-test"}
    assert all(c["decision"] == "sent" and c["status"] == "accepted" for c in commands), commands
    actions = [c["action"] for c in commands]
    assert actions[:6] == ["set_mode", "arm", "takeoff", "goto", "upload_mission", "set_mission_current"]
    assert actions[6:8] == ["start_mission", "rtl"], "the mission starts the way ArduCopter accepts without RC"


@pytest.mark.slow
def test_a_step_the_station_refuses_stops_the_test_and_makes_the_vehicle_safe(sim, tmp_path):
    """A 60 m circular fence: the 100 m go-to is refused by the station's geofence check, nothing is sent for it,
    and the vehicle is sent home through the same path."""
    with station_for(tmp_path, sim.urls[0], geofence={"radius_m": 60.0}) as station:
        report = FlightTest(station, "ft", plan=FlightPlan(timeout_s=240)).run()
        names = [s.name for s in report.steps]
        assert not report.ok
        assert names[-2:] == ["fly 100 m", "make safe"], names
        assert "refused_by_station" in report.steps[-2].detail and "fence" in report.steps[-2].detail
        assert report.steps[-1].detail == "airborne: switched to RTL"
        station.vehicle_reader("ft").wait_until(lambda s: s.mode == "RTL", 10, "RTL")
    commands = audit(tmp_path)
    goto = [c for c in commands if c["action"] == "goto"]
    assert len(goto) == 1 and goto[0]["decision"] == "refused" and "geofence" in goto[0]["reason"]
    assert commands[-1]["action"] == "rtl" and commands[-1]["requested_by"] == "flight-test"


def test_cli_refuses_bad_usage():
    r = subprocess.run(CLI + ["flight-test", "nonsense-url"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "bad link URL" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_json_against_the_sim_process(tmp_path):
    port = _free_port()
    sim = subprocess.Popen(CLI + ["sim", "--vehicles", "1", "--speedup", "10", "--base-port", str(port),
                                  "--ready-after-s", "5"], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        r = subprocess.run(CLI + ["flight-test", f"tcp:127.0.0.1:{port}", "--json", "--timeout-s", "240",
                                  "--tlog-dir", str(tmp_path), "--db", str(tmp_path / "ft.sqlite")],
                           capture_output=True, text=True, cwd=REPO, timeout=300)
        out = json.loads(r.stdout)  # stdout is exactly one JSON object
        assert r.returncode == 0 and out["ok"] is True, r.stdout + r.stderr
        assert len(out["steps"]) == 13 and all(set(s) == {"name", "ok", "wall_s", "detail"} for s in out["steps"])
        vehicle = out["vehicle"]
        assert vehicle["sysid"] == 1 and vehicle["is_simulator"] is True and vehicle["type"] == "MAV_TYPE_QUADROTOR"
        assert vehicle["home"]["lat_deg"] == pytest.approx(23.0469, abs=1e-3)
        tlogs = sorted(p.name for p in tmp_path.iterdir())
        assert any(n.endswith("-session.tlog") for n in tlogs) and any(n.endswith("-flight.tlog") for n in tlogs)
        assert {c["requested_by"] for c in audit(tmp_path)} == {"flight-test"}
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(5)
