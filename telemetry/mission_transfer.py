"""The MAVLink mission protocol, client side: upload, download and clear for mission, fence and rally lists.

Upload sends MISSION_COUNT, then answers each MISSION_REQUEST *or* MISSION_REQUEST_INT (ArduPilot asks with
MISSION_REQUEST) with a MISSION_ITEM_INT, until the vehicle's MISSION_ACK. Download sends MISSION_REQUEST_LIST,
reads MISSION_COUNT, asks for each item with MISSION_REQUEST_INT (accepting MISSION_ITEM_INT or MISSION_ITEM),
then acknowledges. Every wait has `item_timeout_s`; on silence the last message is sent again (a lost item or
request), at most `max_retries` times in a row, and the whole transfer is bounded by `timeout_s`.
Failures raise MissionError carrying the vehicle's MAV_MISSION_RESULT when it gave one.

These functions run in the caller's thread and talk through a Link (send + subscribe).
"""
from __future__ import annotations

import math
import time
from types import MappingProxyType
from typing import Mapping, Sequence

from telemetry import codec
from telemetry.errors import InvalidRequest, MissionError
from telemetry.link import Link
from telemetry.records import MissionItem, MissionType

_MAV = codec.mavlink
_FRAME_MISSION = 2
_LOCAL_FRAMES = frozenset({1, 7, 8, 9, 20, 21})  # x/y in metres * 1e4 in MISSION_ITEM_INT


def _encode_xy(frame: int, value: float) -> int:
    if frame in codec.GLOBAL_FRAMES:
        return codec.deg_to_e7(value)
    if frame in _LOCAL_FRAMES:
        return int(round(value * 1e4))
    return int(round(value))  # MAV_FRAME_MISSION and others: x/y are param5/param6 as integers


def _decode_xy(frame: int, value: int) -> float:
    if frame in codec.GLOBAL_FRAMES:
        return value * 1e-7
    if frame in _LOCAL_FRAMES:
        return value * 1e-4
    return float(value)


def item_problem(item: MissionItem) -> str:
    """Why this item cannot be sent, or "" when it can."""
    if not 0 <= item.command <= 65535:
        return f"command {item.command} is not a MAV_CMD number"
    if not 0 <= item.frame <= 255:
        return f"frame {item.frame} is not a MAV_FRAME number"
    for name in ("param1", "param2", "param3", "param4", "alt_m"):
        value = getattr(item, name)
        if not isinstance(value, (int, float)) or math.isinf(value) or abs(value) > 3.4e38:
            return f"{name}={value!r} does not fit a MAVLink float"
    if item.frame in codec.GLOBAL_FRAMES:
        if not (-90 <= item.lat_deg <= 90 and -180 <= item.lon_deg <= 180):
            return f"position {item.lat_deg},{item.lon_deg} is not a latitude/longitude"
    elif not (abs(item.lat_deg) < 2e5 and abs(item.lon_deg) < 2e5):
        return f"x/y {item.lat_deg},{item.lon_deg} out of range for frame {item.frame}"
    return ""


def _item_msg(link: Link, target: tuple[int, int], seq: int, item: MissionItem, mission_type: MissionType):
    return link.encoder.mission_item_int_encode(
        target[0], target[1], seq, item.frame, item.command, 0, 1 if item.autocontinue else 0,
        item.param1, item.param2, item.param3, item.param4,
        _encode_xy(item.frame, item.lat_deg), _encode_xy(item.frame, item.lon_deg), item.alt_m,
        mission_type.value,
    )


def item_from_message(msg, mission_type: MissionType) -> MissionItem:
    """MissionItem from a MISSION_ITEM_INT (lat/lon * 1e7) or a MISSION_ITEM (float degrees)."""
    if msg.get_type() == "MISSION_ITEM_INT":
        lat, lon = _decode_xy(msg.frame, msg.x), _decode_xy(msg.frame, msg.y)
    else:
        lat, lon = float(msg.x), float(msg.y)
    return MissionItem(
        command=msg.command, frame=msg.frame, param1=msg.param1, param2=msg.param2, param3=msg.param3,
        param4=msg.param4, lat_deg=lat, lon_deg=lon, alt_m=msg.z, autocontinue=bool(msg.autocontinue),
        mission_type=mission_type,
    )



