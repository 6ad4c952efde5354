"""The pure copter model, stepped with an explicit dt (no sockets, no sleeping)."""
from __future__ import annotations

import math

import pytest

from sim import geodesy
from sim import mission as ms
from sim.copter import ACCEPTED, FAILED, Copter, Home, ItemReached, Mode, StatusText

HOME = Home(23.0469, 112.4651, 10.0, 0.0)
DT = 0.05


def texts(c: Copter) -> list[str]:
    return [e.text for e in c.drain_events() if isinstance(e, StatusText)]


def run(c: Copter, seconds: float, until=None) -> float:
    """Step up to `seconds` of simulated time; stop early when until(c) is true. Returns sim seconds used."""
    t = 0.0
    while t < seconds:
        if until is not None and until(c):
            return t
        c.step(DT)
        t += DT
    return t


def ready_copter(**params) -> Copter:
    c = Copter(1, HOME, ready_after_s=1.0, position_after_s=0.5)
    for k, v in params.items():
        c.params.set(k, v)
    run(c, 1.5)
    c.drain_events()
    return c


def flying(alt: float = 20.0, **params) -> Copter:
    c = ready_copter(**params)
    assert c.set_mode(Mode.GUIDED)
    assert c.arm() == ACCEPTED
    assert c.takeoff(alt) == ACCEPTED
    run(c, 30, until=lambda c: c.alt_rel_m >= alt - 0.2)
    return c


def mission(c: Copter, items: list[tuple]) -> None:
    """Put items (command, frame, p1..p4, lat, lon, alt) after home, as an upload would."""
    c.store.truncate(ms.MISSION, 1)
    for seq, (cmd, frame, p1, p2, p3, p4, lat, lon, alt) in enumerate(items, start=1):
        assert c.store.put(ms.Item(seq, frame, cmd, p1, p2, p3, p4, int(lat * 1e7), int(lon * 1e7), alt)) == ms.ACCEPTED


def test_arming_is_refused_until_the_position_estimate_is_ready():
    c = Copter(1, HOME, ready_after_s=40.0)
    run(c, 5)
    c.drain_events()
    assert c.arm() == FAILED
    assert texts(c) == ["PreArm: Need Position Estimate"]
    assert not c.set_mode(Mode.GUIDED)
    assert texts(c) == ["Mode change to GUIDED failed: requires position"]
    assert c.lat_lon_deg != (0.0, 0.0) and not c.position_ok   # reported position is 0,0 until GPS
    run(c, 36)
    assert c.ekf_ready and c.arm() == ACCEPTED


def test_arming_only_in_armable_modes_and_auto_needs_a_mission():
    c = ready_copter()
    assert not c.set_mode(Mode.AUTO)
    assert "Mode change to AUTO failed: init failed" in texts(c)
    assert c.set_mode(Mode.RTL)
    assert c.arm() == FAILED
    assert texts(c) == ["Arm: RTL mode not armable"]
    assert c.set_mode(Mode.LOITER) and c.arm() == ACCEPTED


def test_auto_refused_when_armed_on_the_ground_without_a_takeoff_first():
    c = ready_copter()
    lat, lon = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 50, 0)
    mission(c, [(ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, lat, lon, 20)])
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert not c.set_mode(Mode.AUTO)
    assert "Auto: Missing Takeoff Cmd" in texts(c)


def _takeoff_mission(c: Copter) -> None:
    """takeoff, speed, two waypoints, RTL (seq 1..5)."""
    a = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 30, 0)
    b = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 30, 30)
    mission(c, [(ms.NAV_TAKEOFF, 3, 0, 0, 0, 0, 0, 0, 10), (ms.DO_CHANGE_SPEED, 3, 1, 8, 0, 0, 0, 0, 0),
                (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, *a, 10), (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, *b, 10),
                (ms.NAV_RETURN_TO_LAUNCH, 3, 0, 0, 0, 0, 0, 0, 0)])


