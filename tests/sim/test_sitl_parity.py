"""Issue 7: the simulator behaves like ArduCopter master SITL (4.7.0-dev, default parameters, no RC input),
spoken to over real MAVLink with raw pymavlink."""
from __future__ import annotations

import socket
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim import server
from sim.fleet import SimFleet
from tests.sim.conftest import Client, wait_ready
from tests.sim.test_server import _download, _upload

M = mavlink
HOME = (23.0469, 112.4651)
TAKEOFF_MISSION = [(0, 16, 0, 0, 0, 0, 0, 0, 0),
                   (6, 22, 0, 0, 0, 0, 0, 0, 10),
                   (6, 16, 0, 0, 0, 0, 23.0472, 112.4651, 10),
                   (6, 20, 0, 0, 0, 0, 0, 0, 0)]


def _armed_in_guided_with_a_mission(client: Client) -> None:
    wait_ready(client)
    assert _upload(client, TAKEOFF_MISSION)[1].type == M.MAV_MISSION_ACCEPTED
    assert client.command(M.MAV_CMD_DO_SET_MODE, 1, 4).result == 0
    assert client.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == 0
    client.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_POSITION, 10, 1)


def test_auto_by_mode_change_waits_at_its_takeoff_and_disarms_after_disarm_delay(fleet, client):
    _armed_in_guided_with_a_mission(client)
    client.mav.command_long_send(1, 1, M.MAV_CMD_DO_SET_MODE, 0, 1, 3, 0, 0, 0, 0, 0)
    hb, seen = client.until("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and not m.base_mode & 128, timeout=30)
    (ack,) = [m for m in seen if m.get_type() == "COMMAND_ACK"]
    assert ack.result == M.MAV_RESULT_ACCEPTED
    texts = [m.text for m in seen if m.get_type() == "STATUSTEXT"]
    assert texts[0] == "Mission: 1 Takeoff" and texts[-1] == "Disarming motors"
    assert max(m.relative_alt for m in seen if m.get_type() == "GLOBAL_POSITION_INT") < 100   # never left the ground
    assert hb.custom_mode == 3                                                              # still in AUTO


def test_auto_options_bit_1_lets_the_auto_takeoff_go_without_throttle(fleet, client):
    client.mav.param_set_send(1, 1, b"AUTO_OPTIONS", 2, M.MAV_PARAM_TYPE_INT32)
    assert client.wait("PARAM_VALUE", lambda m: m.param_id == "AUTO_OPTIONS").param_value == 2
    _armed_in_guided_with_a_mission(client)
    assert client.command(M.MAV_CMD_DO_SET_MODE, 1, 3).result == M.MAV_RESULT_ACCEPTED
    client.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 5000, timeout=20)


@pytest.mark.parametrize("as_int", [False, True])
def test_mission_start_from_guided_and_armed_takes_off(fleet, client, as_int):
    _armed_in_guided_with_a_mission(client)
    if as_int:
        client.mav.command_int_send(1, 1, 0, M.MAV_CMD_MISSION_START, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        ack = client.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_MISSION_START)
    else:
        ack = client.command(M.MAV_CMD_MISSION_START, 0, 0)
    assert ack.result == M.MAV_RESULT_ACCEPTED
    client.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and m.custom_mode == 3)
    client.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 5000, timeout=20)


