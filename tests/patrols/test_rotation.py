"""The core's rotation, pure: the flying time a drone has left on station, how early its relief must be launched,
and what a rotation run needs at each tick, composed over a whole coverage window with an explicit clock."""
from __future__ import annotations

import pytest

from groundstation.core.patrols import (PatrolPolicy, PatrolSchedule, relief_lead_s, rotation_action,
                                        time_left_on_station_s)
from missions.estimate import VehicleProfile, vertical_time_s
from missions.geo import GeoPoint, enu_to_latlon, haversine_m
from telemetry.records import MissionItem

from tests.patrols.helpers import SIM_HOME, vstate

# 100 Wh pack, 360 W: 1 % of battery per 10 s of flight, 800 s on a full one; reserve 20 %
PROFILE = VehicleProfile(battery_capacity_wh=100, flight_power_w=360, reserve_pct=20)
POLICY = PatrolPolicy(PROFILE, speed_m_s=8.0, launch_overhead_s=30.0, handover_s=60.0)
BASE = GeoPoint(*SIM_HOME)


def north_of_home(metres: float) -> tuple[float, float]:
    lat, lon = enu_to_latlon(SIM_HOME[0], SIM_HOME[1], 0.0, metres)
    return float(lat), float(lon)


START = north_of_home(400.0)
SCHEDULE = PatrolSchedule("s1", "plaza", (MissionItem(22, alt_m=20.0), MissionItem(16, lat_deg=START[0],
                          lon_deg=START[1], alt_m=20.0), MissionItem(20)), START[0], START[1], energy_wh=30.0)


def test_time_left_on_station_is_the_endurance_less_the_way_home():
    assert time_left_on_station_s(vstate("v1", battery_pct=100.0), PROFILE, 8.0) == pytest.approx(800.0)
    lat, lon = north_of_home(400.0)
    far = vstate("v1", lat_deg=lat, lon_deg=lon, alt_rel_m=20.0, battery_pct=60.0)
    # 400 s of battery above the reserve, less 50 s back at 8 m/s and the climb/descent of 20 m
    assert time_left_on_station_s(far, PROFILE, 8.0) == pytest.approx(400.0 - 50.0 - vertical_time_s(20.0, PROFILE),
                                                                      abs=0.01)
    # a drone whose battery does not even bring it back has no time on station: it must come home now
    spent = vstate("v1", lat_deg=lat, lon_deg=lon, alt_rel_m=20.0, battery_pct=27.0)
    assert time_left_on_station_s(spent, PROFILE, 8.0) < 0
    assert rotation_action(time_left_on_station_s(spent, PROFILE, 8.0), 100.0, 10.0, 3600.0, False) == "return"
    for unknown in (dict(battery_pct=None), dict(home=None), dict(lat_deg=0.0, lon_deg=0.0)):
        assert time_left_on_station_s(vstate("v1", **unknown), PROFILE, 8.0) is None, unknown


def test_the_relief_lead_covers_the_launch_the_climb_the_transit_and_the_handover():
    transit_s = haversine_m(BASE, GeoPoint(*START)) / 8.0
    assert transit_s == pytest.approx(50.0, abs=0.01)
    assert relief_lead_s(SCHEDULE, BASE, POLICY) == pytest.approx(30.0 + 20.0 / 2.5 + transit_s + 60.0)
    assert relief_lead_s(SCHEDULE, None, POLICY) == pytest.approx(30.0 + 20.0 / 2.5 + 60.0)  # base unknown


def fly_rotation(window_s: float, on_station_s: float, relief_available: bool, tick_s: float = 1.0):
    """Tick a rotation through a coverage window from 0 to window_s: each drone has on_station_s of flying time left
    when it reaches the zone; a relief launched when rotation_action asks for one reaches the zone lead - handover
    later (launch, climb, transit). Returns the handovers (time, flying time the leaving drone still had), the times
    a drone had to go home unrelieved, and when the last one was sent home at the window's end."""
    lead = relief_lead_s(SCHEDULE, BASE, POLICY)
    arrived, relief_at = 0.0, None
    handovers, returns, ended = [], [], None
    for k in range(int(window_s / tick_s) + 2):
        now = k * tick_s
        left = on_station_s - (now - arrived)
        if relief_at is not None and now >= relief_at:
            handovers.append((now, left))
            arrived, relief_at, left = now, None, on_station_s
        action = rotation_action(left, lead, now, window_s, relief_at is not None)
        if action == "end":
            ended = now
            break
        if action == "relief" and relief_available:
            relief_at = now + lead - POLICY.handover_s
        elif action == "return":
            returns.append(now)  # home unrelieved: from now on a gap in coverage
            break
    return handovers, returns, ended


def test_a_relief_launched_when_asked_takes_over_before_the_drone_on_station_must_leave():
    handovers, returns, ended = fly_rotation(window_s=4 * 3600.0, on_station_s=600.0, relief_available=True)
    assert not returns and ended == 4 * 3600.0  # never a gap; the last drone goes home when the window ends
    assert len(handovers) >= 4 * 3600 // 600
    for at, left in handovers:
        # on station about handover_s before the drone it relieves must turn home (within one tick)
        assert POLICY.handover_s - 1.0 <= left <= POLICY.handover_s + 1.0, (at, left)


def test_with_no_relief_the_drone_goes_home_when_its_time_is_up_and_the_gap_starts_then():
    handovers, returns, ended = fly_rotation(window_s=3600.0, on_station_s=600.0, relief_available=False)
    assert handovers == [] and ended is None
    assert returns == [600.0]  # it patrols until its flying time is used up, not a moment longer


def test_no_relief_when_the_drone_on_station_lasts_until_the_window_ends():
    handovers, returns, ended = fly_rotation(window_s=500.0, on_station_s=600.0, relief_available=True)
    assert handovers == [] and returns == [] and ended == 500.0
