"""The simulator over real TCP sockets, spoken to with raw pymavlink (no code shared with telemetry/)."""
from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from tests.sim.conftest import Client, wait_ready

M = mavlink
NAN = float("nan")


def test_heartbeats_of_autopilot_and_both_cameras_and_none_from_a_servo_gimbal(fleet, client):
    seen = {}
    for m in client.heartbeats(3):      # two whole heartbeat periods
        if m.get_type() == "HEARTBEAT":
            seen[(m.get_srcSystem(), m.get_srcComponent())] = m
    ap = seen[(1, 1)]
    assert (ap.type, ap.autopilot) == (M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA)
    assert ap.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED and not ap.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED
    assert ap.custom_mode == 0 and ap.system_status == M.MAV_STATE_STANDBY
    assert seen[(1, 100)].type == M.MAV_TYPE_CAMERA
    assert seen[(1, 101)].type == M.MAV_TYPE_CAMERA           # the thermal camera, MAV_COMP_ID_CAMERA2
    assert (1, 154) not in seen                                # a servo mount is no MAVLink device
    other = Client(fleet.urls[1])
    try:
        assert other.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1).get_srcSystem() == 2
    finally:
        other.close()


def test_no_streams_until_requested_then_at_the_requested_interval(fleet, client):
    assert not [m for m in client.heartbeats(3) if m.get_type() == "GLOBAL_POSITION_INT"]   # 2 s of sim time
    ack = client.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, 33, 100_000)      # 10 Hz in sim time
    assert ack.result == M.MAV_RESULT_ACCEPTED
    msgs = [client.wait("GLOBAL_POSITION_INT") for _ in range(6)]
    span_ms = msgs[-1].time_boot_ms - msgs[0].time_boot_ms
    assert span_ms / (len(msgs) - 1) == pytest.approx(100, rel=0.25)    # simulated interval between samples
    assert client.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, 33, -1).result == M.MAV_RESULT_ACCEPTED
    client.mav.command_long_send(1, 1, M.MAV_CMD_SET_MESSAGE_INTERVAL, 0, 12345, 100_000, 0, 0, 0, 0, 0)
    ack, before = client.until("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_SET_MESSAGE_INTERVAL)
    assert ack.result == M.MAV_RESULT_DENIED
    assert "No ap_message for mavlink id (12345)" in [m.text for m in before if m.get_type() == "STATUSTEXT"]


def test_arm_refused_before_ready_with_failed_and_prearm_text():
    from sim.fleet import SimFleet
    with SimFleet(vehicles=1, speedup=1.0, base_port=0, ready_after_s=40.0) as f:
        c = Client(f.urls[0])
        try:
            c.wait("HEARTBEAT")
            c.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
            ack, before = c.until("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_COMPONENT_ARM_DISARM)
            text = [m.text for m in before if m.get_type() == "STATUSTEXT"]
            assert text == ["PreArm: Need Position Estimate"]                     # said before the ACK
            assert ack.result == M.MAV_RESULT_FAILED
            c.mav.request_data_stream_send(1, 1, 0, 5, 1)
            gps = c.wait("GLOBAL_POSITION_INT")
            assert (gps.lat, gps.lon) == (0, 0)
        finally:
            c.close()


@pytest.mark.slow
def test_guided_takeoff_goto_and_mode_refusals(fleet, client):
    wait_ready(client)
    ack = client.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10)
    assert ack.result == M.MAV_RESULT_FAILED                                  # STABILIZE, disarmed
    client.mav.set_mode_send(1, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 3)         # AUTO without a mission
    assert client.wait("COMMAND_ACK", lambda m: m.command == 11).result == M.MAV_RESULT_FAILED
    assert client.command(M.MAV_CMD_DO_SET_MODE, 1, 4).result == M.MAV_RESULT_ACCEPTED
    assert client.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == M.MAV_RESULT_ACCEPTED
    assert client.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 15).result == M.MAV_RESULT_ACCEPTED
    client.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 14_500, timeout=20)
    hb = client.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1)
    assert hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED and hb.custom_mode == 4
    assert hb.system_status == M.MAV_STATE_ACTIVE
    pos = client.wait("GLOBAL_POSITION_INT")
    target_lat = pos.lat + 5000                                              # ~55 m north
    client.mav.set_position_target_global_int_send(0, 1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b110111111000,
                                                   target_lat, pos.lon, 15, 0, 0, 0, 0, 0, 0, 0, 0)
    client.wait("GLOBAL_POSITION_INT", lambda m: abs(m.lat - target_lat) < 30, timeout=30)
    # DO_REPOSITION as COMMAND_INT
    client.mav.command_int_send(1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, M.MAV_CMD_DO_REPOSITION, 0, 0,
                                -1, 0, 0, float("nan"), pos.lat, pos.lon, 20)
    assert client.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_REPOSITION).result == M.MAV_RESULT_ACCEPTED
    client.wait("GLOBAL_POSITION_INT", lambda m: abs(m.lat - pos.lat) < 30 and m.relative_alt > 19_000, timeout=30)
    assert client.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0).result == M.MAV_RESULT_FAILED   # flying
    assert client.command(M.MAV_CMD_NAV_RETURN_TO_LAUNCH).result == M.MAV_RESULT_ACCEPTED
    client.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED,
                timeout=60)


