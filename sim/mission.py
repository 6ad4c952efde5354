"""Mission, fence and rally storage and the upload protocol state machine, as ArduPilot's MissionItemProtocol speaks it.

Pure: time comes in as an argument; answers come back as Request/Ack records for the server to encode.
Item 0 of a mission is home. Items are stored as ArduPilot stores them (`stored`), so they come back the way
AP_Mission::mavlink_int_to_mission_cmd / mission_cmd_to_mavlink_int (libraries/AP_Mission/AP_Mission.cpp,
master) round-trip them for a Copter build:
- frames: GLOBAL_RELATIVE_ALT_INT 6 -> 3, GLOBAL_INT 5 and MISSION 2 -> 0, GLOBAL_TERRAIN_ALT_INT 11 -> 10 for
  commands with a location; commands without one come back with frame 0 and x/y/z 0;
- params are kept in the C types of AP_Mission's Mission_Command: a float written to an integer field is
  truncated toward zero (C conversion), so a waypoint's hold time (uint16 p1) 1.5 s comes back 1.0; params
  the command does not store come back 0 (a waypoint's NaN yaw becomes 0, DO_MOUNT_CONTROL loses its mode);
- the altitude is kept in whole centimetres (int32 of float32 z * 100, truncated);
- NaN is refused (MAV_MISSION_INVALID_PARAMn) except param4 of WAYPOINT, LAND and TAKEOFF (sanity_check_params);
- mission items come back with autocontinue 1 (MissionItemProtocol_Waypoints::get_item sets it), fence and
  rally items with autocontinue 0 (their loaders do not store it); a rally point keeps whole metres of
  altitude (RallyLocation.alt is an int16 in metres).
Commands whose storage could not be checked against the source (DO_SET_ROI_LOCATION, DO_SET_ROI_NONE,
IMAGE_STOP_CAPTURE) keep what was sent.

The last item of an upload is acknowledged the way master does with AP_MAVLINK_MISSION_OPAQUE_ID_ENABLED
(MissionItemProtocol::transfer_is_complete / update_checksum): the MISSION_ACK waits until the items have been
unchanged for 0.5 s and their checksum is computed (16 items per GCS update), so an upload is acknowledged
about 0.5 s after its last item. (pymavlink here does not carry MISSION_ACK.opaque_id; the sim sends none.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

MISSION, FENCE, RALLY = 0, 1, 2
TYPE_NAMES = {MISSION: "mission", FENCE: "fence", RALLY: "rally"}

# MAV_MISSION_RESULT
ACCEPTED, ERROR, UNSUPPORTED_FRAME, UNSUPPORTED, NO_SPACE, INVALID = 0, 1, 2, 3, 4, 5
INVALID_PARAM1, INVALID_PARAM2, INVALID_PARAM3, INVALID_PARAM4 = 6, 7, 8, 9
INVALID_PARAM5_X, INVALID_PARAM6_Y, INVALID_PARAM7 = 10, 11, 12
INVALID_SEQUENCE, DENIED, OPERATION_CANCELLED = 13, 14, 15

# MAV_FRAME values ArduPilot accepts for commands that carry a location.
FRAME_GLOBAL, FRAME_MISSION, FRAME_GLOBAL_RELATIVE_ALT, FRAME_GLOBAL_INT = 0, 2, 3, 5
FRAME_GLOBAL_RELATIVE_ALT_INT, FRAME_GLOBAL_TERRAIN_ALT, FRAME_GLOBAL_TERRAIN_ALT_INT = 6, 10, 11
_STORED_FRAME = {
    FRAME_GLOBAL: FRAME_GLOBAL, FRAME_GLOBAL_INT: FRAME_GLOBAL, FRAME_MISSION: FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT: FRAME_GLOBAL_RELATIVE_ALT, FRAME_GLOBAL_RELATIVE_ALT_INT: FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_GLOBAL_TERRAIN_ALT: FRAME_GLOBAL_TERRAIN_ALT, FRAME_GLOBAL_TERRAIN_ALT_INT: FRAME_GLOBAL_TERRAIN_ALT,
}

# MAV_CMD ids
NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME = 16, 17, 18, 19
NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF, NAV_SPLINE_WAYPOINT, NAV_DELAY = 20, 21, 22, 82, 93
CONDITION_DELAY, CONDITION_DISTANCE, CONDITION_YAW = 112, 114, 115
DO_JUMP, DO_CHANGE_SPEED, DO_SET_HOME, DO_SET_RELAY, DO_REPEAT_RELAY = 177, 178, 179, 181, 182
DO_SET_SERVO, DO_REPEAT_SERVO, DO_LAND_START, DO_SET_ROI_LOCATION, DO_SET_ROI_NONE = 183, 184, 189, 195, 197
DO_SET_ROI, DO_DIGICAM_CONTROL, DO_MOUNT_CONTROL, DO_GIMBAL_MANAGER_PITCHYAW = 201, 203, 205, 1000
IMAGE_START_CAPTURE, IMAGE_STOP_CAPTURE = 2000, 2001
FENCE_RETURN_POINT, FENCE_POLYGON_VERTEX_INCLUSION, FENCE_POLYGON_VERTEX_EXCLUSION = 5000, 5001, 5002
FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION, RALLY_POINT = 5003, 5004, 5100

NAV_COMMANDS = frozenset({NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME, NAV_RETURN_TO_LAUNCH,
                          NAV_LAND, NAV_TAKEOFF, NAV_SPLINE_WAYPOINT, NAV_DELAY})
_LOCATION_COMMANDS = frozenset({NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME, NAV_LAND,
                                NAV_TAKEOFF, NAV_SPLINE_WAYPOINT, DO_SET_HOME, DO_LAND_START, DO_SET_ROI_LOCATION,
                                DO_SET_ROI})
# Commands whose param4 may be NaN (AP_Mission::sanity_check_params); any other NaN param is refused.
_PARAM4_MAY_BE_NAN = frozenset({NAV_WAYPOINT, NAV_LAND, NAV_TAKEOFF})
LOCATION_ALT_MAX_M = 83_000.0   # ArduPilot's LOCATION_ALT_MAX_M
_SUPPORTED = {
    MISSION: NAV_COMMANDS | frozenset({
        CONDITION_DELAY, CONDITION_DISTANCE, CONDITION_YAW, DO_JUMP, DO_CHANGE_SPEED, DO_SET_HOME, DO_SET_RELAY,
        DO_REPEAT_RELAY, DO_SET_SERVO, DO_REPEAT_SERVO, DO_LAND_START, DO_SET_ROI_LOCATION, DO_SET_ROI_NONE,
        DO_SET_ROI, DO_DIGICAM_CONTROL, DO_MOUNT_CONTROL, DO_GIMBAL_MANAGER_PITCHYAW, IMAGE_START_CAPTURE,
        IMAGE_STOP_CAPTURE}),
    FENCE: frozenset({FENCE_RETURN_POINT, FENCE_POLYGON_VERTEX_INCLUSION, FENCE_POLYGON_VERTEX_EXCLUSION,
                      FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION}),
    RALLY: frozenset({RALLY_POINT}),
}
# Storage limits (ArduPilot's depend on the board's storage; SITL holds several hundred mission items).
MAX_ITEMS = {MISSION: 724, FENCE: 256, RALLY: 20}

UPLOAD_TIMEOUT_S = 8.0    # ArduPilot gives up an upload after 8 s without an item
REREQUEST_AFTER_S = 1.0   # and re-sends the request after 1 s
ACK_AFTER_QUIET_S = 0.5   # the final MISSION_ACK waits until the items have been unchanged this long ...
CHECKSUM_ITEMS_PER_S = 16 * 400.0   # ... and checksummed: 16 items per GCS update at SITL's 400 Hz loop


@dataclass(frozen=True)
class Item:
    """One mission item, in MISSION_ITEM_INT units (x/y are degE7; z is metres)."""
    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: int = 1
    mission_type: int = MISSION

    @property
    def lat_deg(self) -> float:
        return self.x / 1e7

    @property
    def lon_deg(self) -> float:
        return self.y / 1e7


@dataclass(frozen=True)
class Request:
    """Ask the uploader for item `seq` (sent as MISSION_REQUEST, as ArduPilot does)."""
    peer: object
    seq: int
    mission_type: int


@dataclass(frozen=True)
class Ack:
    peer: object
    result: int
    mission_type: int


@dataclass(frozen=True)
class Said:
    """A STATUSTEXT to the uploader only (ArduPilot's `_link.send_text`), e.g. "Flight plan received"."""
    peer: object
    severity: int
    text: str


def validate(item: Item) -> int:
    """ArduPilot's conversion checks for one uploaded item: MAV_MISSION_RESULT."""
    if item.mission_type not in _SUPPORTED:
        return UNSUPPORTED
    if item.command not in _SUPPORTED[item.mission_type]:
        return UNSUPPORTED
    if item.mission_type == MISSION:
        params = (item.param1, item.param2, item.param3, item.param4)
        for n, (value, result) in enumerate(zip(params, (INVALID_PARAM1, INVALID_PARAM2, INVALID_PARAM3,
                                                            INVALID_PARAM4))):
            nan_ok = n == 3 and item.command in _PARAM4_MAY_BE_NAN
            if math.isinf(value) or (math.isnan(value) and not nan_ok):
                return result
    if item.command in _LOCATION_COMMANDS or item.mission_type != MISSION:
        if item.frame not in _STORED_FRAME:
            return UNSUPPORTED_FRAME
        if not (-900_000_000 <= item.x <= 900_000_000):
            return INVALID_PARAM5_X
        if not (-1_800_000_000 <= item.y <= 1_800_000_000):
            return INVALID_PARAM6_Y
        if math.isnan(item.z) or abs(item.z) >= LOCATION_ALT_MAX_M:
            return INVALID_PARAM7
    return ACCEPTED



def carries_location(command: int, mission_type: int) -> bool:
    """True if x/y are latitude/longitude (degE7 in MISSION_ITEM_INT, degrees in MISSION_ITEM)."""
    return mission_type != MISSION or command in _LOCATION_COMMANDS


def _c_int(value: float, bits: int, signed: bool) -> int:
    """A float stored in a C integer field: truncated toward zero, wrapped to the field's width."""
    if not math.isfinite(value):
        return 0
    n = math.trunc(value) % (1 << bits)
    return n - (1 << bits) if signed and n >= 1 << (bits - 1) else n


def _u8(v: float) -> int:
    return _c_int(v, 8, False)


def _i8(v: float) -> int:
    return _c_int(v, 8, True)


def _u16(v: float) -> int:
    return _c_int(v, 16, False)


def _i16(v: float) -> int:
    return _c_int(v, 16, True)


def _f32(v: float) -> float:
    return float(np.float32(v))


def _stored_params(item: Item) -> tuple[float, float, float, float] | None:
    """param1..4 as AP_Mission's Copter build reads them back, or None to keep them as sent."""
    c, p1, p2, p3, p4 = item.command, item.param1, item.param2, item.param3, item.param4
    if c in (NAV_WAYPOINT, NAV_SPLINE_WAYPOINT, NAV_TAKEOFF, DO_SET_HOME, DO_SET_ROI):
        return _u16(p1), 0.0, 0.0, 0.0                          # uint16 p1 only
    if c == NAV_LOITER_UNLIM:
        radius = _u16(abs(p3))
        return 0.0, 0.0, -radius if p3 < 0 else radius, 0.0
    if c == NAV_LOITER_TURNS:
        turns = _u16(min(255.0, p1)) & 0xFF if math.isfinite(p1) else 0
        radius = _u8(abs(p3)) if abs(p3) <= 255 else _u8(min(255.0, abs(p3) * 0.1)) * 10
        return turns, 0.0, -radius if p3 < 0 else radius, 1.0 if p4 > 0 else 0.0
    if c == NAV_LOITER_TIME:
        return _u16(p1), 0.0, -1.0 if p3 < 0 else 1.0, 1.0 if p4 > 0 else 0.0
    if c == NAV_RETURN_TO_LAUNCH or c == DO_LAND_START:
        return 0.0, 0.0, 0.0, 0.0
    if c == NAV_LAND:
        return _u16(p1), 0.0, 0.0, -1.0 if (not math.isnan(p4) and p4 < 0) else 1.0
    if c == NAV_DELAY:
        return _f32(p1), _i8(p2), _i8(p3), _i8(p4)
    if c in (CONDITION_DELAY, CONDITION_DISTANCE):
        return _f32(p1), 0.0, 0.0, 0.0
    if c == CONDITION_YAW:
        return _f32(p1), _f32(p2), _i8(p3), _u8(p4)
    if c == DO_JUMP:
        return _u16(p1), _i16(p2), 0.0, 0.0
    if c == DO_CHANGE_SPEED:
        return _u8(p1), _f32(p2), _f32(p3), 0.0
    if c == DO_SET_RELAY:
        return _u8(p1), _u8(p2), 0.0, 0.0
    if c == DO_REPEAT_RELAY:
        return _u8(p1), _i16(p2), _f32(p3), 0.0
    if c == DO_SET_SERVO:
        return _u8(p1), _u16(p2), 0.0, 0.0
    if c == DO_REPEAT_SERVO:
        return _u8(p1), _u16(p2), _i16(p3), _f32(p4)
    if c == DO_DIGICAM_CONTROL:
        return _u8(p1), _u8(p2), _i8(p3), _u8(p4)
    if c == DO_MOUNT_CONTROL:
        return _f32(p1), _f32(p2), _f32(p3), 0.0
    if c == DO_GIMBAL_MANAGER_PITCHYAW:
        return _i8(p1), _i16(p2), _i8(p3), _i8(p4)
    if c == IMAGE_START_CAPTURE:
        return _u8(p1), _f32(p2), _u16(p3), _u16(p4)
    return None


def stored(item: Item) -> Item:
    """The item as ArduPilot keeps it and reads it back (see the module docstring)."""
    if item.mission_type == FENCE:
        return replace(item, frame=_STORED_FRAME.get(item.frame, item.frame), autocontinue=0)
    if item.mission_type == RALLY:
        return replace(item, frame=_STORED_FRAME.get(item.frame, item.frame), autocontinue=0,
                       z=float(_i16(item.z)))
    params = _stored_params(item)
    if params is not None:
        item = replace(item, param1=float(params[0]), param2=float(params[1]), param3=float(params[2]),
                       param4=float(params[3]))
    if item.command in _LOCATION_COMMANDS:
        alt_cm = int(np.float32(item.z) * np.float32(100.0))
        return replace(item, frame=_STORED_FRAME.get(item.frame, item.frame), z=float(np.float32(alt_cm) * np.float32(0.01)),
                       autocontinue=1)
    if item.command == DO_DIGICAM_CONTROL:
        return replace(item, frame=FRAME_GLOBAL, x=_u8(item.x), y=_u8(item.y), z=0.0, autocontinue=1)
    if item.command == DO_GIMBAL_MANAGER_PITCHYAW:
        return replace(item, frame=FRAME_GLOBAL, x=_u8(item.x), y=0, z=float(_u8(item.z)), autocontinue=1)
    if params is None:   # not checked against the source: keep what was sent
        return replace(item, autocontinue=1)
    return replace(item, frame=FRAME_GLOBAL, x=0, y=0, z=0.0, autocontinue=1)


def fence_problem(items: list[Item]) -> int:
    """Check polygon vertex runs: each polygon's param1 is its vertex count, all vertices consecutive."""
    i = 0
    while i < len(items):
        it = items[i]
        if it.command in (FENCE_POLYGON_VERTEX_INCLUSION, FENCE_POLYGON_VERTEX_EXCLUSION):
            count = int(it.param1)
            if count < 3 or i + count > len(items):
                return INVALID_PARAM1
            if any(items[j].command != it.command or int(items[j].param1) != count for j in range(i, i + count)):
                return INVALID_PARAM1
            i += count
        else:
            if it.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION) and it.param1 <= 0:
                return INVALID_PARAM1
            i += 1
    return ACCEPTED


