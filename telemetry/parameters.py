"""The MAVLink parameter protocol, client side: read one, set one (and check the echo), fetch them all.

Runs in the caller's thread over a Link. Unknown names are not answered by ArduPilot, so a read that gets no
PARAM_VALUE after its retries raises ParamError saying the parameter may not exist.
"""
from __future__ import annotations

import time

from telemetry import codec
from telemetry.errors import InvalidRequest, ParamError
from telemetry.link import Link

_MAV = codec.mavlink
_INT_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 8})  # MAV_PARAM_TYPE_UINT8 .. INT64



def _check_name(name: str) -> bytes:
    raw = name.encode("ascii", errors="strict") if name.isascii() else b""
    if not raw or len(raw) > 16:
        raise InvalidRequest(f"bad parameter name {name!r}: 1-16 ASCII characters")
    return raw


def read(link: Link, name: str, *, timeout_s: float = 1.0, retries: int = 3) -> tuple[float, int]:
    """(value, MAV_PARAM_TYPE) of one parameter."""
    raw = _check_name(name)
    target = link.target(f"read of parameter {name}")
    with link.subscribe(("PARAM_VALUE",), lambda m: m.param_id == name) as sub:
        for _ in range(retries + 1):
            link.send(link.encoder.param_request_read_encode(target[0], target[1], raw, -1))
            msg = sub.get(timeout_s)
            if msg is not None:
                return float(msg.param_value), msg.param_type
    raise ParamError(
        f"{link.name}: no PARAM_VALUE for {name} after {retries + 1} requests of {timeout_s:g} s "
        "(the vehicle does not answer unknown parameters: is the name right?)"
    )


def write(
    link: Link, name: str, value: float, param_type: int, *, timeout_s: float = 1.0, retries: int = 3
) -> float:
    """Set a parameter and return the value the vehicle reports back; raises ParamError if it kept another."""
    raw = _check_name(name)
    target = link.target(f"set of parameter {name}")
    value = float(value)
    with link.subscribe(("PARAM_VALUE",), lambda m: m.param_id == name) as sub:
        for _ in range(retries + 1):
            link.send(link.encoder.param_set_encode(target[0], target[1], raw, value, param_type))
            msg = sub.get(timeout_s)
            if msg is None:
                continue
            got = float(msg.param_value)
            want = round(value) if param_type in _INT_TYPES else codec.float32(value)
            if abs(got - want) > 1e-6 * max(1.0, abs(want)):
                raise ParamError(f"{link.name}: set {name}={value:g} but the vehicle kept {got:g}")
            return got
    raise ParamError(f"{link.name}: no PARAM_VALUE echo for {name} after {retries + 1} sets of {timeout_s:g} s")


def fetch_all(
    link: Link, *, timeout_s: float = 60.0, stall_s: float = 1.5, max_rounds: int = 10
) -> dict[str, tuple[float, int]]:
    """Every parameter: name -> (value, MAV_PARAM_TYPE). Missing indices are re-requested one by one."""
    target = link.target("parameter list request")
    deadline = time.monotonic() + timeout_s
    by_index: dict[int, tuple[str, float, int]] = {}
    count: int | None = None
    rounds = 0
    with link.subscribe(("PARAM_VALUE",)) as sub:
        link.send(link.encoder.param_request_list_encode(target[0], target[1]))
        while count is None or len(by_index) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ParamError(
                    f"{link.name}: parameter fetch timed out after {timeout_s:g} s "
                    f"({len(by_index)} of {count if count is not None else '?'} received)"
                )
            msg = sub.get(min(stall_s, remaining))
            if msg is not None:
                count = msg.param_count
                if 0 <= msg.param_index < msg.param_count:
                    by_index[msg.param_index] = (msg.param_id, float(msg.param_value), msg.param_type)
                continue
            rounds += 1
            if rounds > max_rounds:
                raise ParamError(
                    f"{link.name}: parameter fetch stalled ({len(by_index)} of "
                    f"{count if count is not None else '?'} received after {max_rounds} re-requests)"
                )
            if count is None:
                link.send(link.encoder.param_request_list_encode(target[0], target[1]))
            else:
                missing = [i for i in range(count) if i not in by_index][:50]
                for i in missing:
                    link.send(link.encoder.param_request_read_encode(target[0], target[1], b"", i))
    return {name: (value, ptype) for name, value, ptype in by_index.values()}
