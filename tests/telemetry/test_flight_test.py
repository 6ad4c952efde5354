"""The flight-test command: its step logic against a scripted peer (refusals, failures) and the simulator
(a full flight with speed-up, in-process and through the real CLI with --json)."""
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

from groundstation.flighttest import FlightPlan, FlightTest, distance_m, offset_deg
from tests.telemetry.peer import COPTER_MODES, ScriptedVehicle

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "groundstation"]


def test_offset_and_distance():
    lat, lon = offset_deg(23.0469, 112.4651, 100.0, 0.0)
    assert distance_m(23.0469, 112.4651, lat, lon) == pytest.approx(100.0, rel=1e-3)
    lat, lon = offset_deg(23.0469, 112.4651, -30.0, 40.0)
    assert distance_m(23.0469, 112.4651, lat, lon) == pytest.approx(50.0, rel=1e-3)


def test_refuses_a_vehicle_without_sim_params(make_vehicle):
    peer = ScriptedVehicle().start()
    peer.state.params = {"WPNAV_SPEED": 1000.0}
    try:
        v = make_vehicle(peer.url)
        steps = []
        report = FlightTest(v, on_step=steps.append).run()
        assert not report.ok
        assert [s.name for s in report.steps] == ["connect", "identify"]
        assert "no SIM_* parameters" in report.steps[-1].detail and "--allow-real-vehicle" in report.steps[-1].detail
        assert steps == list(report.steps)
        assert report.vehicle["is_simulator"] is False
        assert not [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM]
    finally:
        peer.stop()


def test_a_failing_step_stops_and_makes_safe(peer, make_vehicle):
    def refuse_auto(msg):
        return mavlink.MAV_RESULT_FAILED if int(msg.param2) == COPTER_MODES["AUTO"] else mavlink.MAV_RESULT_ACCEPTED

    peer.command_results[mavlink.MAV_CMD_DO_SET_MODE] = refuse_auto
    peer.statustext_before_ack[mavlink.MAV_CMD_DO_SET_MODE] = "Mode change failed"
    v = make_vehicle(peer.url)
    report = FlightTest(v, plan=FlightPlan(timeout_s=60)).run()
    names = [s.name for s in report.steps]
    assert not report.ok
    assert names[-2:] == ["auto mission", "make safe"]
    assert all(s.ok for s in report.steps[:-2]) and not report.steps[-2].ok
    assert "MAV_RESULT_FAILED" in report.steps[-2].detail and "Mode change failed" in report.steps[-2].detail
    assert report.steps[-1].detail == "airborne: switched to RTL"
    assert v.state.mode == "RTL"
    assert report.vehicle["sysid"] == 1 and report.vehicle["is_simulator"] is True
    assert all(s.wall_s >= 0 for s in report.steps)


def test_cli_refuses_bad_usage():
    r = subprocess.run(CLI + ["flight-test", "nonsense-url"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "bad link URL" in r.stderr


@pytest.mark.slow
def test_full_flight_in_process_against_the_sim(make_vehicle):
    sim_fleet = pytest.importorskip("sim.fleet")
    fleet = sim_fleet.SimFleet(vehicles=1, speedup=10, base_port=0, ready_after_s=5)
    fleet.start()
    try:
        v = make_vehicle(fleet.urls[0], stream_rates_hz=None, tlog_dir=None)
        report = FlightTest(v, plan=FlightPlan(timeout_s=240)).run()
        for s in report.steps:
            print(f"{s.name:<18} {s.ok} {s.wall_s:7.2f} s  {s.detail}")
        assert report.ok, report.steps[-1]
        assert [s.name for s in report.steps] == [
            "connect", "identify", "wait ready", "guided", "arm", "takeoff", "fly 100 m", "upload mission",
            "read back mission", "auto mission", "rtl", "land", "disarm"]
        assert not v.state.armed
    finally:
        fleet.stop()


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
                                  "--tlog-dir", str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                           timeout=300)
        out = json.loads(r.stdout)  # stdout is exactly one JSON object
        assert r.returncode == 0 and out["ok"] is True, r.stdout + r.stderr
        assert len(out["steps"]) == 13 and all(set(s) == {"name", "ok", "wall_s", "detail"} for s in out["steps"])
        vehicle = out["vehicle"]
        assert vehicle["sysid"] == 1 and vehicle["is_simulator"] is True and vehicle["type"] == "MAV_TYPE_QUADROTOR"
        assert vehicle["home"]["lat_deg"] == pytest.approx(23.0469, abs=1e-3)
        tlogs = sorted(p.name for p in tmp_path.iterdir())
        assert any(n.endswith("-session.tlog") for n in tlogs) and any(n.endswith("-flight.tlog") for n in tlogs)
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(5)
