"""Drone assignment by battery and distance. (Rotation: tests/patrols/test_rotation.py.)"""
import pytest

from missions.assignment import VehicleStatus, assign_vehicle
from missions.errors import NoVehicleAvailable
from missions.estimate import VehicleProfile

from tests.missions.shapes import FRAME

# 100 Wh pack, 360 W: 1 % of battery per 10 s of flight; reserve 20 %
PROFILE = VehicleProfile(battery_capacity_wh=100, flight_power_w=360, reserve_pct=20)
START = FRAME.to_geo(0, 0)


def test_nearest_vehicle_with_enough_battery_wins():
    vehicles = [
        VehicleStatus("far", 95, True, FRAME.to_geo(2000, 0)),
        VehicleStatus("near-low", 45, True, FRAME.to_geo(100, 0)),
        VehicleStatus("near", 80, True, FRAME.to_geo(400, 0)),
        VehicleStatus("busy", 100, False, START),
    ]
    # the plan needs 30 Wh = 30 %; transit at 8 m/s: 400 m = 50 s = 5 %
    a = assign_vehicle(vehicles, 30.0, START, PROFILE, speed_m_s=8)
    assert a.vehicle_id == "near"
    assert a.battery_pct_needed == pytest.approx(35, abs=0.1)
    assert a.battery_pct_at_landing == pytest.approx(45, abs=0.1)


def test_no_vehicle_says_why_for_each():
    vehicles = [VehicleStatus("d1", 40, True, START), VehicleStatus("d2", 100, False, START)]
    with pytest.raises(NoVehicleAvailable) as e:
        assign_vehicle(vehicles, 30.0, START, PROFILE)
    assert e.value.reasons == ("d1: has 40 %, needs 30 % plus a 20 % reserve", "d2: not available")