def _for_us(link: Link, mission_type: MissionType):
    def match(msg) -> bool:
        return (
            getattr(msg, "target_system", 0) in (0, link.source_system)
            and getattr(msg, "mission_type", 0) == mission_type.value
        )

    return match


class _Answers:
    """Waits for the vehicle's next answer in a transfer: on silence the last message is sent again, at most
    `max_retries` times in a row, and the whole transfer ends at `deadline` (monotonic s)."""

    def __init__(self, link: Link, name: str, deadline: float, timeout_s: float, item_timeout_s: float,
                 max_retries: int):
        self._link = link
        self._name = name
        self._deadline = deadline
        self._timeout_s = timeout_s
        self._item_timeout_s = item_timeout_s
        self._max_retries = max_retries

    def next(self, sub, resend, what: str):
        retries = 0
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise MissionError(f"{self._name}: timed out after {self._timeout_s:g} s waiting for {what}")
            msg = sub.get(min(self._item_timeout_s, remaining))
            if msg is not None:
                return msg
            retries += 1
            if retries > self._max_retries:
                raise MissionError(f"{self._name}: the vehicle stopped answering: no {what} after "
                                   f"{self._max_retries} resends of {self._item_timeout_s:g} s")
            self._link.send(resend)


def _ack_error(what: str, msg) -> MissionError:
    return MissionError(what, msg.type, codec.mission_result_name(msg.type))


def upload(
    link: Link,
    items: Sequence[MissionItem],
    mission_type: MissionType = MissionType.MISSION,
    *,
    timeout_s: float = 30.0,
    item_timeout_s: float = 1.0,
    max_retries: int = 5,
) -> None:
    """Upload exactly `items` as seq 0..n-1 (for an ArduPilot mission, seq 0 is the home slot)."""
    if len(items) > 65535:
        raise InvalidRequest(f"{len(items)} items: a mission holds at most 65535")
    problems = [f"item {i}: {p}" for i, item in enumerate(items) if (p := item_problem(item))]
    if problems:
        raise InvalidRequest(f"{link.name}: bad mission items: " + "; ".join(problems[:10]))
    target = link.target(f"{mission_type.name.lower()} upload")
    name = f"{link.name}: {mission_type.name.lower()} upload of {len(items)} items"
    answers = _Answers(link, name, time.monotonic() + timeout_s, timeout_s, item_timeout_s, max_retries)
    with link.subscribe(("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"), _for_us(link, mission_type)) as sub:
        last_sent = link.encoder.mission_count_encode(target[0], target[1], len(items), mission_type.value)
        highest_sent = -1
        link.send(last_sent)
        while True:
            what = "a request for the first item" if highest_sent < 0 else f"a request after item {highest_sent}"
            msg = answers.next(sub, last_sent, what)
            if msg.get_type() == "MISSION_ACK":
                if msg.type != _MAV.MAV_MISSION_ACCEPTED:
                    raise _ack_error(f"{name}: refused", msg)
                if highest_sent == len(items) - 1:
                    return
                raise MissionError(f"{name}: vehicle acknowledged after only {highest_sent + 1} items")
            seq = msg.seq
            if seq >= len(items):
                raise MissionError(f"{name}: vehicle asked for item {seq}, beyond the {len(items)} offered")
            last_sent = _item_msg(link, target, seq, items[seq], mission_type)
            link.send(last_sent)
            highest_sent = max(highest_sent, seq)