class MissionStore:
    """The three item lists. The mission list includes item 0 (home), as ArduPilot's does."""

    def __init__(self) -> None:
        self.items: dict[int, list[Item]] = {MISSION: [Item(0, FRAME_GLOBAL, NAV_WAYPOINT)], FENCE: [], RALLY: []}
        self.version = 0  # bumped on every change, so the vehicle can notice a new mission

    def count(self, mission_type: int) -> int:
        return len(self.items[mission_type])

    def mission_items(self) -> list[Item]:
        return self.items[MISSION]

    def clear(self, mission_type: int) -> None:
        self.items[mission_type] = [Item(0, FRAME_GLOBAL, NAV_WAYPOINT)] if mission_type == MISSION else []
        self.version += 1

    def truncate(self, mission_type: int, count: int) -> None:
        keep = max(count, 1) if mission_type == MISSION else count
        self.items[mission_type] = self.items[mission_type][:keep]
        self.version += 1

    def put(self, item: Item) -> int:
        """Replace or append one item (ArduPilot writes as items arrive)."""
        lst = self.items[item.mission_type]
        if item.seq < len(lst):
            lst[item.seq] = stored(item)
        elif item.seq == len(lst):
            lst.append(stored(item))
        else:
            return ERROR
        self.version += 1
        return ACCEPTED

    def get(self, mission_type: int, seq: int, home: tuple[float, float, float] | None) -> Item | int:
        """Item for download; item 0 of a mission is the current home (lat, lon, alt AMSL) or zeros."""
        lst = self.items.get(mission_type)
        if lst is None:
            return UNSUPPORTED
        if seq >= len(lst) or seq < 0:
            return INVALID_SEQUENCE
        if mission_type == MISSION and seq == 0:
            if home is None:
                return Item(0, FRAME_GLOBAL, NAV_WAYPOINT)
            lat, lon, alt = home
            return Item(0, FRAME_GLOBAL, NAV_WAYPOINT, x=int(round(lat * 1e7)), y=int(round(lon * 1e7)), z=alt)
        return lst[seq]


