"""Fixtures for telemetry/ tests: scripted MAVLink peers on free loopback ports and an event recorder."""
from __future__ import annotations

import threading

import pytest

from tests.telemetry.peer import ScriptedVehicle
from tests.waiting import wait_for
from telemetry.vehicle import Vehicle


class EventLog:
    """Thread-safe list of telemetry events with a wait helper."""

    def __init__(self):
        self._lock = threading.Lock()
        self.events: list = []

    def __call__(self, event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def first(self, predicate):
        """The first event matching `predicate`, or None."""
        with self._lock:
            return next((e for e in self.events if predicate(e)), None)

    def wait_for(self, predicate, timeout_s: float = 10.0, what: str = "expected event"):
        return wait_for(lambda: self.first(predicate), timeout_s, what)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def peer():
    p = ScriptedVehicle().start()
    yield p
    p.stop()


@pytest.fixture
def make_vehicle(events):
    made = []

    def make(url: str, **kwargs) -> Vehicle:
        kwargs.setdefault("heartbeat_period_s", 0.2)
        kwargs.setdefault("link_timeout_s", 1.0)
        kwargs.setdefault("reconnect_backoff_s", (0.05, 0.4))
        kwargs.setdefault("stream_rates_hz", {})
        v = Vehicle(kwargs.pop("vehicle_id", "v1"), url, on_event=events, **kwargs)
        made.append(v)
        return v.start()

    yield make
    for v in made:
        v.close()
