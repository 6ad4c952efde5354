"""Independent MAVLink peers fly the simulator: MAVProxy (waypoint file, AUTO) and dronekit (arm, takeoff)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim import mission as ms
from sim.fleet import SimFleet

pytestmark = pytest.mark.slow

MAVPROXY = Path(sys.prefix) / "bin" / "mavproxy.py"

WAYPOINTS = """QGC WPL 110
0\t1\t0\t16\t0\t0\t0\t0\t23.046900\t112.465100\t10.000000\t1
1\t0\t3\t22\t0\t0\t0\t0\t0\t0\t20.000000\t1
2\t0\t3\t16\t0\t0\t0\t0\t23.047800\t112.465100\t20.000000\t1
3\t0\t3\t178\t0\t8\t-1\t0\t0\t0\t0\t1
4\t0\t3\t16\t0\t0\t0\t0\t23.047800\t112.466000\t25.000000\t1
5\t0\t3\t19\t3\t0\t0\t0\t23.047300\t112.466000\t25.000000\t1
6\t0\t3\t20\t0\t0\t0\t0\t0\t0\t0\t1
"""


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.skipif(not MAVPROXY.exists(), reason="mavproxy not installed in the venv")
def test_mavproxy_loads_a_waypoint_file_and_flies_it_in_auto(tmp_path):
    os.environ.setdefault("MAVLINK20", "1")
    from pymavlink import mavutil

    (tmp_path / "patrol.txt").write_text(WAYPOINTS)
    watch_port = _free_udp_port()
    with SimFleet(vehicles=1, speedup=10.0, base_port=0, ready_after_s=2.0, position_after_s=1.0) as fleet:
        watch = mavutil.mavlink_connection(f"udpin:127.0.0.1:{watch_port}")
        log = open(tmp_path / "mavproxy.log", "w")
        proc = subprocess.Popen(
            [sys.executable, str(MAVPROXY), "--master", fleet.urls[0], "--out", f"udp:127.0.0.1:{watch_port}",
             "--state-basedir", str(tmp_path), "--default-modules", "wp,arm,mode,param,cmdlong,misc"],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)

        def send(line: str) -> None:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

        def wait(pred, timeout: float, what: str):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = watch.recv_match(blocking=True, timeout=0.5)
                if m is not None and pred(m):
                    return m
            raise AssertionError(f"MAVProxy run: no {what} within {timeout}s; see {tmp_path / 'mavproxy.log'}")

        try:
            wait(lambda m: m.get_type() == "HEARTBEAT", 60, "heartbeat through MAVProxy")
            # MAVProxy asks for streams; wait until the vehicle reports its pre-arm checks passing
            wait(lambda m: m.get_type() == "SYS_STATUS" and m.onboard_control_sensors_health & (1 << 28), 60,
                 "pre-arm healthy")
            send("wp load patrol.txt")
            deadline = time.monotonic() + 30
            while fleet.call(lambda: fleet.model(0).store.count(ms.MISSION)) < 7 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert fleet.call(lambda: fleet.model(0).store.count(ms.MISSION)) == 7
            send("mode guided")
            wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and m.custom_mode == 4, 30,
                 "GUIDED heartbeat")
            send("arm throttle")
            wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and m.base_mode & 128, 30,
                 "armed heartbeat")
            # with no RC throttle a plain "mode auto" would sit at the takeoff (as ArduCopter does):
            # MAV_CMD_MISSION_START switches to AUTO and lets the takeoff go
            send("long MISSION_START 0 0")
            reached = []

            def done(m):
                if m.get_type() == "MISSION_ITEM_REACHED" and (not reached or reached[-1] != m.seq):
                    reached.append(m.seq)
                return reached and reached[-1] == 6 and m.get_type() == "HEARTBEAT" \
                    and m.get_srcComponent() == 1 and not m.base_mode & 128
            wait(done, 240, "last item reached and disarmed")
            assert reached == [1, 2, 4, 5, 6]
            items = fleet.call(lambda: [(i.command, i.frame) for i in fleet.model(0).store.mission_items()])
            assert items[3] == (178, 0) and items[5] == (19, 3)       # no location: stored with frame 0
            lat, lon = fleet.call(lambda: fleet.model(0).lat_lon_deg)
            assert abs(lat - 23.0469) < 3e-5 and abs(lon - 112.4651) < 3e-5      # RTL brought it home
        finally:
            try:
                send("exit")
            except (BrokenPipeError, ValueError):
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.close()
            watch.close()


def test_dronekit_connects_arms_and_takes_off():
    dronekit = pytest.importorskip("dronekit")
    with SimFleet(vehicles=1, speedup=5.0, base_port=0, ready_after_s=4.0, position_after_s=2.0) as fleet:
        vehicle = dronekit.connect(fleet.urls[0], wait_ready=True, heartbeat_timeout=30, timeout=60)
        try:
            assert vehicle.parameters["SIM_SPEEDUP"] == 5.0
            deadline = time.monotonic() + 60
            while not vehicle.is_armable and time.monotonic() < deadline:
                time.sleep(0.1)
            assert vehicle.is_armable
            assert vehicle.gps_0.fix_type == 3 and vehicle.location.global_frame.lat == pytest.approx(23.0469)
            vehicle.mode = dronekit.VehicleMode("GUIDED")
            while vehicle.mode.name != "GUIDED" and time.monotonic() < deadline:
                time.sleep(0.1)
            vehicle.armed = True
            while not vehicle.armed and time.monotonic() < deadline:
                time.sleep(0.1)
            assert vehicle.armed
            vehicle.simple_takeoff(15)
            while vehicle.location.global_relative_frame.alt < 14.5 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert vehicle.location.global_relative_frame.alt >= 14.5
            assert vehicle.mode.name == "GUIDED" and vehicle.armed
        finally:
            vehicle.close()
