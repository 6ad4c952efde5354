"""Fixtures: a running simulator on OS-chosen ports and raw pymavlink clients."""
from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil  # noqa: E402

from sim.fleet import SimFleet  # noqa: E402


@pytest.fixture
def fleet():
    f = SimFleet(vehicles=2, speedup=10.0, base_port=0, ready_after_s=2.0, position_after_s=1.0)
    f.start()
    yield f
    f.stop()


class Client:
    """A raw pymavlink connection with small helpers to wait for messages."""

    def __init__(self, url: str, sysid: int = 255, compid: int = 190) -> None:
        self.conn = mavutil.mavlink_connection(url, source_system=sysid, source_component=compid, autoreconnect=False)
        self.mav = self.conn.mav

    def wait(self, mtype: str | list[str], cond=lambda m: True, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.conn.recv_match(type=mtype, blocking=True, timeout=0.2)
            if m is not None and cond(m):
                return m
        raise AssertionError(f"no {mtype} matching within {timeout}s")

    def until(self, mtype: str | list[str], cond=lambda m: True, timeout: float = 10.0) -> tuple[object, list]:
        """Wait for a matching message; return it and every message that arrived before it (in order)."""
        before = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.conn.recv_match(blocking=True, timeout=0.2)
            if m is None:
                continue
            types = [mtype] if isinstance(mtype, str) else mtype
            if m.get_type() in types and cond(m):
                return m, before
            before.append(m)
        raise AssertionError(f"no {mtype} matching within {timeout}s")

    def heartbeats(self, n: int, timeout: float = 10.0) -> list:
        """Every message up to the n-th autopilot HEARTBEAT from now: a window of at least n-1 simulated
        seconds (HEARTBEAT is 1 Hz) that ends on a positive event, not on a wall-clock timeout."""
        out = []
        for _ in range(n):
            hb, before = self.until("HEARTBEAT", lambda m: m.get_srcComponent() == 1, timeout)
            out.extend(before)
            out.append(hb)
        return out

    def pending(self) -> list:
        """Whatever has already arrived (non-blocking)."""
        out = []
        while True:
            m = self.conn.recv_match(blocking=False)
            if m is None:
                return out
            out.append(m)

    def command(self, command: int, *params: float, target_component: int = 1, timeout: float = 5.0):
        p = list(params) + [0.0] * (7 - len(params))
        self.mav.command_long_send(1, target_component, command, 0, *p)
        return self.wait("COMMAND_ACK", lambda m: m.command == command, timeout)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def client(fleet):
    c = Client(fleet.urls[0])
    c.wait("HEARTBEAT")
    yield c
    c.close()


def wait_ready(client: Client) -> None:
    prearm = 1 << 28
    client.mav.request_data_stream_send(1, 1, 0, 10, 1)
    client.wait("SYS_STATUS", lambda m: m.onboard_control_sensors_health & prearm, timeout=15)