def _upload(client: Client, items: list[tuple], mission_type: int = 0, use_int: bool = True):
    """Upload (frame, command, p1..p4, lat, lon, alt); return the requests the vehicle sent and the final ack."""
    client.mav.mission_count_send(1, 1, len(items), mission_type)
    requests = []
    while True:
        m = client.wait(["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"])
        if m.get_type() == "MISSION_ACK":
            return requests, m
        requests.append(m)
        frame, cmd, p1, p2, p3, p4, lat, lon, alt = items[m.seq]
        if use_int:
            client.mav.mission_item_int_send(1, 1, m.seq, frame, cmd, 0, 1, p1, p2, p3, p4,
                                             int(lat * 1e7), int(lon * 1e7), alt, mission_type)
        else:
            client.mav.mission_item_send(1, 1, m.seq, frame, cmd, 0, 1, p1, p2, p3, p4, lat, lon, alt, mission_type)


def _download(client: Client, mission_type: int = 0) -> list:
    client.mav.mission_request_list_send(1, 1, mission_type)
    count = client.wait("MISSION_COUNT").count
    out = []
    for seq in range(count):
        client.mav.mission_request_int_send(1, 1, seq, mission_type)
        out.append(client.wait("MISSION_ITEM_INT", lambda m: m.seq == seq))
    client.mav.mission_ack_send(1, 1, 0, mission_type)
    return out


def test_mission_upload_is_requested_with_mission_request_and_read_back_like_ardupilot(fleet, client):
    wait_ready(client)
    items = [(0, 16, 0, 0, 0, 0, 0, 0, 0),
             (6, 22, 0, 0, 0, 0, 0, 0, 20),
             (6, 16, 0, 0, 0, 0, 23.0478, 112.4651, 20),
             (5, 16, 0, 0, 0, 0, 23.0478, 112.4660, 40),
             (2, 178, 0, 6, -1, 0, 0, 0, 0),
             (6, 21, 0, 0, 0, 0, 0, 0, 0)]
    requests, ack = _upload(client, items)
    assert {r.get_type() for r in requests} == {"MISSION_REQUEST"}
    assert [r.seq for r in requests] == list(range(len(items)))
    assert ack.type == M.MAV_MISSION_ACCEPTED
    back = _download(client)
    assert len(back) == len(items)
    assert (back[0].x, back[0].y, back[0].frame) == (230469000, 1124651000, 0)      # item 0 is home
    assert [b.frame for b in back[1:]] == [3, 3, 0, 0, 3]           # 6 -> 3, 5 -> 0; no location: frame 0
    assert (back[2].x, back[2].y, back[2].z) == (230478000, 1124651000, 20)
    assert back[4].command == 178 and back[4].param2 == 6
    # float MISSION_ITEM upload is accepted too, and MISSION_REQUEST (float) download works
    requests, ack = _upload(client, items[:3], use_int=False)
    assert ack.type == M.MAV_MISSION_ACCEPTED
    client.mav.mission_request_send(1, 1, 2, 0)
    item = client.wait("MISSION_ITEM")
    assert item.x == pytest.approx(23.0478) and item.frame == 3
    client.mav.mission_request_int_send(1, 1, 9, 0)
    assert client.wait("MISSION_ACK").type == M.MAV_MISSION_INVALID_SEQUENCE