@pytest.mark.parametrize("current, ok", [(1, True), (2, False), (3, False), (4, False), (5, False)])
def test_auto_on_the_ground_checks_the_next_nav_command_from_the_current_index(current, ok):
    # ArduCopter ModeAuto::init -> AP_Mission::starts_with_takeoff_cmd(): from _nav_cmd.index (MIS_RESTART=0),
    # not from the first item. seq 2 is a DO command: the search starts AT it and finds seq 3, a waypoint.
    c = ready_copter()
    _takeoff_mission(c)
    assert c.set_mission_current(current)
    c.drain_events()
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert c.set_mode(Mode.AUTO) is ok
    if not ok:
        assert texts(c)[-2:] == ["Auto: Missing Takeoff Cmd", "Mode change to AUTO failed: init failed"]
        assert c.mode == Mode.GUIDED and c.landed


def test_auto_from_a_later_index_is_accepted_with_mis_restart_or_after_a_disarm():
    c = ready_copter(MIS_RESTART=1)
    _takeoff_mission(c)
    assert c.set_mission_current(3)
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert c.start_mission(), "MIS_RESTART=1 restarts the mission: the takeoff is next"
    assert c.mission_current_seq == 1
    run(c, 2)
    assert c.alt_rel_m > 1.0

    c = ready_copter()
    _takeoff_mission(c)
    assert c.set_mission_current(4)
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert not c.set_mode(Mode.AUTO)
    assert c.disarm() == ACCEPTED   # AP_Arming_Copter::disarm resets the mission: back to the first item
    assert c.arm() == ACCEPTED and c.start_mission()
    assert c.mission_current_seq == 1
    run(c, 2)
    assert c.alt_rel_m > 1.0


def test_takeoff_check_follows_do_jump_and_skips_nav_delay():
    a = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 30, 0)
    c = ready_copter()   # 1 takeoff, 2 waypoint, 3 jump -> 1 (forever), 4 RTL: from the jump the takeoff is next
    mission(c, [(ms.NAV_TAKEOFF, 3, 0, 0, 0, 0, 0, 0, 10), (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, *a, 10),
                (ms.DO_JUMP, 3, 1, -1, 0, 0, 0, 0, 0), (ms.NAV_RETURN_TO_LAUNCH, 3, 0, 0, 0, 0, 0, 0, 0)])
    assert c.set_mission_current(3)
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert c.set_mode(Mode.AUTO)

    c = ready_copter()   # 1 delay, 2 takeoff: a NAV_DELAY before the takeoff is skipped
    mission(c, [(ms.NAV_DELAY, 3, 1, -1, -1, -1, 0, 0, 0), (ms.NAV_TAKEOFF, 3, 0, 0, 0, 0, 0, 0, 10),
                (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, *a, 10)])
    assert c.set_mission_current(1)
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert c.set_mode(Mode.AUTO)


def test_takeoff_only_in_guided_and_armed():
    c = ready_copter()
    assert c.takeoff(20) == FAILED            # disarmed
    assert c.arm() == ACCEPTED                 # STABILIZE
    assert c.takeoff(20) == FAILED            # not GUIDED
    assert c.set_mode(Mode.GUIDED)
    assert c.takeoff(20) == ACCEPTED


def test_takeoff_reaches_altitude_in_about_twelve_seconds():
    c = ready_copter()
    c.set_mode(Mode.GUIDED)
    c.arm()
    c.takeoff(20)
    t = run(c, 60, until=lambda c: c.alt_rel_m >= 19.8)
    assert 8.0 < t < 15.0
    assert c.flying and c.vu <= 2.5 + 1e-6
    run(c, 5)
    assert c.alt_rel_m == pytest.approx(20.0, abs=0.2)


def test_guided_goto_cruises_at_wpnav_speed_and_stops_there():
    c = flying()
    lat, lon = geodesy.moved(*c.lat_lon_deg, 300.0, 0.0)
    assert c.goto(lat, lon, None)
    top = 0.0

    def arrived(c):
        nonlocal top
        top = max(top, c.groundspeed_m_s)
        return geodesy.distance_m(*c.lat_lon_deg, lat, lon) < 1.0 and c.groundspeed_m_s < 0.3

    t = run(c, 120, until=arrived)
    assert 7.0 <= top <= 10.0 + 1e-6
    assert 30.0 < t < 60.0
    assert c.alt_rel_m == pytest.approx(20.0, abs=0.5)
    assert abs(((c.yaw_deg + 180) % 360) - 180) < 5.0      # faced north while flying north


