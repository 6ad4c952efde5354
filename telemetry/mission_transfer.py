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
from typing import Sequence

from telemetry import codec
from telemetry.errors import InvalidRequest, LinkDown, MissionError
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


def _target(link: Link) -> tuple[int, int]:
    if link.target_system is None or not link.up:
        raise LinkDown(f"{link.name}: link is down ({link.down_reason})")
    return link.target_system, link.target_component or 1


def _for_us(link: Link, mission_type: MissionType):
    def match(msg) -> bool:
        return (
            getattr(msg, "target_system", 0) in (0, link.source_system)
            and getattr(msg, "mission_type", 0) == mission_type.value
        )

    return match


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
    target = _target(link)
    name = f"{link.name}: {mission_type.name.lower()} upload of {len(items)} items"
    deadline = time.monotonic() + timeout_s
    with link.subscribe(("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"), _for_us(link, mission_type)) as sub:
        count_msg = link.encoder.mission_count_encode(target[0], target[1], len(items), mission_type.value)
        last_sent = count_msg
        highest_sent = -1
        link.send(count_msg)
        retries = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MissionError(f"{name}: timed out after {timeout_s:g} s ({highest_sent + 1} items sent)")
            msg = sub.get(min(item_timeout_s, remaining))
            if msg is None:
                retries += 1
                if retries > max_retries:
                    raise MissionError(
                        f"{name}: vehicle stopped answering after item {highest_sent} "
                        f"({max_retries} resends of {item_timeout_s:g} s)"
                    )
                link.send(last_sent)  # our item (or the count) or its request was lost: say it again
                continue
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
            retries = 0


def download(
    link: Link,
    mission_type: MissionType = MissionType.MISSION,
    *,
    timeout_s: float = 30.0,
    item_timeout_s: float = 1.0,
    max_retries: int = 5,
) -> list[MissionItem]:
    """All items on the vehicle, seq 0..n-1 (ArduPilot missions: seq 0 is home)."""
    target = _target(link)
    name = f"{link.name}: {mission_type.name.lower()} download"
    deadline = time.monotonic() + timeout_s
    types = ("MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK")
    with link.subscribe(types, _for_us(link, mission_type)) as sub:

        def exchange(request, want: str, seq: int | None = None):
            link.send(request)
            retries = 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MissionError(f"{name}: timed out after {timeout_s:g} s")
                msg = sub.get(min(item_timeout_s, remaining))
                if msg is None:
                    retries += 1
                    if retries > max_retries:
                        what = "the item count" if seq is None else f"item {seq}"
                        raise MissionError(f"{name}: no answer for {what} after {max_retries} resends")
                    link.send(request)
                    continue
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
    target = _target(link)
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


def same_item(sent: MissionItem, got: MissionItem, *, tolerance_deg: float = 2e-7) -> bool:
    """Whether a read-back item is the one uploaded, allowing ArduPilot's frame 6->3 (and 5->0, 11->10)
    conversion, float32 rounding of params and altitude, and 1e-7 degree rounding of lat/lon."""

    def frame(f: int) -> int:
        return codec.EQUIVALENT_FRAMES.get(f, f)

    def close(a: float, b: float) -> bool:
        if a != a and b != b:  # both NaN
            return True
        return abs(codec.float32(a) - codec.float32(b)) <= 1e-6 * max(1.0, abs(a))

    return (
        sent.command == got.command
        and frame(sent.frame) == frame(got.frame)
        and all(close(a, b) for a, b in (
            (sent.param1, got.param1), (sent.param2, got.param2), (sent.param3, got.param3),
            (sent.param4, got.param4), (sent.alt_m, got.alt_m),
        ))
        and abs(sent.lat_deg - got.lat_deg) <= tolerance_deg
        and abs(sent.lon_deg - got.lon_deg) <= tolerance_deg
        and sent.autocontinue == got.autocontinue
    )
