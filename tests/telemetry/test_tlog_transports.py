"""Telemetry logs, UDP links, fleets, and the state tracker on its own."""
from __future__ import annotations

import socket
import struct
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry import codec
from telemetry.fleet import Fleet
from telemetry.errors import InvalidRequest
from telemetry.records import LinkChanged, MissionProgress, StatusText
from telemetry.tracker import StateTracker
from telemetry.transport import Endpoint, parse_url
from tests.telemetry.peer import ScriptedVehicle
from tests.waiting import wait_for


def read_tlog(path):
    """Parse a tlog by hand: 8-byte big-endian µs timestamp + one MAVLink frame, repeated."""
    data = path.read_bytes()
    parser = mavlink.MAVLink(None)
    out, i = [], 0
    while i < len(data):
        (usec,) = struct.unpack(">Q", data[i:i + 8])
        i += 8
        length = (data[i + 1] + 12 + (13 if data[i + 2] & 1 else 0)) if data[i] == 0xFD else data[i + 1] + 8
        msg = parser.decode(bytearray(data[i:i + length]))
        out.append((usec, msg))
        i += length
    return out


def test_tlog_session_and_one_file_per_flight(peer, make_vehicle, tmp_path):
    v = make_vehicle(peer.url, tlog_dir=tmp_path)
    v.wait_ready(10)
    v.arm()
    v.wait_until(lambda s: s.messages_received > 50, 10)
    v.disarm()
    v.arm()
    v.disarm()
    v.close()
    paths = v.tlog_paths
    assert len(paths) == 3 and paths[0].name.startswith("v1-") and paths[0].name.endswith("-session.tlog")
    assert all(p.name.endswith("-flight.tlog") for p in paths[1:])
    session = read_tlog(paths[0])
    stamps = [u for u, _ in session]
    assert stamps == sorted(stamps) and abs(stamps[-1] / 1e6 - time.time()) < 120
    sources = {(m.get_srcSystem(), m.get_type()) for _, m in session}
    assert (255, "HEARTBEAT") in sources and (255, "COMMAND_LONG") in sources  # what we sent
    assert (1, "HEARTBEAT") in sources and (1, "COMMAND_ACK") in sources  # what the vehicle sent
    flight = read_tlog(paths[1])
    vehicle_hb = [m for _, m in flight if m.get_type() == "HEARTBEAT" and m.get_srcSystem() == 1
                  and m.get_srcComponent() == 1]
    assert vehicle_hb and all(m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED for m in vehicle_hb)
    assert len(flight) < len(session)
    # and pymavlink's own tlog reader agrees
    mavutil = codec.load_mavutil()
    log = mavutil.mavlink_connection(str(paths[0]))
    assert log.recv_match(type="HEARTBEAT") is not None


def test_udpout_link(make_vehicle):
    peer = ScriptedVehicle(udp="server").start()
    try:
        v = make_vehicle(peer.url)
        assert v.wait_ready(10).system_id == 1
        assert v.arm().result == 0
    finally:
        peer.stop()


def test_udpin_link(make_vehicle):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    v = make_vehicle(f"udpin:127.0.0.1:{port}")
    peer = ScriptedVehicle(udp="client").start(udp_target_port=port)
    try:
        assert v.wait_ready(10).link_up
        v.set_mode("LOITER")
        assert v.state.mode == "LOITER"
    finally:
        peer.stop()


def test_fleet_shares_one_event_sink(events):
    peers = [ScriptedVehicle(system_id=i + 1).start() for i in range(3)]
    fleet = Fleet(on_event=events)
    try:
        for i, p in enumerate(peers):
            fleet.add(f"copter-{i}", p.url, heartbeat_period_s=0.2, stream_rates_hz={})
        with pytest.raises(InvalidRequest, match="already"):
            fleet.add("copter-0", peers[0].url)
        for i in range(3):
            assert fleet.get(f"copter-{i}").wait_ready(10).system_id == i + 1
        ups = {e.vehicle_id for e in events.of(LinkChanged) if e.up}
        assert ups == {"copter-0", "copter-1", "copter-2"}
        assert sorted(fleet.vehicles) == ["copter-0", "copter-1", "copter-2"]
        assert fleet.get("nope") is None
    finally:
        fleet.close()
        for p in peers:
            p.stop()
    assert not fleet.vehicles