def test_rtl_returns_lands_and_disarms_at_home():
    c = flying()
    lat, lon = geodesy.moved(*c.lat_lon_deg, 100.0, 100.0)
    c.goto(lat, lon, None)
    run(c, 60, until=lambda c: geodesy.distance_m(*c.lat_lon_deg, lat, lon) < 1.0)
    assert c.set_mode(Mode.RTL)
    t = run(c, 240, until=lambda c: not c.armed)
    assert not c.armed and c.landed
    assert geodesy.distance_m(*c.lat_lon_deg, HOME.lat_deg, HOME.lon_deg) < 2.0
    assert t > 20.0


def test_land_from_twenty_metres_uses_ardupilot_land_speeds():
    c = flying()
    c.set_mode(Mode.LAND)
    t = run(c, 120, until=lambda c: not c.armed)
    assert not c.armed and c.alt_rel_m == 0.0
    # 1.5 m/s down to LAND_ALT_LOW (10 m), then 0.5 m/s: about 28 s
    assert 25.0 < t < 40.0


def test_auto_mission_runs_every_item_in_order_and_lands():
    c = ready_copter()
    a = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 80.0, 0.0)
    b = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 80.0, 80.0)
    mission(c, [
        (ms.NAV_TAKEOFF, 3, 0, 0, 0, 0, 0, 0, 20),
        (ms.DO_CHANGE_SPEED, 2, 0, 5, -1, 0, 0, 0, 0),
        (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, *a, 20),
        (ms.DO_SET_ROI_LOCATION, 3, 0, 0, 0, 0, *b, 0),
        (ms.NAV_LOITER_TIME, 3, 5, 0, 0, 0, *b, 25),
        (ms.DO_MOUNT_CONTROL, 2, -45, 0, 30, 0, 0, 0, 2),
        (ms.NAV_LAND, 3, 0, 0, 0, 0, 0, 0, 0),
    ])
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert c.start_mission()
    reached = []
    top = 0.0

    def done(c):
        nonlocal top
        top = max(top, c.groundspeed_m_s)
        reached.extend(e.seq for e in c.drain_events() if isinstance(e, ItemReached))
        return not c.armed

    run(c, 400, until=done)
    assert reached == [1, 3, 5, 7]
    assert not c.armed and c.landed
    assert top <= 5.0 + 1e-6                       # DO_CHANGE_SPEED took effect
    assert geodesy.distance_m(*c.lat_lon_deg, *b) < 2.5
    assert c.gimbal_pitch_deg == pytest.approx(-45.0)
    assert c.mission_state == 5                    # MISSION_STATE_COMPLETE


def test_roi_points_the_vehicle_and_gimbal_at_the_location():
    c = flying()
    roi = geodesy.moved(*c.lat_lon_deg, 0.0, 40.0)   # 40 m east, on the ground
    c.set_roi(roi[0], roi[1], 0.0)
    run(c, 5)
    assert c.yaw_deg == pytest.approx(90.0, abs=1.0)
    assert c.gimbal_pitch_deg == pytest.approx(-math.degrees(math.atan2(20.0, 40.0)), abs=1.0)


def test_do_jump_repeats_a_leg():
    c = ready_copter()
    a = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 30.0, 0.0)
    mission(c, [
        (ms.NAV_TAKEOFF, 3, 0, 0, 0, 0, 0, 0, 10),
        (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, *a, 10),
        (ms.NAV_WAYPOINT, 3, 0, 0, 0, 0, HOME.lat_deg, HOME.lon_deg, 10),
        (ms.DO_JUMP, 2, 2, 2, 0, 0, 0, 0, 0),
        (ms.NAV_LAND, 3, 0, 0, 0, 0, 0, 0, 0),
    ])
    c.set_mode(Mode.GUIDED)
    c.arm()
    c.start_mission()
    reached = []
    run(c, 600, until=lambda c: reached.extend(e.seq for e in c.drain_events() if isinstance(e, ItemReached))
        or not c.armed)
    assert reached == [1, 2, 3, 2, 3, 2, 3, 5]


