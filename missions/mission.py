"""Mission items (MAVLink MISSION_ITEM_INT semantics) and the geofence and rally points saved with them.

Our own frozen records: the station converts them to the telemetry package's records for upload,
missions.qgcplan writes them (fence and rally points included) to a QGroundControl .plan, and
missions.fence checks paths against a fence. A param of None means "unset" (NaN on the wire, null in a
QGroundControl .plan).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from missions.geo import GeoPoint


class MavCmd(IntEnum):
    """The MAV_CMD numbers used here (MAVLink common.xml)."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TURNS = 18
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    DO_CHANGE_SPEED = 178
    DO_SET_ROI = 201
    DO_MOUNT_CONTROL = 205


class MavFrame(IntEnum):
    GLOBAL = 0  # altitude above mean sea level
    MISSION = 2  # not a position: DO_ commands
    GLOBAL_RELATIVE_ALT = 3  # altitude above home
    GLOBAL_TERRAIN_ALT = 10


MAV_MOUNT_MODE_MAVLINK_TARGETING = 2
NAV_COMMANDS = frozenset({16, 17, 18, 19, 21, 22})  # items that move the vehicle to a position


@dataclass(frozen=True)
class MissionItem:
    """One item. lat_deg/lon_deg/alt_m are MISSION_ITEM_INT x/y/z (param5/6/7) whatever the command."""

    command: int
    frame: int = MavFrame.GLOBAL_RELATIVE_ALT
    param1: float | None = 0.0
    param2: float | None = 0.0
    param3: float | None = 0.0
    param4: float | None = 0.0
    lat_deg: float | None = 0.0
    lon_deg: float | None = 0.0
    alt_m: float | None = 0.0
    autocontinue: bool = True

    @property
    def params(self) -> tuple[float | None, ...]:
        """The seven MAVLink params in wire order."""
        return (self.param1, self.param2, self.param3, self.param4, self.lat_deg, self.lon_deg, self.alt_m)

    @property
    def is_nav(self) -> bool:
        return self.command in NAV_COMMANDS

    @property
    def position(self) -> GeoPoint | None:
        if self.lat_deg is None or self.lon_deg is None or not self.is_nav or self.command == MavCmd.NAV_TAKEOFF:
            return None
        return GeoPoint(self.lat_deg, self.lon_deg)


def takeoff(alt_m: float, at: GeoPoint) -> MissionItem:
    """NAV_TAKEOFF to alt_m above home (ArduCopter climbs in place; lat/lon are for display)."""
    return MissionItem(MavCmd.NAV_TAKEOFF, MavFrame.GLOBAL_RELATIVE_ALT, 0.0, 0.0, 0.0, None, at.lat_deg, at.lon_deg, alt_m)


def change_speed(speed_m_s: float) -> MissionItem:
    """DO_CHANGE_SPEED: param1 1 = ground speed, param2 the speed, param3 -1 = throttle unchanged."""
    return MissionItem(MavCmd.DO_CHANGE_SPEED, MavFrame.MISSION, 1.0, speed_m_s, -1.0, 0.0, 0.0, 0.0, 0.0)


def gimbal_pitch(pitch_deg: float) -> MissionItem:
    """DO_MOUNT_CONTROL: pitch (param1), roll 0, yaw 0, mode MAVLink targeting (param7)."""
    return MissionItem(MavCmd.DO_MOUNT_CONTROL, MavFrame.MISSION, pitch_deg, 0.0, 0.0, 0.0, 0.0, 0.0,
                       float(MAV_MOUNT_MODE_MAVLINK_TARGETING))


def waypoint(at: GeoPoint, alt_m: float, hold_s: float = 0.0) -> MissionItem:
    """NAV_WAYPOINT at alt_m above home; yaw (param4) unset so the vehicle faces along its track."""
    return MissionItem(MavCmd.NAV_WAYPOINT, MavFrame.GLOBAL_RELATIVE_ALT, hold_s, 0.0, 0.0, None, at.lat_deg, at.lon_deg, alt_m)


def loiter_time(at: GeoPoint, alt_m: float, seconds: float) -> MissionItem:
    """NAV_LOITER_TIME: hold at a position for `seconds`."""
    return MissionItem(MavCmd.NAV_LOITER_TIME, MavFrame.GLOBAL_RELATIVE_ALT, seconds, 0.0, 0.0, None, at.lat_deg, at.lon_deg, alt_m)


def region_of_interest(at: GeoPoint | None, alt_m: float = 0.0) -> MissionItem:
    """DO_SET_ROI: point the vehicle and camera at a location; None (all zero) cancels it."""
    if at is None:
        return MissionItem(MavCmd.DO_SET_ROI, MavFrame.GLOBAL_RELATIVE_ALT, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return MissionItem(MavCmd.DO_SET_ROI, MavFrame.GLOBAL_RELATIVE_ALT, 0.0, 0.0, 0.0, 0.0, at.lat_deg, at.lon_deg, alt_m)


def return_to_launch() -> MissionItem:
    return MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH, MavFrame.MISSION, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


# --- geofence and rally ----------------------------------------------------------------------


@dataclass(frozen=True)
class FencePolygon:
    inclusion: bool
    vertices: tuple[GeoPoint, ...]


@dataclass(frozen=True)
class FenceCircle:
    inclusion: bool
    centre: GeoPoint
    radius_m: float


@dataclass(frozen=True)
class Fence:
    """A geofence: the vehicle must stay inside every inclusion and outside every exclusion."""

    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()


@dataclass(frozen=True)
class RallyPoint:
    at: GeoPoint
    alt_m: float  # above home


@dataclass(frozen=True)
class MissionFile:
    """A complete mission as a ground station saves it: items, planned home, fence and rally points."""

    items: tuple[MissionItem, ...]
    home: GeoPoint
    home_amsl_m: float = 0.0
    cruise_speed_m_s: float = 15.0
    hover_speed_m_s: float = 5.0
    fence: Fence = field(default_factory=Fence)
    rally: tuple[RallyPoint, ...] = ()


def resume_items(items: tuple[MissionItem, ...], from_index: int) -> tuple[MissionItem, ...]:
    """The mission to upload to resume an interrupted patrol at items[from_index].

    Keeps the takeoff and every DO_ setting met before that item (speed, gimbal, region of interest,
    latest of each kind), then the items from `from_index` on. Indexes count from 0 without home.
    """
    if not 0 <= from_index < len(items):
        raise IndexError(f"resume index {from_index} outside the mission's {len(items)} items")
    head: list[MissionItem] = [it for it in items[:from_index] if it.command == MavCmd.NAV_TAKEOFF][:1]
    latest: dict[int, MissionItem] = {}
    for it in items[:from_index]:
        if not it.is_nav and it.command != MavCmd.NAV_RETURN_TO_LAUNCH:
            latest[it.command] = it
    return tuple(head + list(latest.values()) + list(items[from_index:]))
