"""Vehicle commands: what the station can ask of a vehicle, as types, and the port that carries them out.

A `CommandRequest` (from an operator, a patrol, the crowd response...) names an action and JSON-able arguments;
`parse(action, args)` turns it into one of the frozen command types below, or refuses with why (`Refusal`).
The safety checks (safety.py) look at the typed command; one that passes goes to the shell in `SendCommand`,
and the shell calls `command.send(vehicle)`: each type names the one `VehiclePort` method that carries it out.
`telemetry.vehicle.Vehicle` is the port's implementation (tests/groundstation/test_vehicle_port.py checks that it
satisfies the protocol), so a reader follows a command from the operator to the MAVLink bytes:
request -> parse -> safety.check -> SendCommand -> command.send(vehicle) -> Vehicle.<method> -> MAVLink.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from telemetry.records import MissionItem, MissionType, VehicleState

COPTER_MODES = frozenset({
    "STABILIZE", "ACRO", "ALT_HOLD", "AUTO", "GUIDED", "LOITER", "RTL", "CIRCLE", "LAND", "DRIFT", "SPORT",
    "FLIP", "AUTOTUNE", "POSHOLD", "BRAKE", "THROW", "AVOID_ADSB", "GUIDED_NOGPS", "SMART_RTL", "FLOWHOLD",
    "FOLLOW", "ZIGZAG", "SYSTEMID", "AUTOROTATE", "AUTO_RTL",
})
SAFETY_MODES = frozenset({"RTL", "LAND", "BRAKE", "LOITER", "SMART_RTL"})


class Refusal(Exception):
    """Why the station will not send a command (its message is recorded and answered)."""


class VehiclePort(Protocol):
    """What the shell needs of a vehicle link to carry out the commands below (telemetry.vehicle.Vehicle).
    Each call blocks until the vehicle acknowledged it and raises telemetry's errors when it did not. `state`: what
    the link knows of the vehicle now (None: nothing to pass on)."""

    @property
    def state(self) -> VehicleState | None: ...
    def arm(self) -> Any: ...
    def disarm(self) -> Any: ...
    def takeoff(self, alt_rel_m: float) -> Any: ...
    def goto(self, lat_deg: float, lon_deg: float, alt_rel_m: float) -> Any: ...
    def rtl(self) -> Any: ...
    def land(self) -> Any: ...
    def set_mode(self, mode: str) -> Any: ...
    def upload_mission(self, items: Sequence[MissionItem], mission_type: MissionType) -> Any: ...
    def set_current_mission_item(self, seq: int) -> Any: ...
    def start_mission(self) -> Any: ...
    def point_gimbal(self, pitch_deg: float, yaw_deg: float) -> Any: ...
    def set_roi(self, lat_deg: float, lon_deg: float, alt_rel_m: float) -> Any: ...
    def clear_roi(self) -> Any: ...
    def set_relay(self, number: int, on: bool) -> Any: ...
    def capture_image(self, component_id: int) -> Any: ...


# --- argument parsing (JSON-able arguments -> typed values, or a Refusal saying what is wrong) -------------


def number(args: Mapping[str, Any], name: str, default: float | None = None) -> float:
    if name not in args:
        if default is not None:
            return default
        raise Refusal(f"missing argument {name}")
    value = args[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Refusal(f"argument {name} must be a finite number, got {value!r}")
    return float(value)


def whole_number(args: Mapping[str, Any], name: str) -> int:
    value = number(args, name)
    if value != int(value):
        raise Refusal(f"argument {name} must be a whole number, got {args[name]!r}")
    return int(value)


def mission_type(value: Any) -> MissionType:
    if isinstance(value, MissionType):
        return value
    if isinstance(value, str) and value.upper() in MissionType.__members__:
        return MissionType[value.upper()]
    raise Refusal(f"mission_type must be one of {', '.join(m.name.lower() for m in MissionType)}, got {value!r}")


def mission_item(value: Any, index: int) -> MissionItem:
    if isinstance(value, MissionItem):
        return value
    if not isinstance(value, Mapping):
        raise Refusal(f"mission item {index}: expected a MissionItem or a mapping, got {type(value).__name__}")
    known = {f.name for f in fields(MissionItem)}
    unknown = set(value) - known
    if unknown:
        raise Refusal(f"mission item {index}: unknown field(s) {', '.join(sorted(unknown))}")
    data = dict(value)
    if "mission_type" in data:
        data["mission_type"] = mission_type(data["mission_type"])
    try:
        item = MissionItem(**data)
    except TypeError as exc:
        raise Refusal(f"mission item {index}: {exc}") from None
    for name in ("command", "frame"):
        if isinstance(getattr(item, name), bool) or not isinstance(getattr(item, name), int):
            raise Refusal(f"mission item {index}: {name} must be an integer")
    for name in ("param1", "param2", "param3", "param4", "lat_deg", "lon_deg", "alt_m"):
        v = getattr(item, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise Refusal(f"mission item {index}: {name} must be a finite number")
    return item


def _lat_lon(args: Mapping[str, Any]) -> tuple[float, float]:
    lat, lon = number(args, "lat_deg"), number(args, "lon_deg")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Refusal(f"({lat}, {lon}) is not a latitude/longitude")
    return lat, lon


# --- the commands --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VehicleCommand:
    """Base of the typed commands: `action` is the request's name for it; `safety` commands (RTL, LAND,
    disarm) are allowed whenever the link is up, and are sent even when the audit row could not be committed."""

    action: ClassVar[str] = ""
    safety: ClassVar[bool] = False

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "VehicleCommand":
        return cls()

    def send(self, vehicle: VehiclePort) -> Any:
        raise NotImplementedError

    def args(self) -> dict[str, Any]:
        """The arguments as recorded in the audit trail (JSON-able after core.records.plain)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Arm(VehicleCommand):
    action = "arm"

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.arm()