def test_low_battery_triggers_rtl_with_a_statustext():
    c = flying(BATT_CAPACITY=1500, BATT_FS_LOW_ACT=2)   # ArduCopter's default action is 0: warn only
    c.set_mode(Mode.BRAKE)
    t = run(c, 900, until=lambda c: c.mode == Mode.RTL)
    assert c.mode == Mode.RTL and c.failsafe_battery
    said = texts(c)
    assert any(s.startswith("Battery 1 is low") for s in said)
    assert c.battery.voltage_v < 10.5 and t > 60
    run(c, 300, until=lambda c: not c.armed)
    assert not c.armed and c.system_status == 5   # MAV_STATE_CRITICAL after a failsafe


def test_leaving_an_inclusion_fence_triggers_rtl():
    c = ready_copter(FENCE_ENABLE=1)
    square = [geodesy.moved(HOME.lat_deg, HOME.lon_deg, n, e) for n, e in ((-50, -50), (50, -50), (50, 50), (-50, 50))]
    for seq, (lat, lon) in enumerate(square):
        c.store.put(ms.Item(seq, 0, ms.FENCE_POLYGON_VERTEX_INCLUSION, 4, x=int(lat * 1e7), y=int(lon * 1e7),
                            mission_type=ms.FENCE))
    c.set_mode(Mode.GUIDED)
    c.arm()
    c.takeoff(20)
    run(c, 30, until=lambda c: c.alt_rel_m > 19.8)
    out = geodesy.moved(HOME.lat_deg, HOME.lon_deg, 150.0, 0.0)
    c.goto(*out, None)
    run(c, 60, until=lambda c: c.mode != Mode.GUIDED)
    assert c.mode == Mode.RTL
    assert "Fence Breached: Polygon" in texts(c)
    assert c.north_m < 70.0
    run(c, 300, until=lambda c: not c.armed)
    assert not c.armed


def test_fence_altitude_limit_triggers_rtl():
    c = ready_copter(FENCE_ENABLE=1, FENCE_ALT_MAX=30)
    c.set_mode(Mode.GUIDED)
    c.arm()
    c.takeoff(50)
    run(c, 60, until=lambda c: c.mode != Mode.GUIDED)
    assert c.mode == Mode.RTL and "Fence Breached: Max Alt" in texts(c)
    assert c.alt_rel_m < 35


def test_disarms_on_the_ground_after_disarm_delay():
    c = ready_copter()
    c.set_mode(Mode.GUIDED)
    c.arm()
    t = run(c, 30, until=lambda c: not c.armed)
    assert not c.armed and t == pytest.approx(10.0, abs=0.2)


def test_disarm_refused_in_flight_unless_forced():
    c = flying()
    assert c.disarm() == FAILED and c.armed
    assert c.disarm(force=True) == ACCEPTED
    run(c, 10, until=lambda c: c.landed)
    assert c.landed and c.alt_rel_m == 0.0


def test_camera_capture_records_the_vehicle_position():
    from sim.copter import ImageCaptured
    c = flying()
    c.start_capture(1.0, 3)
    run(c, 5)
    shots = [e for e in c.drain_events() if isinstance(e, ImageCaptured)]
    assert [s.index for s in shots] == [1, 2, 3]
    lat, lon = c.lat_lon_deg
    assert shots[-1].lat_deg == pytest.approx(lat, abs=1e-6) and shots[-1].alt_rel_m == pytest.approx(20, abs=0.5)


def _armed_in_guided_with_takeoff_mission(**params) -> Copter:
    c = ready_copter(**params)
    _takeoff_mission(c)
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED
    assert "Arming motors" in texts(c)
    return c


