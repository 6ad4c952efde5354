"""Many vehicles, one event sink: a Fleet starts a Vehicle per link and closes them all together.

Each Vehicle has its own link thread; `on_event` is called from all of them (it must be thread-safe and quick,
e.g. `queue.put_nowait`). Vehicle ids are unique within a fleet.
"""
from __future__ import annotations

import threading
from typing import Callable

from telemetry.errors import InvalidRequest
from telemetry.records import TelemetryEvent
from telemetry.vehicle import Vehicle


class Fleet:
    def __init__(self, on_event: Callable[[TelemetryEvent], None] | None = None):
        self._on_event = on_event
        self._lock = threading.Lock()
        self._vehicles: dict[str, Vehicle] = {}
        self._closed = False

    def add(self, vehicle_id: str, url: str, **vehicle_kwargs) -> Vehicle:
        """Create and start a Vehicle (kwargs as for Vehicle, except on_event, which is the fleet's)."""
        if "on_event" in vehicle_kwargs:
            raise InvalidRequest("Fleet.add: on_event is the fleet's; pass it to Fleet()")
        with self._lock:
            if self._closed:
                raise InvalidRequest("Fleet.add: the fleet is closed")
            if vehicle_id in self._vehicles:
                raise InvalidRequest(f"Fleet.add: vehicle id {vehicle_id!r} already in the fleet")
            vehicle = Vehicle(vehicle_id, url, on_event=self._on_event, **vehicle_kwargs)
            self._vehicles[vehicle_id] = vehicle
        return vehicle.start()

    def get(self, vehicle_id: str) -> Vehicle | None:
        """The vehicle with this id, or None (like dict.get)."""
        with self._lock:
            return self._vehicles.get(vehicle_id)

    def remove(self, vehicle_id: str) -> None:
        with self._lock:
            vehicle = self._vehicles.pop(vehicle_id, None)
        if vehicle is not None:
            vehicle.close()

    @property
    def vehicles(self) -> dict[str, Vehicle]:
        """A copy of id -> Vehicle."""
        with self._lock:
            return dict(self._vehicles)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            vehicles, self._vehicles = list(self._vehicles.values()), {}
        threads = [threading.Thread(target=v.close, daemon=True) for v in vehicles]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10.0)

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
