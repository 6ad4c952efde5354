"""The MAVLink 2 codec: the one place in telemetry/ that loads pymavlink, plus the names and unit conversions.

`mavlink` is pymavlink's generated ArduPilot dialect for MAVLink 2 (it imports `fastcrc` when installed,
which makes CRCs 2-3x cheaper). `load_mavutil()` is the only way telemetry/ reaches `mavutil`: it sets
MAVLINK20=1 first, as pymavlink requires, so mavutil's own dialect is the MAVLink 2 one too.
"""
from __future__ import annotations

import math
import os
import struct
from types import MappingProxyType, ModuleType

from pymavlink.dialects.v20 import ardupilotmega as mavlink

# ArduPilot's "force" magic for MAV_CMD_COMPONENT_ARM_DISARM param2.
ARM_FORCE_MAGIC = 21196.0

# Frames whose x/y carry latitude/longitude (MISSION_ITEM_INT: degrees * 1e7).
GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})
# Frames whose altitude is relative to home; the *_INT variant and the plain one mean the same thing.
EQUIVALENT_FRAMES = MappingProxyType({5: 0, 6: 3, 11: 10})  # GLOBAL_INT->GLOBAL, GLOBAL_RELATIVE_ALT_INT->.._ALT


def load_mavutil() -> ModuleType:
    """Import pymavlink's mavutil with MAVLINK20=1 set beforehand (pymavlink reads it at import)."""
    os.environ["MAVLINK20"] = "1"
    from pymavlink import mavutil

    return mavutil


def new_codec(source_system: int, source_component: int) -> mavlink.MAVLink:
    """A MAVLink 2 encoder/parser that tolerates garbage (bad bytes become BAD_DATA messages)."""
    codec = mavlink.MAVLink(None, srcSystem=source_system, srcComponent=source_component)
    codec.robust_parsing = True
    return codec


def enum_name(enum: str, value: int) -> str:
    """Symbolic name of a MAVLink enum value, e.g. enum_name("MAV_TYPE", 2) == "MAV_TYPE_QUADROTOR"."""
    entry = mavlink.enums.get(enum, {}).get(value)
    return entry.name if entry is not None else f"{enum}_{value}"


def command_name(command: int) -> str:
    return enum_name("MAV_CMD", command)


def result_name(result: int) -> str:
    return enum_name("MAV_RESULT", result)


def mission_result_name(result: int) -> str:
    return enum_name("MAV_MISSION_RESULT", result)


def message_id(message: str | int) -> int:
    """MAVLink message id for a name like "GLOBAL_POSITION_INT" (or the id itself)."""
    if isinstance(message, int):
        return message
    msg_id = getattr(mavlink, f"MAVLINK_MSG_ID_{message.upper()}", None)
    if msg_id is None:
        raise KeyError(message)
    return int(msg_id)


def mode_map(mav_type: int | None) -> dict[int, str]:
    """custom_mode number -> name for an ArduPilot vehicle of this MAV_TYPE (ArduCopter when unknown)."""
    mavutil = load_mavutil()
    mapping = mavutil.mode_mapping_bynumber(mav_type) if mav_type is not None else None
    return dict(mapping) if mapping else dict(mavutil.mode_mapping_acm)


def euler_deg(q) -> tuple[float, float, float] | None:
    """(roll, pitch, yaw) in degrees of a MAVLink quaternion [w, x, y, z] (aerospace 3-2-1 order: yaw about z
    down, then pitch, positive nose up, then roll), or None when it is unknown (NaN or all zeros)."""
    values = [float(v) for v in q]
    if len(values) != 4 or any(math.isnan(v) for v in values) or not any(values):
        return None
    from pymavlink.quaternion import QuaternionBase  # numpy underneath: loaded on first use

    m = QuaternionBase(values).dcm  # body -> earth rotation matrix
    # pitch from atan2 rather than asin: well conditioned near +-90 (a camera looking straight down)
    pitch = math.atan2(-m[2][0], math.hypot(m[0][0], m[1][0]))
    roll = math.atan2(m[2][1], m[2][2])
    yaw = math.atan2(m[1][0], m[0][0])
    return math.degrees(roll), math.degrees(pitch), math.degrees(yaw)


def wrap_180(deg: float) -> float:
    """An angle in degrees folded into -180 <= a < 180."""
    return (deg + 180.0) % 360.0 - 180.0


def deg_to_e7(deg: float) -> int:
    return int(round(deg * 1e7))


def float32(value: float) -> float:
    """`value` as it comes back after a trip through a MAVLink float field."""
    if math.isnan(value) or math.isinf(value):
        return value
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def is_vehicle_heartbeat(msg) -> bool:
    """Heartbeat of an autopilot, not of a GCS, gimbal, camera, ADS-B receiver or companion computer."""
    if msg.autopilot == mavlink.MAV_AUTOPILOT_INVALID:
        return False
    return msg.type not in (
        mavlink.MAV_TYPE_GCS,
        mavlink.MAV_TYPE_GIMBAL,
        mavlink.MAV_TYPE_ADSB,
        mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
        mavlink.MAV_TYPE_CAMERA,
        mavlink.MAV_TYPE_ANTENNA_TRACKER,
    )
