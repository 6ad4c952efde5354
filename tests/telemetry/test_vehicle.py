"""Vehicle state and the command protocol against a scripted MAVLink peer over loopback TCP."""
from __future__ import annotations

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.errors import (
    CommandRefused,
    CommandTimeout,
    InvalidRequest,
    NotConfirmed,
    TelemetryError,
    WaitTimeout,
)
from telemetry.records import LinkChanged, StateUpdated


def test_state_follows_the_vehicle(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    s = v.wait_ready(10)
    assert s.link_up and s.system_id == 1 and s.component_id == 1  # the gimbal's heartbeat was not taken
    assert s.mode == "GUIDED" and s.custom_mode == 4 and not s.armed
    assert s.vehicle_type == mavlink.MAV_TYPE_QUADROTOR and s.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert s.lat_deg == pytest.approx(-35.3632621) and s.lon_deg == pytest.approx(149.1652374)
    assert s.alt_amsl_m == pytest.approx(584.0) and s.alt_rel_m == 0.0
    assert s.heading_deg == pytest.approx(90.0) and s.groundspeed_m_s == pytest.approx(1.0)
    assert s.battery_pct == 87.0 and s.battery_voltage_v == pytest.approx(12.6)
    assert s.gps_fix_type == 3 and s.satellites_visible == 10
    assert s.prearm_ok is True and s.ready_to_arm
    assert s.home is not None and s.home.lat_deg == pytest.approx(-35.3632621)
    assert s.home.alt_amsl_m == pytest.approx(584.0)
    assert s.mission_seq == 0
    assert events.wait_for(lambda e: isinstance(e, LinkChanged) and e.up).vehicle_id == "v1"
    assert events.wait_for(lambda e: isinstance(e, StateUpdated) and e.state.ready_to_arm)


def test_station_sends_gcs_heartbeats(peer, make_vehicle):
    v = make_vehicle(peer.url, source_system=250, source_component=191)
    v.wait_ready(10)
    hb = peer.wait_for(lambda m: m.get_type() == "HEARTBEAT" and len(peer.messages("HEARTBEAT")) >= 3)
    assert hb.type == mavlink.MAV_TYPE_GCS and hb.autopilot == mavlink.MAV_AUTOPILOT_INVALID
    assert hb.get_srcSystem() == 250 and hb.get_srcComponent() == 191


def test_not_ready_until_prearm_bit(peer, make_vehicle):
    peer.state.prearm_ok = False
    v = make_vehicle(peer.url)
    with pytest.raises(WaitTimeout, match="pre-arm checks not passing") as err:
        v.wait_ready(1.0)
    assert isinstance(err.value, TimeoutError)
    peer.state.prearm_ok = True
    assert v.wait_ready(10).ready_to_arm


def test_arm_mode_takeoff_goto_confirmed(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.set_mode("LOITER")
    assert v.state.mode == "LOITER"
    ack = v.arm()
    assert ack.result == mavlink.MAV_RESULT_ACCEPTED and ack.attempts == 1 and v.state.armed
    v.set_mode("guided")
    assert v.takeoff(20).result_name == "MAV_RESULT_ACCEPTED"
    v.wait_until(lambda s: s.alt_rel_m == pytest.approx(20.0), 5)
    v.goto(-35.36, 149.17, 20)
    cmd = peer.wait_for(lambda m: m.get_type() == "COMMAND_INT" and m.command == mavlink.MAV_CMD_DO_REPOSITION)
    assert cmd.frame == mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT and cmd.x == -353600000 and cmd.y == 1491700000
    assert cmd.z == 20.0 and int(cmd.param2) & mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
    v.wait_until(lambda s: s.lon_deg == pytest.approx(149.17), 5)
    v.disarm()
    assert not v.state.armed
    modes = [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_SET_MODE]
    assert [int(m.param2) for m in modes] == [5, 4] and all(m.param1 == 1 for m in modes)
    # commands are addressed to the autopilot that sent the vehicle heartbeat
    assert all(m.target_system == 1 and m.target_component == 1 for m in peer.messages("COMMAND_LONG"))


def test_set_mode_falls_back_to_set_mode_message(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_DO_SET_MODE] = mavlink.MAV_RESULT_UNSUPPORTED
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.set_mode("RTL")
    assert v.state.mode == "RTL"
    assert peer.messages("SET_MODE")[0].custom_mode == 6


def test_unknown_mode_is_refused_before_sending(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(InvalidRequest, match="unknown mode 'HOVERISH'"):
        v.set_mode("HOVERISH")
    assert not [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_SET_MODE]


def test_refusal_carries_result_and_statustext(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_COMPONENT_ARM_DISARM] = mavlink.MAV_RESULT_FAILED
    peer.statustext_before_ack[mavlink.MAV_CMD_COMPONENT_ARM_DISARM] = "PreArm: Need Position Estimate"
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused) as err:
        v.arm()
    e = err.value
    assert e.result == mavlink.MAV_RESULT_FAILED and e.result_name == "MAV_RESULT_FAILED"
    assert e.reason == "PreArm: Need Position Estimate"
    assert "MAV_CMD_COMPONENT_ARM_DISARM (400) refused: MAV_RESULT_FAILED (4): PreArm: Need" in str(e)
    assert not v.state.armed


def test_timeout_after_retries_with_confirmation_counting(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_DO_SET_HOME] = None  # never answered
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandTimeout, match="no COMMAND_ACK after 3 attempts") as err:
        v.command_long(mavlink.MAV_CMD_DO_SET_HOME, [1], timeout_s=0.2, retries=2)
    assert err.value.attempts == 3
    sent = [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_SET_HOME]
    assert [m.confirmation for m in sent] == [0, 1, 2]


def test_ack_matching_ignores_other_commands_and_other_gcs(peer, make_vehicle):
    def decoys_then_accept(msg):
        mav = peer._mav
        peer.send(mav.command_ack_encode(msg.command, 4, 0, 0, 42, 190))  # for another GCS
        peer.send(mav.command_ack_encode(mavlink.MAV_CMD_NAV_LAND, 4, 0, 0, 255, 190))  # another command
        return mavlink.MAV_RESULT_ACCEPTED

    peer.command_results[mavlink.MAV_CMD_DO_CHANGE_SPEED] = decoys_then_accept
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0


def test_in_progress_then_accepted(peer, make_vehicle):
    def progress(msg):
        peer.send(peer._mav.command_ack_encode(msg.command, mavlink.MAV_RESULT_IN_PROGRESS, 50, 0, 255, 190))
        return mavlink.MAV_RESULT_ACCEPTED

    peer.command_results[mavlink.MAV_CMD_PREFLIGHT_CALIBRATION] = progress
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.command_long(mavlink.MAV_CMD_PREFLIGHT_CALIBRATION, [0, 0, 1]).result == 0


def test_arm_accepted_but_never_shown_raises_not_confirmed(peer, make_vehicle):
    peer.confirm_arm_in_heartbeat = False
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(NotConfirmed, match="arm: accepted but not confirmed") as err:
        v.arm(confirm_timeout_s=0.5)
    assert isinstance(err.value, TelemetryError)


def test_set_message_interval_and_bad_names(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.set_message_interval("ATTITUDE", 4.0)
    v.set_message_interval(33, 0)
    sent = [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL]
    assert [(m.param1, m.param2) for m in sent] == [(30, 250000.0), (33, -1.0)]
    with pytest.raises(InvalidRequest, match="unknown MAVLink message"):
        v.set_message_interval("NOT_A_MESSAGE", 1)
    with pytest.raises(InvalidRequest, match="at most 7 params"):
        v.command_long(400, [0] * 8)


def test_stream_rates_requested_on_link_up(peer, make_vehicle):
    v = make_vehicle(peer.url, stream_rates_hz={"GLOBAL_POSITION_INT": 10, "SYS_STATUS": 2})
    v.wait_ready(10)
    peer.wait_for(lambda m: m.get_type() == "COMMAND_LONG" and m.command == 511 and m.param1 == 1)
    sent = {m.param1: m.param2 for m in peer.messages("COMMAND_LONG") if m.command == 511}
    assert sent == {33: 100000.0, 1: 500000.0}
    # and the simulator probe found SIM_SPEEDUP
    assert v.wait_until(lambda s: s.is_simulator is True, 5)


def test_bad_constructor_arguments_are_listed():
    from telemetry.vehicle import Vehicle

    with pytest.raises(InvalidRequest) as err:
        Vehicle("x", "tcp:127.0.0.1:1", source_system=0, link_timeout_s=0, stream_rates_hz={"NOPE": 1})
    msg = str(err.value)
    assert "source_system 0" in msg and "link_timeout_s" in msg and "NOPE" in msg
    for url in ("127.0.0.1:5760x", "tcp:127.0.0.1", "tcp:host:99999", "ftp://x"):
        with pytest.raises(InvalidRequest, match="bad"):
            Vehicle("x", url)
