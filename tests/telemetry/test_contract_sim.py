"""Contract tests: telemetry/ against the simulator (sim/) over real loopback TCP, as it would face SITL.

Only public behaviour of the protocol is relied on (what ArduPilot SITL also does); the simulator is used
through its public SimFleet API (free ports, speed-up, fault injection)."""
from __future__ import annotations

import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.errors import CommandRefused, CommandTimeout, LinkDown, MissionError
from telemetry.fleet import Fleet
from telemetry.mission_transfer import same_item
from telemetry.records import LinkChanged, MissionItem, MissionType, StatusText

sim_fleet = pytest.importorskip("sim.fleet")

SPEEDUP = 10.0


@pytest.fixture(scope="module")
def sim():
    fleet = sim_fleet.SimFleet(vehicles=2, speedup=SPEEDUP, base_port=0, ready_after_s=4.0)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture
def vehicle(sim, make_vehicle):
    def make(i: int = 0, **kwargs):
        kwargs.setdefault("stream_rates_hz", None)  # the station's defaults, as in production
        return make_vehicle(sim.urls[i], vehicle_id=f"sim-{i}", **kwargs)

    return make


def test_identity_state_and_readiness(vehicle, sim):
    v = vehicle(0)
    s = v.wait_ready(60)
    assert s.system_id == 1 and s.component_id == 1
    assert s.vehicle_type == mavlink.MAV_TYPE_QUADROTOR and s.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert s.mode is not None and not s.armed and s.gps_fix_type >= 3
    home = sim_fleet.DEFAULT_HOME
    assert s.lat_deg == pytest.approx(home.lat_deg, abs=1e-3) and s.lon_deg == pytest.approx(home.lon_deg, abs=1e-3)
    assert s.battery_pct is not None and s.battery_pct > 50
    s = v.wait_until(lambda s: s.home is not None and s.is_simulator is True, 30)
    assert s.home.lat_deg == pytest.approx(home.lat_deg, abs=1e-4)
    assert s.roll_deg is not None and s.heading_deg is not None and s.groundspeed_m_s is not None


def test_fleet_of_two(sim, events):
    with Fleet(on_event=events) as fleet:
        for i, url in enumerate(sim.urls):
            fleet.add(f"sim-{i}", url, heartbeat_period_s=0.5)
        ids = {fleet.get(f"sim-{i}").wait_ready(60).system_id for i in range(2)}
    assert ids == {1, 2}
    assert {e.vehicle_id for e in events.of(LinkChanged) if e.up} == {"sim-0", "sim-1"}


def test_missions_fence_rally_round_trip(vehicle):
    v = vehicle(1)
    s = v.wait_ready(60)
    lat, lon = s.lat_deg, s.lon_deg
    items = [MissionItem(16, frame=0, lat_deg=lat, lon_deg=lon, alt_m=10)] + [
        MissionItem(16, frame=6, param1=1.5, lat_deg=lat + i * 1e-4, lon_deg=lon + 1.2345e-5 * i, alt_m=20.3 + i)
        for i in range(1, 5)
    ]
    v.upload_mission(items)
    got = v.download_mission()
    assert len(got) == 5
    assert [g.frame for g in got[1:]] == [3, 3, 3, 3]
    assert all(same_item(a, b) for a, b in zip(items[1:], got[1:]))
    assert got[0].lat_deg == pytest.approx(s.home.lat_deg if s.home else lat, abs=1e-5)  # item 0 is home
    fence = [MissionItem(mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=5, param1=4,
                         lat_deg=lat + dn, lon_deg=lon + de)
             for dn, de in ((0.01, 0.01), (0.01, -0.01), (-0.01, -0.01), (-0.01, 0.01))]
    v.upload_mission(fence, MissionType.FENCE)
    got_fence = v.download_mission(MissionType.FENCE)
    assert len(got_fence) == 4 and all(same_item(a, b) for a, b in zip(fence, got_fence))
    rally = [MissionItem(mavlink.MAV_CMD_NAV_RALLY_POINT, frame=6, lat_deg=lat + 1e-3, lon_deg=lon, alt_m=30)]
    v.upload_mission(rally, MissionType.RALLY)
    assert len(v.download_mission(MissionType.RALLY)) == 1
    for mt in (MissionType.FENCE, MissionType.RALLY):
        v.clear_mission(mt)
        assert v.download_mission(mt) == []
    v.set_current_mission_item(2)
    v.wait_until(lambda s: s.mission_seq == 2, 10)


