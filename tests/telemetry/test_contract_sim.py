"""Contract tests: telemetry/ against a vehicle over real MAVLink on TCP, as it faces ArduPilot SITL.

The vehicle under test is, by default, the in-repo simulator (sim/): two vehicles on free loopback ports at 10x
speed-up. Set SKYGUARD_VEHICLE_URLS to a comma-separated list of link URLs to run the same tests, unchanged,
against external vehicles instead, e.g. real ArduCopter SITL started with `sim_vehicle.py -f quad --no-mavproxy`:

    SKYGUARD_VEHICLE_URLS=tcp:127.0.0.1:5760 .venv/bin/python -m pytest tests/telemetry/test_contract_sim.py

External vehicles take off and fly a few tens of metres: point it at simulators, never at a real aircraft. They
should be freshly started (default parameters); the tests wait up to SKYGUARD_VEHICLE_READY_S (default 120) for
them to be ready to arm and leave them landed and disarmed. With one URL every test uses that vehicle.

Only public protocol behaviour is relied on. Against external vehicles a few cases skip, each saying why: those
that need the simulator's fault injection or a look inside it (a frozen vehicle, dropped connections, a vehicle
held not ready to arm, the relay state), and those that need equipment the vehicle answers it does not have
(a gimbal, a camera component).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim.fleet import SimFleet
from telemetry.errors import CommandRefused, CommandTimeout, LinkDown, MissionError
from telemetry.fleet import Fleet
from telemetry.mission_transfer import same_item
from telemetry.records import LinkChanged, LinkError, MissionItem, MissionType, StatusText
from telemetry.transport import parse_url
from telemetry.vehicle import DEFAULT_STREAM_RATES_HZ, Vehicle

SPEEDUP = 10.0
URLS_VARIABLE = "SKYGUARD_VEHICLE_URLS"
READY_VARIABLE = "SKYGUARD_VEHICLE_READY_S"


@dataclass
class VehicleUnderTest:
    """The vehicles the tests talk to: the in-repo simulator, or external vehicles given by URL."""

    urls: list[str]
    ready_timeout_s: float
    sim: SimFleet | None = None

    def url(self, i: int) -> str:
        return self.urls[i % len(self.urls)]

    def simulator(self, why: str) -> SimFleet:
        """The simulator, for a case that needs it; skips (saying why) against external vehicles."""
        if self.sim is None:
            pytest.skip(f"needs the in-repo simulator ({why}); {URLS_VARIABLE} points at external vehicles")
        return self.sim


def pytest_generate_tests(metafunc):
    if "vut_kind" in metafunc.fixturenames:
        kind = "external" if os.environ.get(URLS_VARIABLE, "").strip() else "sim"
        metafunc.parametrize("vut_kind", [kind], scope="module")


@pytest.fixture(scope="module")
def vut(vut_kind):
    if vut_kind == "external":
        urls = [u.strip() for u in os.environ[URLS_VARIABLE].split(",") if u.strip()]
        for url in urls:
            try:
                parse_url(url)
            except ValueError as exc:
                pytest.fail(f"{URLS_VARIABLE}: {exc}")
        yield VehicleUnderTest(urls, float(os.environ.get(READY_VARIABLE, "120")))
        return
    fleet = SimFleet(vehicles=2, speedup=SPEEDUP, base_port=0, ready_after_s=4.0)
    fleet.start()
    try:
        yield VehicleUnderTest(list(fleet.urls), 60.0, fleet)
    finally:
        fleet.stop()


@pytest.fixture
def vehicle(vut, make_vehicle):
    def make(i: int = 0, **kwargs) -> Vehicle:
        kwargs.setdefault("stream_rates_hz", None)  # the station's defaults, as in production
        return make_vehicle(vut.url(i), vehicle_id=f"vut-{i}", **kwargs)

    return make


def land_and_disarm(v: Vehicle) -> None:
    v.land()
    v.wait_until(lambda s: not s.armed, 180, "landed and disarmed")


def take_off(v: Vehicle, vut: VehicleUnderTest, alt_rel_m: float = 10.0):
    v.wait_ready(vut.ready_timeout_s)
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(alt_rel_m)
    return v.wait_until(lambda s: s.alt_rel_m is not None and s.alt_rel_m >= alt_rel_m - 1, 120, "takeoff")


def test_identity_state_and_readiness(vehicle, vut):
    v = vehicle(0)
    s = v.wait_ready(vut.ready_timeout_s)
    assert s.system_id is not None and s.component_id == mavlink.MAV_COMP_ID_AUTOPILOT1
    assert mavlink.MAV_COMP_ID_AUTOPILOT1 in s.components
    assert s.vehicle_type == mavlink.MAV_TYPE_QUADROTOR and s.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert s.mode is not None and not s.armed and s.gps_fix_type >= 3 and s.position_known
    assert s.battery_pct is not None and s.battery_pct > 50
    s = v.wait_until(lambda s: s.home is not None and s.is_simulator is True, 30)
    assert s.home.lat_deg == pytest.approx(s.lat_deg, abs=1e-4) and s.home.lon_deg == pytest.approx(s.lon_deg, abs=1e-4)
    assert s.roll_deg is not None and s.heading_deg is not None and s.groundspeed_m_s is not None
    assert s.firmware_version is not None


def test_fleet_sees_every_vehicle(vut, events):
    with Fleet(on_event=events) as fleet:
        for i, url in enumerate(vut.urls):
            fleet.add(f"vut-{i}", url, heartbeat_period_s=0.5)
        ids = [fleet.get(f"vut-{i}").wait_ready(vut.ready_timeout_s).system_id for i in range(len(vut.urls))]
    assert len(set(ids)) == len(vut.urls) and None not in ids
    assert {e.vehicle_id for e in events.of(LinkChanged) if e.up} == {f"vut-{i}" for i in range(len(vut.urls))}


def test_no_setup_errors_and_no_garbage_on_link_up(vehicle, vut, events):
    """The default streams, plus MOUNT_STATUS (which ArduPilot 4.7 refuses), never make a link error on link-up:
    a refused optional stream is only logged; the boot text some vehicles print is skipped quietly."""
    v = vehicle(0, stream_rates_hz={**DEFAULT_STREAM_RATES_HZ, "MOUNT_STATUS": 2.0})
    v.wait_until(lambda s: s.is_simulator is not None, 30, "link set up (the simulator probe is its last step)")
    assert [e for e in events.of(LinkError) if e.kind in ("setup", "garbage", "bad_frame")] == []


def test_mount_status_is_refused_with_the_info_text_that_says_why(vehicle, vut):
    """ArduPilot 4.7 has no MOUNT_STATUS: DENIED, explained by an INFO STATUSTEXT."""
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    with pytest.raises(CommandRefused) as err:
        v.set_message_interval("MOUNT_STATUS", 2.0)
    assert err.value.result == mavlink.MAV_RESULT_DENIED
    assert "158" in err.value.reason, err.value


def test_boot_banner_before_mavlink_is_skipped_quietly(vut, events):
    vut.simulator("a freshly started vehicle whose first client gets the boot banner")
    fleet = SimFleet(vehicles=1, speedup=SPEEDUP, base_port=0, ready_after_s=4.0)
    fleet.start()
    v = Vehicle("fresh", fleet.urls[0], on_event=events, heartbeat_period_s=0.5, stream_rates_hz={}).start()
    try:
        s = v.wait_until(lambda s: s.link_up and s.boot_bytes_skipped > 0, 30, "banner skipped, link up")
        assert s.link_errors == 0 and events.of(LinkError) == []
    finally:
        v.close()
        fleet.stop()


def test_missions_fence_rally_round_trip(vehicle, vut):
    v = vehicle(1)
    s = v.wait_ready(vut.ready_timeout_s)
    lat, lon = s.lat_deg, s.lon_deg
    items = [MissionItem(16, frame=0, lat_deg=lat, lon_deg=lon, alt_m=10)] + [
        MissionItem(16, frame=6, param1=1.5, lat_deg=lat + i * 1e-4, lon_deg=lon + 1.2345e-5 * i, alt_m=20.3 + i)
        for i in range(1, 5)
    ]
    v.upload_mission(items)
    got = v.download_mission()
    assert len(got) == 5
    assert [g.frame for g in got[1:]] == [3, 3, 3, 3]
    assert all(same_item(a, b) for a, b in zip(items[1:], got[1:])), got[1:]
    assert got[0].lat_deg == pytest.approx(s.home.lat_deg if s.home else lat, abs=1e-5)  # item 0 is home
    fence = [MissionItem(mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=5, param1=4,
                         lat_deg=lat + dn, lon_deg=lon + de)
             for dn, de in ((0.01, 0.01), (0.01, -0.01), (-0.01, -0.01), (-0.01, 0.01))]
    v.upload_mission(fence, MissionType.FENCE)
    got_fence = v.download_mission(MissionType.FENCE)
    assert len(got_fence) == 4 and all(same_item(a, b) for a, b in zip(fence, got_fence)), got_fence
    rally = [MissionItem(mavlink.MAV_CMD_NAV_RALLY_POINT, frame=6, lat_deg=lat + 1e-3, lon_deg=lon, alt_m=30)]
    v.upload_mission(rally, MissionType.RALLY)
    got_rally = v.download_mission(MissionType.RALLY)
    assert len(got_rally) == 1 and same_item(rally[0], got_rally[0]), got_rally
    for mt in (MissionType.FENCE, MissionType.RALLY):
        v.clear_mission(mt)
        assert v.download_mission(mt) == []
    v.set_current_mission_item(2)
    v.wait_until(lambda s: s.mission_seq == 2, 10)


def test_500_item_upload(vehicle, vut):
    v = vehicle(1)
    s = v.wait_ready(vut.ready_timeout_s)
    items = [MissionItem(16, frame=0, lat_deg=s.lat_deg, lon_deg=s.lon_deg)] + [
        MissionItem(16, frame=6, lat_deg=s.lat_deg + i * 1e-5, lon_deg=s.lon_deg, alt_m=20) for i in range(499)
    ]
    t0 = time.perf_counter()
    v.upload_mission(items)
    print(f"\n500-item upload: {(time.perf_counter() - t0) * 1000:.0f} ms")
    assert len(v.download_mission()) == 500


def test_bad_mission_is_refused_with_a_mission_result(vehicle, vut):
    v = vehicle(1)
    v.wait_ready(vut.ready_timeout_s)
    with pytest.raises(MissionError) as err:
        v.upload_mission([MissionItem(16), MissionItem(60000, frame=6)])  # an unknown command
    assert err.value.result is not None


def test_params(vehicle, vut):
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    params = v.fetch_params()
    assert any(p.startswith("SIM_") for p in params) and v.state.is_simulator is True
    old = v.get_param("WPNAV_SPEED")
    try:
        assert v.set_param("WPNAV_SPEED", 750) == 750
    finally:
        v.set_param("WPNAV_SPEED", old)


def test_message_interval_is_accepted(vehicle, vut):
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    assert v.set_message_interval("ATTITUDE", 10).result == mavlink.MAV_RESULT_ACCEPTED
    assert v.request_message("AUTOPILOT_VERSION").result == mavlink.MAV_RESULT_ACCEPTED


def test_refusals_carry_the_reason(vut):
    vut.simulator("a vehicle held not ready to arm")
    fleet = SimFleet(vehicles=1, speedup=SPEEDUP, base_port=0, ready_after_s=10_000)
    fleet.start()
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
def test_guided_flight_with_region_of_interest(vehicle, vut, events):
    v = vehicle(0)
    s = take_off(v, vut)
    try:
        v.goto(s.lat_deg + 3e-4, s.lon_deg, 10)
        v.wait_until(lambda x: abs(x.lat_deg - (s.lat_deg + 3e-4)) < 3e-5, 120, "arrived 33 m north")
        assert v.state.mode == "GUIDED"
        here = v.state
        east = here.lon_deg + 100.0 / (111_320.0 * math.cos(math.radians(here.lat_deg)))  # 100 m east
        assert v.set_roi(here.lat_deg, east, 0.0).result == mavlink.MAV_RESULT_ACCEPTED
        v.wait_until(lambda x: abs((x.heading_deg - 90.0 + 180.0) % 360.0 - 180.0) < 10.0, 60,
                     "nose turned to the region of interest, 90 deg")
        assert v.clear_roi().result == mavlink.MAV_RESULT_ACCEPTED
    finally:
        land_and_disarm(v)
    assert any(isinstance(e, StatusText) for e in events.events)


@pytest.mark.slow
def test_flapping_link_while_flying(vehicle, vut, events):
    sim = vut.simulator("drops the vehicle's connections on purpose")
    v = vehicle(0)
    take_off(v, vut)
    try:
        downs = len([e for e in events.of(LinkChanged) if not e.up])
        sim.drop_connections(0)
        v.wait_until(lambda s: not s.link_up, 10)
        v.wait_until(lambda s: s.link_up, 30)
        assert len([e for e in events.of(LinkChanged) if not e.up]) == downs + 1
        assert v.state.armed  # still flying, and we still see it
    finally:
        land_and_disarm(v)


def test_vehicle_frozen_mid_command_is_an_error_not_a_hang(vehicle, vut):
    sim = vut.simulator("freezes the vehicle on purpose")
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    sim.freeze(0)
    try:
        with pytest.raises((LinkDown, CommandTimeout)):
            v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 3, -1], timeout_s=0.5, retries=10)
    finally:
        sim.unfreeze(0)
    v.wait_until(lambda s: s.link_up, 30)


def test_gimbal_pointed_and_reported(vehicle, vut):
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    try:
        ack = v.point_gimbal(-40.0, 10.0)
    except CommandRefused as exc:
        if vut.sim is not None or exc.result != mavlink.MAV_RESULT_FAILED:
            raise
        pytest.skip(f"the external vehicle has no gimbal configured (MNT1_TYPE=0): {exc}")
    assert ack.result == mavlink.MAV_RESULT_ACCEPTED
    s = v.wait_until(lambda s: s.gimbal_pitch_deg is not None and abs(s.gimbal_pitch_deg + 40.0) < 0.5, 30,
                     "gimbal at -40 deg")
    assert s.gimbal_yaw_deg == pytest.approx(10.0, abs=0.5)
    v.point_gimbal(-90.0)
    s = v.wait_until(lambda s: abs(s.gimbal_pitch_deg + 90.0) < 0.5, 30, "gimbal straight down")
    assert s.gimbal_pitch_deg == pytest.approx(-90.0, abs=0.5)


def test_start_mission_takes_off_in_auto_without_rc(vehicle, vut):
    """The patrol start ArduCopter accepts with no RC throttle: GUIDED, arm, MISSION_START -> AUTO takeoff."""
    v = vehicle(1)
    s = v.wait_ready(vut.ready_timeout_s)
    lat, lon = s.lat_deg, s.lon_deg
    v.upload_mission([
        MissionItem(mavlink.MAV_CMD_NAV_WAYPOINT, frame=0, lat_deg=lat, lon_deg=lon),  # home slot
        MissionItem(mavlink.MAV_CMD_NAV_TAKEOFF, frame=3, alt_m=6),
        MissionItem(mavlink.MAV_CMD_NAV_LAND, frame=3, lat_deg=lat, lon_deg=lon),
    ])
    v.set_current_mission_item(1)
    v.set_mode("GUIDED")
    v.arm()
    try:
        ack = v.start_mission()
        assert ack.result == mavlink.MAV_RESULT_ACCEPTED and v.state.mode == "AUTO"
        v.wait_until(lambda s: s.alt_rel_m is not None and s.alt_rel_m >= 4.0, 60, "AUTO takeoff climbing past 4 m")
        v.wait_until(lambda s: not s.armed, 180, "landed and disarmed at the end of the mission")
    finally:
        if v.state.armed:
            land_and_disarm(v)


def test_relay_switched(vehicle, vut):
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    try:
        ack = v.set_relay(0, True)
    except CommandRefused as exc:
        if vut.sim is not None:
            raise
        pytest.skip(f"the external vehicle has no relay 0 configured: {exc}")
    assert ack.result == mavlink.MAV_RESULT_ACCEPTED
    sim = vut.simulator("reads the relay's state inside the simulator")
    assert sim.call(lambda: sim.model(0).relays.get(0)) == 1
    v.set_relay(0, False)
    assert sim.call(lambda: sim.model(0).relays.get(0)) == 0


CAMERAS = pytest.mark.parametrize("component", [mavlink.MAV_COMP_ID_CAMERA, mavlink.MAV_COMP_ID_CAMERA2],
                                  ids=["rgb-100", "thermal-101"])


def _camera_or_skip(vut, component: int, exc: Exception):
    if vut.sim is not None:
        raise exc
    pytest.skip(f"the external vehicle has no camera component {component}: {exc}")


@CAMERAS
def test_camera_information(vehicle, vut, component):
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    try:
        info = v.camera_information(component)
    except (CommandTimeout, CommandRefused) as exc:
        _camera_or_skip(vut, component, exc)
    assert info.component_id == component and info.vendor and info.model
    assert component in v.wait_until(lambda s: component in s.components, 10, "the camera's heartbeat").components
    assert info.width_px > 0 and info.height_px > 0 and info.flags & mavlink.CAMERA_CAP_FLAGS_CAPTURE_IMAGE
    if info.focal_length_mm is not None:
        assert info.focal_length_mm > 0 and info.sensor_width_mm > 0


@CAMERAS
def test_capture_image(vehicle, vut, component):
    v = vehicle(0)
    v.wait_ready(vut.ready_timeout_s)
    try:
        v.point_gimbal(-45.0, 0.0)
        v.wait_until(lambda s: s.gimbal_pitch_deg is not None and abs(s.gimbal_pitch_deg + 45.0) < 0.5, 30,
                     "gimbal at -45 deg")
    except CommandRefused:
        if vut.sim is not None:
            raise  # an external vehicle without a gimbal still has a camera looking somewhere: go on
    images = []
    for _ in range(2):
        try:
            images.append(v.capture_image(component, timeout_s=30))
        except (CommandTimeout, CommandRefused) as exc:
            _camera_or_skip(vut, component, exc)
    s = v.state
    first, second = images
    assert first.ok and first.component_id == component and second.image_index == first.image_index + 1
    assert first.file_url and first.file_url != second.file_url
    assert first.lat_deg == pytest.approx(s.lat_deg, abs=1e-4) and first.lon_deg == pytest.approx(s.lon_deg, abs=1e-4)
    assert first.alt_rel_m == pytest.approx(s.alt_rel_m, abs=1.0)
    assert first.time_utc_s is None or abs(first.time_utc_s - time.time()) < 24 * 3600
    if s.gimbal_pitch_deg is not None:  # the camera looks where the gimbal points
        assert first.pitch_deg == pytest.approx(s.gimbal_pitch_deg, abs=1.0)
        camera_yaw = (s.heading_deg + s.gimbal_yaw_deg) % 360.0
        assert abs((first.yaw_deg - camera_yaw + 180.0) % 360.0 - 180.0) < 2.0