def test_mission_start_refusals(fleet, client):
    wait_ready(client)
    assert client.command(M.MAV_CMD_MISSION_START, 1, 3).result == M.MAV_RESULT_DENIED    # first/last item
    assert client.command(M.MAV_CMD_MISSION_START).result == M.MAV_RESULT_FAILED          # no mission: no AUTO
    assert _upload(client, [TAKEOFF_MISSION[0], TAKEOFF_MISSION[2]])[1].type == 0          # no takeoff in it
    assert client.command(M.MAV_CMD_DO_SET_MODE, 1, 4).result == 0
    assert client.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == 0
    client.mav.command_long_send(1, 1, M.MAV_CMD_MISSION_START, 0, 0, 0, 0, 0, 0, 0, 0)
    ack, before = client.until("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_MISSION_START)
    assert ack.result == M.MAV_RESULT_FAILED
    assert "Auto: Missing Takeoff Cmd" in [m.text for m in before if m.get_type() == "STATUSTEXT"]


def test_arming_in_auto_is_refused_unless_auto_options_bit_0(fleet, client):
    wait_ready(client)
    assert _upload(client, TAKEOFF_MISSION)[1].type == 0
    assert client.command(M.MAV_CMD_DO_SET_MODE, 1, 3).result == 0                       # disarmed: allowed
    client.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    ack, before = client.until("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_COMPONENT_ARM_DISARM)
    assert ack.result == M.MAV_RESULT_FAILED
    assert "Arm: AUTO mode not armable" in [m.text for m in before if m.get_type() == "STATUSTEXT"]
    client.mav.param_set_send(1, 1, b"AUTO_OPTIONS", 1, M.MAV_PARAM_TYPE_INT32)
    client.wait("PARAM_VALUE", lambda m: m.param_id == "AUTO_OPTIONS")
    assert client.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == M.MAV_RESULT_ACCEPTED


def test_read_back_keeps_whole_seconds_of_hold_and_fence_rally_autocontinue_zero(fleet, client):
    items = [(0, 16, 0, 0, 0, 0, 0, 0, 0), (6, 22, 0, 0, 0, 0, 0, 0, 20),
             (6, 16, 1.5, 0, 0, 0, 23.0472, 112.4651, 20), (6, 19, 12.9, 0, 0, 0, 23.0475, 112.4651, 20)]
    assert _upload(client, items)[1].type == 0
    back = _download(client)
    assert (back[2].param1, back[3].param1) == (1.0, 12.0)
    assert [b.autocontinue for b in back[1:]] == [1, 1, 1]
    fence = [(0, 5001, 3, 0, 0, 0, lat, lon, 0) for lat, lon in ((23.046, 112.464), (23.048, 112.464), (23.048, 112.466))]
    assert _upload(client, fence, mission_type=1)[1].type == 0
    assert [i.autocontinue for i in _download(client, 1)] == [0, 0, 0]
    assert _upload(client, [(6, 5100, 0, 0, 0, 0, 23.047, 112.465, 30.5)], mission_type=2)[1].type == 0
    (rally,) = _download(client, 2)
    assert (rally.autocontinue, rally.z) == (0, 30.0)


def test_the_first_connection_gets_the_boot_banner_before_mavlink_and_later_ones_do_not():
    with SimFleet(vehicles=1, speedup=10.0, base_port=0, ready_after_s=2.0) as f:
        first = socket.create_connection(("127.0.0.1", f.ports[0]))
        first.settimeout(10)
        try:
            got = b""
            while len(got) < len(server.BOOT_BANNER) + 1:
                got += first.recv(4096)
            assert got.startswith(server.BOOT_BANNER)
            assert server.BOOT_BANNER.startswith(b"\n\nInit ArduCopter V4.7.0-dev (") and b"Free RAM: " in server.BOOT_BANNER
            assert got[len(server.BOOT_BANNER)] == 0xFD                 # then MAVLink 2
        finally:
            first.close()
        second = socket.create_connection(("127.0.0.1", f.ports[0]))
        second.settimeout(10)
        try:
            assert second.recv(1) == b"\xfd"
        finally:
            second.close()


def test_firmware_is_reported_as_sitl_master(fleet, client):
    assert client.command(M.MAV_CMD_REQUEST_MESSAGE, 148).result == 0
    ver = client.wait("AUTOPILOT_VERSION")
    assert ver.flight_sw_version == (4 << 24) | (7 << 16) | (0 << 8) | M.FIRMWARE_VERSION_TYPE_DEV
    client.mav.param_request_list_send(1, 1)
    assert client.wait("STATUSTEXT").text.startswith("ArduCopter V4.7.0-dev (")


def test_mission_upload_is_paced_per_item_and_acknowledged_after_the_checksum_wait():
    n, pace_s = 40, 0.01
    with SimFleet(vehicles=1, speedup=1.0, base_port=0, ready_after_s=2.0, item_pace_s=pace_s) as f:
        c = Client(f.urls[0])
        try:
            c.wait("HEARTBEAT")
            items = [(0, 16, 0, 0, 0, 0, 0, 0, 0)] + [(6, 16, 0, 0, 0, 0, 23.047, 112.465, 20)] * (n - 1)
            t0 = time.monotonic()
            requests, ack = _upload(c, items)
            elapsed = time.monotonic() - t0
            assert ack.type == M.MAV_MISSION_ACCEPTED and len(requests) == n
            # a lower bound only: n-1 paced requests, then 0.5 s of checksum wait before the ack
            assert elapsed >= (n - 1) * pace_s + 0.5
        finally:
            c.close()
    assert SimFleet().config.item_pace_s == server.ITEM_PACE_S == pytest.approx(0.0036)   # the SITL-like default