@dataclass
class _Upload:
    peer: object
    sender: tuple[int, int]
    next_seq: int
    last_seq: int
    last_receive_s: float
    last_request_s: float
    ack_due_s: float | None = None   # all items in: the ACCEPTED ack goes out at this time (opaque-id checksum)


class MissionProtocol:
    """Upload/download/clear for one vehicle; one upload at a time per mission type, like ArduPilot."""

    def __init__(self, store: MissionStore) -> None:
        self.store = store
        self._uploads: dict[int, _Upload] = {}

    def receiving(self, mission_type: int) -> bool:
        return mission_type in self._uploads

    def count(self, peer: object, sender: tuple[int, int], mission_type: int, count: int, now_s: float) -> list:
        if mission_type not in MAX_ITEMS:
            return [Ack(peer, UNSUPPORTED, mission_type)]
        up = self._uploads.get(mission_type)
        if up is not None and up.sender != sender:
            return [Ack(peer, DENIED, mission_type)]
        if count > MAX_ITEMS[mission_type]:
            return [Ack(peer, NO_SPACE, mission_type)]
        self._uploads.pop(mission_type, None)
        self.store.truncate(mission_type, count)
        self._uploads[mission_type] = _Upload(peer, sender, 0, count - 1, now_s, now_s)
        if count == 0:
            return self._complete(self._uploads[mission_type], mission_type, now_s)
        return [Request(peer, 0, mission_type)]

    def item(self, peer: object, sender: tuple[int, int], item: Item, now_s: float) -> list:
        up = self._uploads.get(item.mission_type)
        if up is None:
            return [Ack(peer, ERROR, item.mission_type)]
        if up.ack_due_s is not None:
            return []    # every item is in; ArduPilot ignores repeats while it checksums them
        if item.seq != up.next_seq:
            return [Ack(peer, INVALID_SEQUENCE, item.mission_type)]
        if sender != up.sender:
            return [Ack(peer, DENIED, item.mission_type)]
        result = validate(item)
        if result == ACCEPTED:
            result = self.store.put(item)
        if result != ACCEPTED:
            del self._uploads[item.mission_type]
            return [Ack(peer, result, item.mission_type)]
        up.peer = peer
        up.last_receive_s = now_s
        up.next_seq += 1
        if up.next_seq > up.last_seq:
            return self._complete(up, item.mission_type, now_s)
        up.last_request_s = now_s
        return [Request(peer, up.next_seq, item.mission_type)]

    def _complete(self, up: _Upload, mission_type: int, now_s: float) -> list:
        """All items in: refuse a bad fence at once; otherwise the ACCEPTED ack waits for the checksum."""
        if mission_type == FENCE:
            problem = fence_problem(self.store.items[FENCE])
            if problem != ACCEPTED:
                self.store.clear(FENCE)
                del self._uploads[mission_type]
                return [Ack(up.peer, problem, mission_type)]
        up.ack_due_s = now_s + ACK_AFTER_QUIET_S + self.store.count(mission_type) / CHECKSUM_ITEMS_PER_S
        # MissionItemProtocol_Waypoints::complete says so at once, before the (deferred) ack; MAV_SEVERITY_INFO
        return [Said(up.peer, 6, "Flight plan received")] if mission_type == MISSION else []

    def complete_uploads(self) -> list[int]:
        """Mission types whose upload has all its items and waits for its ack."""
        return [t for t, up in self._uploads.items() if up.ack_due_s is not None]

    def clear_all(self, peer: object, mission_type: int) -> list:
        if mission_type not in MAX_ITEMS:
            return [Ack(peer, UNSUPPORTED, mission_type)]
        if mission_type in self._uploads:
            return [Ack(peer, ERROR, mission_type)]
        self.store.clear(mission_type)
        return [Ack(peer, ACCEPTED, mission_type)]

    def download_refused(self, peer: object, mission_type: int) -> list:
        """Downloads are refused while an upload of that type is in progress."""
        if mission_type not in MAX_ITEMS:
            return [Ack(peer, UNSUPPORTED, mission_type)]
        if mission_type in self._uploads:
            return [Ack(peer, DENIED, mission_type)]
        return []

    def update(self, now_s: float) -> list:
        """Send a due upload ack; re-request a missing item after 1 s; cancel an upload after 8 s of silence."""
        out: list = []
        for mission_type, up in list(self._uploads.items()):
            if up.ack_due_s is not None:
                if now_s >= up.ack_due_s:
                    del self._uploads[mission_type]
                    out.append(Ack(up.peer, ACCEPTED, mission_type))
            elif now_s - up.last_receive_s > UPLOAD_TIMEOUT_S:
                del self._uploads[mission_type]
                out.append(Ack(up.peer, OPERATION_CANCELLED, mission_type))
            elif now_s - up.last_request_s > REREQUEST_AFTER_S:
                up.last_request_s = now_s
                out.append(Request(up.peer, up.next_seq, mission_type))
        return out

    def forget_peer(self, peer: object) -> None:
        """A link closed: nothing more will come from it (the upload would time out anyway)."""
        for mission_type, up in list(self._uploads.items()):
            if up.peer is peer:
                del self._uploads[mission_type]