def download(
    link: Link,
    mission_type: MissionType = MissionType.MISSION,
    *,
    timeout_s: float = 30.0,
    item_timeout_s: float = 1.0,
    max_retries: int = 5,
) -> list[MissionItem]:
    """All items on the vehicle, seq 0..n-1 (ArduPilot missions: seq 0 is home)."""
    target = link.target(f"{mission_type.name.lower()} download")
    name = f"{link.name}: {mission_type.name.lower()} download"
    answers = _Answers(link, name, time.monotonic() + timeout_s, timeout_s, item_timeout_s, max_retries)
    types = ("MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK")
    with link.subscribe(types, _for_us(link, mission_type)) as sub:

        def exchange(request, want: str, seq: int | None = None):
            link.send(request)
            what = "the item count" if seq is None else f"item {seq}"
            while True:
                msg = answers.next(sub, request, what)
                mtype = msg.get_type()
                if mtype == "MISSION_ACK":
                    if msg.type != _MAV.MAV_MISSION_ACCEPTED:
                        raise _ack_error(f"{name}: refused", msg)
                    continue  # a stray ACCEPTED (e.g. from an earlier transfer): ignore
                if want == "MISSION_COUNT" and mtype == "MISSION_COUNT":
                    return msg
                if want == "ITEM" and mtype in ("MISSION_ITEM_INT", "MISSION_ITEM") and msg.seq == seq:
                    return msg

        count = exchange(
            link.encoder.mission_request_list_encode(target[0], target[1], mission_type.value), "MISSION_COUNT"
        ).count
        items = []
        for seq in range(count):
            req = link.encoder.mission_request_int_encode(target[0], target[1], seq, mission_type.value)
            items.append(item_from_message(exchange(req, "ITEM", seq), mission_type))
        link.send(link.encoder.mission_ack_encode(target[0], target[1], _MAV.MAV_MISSION_ACCEPTED, mission_type.value))
        return items


def clear(
    link: Link,
    mission_type: MissionType = MissionType.MISSION,
    *,
    item_timeout_s: float = 1.5,
    max_retries: int = 3,
) -> None:
    target = link.target(f"{mission_type.name.lower()} clear")
    name = f"{link.name}: {mission_type.name.lower()} clear"
    with link.subscribe(("MISSION_ACK",), _for_us(link, mission_type)) as sub:
        for _ in range(max_retries + 1):
            link.send(link.encoder.mission_clear_all_encode(target[0], target[1], mission_type.value))
            msg = sub.get(item_timeout_s)
            if msg is None:
                continue
            if msg.type != _MAV.MAV_MISSION_ACCEPTED:
                raise _ack_error(f"{name}: refused", msg)
            return
    raise MissionError(f"{name}: no MISSION_ACK after {max_retries + 1} attempts of {item_timeout_s:g} s")


# What ArduCopter keeps of each mission item's param1..param4 (AP_Mission::mavlink_int_to_mission_cmd and
# mission_cmd_to_mavlink_int): "f" a float, "i" a whole number (C's float-to-integer conversion truncates toward
# zero: a hold time of 1.5 s comes back as 1), "-" not kept (it comes back as 0 or a fixed value). Commands not
# listed are compared as floats on all four params.
_ARDUCOPTER_PARAMS: Mapping[int, str] = MappingProxyType({
    _MAV.MAV_CMD_NAV_WAYPOINT: "i---",  # hold time s; acceptance/pass radius and yaw are not kept by Copter
    _MAV.MAV_CMD_NAV_LOITER_UNLIM: "--i-",  # radius m (sign = direction)
    _MAV.MAV_CMD_NAV_LOITER_TURNS: "i-i-",  # turns; radius m (up to 255 m)
    _MAV.MAV_CMD_NAV_LOITER_TIME: "i---",  # time s
    _MAV.MAV_CMD_NAV_RETURN_TO_LAUNCH: "----",
    _MAV.MAV_CMD_NAV_LAND: "i---",
    _MAV.MAV_CMD_NAV_TAKEOFF: "i---",
    _MAV.MAV_CMD_NAV_SPLINE_WAYPOINT: "i---",  # hold time s
    _MAV.MAV_CMD_NAV_GUIDED_ENABLE: "i---",
    _MAV.MAV_CMD_NAV_DELAY: "fiii",  # seconds; UTC hour, minute, second
    _MAV.MAV_CMD_CONDITION_DELAY: "f---",
    _MAV.MAV_CMD_CONDITION_DISTANCE: "f---",
    _MAV.MAV_CMD_CONDITION_YAW: "ffii",  # angle, rate; direction, relative
    _MAV.MAV_CMD_DO_JUMP: "ii--",
    _MAV.MAV_CMD_DO_CHANGE_SPEED: "iff-",  # speed type; speed m/s, throttle %
    _MAV.MAV_CMD_DO_SET_HOME: "i---",
    _MAV.MAV_CMD_DO_SET_RELAY: "ii--",
    _MAV.MAV_CMD_DO_REPEAT_RELAY: "iif-",
    _MAV.MAV_CMD_DO_SET_SERVO: "ii--",
    _MAV.MAV_CMD_DO_REPEAT_SERVO: "iiif",
    _MAV.MAV_CMD_DO_LAND_START: "----",
    _MAV.MAV_CMD_DO_SET_ROI: "i---",
    _MAV.MAV_CMD_DO_MOUNT_CONTROL: "fff-",
})
_FENCE_COMMANDS = frozenset(range(_MAV.MAV_CMD_NAV_FENCE_RETURN_POINT, _MAV.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION + 1))
_FENCE_PARAMS: Mapping[int, str] = MappingProxyType({
    _MAV.MAV_CMD_NAV_FENCE_RETURN_POINT: "----",
    _MAV.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION: "i---",  # vertex count
    _MAV.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION: "i---",
    _MAV.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION: "f---",  # radius m
    _MAV.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION: "f---",
})


