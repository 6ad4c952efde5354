"""Bad input on a link: garbage and corrupt frames, a vehicle that vanishes mid-command, a flapping link,
a vehicle that is not there yet, a broken event callback. The link must report and carry on."""
from __future__ import annotations

import os
import random
import socket

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.errors import CommandTimeout, LinkDown, MissionError
from telemetry.records import LinkChanged, LinkError, MissionItem
from telemetry.vehicle import Vehicle
from tests.telemetry.peer import ScriptedVehicle
from tests.waiting import wait_for

BANNER = (b"Init ArduCopter V4.7.0-dev (5151c8d2)\r\n\r\nFree RAM: 262144\r\nFW Type: 0x00\r\n"
          b"Starting sensors\r\nSIM Hardware starting\r\nsuspend_timer_procs\r\nbind port 5760 for SERIAL0\r\n")


def test_garbage_bytes_are_counted_reported_and_survived(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    rng = random.Random(7)
    for _ in range(200):
        peer.send_raw(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
    peer.send_raw(b"\x00" * 1000 + b"hello, this is not MAVLink\r\n" * 20)
    err = events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "garbage")
    assert err.vehicle_id == "v1" and err.count >= 1 and "prefix" in err.detail
    # the link stays up and the state keeps updating
    before = v.state.messages_received
    v.wait_until(lambda s: s.messages_received > before + 20, 10)
    assert v.state.link_up and v.state.link_errors > 0
    assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0
    assert not [e for e in events.of(LinkChanged) if not e.up]


def test_error_reports_are_rate_limited(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    good = peer._mav.heartbeat_encode(2, 3, 0, 0, 0).pack(peer._mav)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    for _ in range(500):
        peer.send_raw(bytes(bad_crc))
    events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "bad_crc")
    v.wait_until(lambda s: s.link_errors >= 500, 10)

    def reports():
        return [e for e in events.of(LinkError) if e.kind == "bad_crc"]

    wait_for(lambda: sum(e.count for e in reports()) >= 500, 10, "every bad CRC reported")
    assert sum(e.count for e in reports()) == 500
    assert len(reports()) < 20  # 500 errors, a handful of events
    assert v.state.link_up


def test_truncated_and_oversized_frames(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    peer.send_raw(b"\xfd\xff" + os.urandom(40))  # a header that claims 255 bytes, then random data
    peer.send_raw(b"\xfe\x09\x00")  # a MAVLink 1 header cut short
    before = v.state.messages_received
    v.wait_until(lambda s: s.messages_received > before + 20, 10)
    assert v.state.link_up


def test_vehicle_vanishes_mid_command(peer, make_vehicle, events):
    v = make_vehicle(peer.url, link_timeout_s=0.8)
    v.wait_ready(10)
    peer.command_results[mavlink.MAV_CMD_DO_SET_HOME] = None
    peer.silent = True  # frozen: no heartbeats, no answers, socket still open
    with pytest.raises((LinkDown, CommandTimeout)) as err:
        v.command_long(mavlink.MAV_CMD_DO_SET_HOME, [1], timeout_s=0.5, retries=10)
    assert "v1" in str(err.value)
    events.wait_for(lambda e: isinstance(e, LinkChanged) and not e.up)
    with pytest.raises(LinkDown, match="link is down"):
        v.arm()
    with pytest.raises(LinkDown):
        v.upload_mission([MissionItem(16)])
    peer.silent = False
    v.wait_until(lambda s: s.link_up, 10)
    assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0


def test_mission_upload_interrupted_by_link_loss(peer, make_vehicle):
    v = make_vehicle(peer.url, link_timeout_s=0.8)
    v.wait_ready(10)
    peer.silent = True
    with pytest.raises((LinkDown, MissionError)):
        v.upload_mission([MissionItem(16)] * 5, item_timeout_s=0.3, max_retries=20)


def test_flapping_link_reconnects_and_reports_each_change(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    for i in range(3):
        peer.drop_connection()
        wait_for(lambda: len([e for e in events.of(LinkChanged) if not e.up]) >= i + 1, 10, f"link down #{i + 1}")
        v.wait_until(lambda s: s.link_up, 10)
    changes = [e.up for e in events.of(LinkChanged)]
    assert changes[:7] == [True, False, True, False, True, False, True]
    assert peer.connections >= 4
    assert "closed" in [e for e in events.of(LinkChanged) if not e.up][0].reason
    assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0


def test_silent_tcp_link_is_reconnected(peer, make_vehicle, events):
    v = make_vehicle(peer.url, link_timeout_s=0.3, silence_reconnect_s=0.6)
    v.wait_ready(10)
    peer.silent = True
    events.wait_for(lambda e: isinstance(e, LinkChanged) and not e.up)
    # the station dropped the half-dead TCP stream and connected again
    wait_for(lambda: peer.connections >= 2, 10, "a second TCP connection")
    peer.silent = False
    v.wait_until(lambda s: s.link_up, 10)


def test_vehicle_not_there_yet(make_vehicle, events):
    with socket.socket() as s:  # a free port that nobody listens on (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    v = make_vehicle(f"tcp:127.0.0.1:{port}")
    err = events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "connect")
    assert "refused" in err.detail.lower()
    with pytest.raises(LinkDown):
        v.arm()
    peer = ScriptedVehicle()
    peer._server.close()
    peer._server = socket.socket()
    peer._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    peer._server.bind(("127.0.0.1", port))
    peer._server.listen(1)
    peer.start()
    try:
        assert v.wait_ready(15).link_up
    finally:
        peer.stop()


def test_broken_event_callback_does_not_kill_the_link(peer):
    calls = []

    def explode(event):
        calls.append(event)
        raise RuntimeError("station bug")

    v = Vehicle("v1", peer.url, on_event=explode, heartbeat_period_s=0.2, stream_rates_hz={}).start()
    try:
        v.wait_ready(10)
        n = len(calls)
        v.wait_until(lambda s: len(calls) > n + 5, 10)
        assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0
    finally:
        v.close()


def test_messages_from_other_systems_are_ignored(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    other = mavlink.MAVLink(None, srcSystem=7, srcComponent=1)
    for _ in range(20):
        peer.send_raw(other.global_position_int_encode(0, 10, 10, 0, 999000, 0, 0, 0, 0).pack(other))
    before = v.state.messages_received
    v.wait_until(lambda s: s.messages_received > before + 20, 10)
    assert v.state.alt_rel_m == 0.0 and v.state.system_id == 1


def test_boot_text_before_the_first_frame_is_skipped_quietly_on_every_connection(peer, make_vehicle, events):
    peer.boot_text = BANNER  # what SITL prints on SERIAL0 before MAVLink
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.wait_until(lambda s: s.boot_bytes_skipped == len(BANNER), 10).boot_bytes_skipped == len(BANNER)
    peer.drop_connection()  # a reconnect starts over: the banner again, skipped again
    events.wait_for(lambda e: isinstance(e, LinkChanged) and not e.up)
    v.wait_until(lambda s: s.link_up and s.boot_bytes_skipped == 2 * len(BANNER), 10, "second banner skipped")
    assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0
    assert events.of(LinkError) == []
    assert v.state.link_errors == 0


def test_garbage_after_the_first_frame_is_still_reported(peer, make_vehicle, events):
    peer.boot_text = BANNER
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    peer.send_raw(b"Free RAM: 262144\r\n" * 4)  # text once MAVLink has started is garbage
    err = events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "garbage")
    assert "prefix" in err.detail and v.state.boot_bytes_skipped == len(BANNER)


def test_endless_text_before_any_frame_is_reported_beyond_the_allowance(peer, make_vehicle, events):
    """A port that never speaks MAVLink (wrong baud rate, not a vehicle) must not stay silent forever."""
    peer.boot_text = b"not MAVLink at all\r\n" * 300  # 6,300 bytes, more than the 4,096 allowed
    make_vehicle(peer.url, boot_text_max_bytes=4096)
    err = events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "garbage")
    assert "prefix" in err.detail
