"""Frozen records that leave telemetry/: vehicle state, link and vehicle events, mission items.

Pure data (no pymavlink import), so the station core can use them. Units are in the names.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class MissionType(Enum):
    """MAV_MISSION_TYPE values."""

    MISSION = 0
    FENCE = 1
    RALLY = 2


@dataclass(frozen=True)
class GeoPoint:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float | None = None


@dataclass(frozen=True)
class VehicleState:
    """Latest known state of one vehicle, as the station sees it."""

    vehicle_id: str
    system_id: int | None = None
    link_up: bool = False
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_rel_m: float | None = None
    alt_amsl_m: float | None = None
    roll_deg: float | None = None
    pitch_deg: float | None = None
    heading_deg: float | None = None
    groundspeed_m_s: float | None = None
    climb_m_s: float | None = None
    battery_pct: float | None = None
    battery_voltage_v: float | None = None
    mode: str | None = None
    armed: bool = False
    gps_fix_type: int | None = None
    satellites_visible: int | None = None
    ready_to_arm: bool = False
    home: GeoPoint | None = None
    mission_seq: int | None = None
    mission_count: int | None = None
    is_simulator: bool | None = None
    last_message_s: float | None = None  # monotonic time of the last message received
    # --- added by telemetry/ (all optional, defaults keep older callers working) ---
    component_id: int | None = None  # the autopilot's MAVLink component id
    components: frozenset[int] = frozenset()  # components that sent a HEARTBEAT (1 autopilot, 100/101 cameras...)
    vehicle_type: int | None = None  # MAV_TYPE from HEARTBEAT (2 = quadrotor)
    autopilot: int | None = None  # MAV_AUTOPILOT from HEARTBEAT (3 = ArduPilot)
    custom_mode: int | None = None  # raw custom_mode from HEARTBEAT (`mode` is its name)
    firmware_version: str | None = None  # from AUTOPILOT_VERSION, e.g. "4.5.7-official"
    landed_state: int | None = None  # MAV_LANDED_STATE from EXTENDED_SYS_STATE (1 = on ground)
    mission_reached_seq: int | None = None  # last MISSION_ITEM_REACHED
    # the gimbal, from GIMBAL_DEVICE_ATTITUDE_STATUS (gimbal protocol v2) or MOUNT_STATUS (older firmware)
    gimbal_pitch_deg: float | None = None  # 0 horizon, -90 straight down
    gimbal_roll_deg: float | None = None
    gimbal_yaw_deg: float | None = None  # relative to the vehicle's nose, -180..180
    prearm_ok: bool | None = None  # SYS_STATUS pre-arm check bit (None: vehicle does not report it)
    ekf_ok: bool | None = None  # EKF_STATUS_REPORT has an absolute horizontal position (None: not seen)
    messages_received: int = 0  # frames decoded from this vehicle since start()
    link_errors: int = 0  # bad/garbage/undecodable frames seen on the link since start()
    boot_bytes_skipped: int = 0  # non-MAVLink bytes (boot text) skipped before connections' first frames

    @property
    def position_known(self) -> bool:
        """A real GPS position: fix 3D or better (when reported) and not the 0,0 of a vehicle still starting up."""
        if self.lat_deg is None or self.lon_deg is None or (self.lat_deg == 0.0 and self.lon_deg == 0.0):
            return False
        return self.gps_fix_type is None or self.gps_fix_type >= 3


@dataclass(frozen=True)
class MissionItem:
    """One mission/fence/rally item (MISSION_ITEM_INT semantics; lat/lon in degrees)."""

    command: int
    frame: int = 3  # MAV_FRAME_GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    alt_m: float = 0.0
    autocontinue: bool = True
    mission_type: MissionType = MissionType.MISSION


@dataclass(frozen=True)
class CommandAck:
    """The vehicle's answer to a COMMAND_LONG/INT."""

    command: int
    result: int  # MAV_RESULT
    result_name: str
    attempts: int
    round_trip_s: float


@dataclass(frozen=True)
class CameraInformation:
    """A MAVLink camera's CAMERA_INFORMATION: who made it and its optics."""

    component_id: int  # the camera's MAVLink component (100 MAV_COMP_ID_CAMERA, 101 CAMERA2, ...)
    vendor: str
    model: str
    focal_length_mm: float | None  # None when the camera does not say (NaN)
    sensor_width_mm: float | None
    sensor_height_mm: float | None
    width_px: int
    height_px: int
    flags: int  # CAMERA_CAP_FLAGS bitmap (1 CAPTURE_VIDEO, 2 CAPTURE_IMAGE, ...)
    firmware_version: int = 0
    definition_uri: str = ""


@dataclass(frozen=True)
class CapturedImage:
    """A CAMERA_IMAGE_CAPTURED: where an image was taken and where the camera was looking."""

    component_id: int
    image_index: int  # the camera's own count of images, from 0
    file_url: str  # where to fetch it ("" when the camera gives none)
    time_utc_s: float | None  # Unix time of the capture (None when the camera does not know)
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float
    # the optical axis, from the capture quaternion (NED earth frame -> camera frame, x along the optical axis)
    yaw_deg: float | None  # compass direction of the optical axis, 0..360
    pitch_deg: float | None  # 0 at the horizon, -90 straight down
    roll_deg: float | None
    ok: bool  # capture_result == 1


# --- events a link emits (to the station's inbox) ---------------------------------


@dataclass(frozen=True)
class LinkChanged:
    vehicle_id: str
    up: bool
    reason: str
    at_s: float  # monotonic


@dataclass(frozen=True)
class StateUpdated:
    state: VehicleState
    at_s: float


@dataclass(frozen=True)
class StatusText:
    vehicle_id: str
    severity: int  # MAV_SEVERITY
    text: str
    at_s: float


@dataclass(frozen=True)
class MissionProgress:
    vehicle_id: str
    current_seq: int | None
    reached_seq: int | None
    at_s: float


@dataclass(frozen=True)
class LinkError:
    """Something wrong on a link that did not bring it down (bad CRC, garbage bytes, parse error)."""

    vehicle_id: str
    kind: str
    detail: str
    at_s: float
    count: int = 1


TelemetryEvent = LinkChanged | StateUpdated | StatusText | MissionProgress | LinkError