@pytest.mark.parametrize("url, endpoint", [
    ("tcp:127.0.0.1:5760", Endpoint("tcp", host="127.0.0.1", port=5760)),
    ("udpin:0.0.0.0:14550", Endpoint("udpin", host="0.0.0.0", port=14550)),
    ("udp:127.0.0.1:14550", Endpoint("udpin", host="127.0.0.1", port=14550)),
    ("udpout:10.0.0.2:14550", Endpoint("udpout", host="10.0.0.2", port=14550)),
    ("/dev/ttyUSB0", Endpoint("serial", device="/dev/ttyUSB0", baud=115200)),
    ("/dev/ttyACM0,57600", Endpoint("serial", device="/dev/ttyACM0", baud=57600)),
    ("serial:/dev/ttyS1:921600", Endpoint("serial", device="/dev/ttyS1", baud=921600)),
])
def test_parse_url(url, endpoint):
    assert parse_url(url) == endpoint


def test_tracker_folds_messages():
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    t = StateTracker("v")
    events: list = []
    prearm = mavlink.MAV_SYS_STATUS_PREARM_CHECK
    msgs = [
        mav.heartbeat_encode(2, 3, 1 | 128, 3, 4),
        mav.attitude_encode(0, 0.1, -0.2, 3.0, 0, 0, 0),
        mav.sys_status_encode(prearm, prearm, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0),
        mav.ekf_status_report_encode(mavlink.EKF_ATTITUDE | mavlink.EKF_POS_HORIZ_ABS, 0, 0, 0, 0, 0),
        mav.mission_current_encode(2),
        mav.mission_item_reached_encode(1),
        mav.statustext_encode(2, b"PreArm: Need Position Estimate"),
        mav.extended_sys_state_encode(0, 2),
        mav.autopilot_version_encode(0, 0x04050700 | 255, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, 0),
        mav.param_value_encode(b"SIM_SPEEDUP", 1.0, 9, 100, 3),
    ]
    for i, m in enumerate(msgs):
        t.update(mavlink.MAVLink(None).decode(bytearray(m.pack(mav))), float(i), events)
    s = t.snapshot()
    assert s.armed and s.mode == "AUTO" and s.custom_mode == 3
    assert s.roll_deg == pytest.approx(5.7296, abs=1e-3) and s.pitch_deg == pytest.approx(-11.459, abs=1e-3)
    assert s.battery_pct is None and s.battery_voltage_v is None
    assert s.prearm_ok is False and s.ekf_ok is True and not s.ready_to_arm
    assert s.mission_seq == 2 and s.mission_reached_seq == 1 and s.landed_state == 2
    assert s.firmware_version == "4.5.7-official" and s.is_simulator is True
    assert s.messages_received == len(msgs) and s.last_message_s == len(msgs) - 1
    assert [type(e) for e in events] == [MissionProgress, MissionProgress, StatusText]
    assert events[1].reached_seq == 1 and events[2].text == "PreArm: Need Position Estimate"
    assert t.snapshot() is s  # cached until something changes


def test_serial_link_over_a_pty(make_vehicle):
    """A serial URL, end to end: the 'vehicle' writes MAVLink into the master side of a pseudo-terminal."""
    import os
    import threading

    master, slave = os.openpty()
    path = os.ttyname(slave)
    stop = threading.Event()
    got = []

    def vehicle_side():
        mav = mavlink.MAVLink(None, srcSystem=3, srcComponent=1)
        parser = mavlink.MAVLink(None)
        parser.robust_parsing = True
        os.set_blocking(master, False)
        while not stop.is_set():
            for m in (mav.heartbeat_encode(2, 3, 1, 5, 3),
                      mav.global_position_int_encode(0, 230469000, 1124651000, 10000, 0, 0, 0, 0, 0)):
                os.write(master, m.pack(mav))
            try:
                got.extend(parser.parse_buffer(os.read(master, 4096)) or [])
            except BlockingIOError:
                pass
            stop.wait(0.05)

    t = threading.Thread(target=vehicle_side, daemon=True)
    t.start()
    try:
        v = make_vehicle(f"serial:{path}:57600")
        s = v.wait_until(lambda s: s.link_up and s.lat_deg is not None, 10)
        assert s.system_id == 3 and s.mode == "LOITER" and s.lat_deg == pytest.approx(23.0469)
        wait_for(lambda: any(m.get_type() == "HEARTBEAT" and m.get_srcSystem() == 255 for m in list(got)), 10,
                 "a GCS heartbeat coming out of the serial port")
    finally:
        stop.set()
        t.join(5)
        os.close(master)
        os.close(slave)


def test_codec_uses_fastcrc():
    assert codec.mavlink.mcrf4xx is not None  # pymavlink found fastcrc: CRCs run in native code


def test_unwritable_tlog_dir_is_reported_and_the_link_lives(peer, make_vehicle, events, tmp_path):
    from telemetry.records import LinkError

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the tlog directory should be")
    v = make_vehicle(peer.url, tlog_dir=blocker / "tlogs")
    v.wait_ready(10)
    err = events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "tlog")
    assert "tlog writing stopped" in err.detail
    assert v.arm().result == 0 and v.state.link_up
