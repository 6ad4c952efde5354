"""A test double of the telemetry Fleet/Vehicle interface the station uses (in memory, no MAVLink).

It stands for the interface only (`Fleet(on_event)`, `add`, `get`, `close`; `Vehicle.arm()` ...), so the
shell's threading, queue policies and storage can be tested before and apart from telemetry/. What real
MAVLink does is tested in the integration tests against the simulator.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from telemetry.errors import LinkDown
from telemetry.records import CommandAck, GeoPoint, LinkChanged, StateUpdated, VehicleState

HOME = (23.0475, 112.4650)

_COMMAND_IDS = {"arm": 400, "disarm": 400, "takeoff": 22, "rtl": 20, "land": 21, "set_mode": 176, "goto": 192,
                "start_mission": 300, "set_roi": 195, "clear_roi": 197, "set_relay": 181, "point_gimbal": 1000}


def ready_state(vehicle_id: str, **kw: Any) -> VehicleState:
    base = dict(vehicle_id=vehicle_id, system_id=1, link_up=True, lat_deg=HOME[0], lon_deg=HOME[1], alt_rel_m=0.0,
                battery_pct=95.0, mode="GUIDED", armed=False, gps_fix_type=3, ready_to_arm=True,
                home=GeoPoint(HOME[0], HOME[1], 10.0))
    base.update(kw)
    return VehicleState(**base)


class FakeVehicle:
    def __init__(self, fleet: "FakeFleet", vehicle_id: str, url: str, kwargs: dict[str, Any]):
        self.fleet = fleet
        self.vehicle_id = vehicle_id
        self.url = url
        self.kwargs = kwargs
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        # per-method behaviour: a callable run instead of the default answer (may raise or block)
        self.behaviour: dict[str, Callable[..., Any]] = {}
        self.closed = False
        self.state = None  # the station passes on a state only the fleet's link emitted (FakeFleet.state)

    def _do(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        if self.closed:
            raise LinkDown(f"{self.vehicle_id}: closed")
        if name in self.behaviour:
            return self.behaviour[name](*args)
        return CommandAck(_COMMAND_IDS.get(name, 0), 0, "MAV_RESULT_ACCEPTED", 1, 0.01)

    def arm(self, force: bool = False): return self._do("arm")
    def disarm(self): return self._do("disarm")
    def takeoff(self, alt_rel_m): return self._do("takeoff", alt_rel_m)
    def goto(self, lat_deg, lon_deg, alt_rel_m): return self._do("goto", lat_deg, lon_deg, alt_rel_m)
    def rtl(self): return self._do("rtl")
    def land(self): return self._do("land")
    def set_mode(self, mode): return self._do("set_mode", mode)
    def upload_mission(self, items, mission_type): return self._do("upload_mission", items, mission_type)
    def set_current_mission_item(self, seq): return self._do("set_current_mission_item", seq)
    def start_mission(self): return self._do("start_mission")
    def point_gimbal(self, pitch_deg, yaw_deg=0.0): return self._do("point_gimbal", pitch_deg, yaw_deg)
    def set_roi(self, lat_deg, lon_deg, alt_rel_m=0.0): return self._do("set_roi", lat_deg, lon_deg, alt_rel_m)
    def clear_roi(self): return self._do("clear_roi")
    def set_relay(self, number, on=True): return self._do("set_relay", number, on)
    def capture_image(self, component_id): return self._do("capture_image", component_id)

    def close(self) -> None:
        self.closed = True


class FakeFleet:
    def __init__(self, on_event: Callable[[object], None], broken_urls: frozenset[str] = frozenset()):
        self.on_event = on_event
        self.broken_urls = broken_urls
        self.vehicles: dict[str, FakeVehicle] = {}
        self.closed = threading.Event()

    def add(self, vehicle_id: str, url: str, **kwargs: Any) -> FakeVehicle:
        if url in self.broken_urls:
            raise OSError(f"cannot open {url}: No such device")
        vehicle = FakeVehicle(self, vehicle_id, url, kwargs)
        self.vehicles[vehicle_id] = vehicle
        return vehicle

    def get(self, vehicle_id: str) -> FakeVehicle:
        return self.vehicles[vehicle_id]

    def close(self) -> None:
        for v in self.vehicles.values():
            v.close()
        self.closed.set()

    # --- what a link thread would do -----------------------------------------------------------------
    def link(self, vehicle_id: str, up: bool, reason: str = "") -> None:
        self.on_event(LinkChanged(vehicle_id, up, reason or ("heartbeat" if up else "silent"), 0.0))

    def state(self, vehicle_id: str, **kw: Any) -> None:
        self.on_event(StateUpdated(ready_state(vehicle_id, **kw), 0.0))