def test_mission_ack_errors(fleet, client):
    client.mav.mission_count_send(1, 1, 100000 % 65536, 0)
    assert client.wait("MISSION_ACK").type == M.MAV_MISSION_NO_SPACE
    client.mav.mission_count_send(1, 1, 3, 0)
    client.wait("MISSION_REQUEST", lambda m: m.seq == 0)
    client.mav.mission_item_int_send(1, 1, 2, 6, 16, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0)
    assert client.wait("MISSION_ACK").type == M.MAV_MISSION_INVALID_SEQUENCE
    client.mav.mission_item_int_send(1, 1, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
    client.wait("MISSION_REQUEST", lambda m: m.seq == 1)
    client.mav.mission_item_int_send(1, 1, 1, 6, 31999, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0)
    assert client.wait("MISSION_ACK").type == M.MAV_MISSION_UNSUPPORTED


def test_fence_and_rally_uploads_and_clear(fleet, client):
    sq = [(23.0465, 112.4647), (23.0473, 112.4647), (23.0473, 112.4655), (23.0465, 112.4655)]
    fence = [(0, 5001, 4, 0, 0, 0, lat, lon, 0) for lat, lon in sq]
    assert _upload(client, fence, mission_type=1)[1].type == M.MAV_MISSION_ACCEPTED
    assert [i.command for i in _download(client, 1)] == [5001] * 4
    assert _upload(client, [(6, 5100, 0, 0, 0, 0, 23.047, 112.465, 30)], mission_type=2)[1].type == 0
    client.mav.param_request_read_send(1, 1, b"RALLY_TOTAL", -1)
    assert client.wait("PARAM_VALUE", lambda m: m.param_id == "RALLY_TOTAL").param_value == 1
    client.mav.mission_clear_all_send(1, 1, 1)
    assert client.wait("MISSION_ACK").type == M.MAV_MISSION_ACCEPTED
    client.mav.mission_request_list_send(1, 1, 1)
    assert client.wait("MISSION_COUNT").count == 0


def test_auto_mission_reports_current_and_reached_and_set_current(fleet, client):
    wait_ready(client)
    items = [(0, 16, 0, 0, 0, 0, 0, 0, 0), (6, 22, 0, 0, 0, 0, 0, 0, 10),
             (6, 16, 0, 0, 0, 0, 23.0472, 112.4651, 10), (6, 16, 0, 0, 0, 0, 23.0475, 112.4651, 10),
             (6, 21, 0, 0, 0, 0, 0, 0, 0)]
    assert _upload(client, items)[1].type == 0
    assert client.command(M.MAV_CMD_DO_SET_MODE, 1, 4).result == 0
    assert client.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == 0
    assert client.command(M.MAV_CMD_MISSION_START).result == 0
    assert client.wait("MISSION_ITEM_REACHED", lambda m: m.seq == 1, timeout=20)
    client.mav.mission_set_current_send(1, 1, 3)                       # skip waypoint 2
    assert client.wait("MISSION_CURRENT", lambda m: m.seq == 3).total == 4
    reached = client.wait("MISSION_ITEM_REACHED", timeout=30)
    assert reached.seq == 3
    assert client.wait("MISSION_ITEM_REACHED", timeout=60).seq == 4
    client.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and not m.base_mode & 128, timeout=30)
    assert client.command(M.MAV_CMD_DO_SET_MISSION_CURRENT, 99).result == M.MAV_RESULT_FAILED