@dataclass(frozen=True)
class Disarm(VehicleCommand):
    action = "disarm"
    safety = True

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.disarm()


@dataclass(frozen=True)
class Rtl(VehicleCommand):
    action = "rtl"
    safety = True

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.rtl()


@dataclass(frozen=True)
class Land(VehicleCommand):
    action = "land"
    safety = True

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.land()


@dataclass(frozen=True)
class Takeoff(VehicleCommand):
    action = "takeoff"
    alt_rel_m: float

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "Takeoff":
        return cls(number(args, "alt_rel_m"))

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.takeoff(self.alt_rel_m)


@dataclass(frozen=True)
class Goto(VehicleCommand):
    """Fly to a point in GUIDED (altitude above home)."""

    action = "goto"
    lat_deg: float
    lon_deg: float
    alt_rel_m: float

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "Goto":
        lat, lon = _lat_lon(args)
        return cls(lat, lon, number(args, "alt_rel_m"))

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.goto(self.lat_deg, self.lon_deg, self.alt_rel_m)


@dataclass(frozen=True)
class SetMode(VehicleCommand):
    action = "set_mode"
    mode: str

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "SetMode":
        mode = args.get("mode")
        if not isinstance(mode, str) or mode.upper() not in COPTER_MODES:
            raise Refusal(f"unknown flight mode {mode!r}")
        return cls(mode.upper())

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.set_mode(self.mode)


@dataclass(frozen=True)
class UploadMission(VehicleCommand):
    """`items`: the mission as flown, WITHOUT ArduPilot's home slot (the core adds it as item 0 before sending)."""

    action = "upload_mission"
    items: tuple[MissionItem, ...]
    mission_type: MissionType = MissionType.MISSION

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "UploadMission":
        items = args.get("items")
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
            raise Refusal("upload_mission needs a non-empty list of items")
        return cls(tuple(mission_item(item, i) for i, item in enumerate(items)),
                   mission_type(args.get("mission_type", MissionType.MISSION)))

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.upload_mission(list(self.items), self.mission_type)


