"""Vehicle state and the command protocol against a scripted MAVLink peer over loopback TCP."""
from __future__ import annotations

import logging
import math

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
from telemetry.link import LinkSettings
from telemetry.records import LinkChanged, LinkError, StateUpdated, StatusText
from telemetry.vehicle import DEFAULT_STREAM_RATES_HZ, OPTIONAL_STREAMS
from tests.waiting import wait_for


def test_state_follows_the_vehicle(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    # one telemetry burst may arrive in several TCP reads: wait for its last message too
    s = v.wait_until(lambda s: s.home is not None and s.mission_seq is not None, 10, "a whole telemetry burst")
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


def test_start_mission_sends_mission_start_and_confirms_auto(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.arm()
    ack = v.start_mission()
    assert ack.command == mavlink.MAV_CMD_MISSION_START and ack.result == mavlink.MAV_RESULT_ACCEPTED
    assert v.state.mode == "AUTO"
    sent = [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_MISSION_START]
    assert len(sent) == 1 and (sent[0].param1, sent[0].param2) == (0.0, 0.0)  # ArduCopter DENIES first/last item
    assert (sent[0].target_system, sent[0].target_component) == (1, 1)
    assert not [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_SET_MODE]


def test_start_mission_refused_carries_the_reason(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_MISSION_START] = mavlink.MAV_RESULT_FAILED
    peer.statustext_before_ack[mavlink.MAV_CMD_MISSION_START] = "Mode change to AUTO failed: init failed"
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused, match="init failed") as err:
        v.start_mission()
    assert err.value.result == mavlink.MAV_RESULT_FAILED and v.state.mode == "GUIDED"


def test_start_mission_accepted_but_not_auto_raises_not_confirmed(peer, make_vehicle):
    peer.confirm_mode_in_heartbeat = False
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(NotConfirmed, match="mode AUTO"):
        v.start_mission(confirm_timeout_s=0.5)


# --- refusal reasons: the STATUSTEXT of the command's window, whatever its severity ---------------------------

def test_an_info_statustext_explains_a_refusal(peer, make_vehicle):
    """ArduPilot explains a refused stream at INFO: "No ap_message for mavlink id (158)"."""
    peer.command_results[mavlink.MAV_CMD_SET_MESSAGE_INTERVAL] = mavlink.MAV_RESULT_DENIED
    peer.statustext_before_ack[mavlink.MAV_CMD_SET_MESSAGE_INTERVAL] = (
        mavlink.MAV_SEVERITY_INFO, "No ap_message for mavlink id (158)")
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused) as err:
        v.set_message_interval("MOUNT_STATUS", 2)
    assert err.value.result == mavlink.MAV_RESULT_DENIED
    assert err.value.reason == "No ap_message for mavlink id (158)"


def test_a_warning_in_the_window_wins_over_info_chatter(peer, make_vehicle):
    def chatter_then_refuse(msg):
        peer._statustext((mavlink.MAV_SEVERITY_INFO, "EKF3 IMU0 is using GPS"))
        peer._statustext((mavlink.MAV_SEVERITY_WARNING, "Arm: Throttle too high"))
        peer._statustext((mavlink.MAV_SEVERITY_DEBUG, "debug noise"))
        return mavlink.MAV_RESULT_FAILED

    peer.command_results[mavlink.MAV_CMD_COMPONENT_ARM_DISARM] = chatter_then_refuse
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused) as err:
        v.arm()
    assert err.value.reason == "Arm: Throttle too high"


def test_a_text_just_after_the_refusing_ack_is_its_reason(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_DO_SET_MODE] = mavlink.MAV_RESULT_FAILED
    peer.statustext_after_ack[mavlink.MAV_CMD_DO_SET_MODE] = (mavlink.MAV_SEVERITY_NOTICE, "Mode change failed")
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused, match="Mode change failed"):
        v.set_mode("LOITER")


def test_texts_outside_the_command_window_are_not_attached(peer, make_vehicle, events):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    peer._statustext((mavlink.MAV_SEVERITY_WARNING, "unrelated earlier warning"))
    events.wait_for(lambda e: isinstance(e, StatusText) and e.text == "unrelated earlier warning")
    peer.command_results[mavlink.MAV_CMD_DO_SET_HOME] = mavlink.MAV_RESULT_FAILED
    with pytest.raises(CommandRefused) as err:
        v.command_long(mavlink.MAV_CMD_DO_SET_HOME, [1])
    assert err.value.reason == ""


# --- gimbal, region of interest, relay -----------------------------------------------------------------------