def test_parameter_protocol_with_sim_parameters(fleet, client):
    client.mav.param_request_list_send(1, 1)
    values = {}
    count = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (count is None or len(values) < count):
        m = client.wait("PARAM_VALUE")
        count = m.param_count
        values[m.param_id] = m
    assert len(values) == count
    assert {"SIM_SPEEDUP", "SIM_BATT_VOLTAGE", "FENCE_ENABLE", "BATT_CAPACITY", "WPNAV_SPEED"} <= set(values)
    assert values["SIM_SPEEDUP"].param_value == 10.0
    assert values["SYSID_THISMAV"].param_type == M.MAV_PARAM_TYPE_INT16
    client.mav.param_set_send(1, 1, b"WPNAV_SPEED", 750.0, M.MAV_PARAM_TYPE_REAL32)
    assert client.wait("PARAM_VALUE", lambda m: m.param_id == "WPNAV_SPEED").param_value == 750.0
    client.mav.param_set_send(1, 1, b"FENCE_ENABLE", 1.4, M.MAV_PARAM_TYPE_INT8)   # integer param is rounded
    assert client.wait("PARAM_VALUE", lambda m: m.param_id == "FENCE_ENABLE").param_value == 1.0
    client.mav.param_request_read_send(1, 1, b"", values["RTL_ALT"].param_index)
    assert client.wait("PARAM_VALUE", lambda m: m.param_id == "RTL_ALT").param_value == 1500


def test_requests_autopilot_version_home_and_camera(fleet, client):
    wait_ready(client)
    assert client.command(M.MAV_CMD_REQUEST_MESSAGE, 148).result == 0
    ver = client.wait("AUTOPILOT_VERSION")
    assert ver.capabilities & M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE and ver.flight_sw_version >> 24 == 4
    assert client.command(M.MAV_CMD_REQUEST_MESSAGE, 242).result == 0
    home = client.wait("HOME_POSITION")
    assert (home.latitude, home.longitude, home.altitude) == (230469000, 1124651000, 10000)
    ack = client.command(M.MAV_CMD_REQUEST_CAMERA_INFORMATION, 1, target_component=100)
    assert ack.get_srcComponent() == 100 and ack.result == 0
    info = client.wait("CAMERA_INFORMATION")
    assert info.get_srcComponent() == 100 and (info.resolution_h, info.resolution_v) == (1280, 720)
    assert info.sensor_size_h == pytest.approx(6.17) and 2 * math.degrees(math.atan(6.17 / 2 / info.focal_length)) == \
        pytest.approx(50.0, abs=0.1)                                     # the video's 50° field of view


def test_image_capture_reports_the_vehicle_position(fleet, client):
    wait_ready(client)
    ack = client.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 1, target_component=100)
    assert ack.result == 0 and ack.get_srcComponent() == 100
    img = client.wait("CAMERA_IMAGE_CAPTURED")
    assert img.get_srcComponent() == 100 and img.capture_result == 1
    assert (img.lat, img.lon) == (230469000, 1124651000)


def _gimbal_pitch_deg(m) -> float:
    w, x, y, z = m.q
    return math.degrees(math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))))