@dataclass(frozen=True)
class SetMissionCurrent(VehicleCommand):
    """Make mission item `seq` (1.., 0 is home) the current one: AUTO continues there."""

    action = "set_mission_current"
    seq: int

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "SetMissionCurrent":
        seq = number(args, "seq")
        if seq != int(seq) or seq < 1:
            raise Refusal(f"seq must be a mission item number >= 1 (0 is home), got {args['seq']!r}")
        return cls(int(seq))

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.set_current_mission_item(self.seq)


@dataclass(frozen=True)
class StartMission(VehicleCommand):
    """Start (or resume at the current item) the uploaded mission in AUTO: MAV_CMD_MISSION_START, which ArduCopter
    accepts with no RC throttle (a plain mode change to AUTO on the ground does not take off)."""

    action = "start_mission"

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.start_mission()


@dataclass(frozen=True)
class PointGimbal(VehicleCommand):
    """pitch_deg 0 at the horizon, -90 straight down; yaw_deg from the vehicle's nose."""

    action = "point_gimbal"
    pitch_deg: float
    yaw_deg: float = 0.0

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "PointGimbal":
        pitch, yaw = number(args, "pitch_deg"), number(args, "yaw_deg", 0.0)
        if not (-90.0 <= pitch <= 30.0 and -180.0 <= yaw <= 360.0):
            raise Refusal(f"gimbal pitch {pitch:g} deg must be -90..30 and yaw {yaw:g} deg -180..360")
        return cls(pitch, yaw)

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.point_gimbal(self.pitch_deg, self.yaw_deg)


@dataclass(frozen=True)
class SetRoi(VehicleCommand):
    """Point the vehicle and its camera at a place (region of interest; altitude above home)."""

    action = "set_roi"
    lat_deg: float
    lon_deg: float
    alt_rel_m: float = 0.0

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "SetRoi":
        lat, lon = _lat_lon(args)
        return cls(lat, lon, number(args, "alt_rel_m", 0.0))

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.set_roi(self.lat_deg, self.lon_deg, self.alt_rel_m)


@dataclass(frozen=True)
class ClearRoi(VehicleCommand):
    action = "clear_roi"

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.clear_roi()


@dataclass(frozen=True)
class SetRelay(VehicleCommand):
    """Switch a relay (e.g. the loudspeaker's trigger that plays a pre-loaded clip)."""

    action = "set_relay"
    number: int
    on: bool = True

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "SetRelay":
        n = whole_number(args, "number")
        on = args.get("on", True)
        if not 0 <= n <= 15 or not isinstance(on, bool):
            raise Refusal(f"relay number must be 0..15 and on a boolean, got {args.get('number')!r}, {on!r}")
        return cls(n, on)

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.set_relay(self.number, self.on)


@dataclass(frozen=True)
class CaptureImage(VehicleCommand):
    """Take one image with the camera component `component_id` (100 the first camera, 101 the second...);
    the result is the captured image's record (where to fetch it, and the camera's pose)."""

    action = "capture_image"
    component_id: int

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "CaptureImage":
        c = whole_number(args, "component_id")
        if not 1 <= c <= 255:
            raise Refusal(f"component_id must be 1..255, got {c}")
        return cls(c)

    def send(self, vehicle: VehiclePort) -> Any:
        return vehicle.capture_image(self.component_id)


COMMANDS: Mapping[str, type[VehicleCommand]] = MappingProxyType({
    c.action: c for c in (Arm, Disarm, Rtl, Land, Takeoff, Goto, SetMode, UploadMission, SetMissionCurrent,
                          StartMission, PointGimbal, SetRoi, ClearRoi, SetRelay, CaptureImage)
})


def parse(action: str, args: Any) -> VehicleCommand:
    """The typed command for a request's action and arguments; Refusal says what is wrong."""
    cls = COMMANDS.get(action)
    if cls is None:
        raise Refusal(f"unknown action {action!r} (known: {', '.join(COMMANDS)})")
    if not isinstance(args, Mapping):
        raise Refusal("arguments must be a mapping")
    expected = {f.name for f in fields(cls)}
    unexpected = set(args) - expected
    if unexpected:
        raise Refusal(f"unexpected argument(s) for {action}: {', '.join(sorted(map(str, unexpected)))}")
    return cls.from_args(args)