def test_auto_on_the_ground_without_throttle_waits_at_the_takeoff_then_disarms():
    # ArduCopter with no RC input: _AutoTakeoff::run does nothing until auto_armed; the landed vehicle with
    # the throttle at zero disarms after DISARM_DELAY (10 s from arming).
    c = _armed_in_guided_with_takeoff_mission()
    assert c.set_mode(Mode.AUTO)
    assert texts(c)[0] == "Mission: 1 Takeoff"                        # AP_Mission::start_command
    assert c.mission_state == 3 and c.mission_current_seq == 1       # running, at its takeoff item
    run(c, 9.5)
    assert c.armed and c.alt_rel_m == 0.0 and not c.auto_armed
    t = run(c, 2.0, until=lambda c: not c.armed)
    assert not c.armed and t < 1.0
    assert texts(c) == ["Disarming motors"]


def test_auto_options_bit_1_takes_off_without_raising_the_throttle():
    c = _armed_in_guided_with_takeoff_mission(AUTO_OPTIONS=2)
    assert c.set_mode(Mode.AUTO)
    run(c, 5)
    assert c.armed and c.auto_armed and c.alt_rel_m > 3.0


def test_mission_start_takes_off_from_guided_and_also_wakes_an_auto_that_waits():
    c = _armed_in_guided_with_takeoff_mission()
    assert c.start_mission()
    assert c.mode == Mode.AUTO and c.auto_armed
    run(c, 5)
    assert c.alt_rel_m > 3.0

    c = _armed_in_guided_with_takeoff_mission()
    assert c.set_mode(Mode.AUTO)
    run(c, 3)
    assert c.alt_rel_m == 0.0
    assert c.start_mission()                    # already AUTO: auto-armed, the waiting takeoff climbs
    run(c, 5)
    assert c.alt_rel_m > 3.0 and c.mission_current_seq == 1


def test_mission_start_resumes_from_the_current_item():
    c = ready_copter()
    _takeoff_mission(c)
    assert c.set_mission_current(1)
    assert c.set_mode(Mode.GUIDED) and c.arm() == ACCEPTED and c.takeoff(10) == ACCEPTED
    run(c, 30, until=lambda c: c.alt_rel_m > 9.8)
    assert c.set_mission_current(4)             # in flight: MISSION_START resumes at item 4, not item 1
    c.drain_events()
    assert c.start_mission()
    assert c.mission_current_seq == 4
    assert "Mission: 4 WP" in texts(c)


def test_arming_in_auto_needs_auto_options_bit_0():
    c = ready_copter()
    _takeoff_mission(c)
    assert c.set_mode(Mode.AUTO)
    assert c.arm() == FAILED
    assert texts(c) == ["Arm: AUTO mode not armable"]
    c.params.set("AUTO_OPTIONS", 1)
    assert c.arm() == ACCEPTED


def test_loiter_with_the_throttle_at_minimum_descends_lands_and_disarms():
    c = flying(20.0)
    hold = c.lat_lon_deg
    assert c.set_mode(Mode.LOITER)
    run(c, 4)
    assert c.alt_rel_m < 16.0 and c.vu == pytest.approx(-2.5, abs=0.05)   # PILOT_SPEED_DN 0: PILOT_SPEED_UP 250 cm/s
    run(c, 10, until=lambda c: c.landed)
    assert c.landed and c.armed and geodesy.distance_m(*c.lat_lon_deg, *hold) < 0.5
    t = run(c, 15, until=lambda c: not c.armed)
    assert not c.armed and t == pytest.approx(10.0, abs=0.2)                      # DISARM_DELAY


def test_low_battery_only_warns_with_ardupilot_default_action():
    c = flying(BATT_CAPACITY=1500)
    assert c.params["BATT_FS_LOW_ACT"] == 0
    c.set_mode(Mode.BRAKE)
    run(c, 900, until=lambda c: c.failsafe_battery)
    assert c.failsafe_battery and any(s.startswith("Battery 1 is low") for s in texts(c))
    run(c, 5)
    assert c.mode == Mode.BRAKE and c.flying