def _kept_by_ardupilot(item: MissionItem) -> tuple[str, float | None, bool]:
    """(param kinds, altitude resolution in m or None when not kept, whether frame and autocontinue are kept)."""
    if item.command in _FENCE_COMMANDS:  # AC_PolyFence: lat/lon and param1 only, read back in frame 0
        return _FENCE_PARAMS[item.command], None, False
    if item.command == _MAV.MAV_CMD_NAV_RALLY_POINT:  # AP_Rally: lat/lon and altitude in whole metres (int16)
        return "----", 1.0, False
    return _ARDUCOPTER_PARAMS.get(item.command, "ffff"), 0.01, True  # Location.alt: whole centimetres


def same_item(sent: MissionItem, got: MissionItem, *, tolerance_deg: float = 2e-7) -> bool:
    """Whether `got`, read back from an ArduCopter vehicle, is the item `sent` was uploaded as.

    Knows what ArduPilot changes on the way: frame 6 comes back as 3 (5 as 0, 11 as 10); params are float32;
    params it stores as whole numbers come back truncated (a waypoint's hold time 1.5 s as 1.0) and those it does
    not store at all come back as anything (see _ARDUCOPTER_PARAMS); altitudes are kept in whole centimetres
    (rally points: whole metres); fence items come back with frame 0 and no altitude, fence and rally items with
    autocontinue 0; lat/lon are rounded to 1e-7 degrees. A vehicle that keeps everything exactly also matches."""
    kinds, alt_resolution_m, frame_kept = _kept_by_ardupilot(sent)

    def frame(f: int) -> int:
        return codec.EQUIVALENT_FRAMES.get(f, f)

    def same_param(kind: str, a: float, b: float) -> bool:
        if kind == "-":
            return True
        a32, b32 = codec.float32(a), codec.float32(b)
        if a32 != a32 or b32 != b32:  # NaN
            return a32 != a32 and b32 != b32
        if kind == "i" and b32 == math.trunc(a32):
            return True
        return abs(a32 - b32) <= 1e-6 * max(1.0, abs(a))

    def same_alt(a: float, b: float) -> bool:
        if alt_resolution_m is None:
            return True
        return abs(codec.float32(a) - codec.float32(b)) < alt_resolution_m + 1e-5 * max(1.0, abs(a))

    return (
        sent.command == got.command
        and (not frame_kept or frame(sent.frame) == frame(got.frame))
        and all(same_param(kind, a, b) for kind, a, b in zip(
            kinds, (sent.param1, sent.param2, sent.param3, sent.param4),
            (got.param1, got.param2, got.param3, got.param4)))
        and same_alt(sent.alt_m, got.alt_m)
        and abs(sent.lat_deg - got.lat_deg) <= tolerance_deg
        and abs(sent.lon_deg - got.lon_deg) <= tolerance_deg
        and (not frame_kept or sent.autocontinue == got.autocontinue)
    )
