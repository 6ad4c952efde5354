"""Drone assignment by battery and distance, and a rotation that keeps a zone covered."""
from datetime import datetime, timedelta, timezone

import pytest

from missions.assignment import VehicleStatus, assign_vehicle, plan_rotation
from missions.errors import NoVehicleAvailable
from missions.estimate import VehicleProfile
from missions.geo import GeoPoint

from tests.missions.shapes import FRAME

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
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


def test_rotation_keeps_the_zone_covered():
    vehicles = [VehicleStatus(f"d{i}", 100, True) for i in range(3)]
    # endurance 800 s; transit 100 s each way: 600 s on station; recharge 900 s
    rot = plan_rotation(vehicles, T0, horizon_s=4 * 3600, transit_s=100, profile=PROFILE, recharge_s=900, handover_s=30)
    assert rot.gaps == ()
    s = rot.sorties
    assert s[0].launch_utc == T0 and s[0].on_station_utc == T0 + timedelta(seconds=100)
    assert s[0].leave_station_utc == T0 + timedelta(seconds=700)
    for cur, nxt in zip(s, s[1:]):
        # the next drone is on station before the current one must turn back, and took off before that
        assert nxt.on_station_utc == cur.leave_station_utc - timedelta(seconds=30)
        assert nxt.launch_utc < cur.leave_station_utc
        assert nxt.vehicle_id != cur.vehicle_id
    assert s[-1].leave_station_utc >= T0 + timedelta(hours=4)
    # each drone flies again only after landing and recharging
    by_vehicle = {}
    for x in s:
        if x.vehicle_id in by_vehicle:
            assert x.launch_utc >= by_vehicle[x.vehicle_id].landed_utc + timedelta(seconds=900)
        by_vehicle[x.vehicle_id] = x


def test_one_drone_cannot_cover_and_the_gaps_are_reported():
    rot = plan_rotation([VehicleStatus("solo", 100, True)], T0, horizon_s=3600, transit_s=100, profile=PROFILE,
                        recharge_s=900, handover_s=30)
    assert len(rot.gaps) >= 1
    g0 = rot.gaps[0]
    assert g0[0] == T0 + timedelta(seconds=700)  # first leaves station
    assert g0[1] == T0 + timedelta(seconds=800 + 900 + 100)  # landed, recharged, flown back


def test_rotation_with_no_usable_vehicle():
    with pytest.raises(NoVehicleAvailable):
        plan_rotation([VehicleStatus("d1", 100, False)], T0, 3600, 100, PROFILE)
    with pytest.raises(NoVehicleAvailable, match="not enough"):
        plan_rotation([VehicleStatus("d1", 100, True)], T0, 3600, 500, PROFILE)  # 800 s < 2 x 500 s transit