def _gimbal_yaw_deg(m) -> float:
    w, x, y, z = m.q
    return math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def test_gimbal_protocol_v2_from_the_autopilot_with_a_servo_mount(fleet, client):
    wait_ready(client)
    assert client.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, 285, 100_000).result == 0
    ack = client.command(M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, -60, 20, NAN, NAN, 0, 0, 0)
    assert ack.result == M.MAV_RESULT_ACCEPTED and ack.get_srcComponent() == 1
    st = client.wait("GIMBAL_DEVICE_ATTITUDE_STATUS", lambda m: abs(_gimbal_pitch_deg(m) + 60) < 1.0, timeout=10)
    assert (st.get_srcComponent(), st.gimbal_device_id) == (1, 1)                 # AP_Mount_Backend, instance 1
    assert st.flags == M.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | M.GIMBAL_DEVICE_FLAGS_PITCH_LOCK \
        | M.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
    assert _gimbal_yaw_deg(st) == pytest.approx(20, abs=1.0) and math.isnan(st.delta_yaw)
    # COMMAND_INT: flags in x, the device in z; YAW_LOCK makes the yaw earth-frame
    client.mav.command_int_send(1, 1, 0, M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, 0, 0, -30, 0, NAN, NAN,
                                M.GIMBAL_MANAGER_FLAGS_YAW_LOCK, 0, 1)
    assert client.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW).result == 0
    st = client.wait("GIMBAL_DEVICE_ATTITUDE_STATUS", lambda m: abs(_gimbal_pitch_deg(m) + 30) < 1.0, timeout=10)
    assert st.flags & M.GIMBAL_DEVICE_FLAGS_YAW_LOCK
    # the GIMBAL_MANAGER_SET_PITCHYAW message (radians), and the old DO_MOUNT_CONTROL (MAVLink targeting)
    client.mav.gimbal_manager_set_pitchyaw_send(1, 1, 0, 0, math.radians(-45), 0.0, NAN, NAN)
    client.wait("GIMBAL_DEVICE_ATTITUDE_STATUS", lambda m: abs(_gimbal_pitch_deg(m) + 45) < 1.0, timeout=10)
    assert client.command(M.MAV_CMD_DO_MOUNT_CONTROL, -20, 0, 0, 0, 0, 0, M.MAV_MOUNT_MODE_MAVLINK_TARGETING).result == 0
    client.wait("GIMBAL_DEVICE_ATTITUDE_STATUS", lambda m: abs(_gimbal_pitch_deg(m) + 20) < 1.0, timeout=10)
    # a gimbal that is not there, and the manager's messages on request
    assert client.command(M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, -10, 0, NAN, NAN, 0, 0, 2).result == M.MAV_RESULT_FAILED
    assert client.command(M.MAV_CMD_REQUEST_MESSAGE, 280).result == 0
    info = client.wait("GIMBAL_MANAGER_INFORMATION")
    assert (info.get_srcComponent(), info.gimbal_device_id) == (1, 1)
    assert math.degrees(info.pitch_min) == pytest.approx(-90) and info.cap_flags & M.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_AXIS
    assert client.command(M.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE, -2, -2, NAN, NAN, 0, 0, 0).result == 0
    assert client.command(M.MAV_CMD_REQUEST_MESSAGE, 281).result == 0
    status = client.wait("GIMBAL_MANAGER_STATUS")
    assert (status.primary_control_sysid, status.primary_control_compid, status.gimbal_device_id) == (255, 190, 1)


def test_mount_status_is_denied_with_the_ardupilot_text_and_never_sent(fleet, client):
    client.mav.command_long_send(1, 1, M.MAV_CMD_SET_MESSAGE_INTERVAL, 0, 158, 500_000, 0, 0, 0, 0, 0)
    ack, before = client.until("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_SET_MESSAGE_INTERVAL)
    assert ack.result == M.MAV_RESULT_DENIED
    said = [(m.severity, m.text) for m in before if m.get_type() == "STATUSTEXT"]
    assert said == [(M.MAV_SEVERITY_INFO, "No ap_message for mavlink id (158)")]
    client.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_ALL, 4, 1)
    assert "MOUNT_STATUS" not in {m.get_type() for m in client.heartbeats(3)}