def test_500_item_upload(vehicle):
    v = vehicle(1)
    s = v.wait_ready(60)
    items = [MissionItem(16, frame=0, lat_deg=s.lat_deg, lon_deg=s.lon_deg)] + [
        MissionItem(16, frame=6, lat_deg=s.lat_deg + i * 1e-5, lon_deg=s.lon_deg, alt_m=20) for i in range(499)
    ]
    t0 = time.perf_counter()
    v.upload_mission(items)
    print(f"\n500-item upload to the simulator: {(time.perf_counter() - t0) * 1000:.0f} ms")
    assert len(v.download_mission()) == 500


def test_bad_mission_is_refused_with_a_mission_result(vehicle):
    v = vehicle(1)
    v.wait_ready(60)
    with pytest.raises(MissionError) as err:
        v.upload_mission([MissionItem(16), MissionItem(60000, frame=6)])  # an unknown command
    assert err.value.result is not None


def test_params(vehicle):
    v = vehicle(0)
    v.wait_ready(60)
    params = v.fetch_params()
    assert any(p.startswith("SIM_") for p in params) and v.state.is_simulator is True
    old = v.get_param("WPNAV_SPEED")
    assert v.set_param("WPNAV_SPEED", 750) == 750
    v.set_param("WPNAV_SPEED", old)


def test_message_interval_is_accepted(vehicle):
    v = vehicle(0)
    v.wait_ready(60)
    assert v.set_message_interval("ATTITUDE", 10).result == mavlink.MAV_RESULT_ACCEPTED
    assert v.request_message("AUTOPILOT_VERSION").result == mavlink.MAV_RESULT_ACCEPTED


def test_refusals_carry_the_reason():
    fleet = sim_fleet.SimFleet(vehicles=1, speedup=SPEEDUP, base_port=0, ready_after_s=10_000)
    fleet.start()
    from telemetry.vehicle import Vehicle

    events = []
    v = Vehicle("early", fleet.urls[0], on_event=events.append, heartbeat_period_s=0.5).start()
    try:
        v.wait_until(lambda s: s.link_up, 30)
        assert not v.state.ready_to_arm
        with pytest.raises(CommandRefused) as err:
            v.arm()
        assert err.value.result != mavlink.MAV_RESULT_ACCEPTED
        print(f"\narm refused: {err.value}")
        assert err.value.reason  # the STATUSTEXT saying why
        assert not v.state.armed
        with pytest.raises(CommandRefused) as err:
            v.takeoff(20)  # not armed
        print(f"takeoff refused: {err.value}")
    finally:
        v.close()
        fleet.stop()


@pytest.mark.slow
def test_guided_flight_and_flapping_and_freeze(sim, vehicle, events):
    v = vehicle(0)
    v.wait_ready(60)
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(10)
    v.wait_until(lambda s: s.alt_rel_m >= 9, 60)
    s = v.state
    v.goto(s.lat_deg + 3e-4, s.lon_deg, 10)
    v.wait_until(lambda x: abs(x.lat_deg - (s.lat_deg + 3e-4)) < 3e-5, 60)
    assert v.state.mode == "GUIDED"

    # a flapping link: the vehicle drops us; we reconnect and say so
    downs = len([e for e in events.of(LinkChanged) if not e.up])
    sim.drop_connections(0)
    v.wait_until(lambda s: not s.link_up, 10)
    v.wait_until(lambda s: s.link_up, 30)
    assert len([e for e in events.of(LinkChanged) if not e.up]) == downs + 1
    assert v.state.armed  # still flying, and we still see it

    # the vehicle vanishes mid-command: an error, never a hang
    sim.freeze(0)
    try:
        with pytest.raises((LinkDown, CommandTimeout)):
            v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 3, -1], timeout_s=0.5, retries=10)
    finally:
        sim.unfreeze(0)
    v.wait_until(lambda s: s.link_up, 30)

    v.land()
    v.wait_until(lambda s: not s.armed, 120)
    assert any(isinstance(e, StatusText) for e in events.events)


def test_gimbal_pointed_and_reported(vehicle):
    v = vehicle(0)
    v.wait_ready(60)
    assert v.point_gimbal(-40.0, 10.0).result == mavlink.MAV_RESULT_ACCEPTED
    s = v.wait_until(lambda s: s.gimbal_pitch_deg == -40.0, 30, "MOUNT_STATUS at -40 deg")
    assert s.gimbal_yaw_deg == pytest.approx(10.0)
    v.point_gimbal(-90.0)
    assert v.wait_until(lambda s: s.gimbal_pitch_deg == -90.0, 30).gimbal_yaw_deg == pytest.approx(0.0)
