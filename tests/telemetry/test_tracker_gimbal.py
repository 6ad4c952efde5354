"""The state tracker on gimbal reports: GIMBAL_DEVICE_ATTITUDE_STATUS (gimbal protocol v2) and MOUNT_STATUS."""
from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from pymavlink.quaternion import QuaternionBase

from telemetry.tracker import StateTracker

NAN = float("nan")
VEHICLE_FRAME = mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
EARTH_FRAME = mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
YAW_LOCK = mavlink.GIMBAL_DEVICE_FLAGS_YAW_LOCK
ROLL_PITCH_LOCK = mavlink.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | mavlink.GIMBAL_DEVICE_FLAGS_PITCH_LOCK


def q(roll_deg: float, pitch_deg: float, yaw_deg: float) -> list[float]:
    return list(QuaternionBase([math.radians(roll_deg), math.radians(pitch_deg), math.radians(yaw_deg)]).q)


def decoded(msg, component: int = 1):
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=component)
    return mavlink.MAVLink(None).decode(bytearray(msg.pack(mav)))


def tracker_heading(heading_deg: float | None) -> StateTracker:
    t = StateTracker("v")
    if heading_deg is not None:
        t.update(decoded(mavlink.MAVLink_vfr_hud_message(0, 0, int(heading_deg), 0, 0, 0)), 0.0, [])
    return t


def attitude_status(flags: int, quaternion, delta_yaw: float = NAN, device_id: int = 1):
    return mavlink.MAVLink_gimbal_device_attitude_status_message(
        0, 0, 1000, flags, quaternion, NAN, NAN, NAN, 0, delta_yaw, NAN, device_id)


# name, vehicle heading, flags, gimbal (roll, pitch, yaw) in the message's frame, delta_yaw (deg), expected
# (roll, pitch, yaw relative to the nose) or None for "not reported"
CASES = [
    ("ArduPilot master: vehicle frame", 100.0, ROLL_PITCH_LOCK | VEHICLE_FRAME, (0, -40, 10), NAN, (0, -40, 10)),
    ("ArduPilot master, ROI: vehicle frame wins over yaw lock", 100.0,
     ROLL_PITCH_LOCK | VEHICLE_FRAME | YAW_LOCK, (0, -60, -25), NAN, (0, -60, -25)),
    ("ArduPilot 4.4: no frame flag, no lock = vehicle frame", 100.0, ROLL_PITCH_LOCK, (2, -30, 15), NAN, (2, -30, 15)),
    ("legacy yaw lock = earth frame, minus the heading", 100.0, ROLL_PITCH_LOCK | YAW_LOCK, (0, -30, 130), 40.0,
     (0, -30, 30)),
    ("earth frame with delta_yaw", 100.0, EARTH_FRAME, (0, -20, 50), 80.0, (0, -20, -30)),
    ("earth frame without delta_yaw uses the heading", 350.0, EARTH_FRAME, (0, -20, 20), NAN, (0, -20, 30)),
    ("earth frame, heading unknown: yaw unknown", None, EARTH_FRAME, (0, -20, 20), NAN, (0, -20, None)),
    ("straight down", 0.0, VEHICLE_FRAME, (0, -90, 0), NAN, (0, -90, 0)),
]


@pytest.mark.parametrize("name, heading, flags, angles, delta_yaw_deg, expected", CASES, ids=[c[0] for c in CASES])
def test_gimbal_device_attitude_status(name, heading, flags, angles, delta_yaw_deg, expected):
    t = tracker_heading(heading)
    delta = NAN if math.isnan(delta_yaw_deg) else math.radians(delta_yaw_deg)
    t.update(decoded(attitude_status(flags, q(*angles), delta)), 1.0, [])
    s = t.snapshot()
    roll, pitch, yaw = expected
    assert s.gimbal_roll_deg == pytest.approx(roll, abs=1e-3)
    assert s.gimbal_pitch_deg == pytest.approx(pitch, abs=1e-3)
    assert s.gimbal_yaw_deg == (None if yaw is None else pytest.approx(yaw, abs=1e-3))


@pytest.mark.parametrize("msg, why", [
    (attitude_status(VEHICLE_FRAME, q(0, -40, 0), device_id=2), "a second gimbal"),
    (attitude_status(VEHICLE_FRAME, [NAN, NAN, NAN, NAN]), "attitude unknown (NaN)"),
    (attitude_status(VEHICLE_FRAME, [0.0, 0.0, 0.0, 0.0]), "no quaternion"),
])
def test_gimbal_reports_that_say_nothing_about_our_gimbal_are_ignored(msg, why):
    t = StateTracker("v")
    t.update(decoded(msg), 1.0, [])
    assert t.snapshot().gimbal_pitch_deg is None, why


def test_a_mavlink_gimbal_component_reports_too():
    t = StateTracker("v")
    t.update(decoded(attitude_status(VEHICLE_FRAME, q(0, -45, 5), device_id=0), component=154), 1.0, [])
    assert t.snapshot().gimbal_pitch_deg == pytest.approx(-45.0, abs=1e-3)


def test_mount_status_from_older_firmware():
    t = StateTracker("v")
    t.update(decoded(mavlink.MAVLink_mount_status_message(0, 0, -4000, 150, 1000, 2)), 1.0, [])
    s = t.snapshot()
    assert (s.gimbal_pitch_deg, s.gimbal_roll_deg, s.gimbal_yaw_deg) == (-40.0, 1.5, 10.0)