def test_without_a_mount_gimbal_commands_fail_and_no_gimbal_messages_are_sent():
    from sim.fleet import SimFleet
    with SimFleet(vehicles=1, speedup=10.0, base_port=0, ready_after_s=2.0, position_after_s=1.0,
                  params={"MNT1_TYPE": 0}) as f:
        c = Client(f.urls[0])
        try:
            c.wait("HEARTBEAT")
            assert c.command(M.MAV_CMD_DO_MOUNT_CONTROL, -30, 0, 0, 0, 0, 0, 2).result == M.MAV_RESULT_FAILED
            assert c.command(M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, -30, 0, NAN, NAN).result == M.MAV_RESULT_FAILED
            c.mav.command_int_send(1, 1, 0, M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, 0, 0, -30, 0, NAN, NAN, 0, 0, 0)
            assert c.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW).result == 4
            assert c.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, 285, 100_000).result == 0   # known id: accepted ...
            assert c.command(M.MAV_CMD_REQUEST_MESSAGE, 280).result == 0
            assert not {m.get_type() for m in c.heartbeats(3)} & {                       # ... but never sent
                "GIMBAL_DEVICE_ATTITUDE_STATUS", "GIMBAL_MANAGER_INFORMATION"}
        finally:
            c.close()


def test_request_data_stream_like_mavproxy_and_dronekit(fleet, client):
    client.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_ALL, 4, 1)
    types = {m.get_type() for m in client.heartbeats(3)}
    assert {"GLOBAL_POSITION_INT", "GPS_RAW_INT", "ATTITUDE", "VFR_HUD", "SYS_STATUS", "BATTERY_STATUS",
            "EKF_STATUS_REPORT", "MISSION_CURRENT", "GIMBAL_DEVICE_ATTITUDE_STATUS", "SIMSTATE"} <= types
    assert "MOUNT_STATUS" not in types                                 # gone from ArduPilot's EXTRA3
    client.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_ALL, 0, 0)
    client.command(M.MAV_CMD_REQUEST_MESSAGE, 148)                     # answered after the stop took effect
    assert not {m.get_type() for m in client.heartbeats(3)} & {"GLOBAL_POSITION_INT", "ATTITUDE"}