def test_point_gimbal_uses_gimbal_manager_pitchyaw_with_yaw_relative_to_the_nose(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.point_gimbal(-40.0, 10.0).command == mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW
    cmd = peer.wait_for(lambda m: m.get_type() == "COMMAND_LONG"
                        and m.command == mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW)
    assert (cmd.param1, cmd.param2) == (-40.0, 10.0)
    assert math.isnan(cmd.param3) and math.isnan(cmd.param4)  # no rates
    assert int(cmd.param5) & mavlink.GIMBAL_MANAGER_FLAGS_YAW_LOCK == 0 and cmd.param7 == 0  # vehicle frame, primary
    assert not [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_MOUNT_CONTROL]


def test_point_gimbal_falls_back_to_mount_control_when_unsupported(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW] = mavlink.MAV_RESULT_UNSUPPORTED
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.point_gimbal(-30.0, -5.0).command == mavlink.MAV_CMD_DO_MOUNT_CONTROL
    cmd = peer.wait_for(lambda m: m.get_type() == "COMMAND_LONG" and m.command == mavlink.MAV_CMD_DO_MOUNT_CONTROL)
    assert (cmd.param1, cmd.param3, cmd.param7) == (-30.0, -5.0, mavlink.MAV_MOUNT_MODE_MAVLINK_TARGETING)


def test_point_gimbal_failed_means_no_mount_and_is_not_retried_the_old_way(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW] = mavlink.MAV_RESULT_FAILED
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused) as err:
        v.point_gimbal(-30.0)
    assert err.value.result == mavlink.MAV_RESULT_FAILED
    assert not [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_MOUNT_CONTROL]
    with pytest.raises(InvalidRequest, match="out of range"):
        v.point_gimbal(-120.0)


def test_region_of_interest_set_and_cleared(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.set_roi(-35.3632, 149.1660, 2.5).result == mavlink.MAV_RESULT_ACCEPTED
    cmd = peer.wait_for(lambda m: m.get_type() == "COMMAND_INT" and m.command == mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert cmd.frame == mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    assert (cmd.x, cmd.y, cmd.z) == (-353632000, 1491660000, 2.5)
    assert v.clear_roi().command == mavlink.MAV_CMD_DO_SET_ROI_NONE
    with pytest.raises(InvalidRequest, match="invalid position"):
        v.set_roi(95.0, 0.0, 0.0)


def test_relay_on_and_off(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.set_relay(0, True)
    v.set_relay(2, False)
    sent = [(m.param1, m.param2) for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_DO_SET_RELAY]
    assert sent == [(0.0, 1.0), (2.0, 0.0)]
    with pytest.raises(InvalidRequest, match="relay number"):
        v.set_relay(-1, True)


# --- link-up configuration and settings ----------------------------------------------------------------------

def test_a_refused_optional_stream_is_not_a_link_error_but_a_required_one_is(peer, make_vehicle, events, caplog):
    def deny_some(msg):
        refused = (mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS, mavlink.MAVLINK_MSG_ID_MOUNT_STATUS,
                   mavlink.MAVLINK_MSG_ID_VFR_HUD)
        return mavlink.MAV_RESULT_DENIED if int(msg.param1) in refused else mavlink.MAV_RESULT_ACCEPTED

    def interval_requests(msg_id: int) -> int:
        return len([m for m in peer.messages("COMMAND_LONG")
                    if m.command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL and m.param1 == msg_id])

    caplog.set_level(logging.INFO, logger="telemetry.vehicle")
    peer.command_results[mavlink.MAV_CMD_SET_MESSAGE_INTERVAL] = deny_some
    v = make_vehicle(peer.url, stream_rates_hz={"GIMBAL_DEVICE_ATTITUDE_STATUS": 2, "MOUNT_STATUS": 2, "VFR_HUD": 2})
    v.wait_ready(10)
    err = events.wait_for(lambda e: isinstance(e, LinkError) and e.kind == "setup")
    assert "VFR_HUD" in err.detail and err.count == 1
    assert "GIMBAL" not in err.detail and "MOUNT_STATUS" not in err.detail
    peer.drop_connection()  # link-up again: configured again, the optional refusal is not logged again
    wait_for(lambda: interval_requests(mavlink.MAVLINK_MSG_ID_VFR_HUD) >= 2, 10, "the second link-up's setup")
    wait_for(lambda: len([e for e in events.of(LinkError) if e.kind == "setup"]) >= 2, 10, "second setup error")
    assert interval_requests(mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS) >= 2
    said = [r.getMessage() for r in caplog.records if "optional stream" in r.getMessage()]
    assert len(said) == 2 and all(r.levelno == logging.INFO for r in caplog.records if "optional" in r.getMessage())
    assert any("GIMBAL_DEVICE_ATTITUDE_STATUS" in m for m in said) and any("MOUNT_STATUS" in m for m in said)


def test_gimbal_v2_is_in_the_default_streams_instead_of_mount_status():
    assert "GIMBAL_DEVICE_ATTITUDE_STATUS" in DEFAULT_STREAM_RATES_HZ and "MOUNT_STATUS" not in DEFAULT_STREAM_RATES_HZ
    assert {"GIMBAL_DEVICE_ATTITUDE_STATUS", "MOUNT_STATUS"} <= OPTIONAL_STREAMS
    assert "GLOBAL_POSITION_INT" not in OPTIONAL_STREAMS


def test_link_settings_come_as_one_record_or_as_single_overrides(peer):
    from telemetry.vehicle import Vehicle

    settings = LinkSettings(source_system=250, heartbeat_period_s=0.2)
    v = Vehicle("v1", peer.url, link=settings, source_component=191, stream_rates_hz={}).start()
    try:
        v.wait_ready(10)
        hb = peer.wait_for(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcSystem() == 250)
        assert hb.get_srcComponent() == 191
    finally:
        v.close()
    with pytest.raises(InvalidRequest, match="unknown settings heartbeat_hz"):
        Vehicle("x", peer.url, heartbeat_hz=2)
    with pytest.raises(InvalidRequest, match="reconnect_backoff_s"):
        Vehicle("x", peer.url, link=LinkSettings(reconnect_backoff_s=(2.0, 1.0)))
