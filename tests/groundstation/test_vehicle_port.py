"""The typed hand-off from the core to the vehicles: every command type names a VehiclePort method, and the
telemetry Vehicle (and the test double) implement each one with a compatible signature, so renaming a vehicle
method fails here, before anything flies."""
from __future__ import annotations

import inspect

import pytest

from groundstation.core.commands import COMMANDS, VehiclePort, parse
from telemetry.vehicle import Vehicle
from tests.groundstation.fakes import FakeVehicle

PORT_METHODS = sorted(name for name, _ in inspect.getmembers(VehiclePort, inspect.isfunction)
                      if not name.startswith("_"))


def problems(cls: type) -> list[str]:
    """Why `cls` does not satisfy VehiclePort: a missing method, or one whose parameters cannot take the
    port's arguments (same names, in the same order; any extra parameter must have a default)."""
    out = []
    for name in PORT_METHODS:
        impl = getattr(cls, name, None)
        if not callable(impl):
            out.append(f"{cls.__name__}.{name} is missing")
            continue
        want = list(inspect.signature(getattr(VehiclePort, name)).parameters.values())[1:]
        have = list(inspect.signature(impl).parameters.values())[1:]
        positional = [p for p in have if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if [p.name for p in positional[:len(want)]] != [p.name for p in want]:
            out.append(f"{cls.__name__}.{name}{inspect.signature(impl)} does not take ({', '.join(p.name for p in want)})")
            continue
        extra = [p for p in have if p.name not in {w.name for w in want}
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.default is p.empty]
        if extra:
            out.append(f"{cls.__name__}.{name} has required parameters the port does not give: "
                       f"{', '.join(p.name for p in extra)}")
    return out


@pytest.mark.parametrize("cls", [Vehicle, FakeVehicle], ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_the_vehicle_implements_every_port_method(cls):
    assert problems(cls) == []


def test_a_renamed_method_is_caught():
    class Renamed(FakeVehicle):
        takeoff = None  # type: ignore[assignment]

        def take_off(self, alt_rel_m):  # the old name is gone
            return None

    assert problems(Renamed) == ["Renamed.takeoff is missing"]


class _Recorder:
    """Records which port method each command calls, with which arguments."""

    def __getattr__(self, name):
        if name not in PORT_METHODS:
            raise AttributeError(name)
        return lambda *args: (name, args)


@pytest.mark.parametrize("action, args, call", [
    ("arm", {}, ("arm", ())),
    ("disarm", {}, ("disarm", ())),
    ("rtl", {}, ("rtl", ())),
    ("land", {}, ("land", ())),
    ("takeoff", {"alt_rel_m": 20}, ("takeoff", (20.0,))),
    ("goto", {"lat_deg": 23.0, "lon_deg": 112.0, "alt_rel_m": 30}, ("goto", (23.0, 112.0, 30.0))),
    ("set_mode", {"mode": "guided"}, ("set_mode", ("GUIDED",))),
    ("set_mission_current", {"seq": 3}, ("set_current_mission_item", (3,))),
    ("start_mission", {}, ("start_mission", ())),
    ("point_gimbal", {"pitch_deg": -45}, ("point_gimbal", (-45.0, 0.0))),
    ("set_roi", {"lat_deg": 23.0, "lon_deg": 112.0}, ("set_roi", (23.0, 112.0, 0.0))),
    ("clear_roi", {}, ("clear_roi", ())),
    ("set_relay", {"number": 2, "on": False}, ("set_relay", (2, False))),
    ("capture_image", {"component_id": 101}, ("capture_image", (101,))),
])
def test_each_command_calls_its_port_method(action, args, call):
    assert parse(action, args).send(_Recorder()) == call


def test_every_command_type_is_covered_above():
    covered = {"arm", "disarm", "rtl", "land", "takeoff", "goto", "set_mode", "set_mission_current", "start_mission",
               "point_gimbal", "set_roi", "clear_roi", "set_relay", "capture_image", "upload_mission"}
    assert set(COMMANDS) == covered