@pytest.mark.slow
def test_garbage_bytes_are_ignored_and_the_link_keeps_working(fleet, client):
    sock = socket.create_connection(("127.0.0.1", fleet.ports[0]))
    try:
        sock.sendall(os.urandom(5000) + b"\xfd\x09\x00\x00\x00" + os.urandom(300) + b"\xfe\xff" * 200)
    finally:
        sock.close()
    bad = mavlink.MAVLink(None, 255, 190).command_long_encode(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
    raw = bytearray(bad.pack(mavlink.MAVLink(None, 255, 190)))
    raw[-1] ^= 0xFF                                                          # bad CRC
    client.conn.write(bytes(raw))
    client.conn.write(os.urandom(2000))
    # Garbage can swallow the next frame (a random length byte), exactly as on a real autopilot, so a
    # client retries; the vehicle must answer one of a few tries and keep running.
    answered = None
    for _ in range(10):   # a bogus length byte can claim up to 280 bytes: about six command frames
        try:
            answered = client.command(M.MAV_CMD_REQUEST_MESSAGE, 148, timeout=1.0)
            break
        except AssertionError:
            continue
    assert answered is not None and answered.result == 0
    assert fleet.vehicle(0).links and fleet._thread.is_alive()
    assert sum(link.bad_packets for link in fleet.vehicle(0).links) >= 1      # the bad-CRC frame was seen


def test_two_clients_each_get_their_own_streams_and_broadcasts(fleet, client):
    second = Client(fleet.urls[0], sysid=254, compid=1)
    try:
        second.wait("HEARTBEAT")
        assert fleet.client_count(0) == 2
        second.mav.request_data_stream_send(1, 1, 6, 5, 1)
        assert second.wait("GLOBAL_POSITION_INT")
        assert not [m for m in client.heartbeats(3) if m.get_type() == "GLOBAL_POSITION_INT"]
        client.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
        assert second.wait("STATUSTEXT")                     # statustexts go to every client
        # acks only to the asker: the second client's own request is answered, with nothing for the first before
        second.mav.command_long_send(1, 1, M.MAV_CMD_REQUEST_MESSAGE, 0, 148, 0, 0, 0, 0, 0, 0)
        ack, before = second.until("COMMAND_ACK")
        assert ack.command == M.MAV_CMD_REQUEST_MESSAGE
        assert not [m for m in before if m.get_type() == "COMMAND_ACK"]
    finally:
        second.close()


def test_freeze_silences_a_vehicle_and_unfreeze_resumes(fleet, client):
    other = Client(fleet.urls[1])        # vehicle 2 keeps talking: its heartbeats measure simulated time
    try:
        fleet.freeze(0)
        other.heartbeats(1)
        client.pending()                                      # what was sent before the freeze
        client.mav.command_long_send(1, 1, M.MAV_CMD_REQUEST_MESSAGE, 0, 148, 0, 0, 0, 0, 0, 0)
        other.heartbeats(3)                                   # two simulated seconds later ...
        assert client.pending() == []                         # ... vehicle 1 said nothing, not even a HEARTBEAT
        assert fleet.client_count(0) == 1                     # socket still open
        fleet.unfreeze(0)
        hb, before = client.until("HEARTBEAT")
        assert not [m for m in before if m.get_type() in ("COMMAND_ACK", "AUTOPILOT_VERSION")]   # ignored, not queued
        assert client.command(M.MAV_CMD_REQUEST_MESSAGE, 148).result == 0
    finally:
        other.close()


def test_drop_connections_closes_clients_and_accepts_reconnects(fleet, client):
    raw = socket.create_connection(("127.0.0.1", fleet.ports[0]))
    raw.settimeout(5.0)
    try:
        assert raw.recv(64)                                   # heartbeats arrive
        deadline = time.monotonic() + 5
        while fleet.client_count(0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fleet.drop_connections(0) == 2
        closed = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if raw.recv(4096) == b"":
                    closed = True
                    break
            except ConnectionResetError:
                closed = True
                break
        assert closed, "the simulator kept the client socket open"
    finally:
        raw.close()
    again = Client(fleet.urls[0])
    try:
        assert again.wait("HEARTBEAT")
        assert fleet.client_count(0) == 1
        assert again.command(M.MAV_CMD_REQUEST_MESSAGE, 148).result == 0
    finally:
        again.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _sim(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


@pytest.mark.slow
def test_cli_prints_one_line_per_vehicle_and_exits_cleanly_on_sigterm():
    port = _free_port()
    p = _sim("--vehicles", "1", "--base-port", str(port), "--ready-after-s", "1")
    try:
        line = p.stdout.readline()
        assert line.strip() == f"vehicle 1 listening on tcp:127.0.0.1:{port}"
        c = Client(f"tcp:127.0.0.1:{port}")
        assert c.wait("HEARTBEAT").get_srcSystem() == 1
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    p = _sim("--vehicles", "3", "--base-port", "0")
    try:
        lines = [p.stdout.readline().strip() for _ in range(3)]
        assert [ln.split(" listening on ")[0] for ln in lines] == ["vehicle 1", "vehicle 2", "vehicle 3"]
        c = Client(lines[2].split(" listening on ")[1])
        assert c.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1).get_srcSystem() == 3
        c.close()
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=15)
    assert p.returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--vehicles", "0"], "must be 1..250"),
    (["--vehicles", "two"], "not a whole number"),
    (["--speedup", "-3"], "must be > 0"),
    (["--home", "23.0,abc,10"], "expected numbers"),
    (["--home", "95,10,0,0"], "out of range"),
    (["--base-port", "70000"], "port must be"),
    (["--vehicles", "5", "--base-port", "65530"], "out of range"),
    (["--param", "NOT_A_PARAM=3"], "unknown parameter"),
])
def test_cli_refuses_bad_arguments_clearly(args, message):
    p = _sim(*args)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 2
    assert message in err


def test_cli_reports_a_busy_port():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        p = _sim("--base-port", str(busy.getsockname()[1]))
        out, err = p.communicate(timeout=20)
    finally:
        busy.close()
    assert p.returncode == 1
    assert "cannot listen on tcp:127.0.0.1:" in err
