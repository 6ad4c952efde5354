"""Mission, fence and rally storage and the upload protocol state machine, as ArduPilot's MissionItemProtocol speaks it.

Pure: time comes in as an argument; answers come back as Request/Ack records for the server to encode.
Item 0 of a mission is home. Items are stored as ArduPilot stores them, so frames come back converted
(GLOBAL_RELATIVE_ALT_INT 6 -> 3, GLOBAL_INT 5 -> 0, GLOBAL_TERRAIN_ALT_INT 11 -> 10).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

MISSION, FENCE, RALLY = 0, 1, 2
TYPE_NAMES = {MISSION: "mission", FENCE: "fence", RALLY: "rally"}

# MAV_MISSION_RESULT
ACCEPTED, ERROR, UNSUPPORTED_FRAME, UNSUPPORTED, NO_SPACE, INVALID = 0, 1, 2, 3, 4, 5
INVALID_PARAM1, INVALID_PARAM5_X, INVALID_PARAM6_Y = 6, 10, 11
INVALID_SEQUENCE, DENIED, OPERATION_CANCELLED = 13, 14, 15

# MAV_FRAME values ArduPilot accepts for commands that carry a location.
FRAME_GLOBAL, FRAME_MISSION, FRAME_GLOBAL_RELATIVE_ALT, FRAME_GLOBAL_INT = 0, 2, 3, 5
FRAME_GLOBAL_RELATIVE_ALT_INT, FRAME_GLOBAL_TERRAIN_ALT, FRAME_GLOBAL_TERRAIN_ALT_INT = 6, 10, 11
_STORED_FRAME = {
    FRAME_GLOBAL: FRAME_GLOBAL, FRAME_GLOBAL_INT: FRAME_GLOBAL,
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
                                NAV_TAKEOFF, NAV_SPLINE_WAYPOINT, DO_SET_HOME, DO_SET_ROI_LOCATION, DO_SET_ROI})
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


def validate(item: Item) -> int:
    """ArduPilot's conversion checks for one uploaded item: MAV_MISSION_RESULT."""
    if item.mission_type not in _SUPPORTED:
        return UNSUPPORTED
    if item.command not in _SUPPORTED[item.mission_type]:
        return UNSUPPORTED
    if item.command in _LOCATION_COMMANDS or item.mission_type != MISSION:
        if item.frame not in _STORED_FRAME:
            return UNSUPPORTED_FRAME
        if not (-900_000_000 <= item.x <= 900_000_000):
            return INVALID_PARAM5_X
        if not (-1_800_000_000 <= item.y <= 1_800_000_000):
            return INVALID_PARAM6_Y
    return ACCEPTED



def carries_location(command: int, mission_type: int) -> bool:
    """True if x/y are latitude/longitude (degE7 in MISSION_ITEM_INT, degrees in MISSION_ITEM)."""
    return mission_type != MISSION or command in _LOCATION_COMMANDS


def stored(item: Item) -> Item:
    """The item as ArduPilot keeps it: relative/absolute/terrain frames normalised to the non-INT ones."""
    return replace(item, frame=_STORED_FRAME.get(item.frame, item.frame))


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
        if count == 0:
            return self._complete(peer, mission_type)
        self._uploads[mission_type] = _Upload(peer, sender, 0, count - 1, now_s, now_s)
        return [Request(peer, 0, mission_type)]

    def item(self, peer: object, sender: tuple[int, int], item: Item, now_s: float) -> list:
        up = self._uploads.get(item.mission_type)
        if up is None:
            return [Ack(peer, ERROR, item.mission_type)]
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
            del self._uploads[item.mission_type]
            return self._complete(peer, item.mission_type)
        up.last_request_s = now_s
        return [Request(peer, up.next_seq, item.mission_type)]

    def _complete(self, peer: object, mission_type: int) -> list:
        if mission_type == FENCE:
            problem = fence_problem(self.store.items[FENCE])
            if problem != ACCEPTED:
                self.store.clear(FENCE)
                return [Ack(peer, problem, mission_type)]
        return [Ack(peer, ACCEPTED, mission_type)]

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
        """Re-request a missing item after 1 s; cancel the upload after 8 s of silence."""
        out: list = []
        for mission_type, up in list(self._uploads.items()):
            if now_s - up.last_receive_s > UPLOAD_TIMEOUT_S:
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
