"""The simulated radiometric thermal camera (component 101): scene rendering, MAVLink camera protocol, HTTP frames.

The expected temperatures are computed here from the documented model (sim/thermal.py's docstring), with
this test's own pinhole projection, not with the simulator's code."""
from __future__ import annotations

import io
import math
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim import geodesy
from sim import thermal as th
from sim.fleet import SimFleet
from tests.sim.conftest import Client, wait_ready

M = mavlink
F_PX = 13.0 / (10.88 / 640)          # focal length over pixel pitch


def t_obs(surface_c: float, eps: float, d_m: float, ambient_c: float) -> float:
    tau = math.exp(-0.0015 * d_m)
    return tau * (eps * surface_c + (1 - eps) * ambient_c) + (1 - tau) * ambient_c


def project(cam_ned: tuple[float, float, float], yaw_deg: float, pitch_deg: float,
            point_ned: tuple[float, float, float]) -> tuple[float, float] | None:
    """Column/row (pixel centres at integers) of a NED point for a camera with roll 0; None if behind it."""
    d = np.subtract(point_ned, cam_ned)
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    fwd = np.array([math.cos(p) * math.cos(y), math.cos(p) * math.sin(y), -math.sin(p)])
    right = np.array([-math.sin(y), math.cos(y), 0.0])
    down = np.cross(fwd, right)
    x = d @ fwd
    if x <= 0:
        return None
    return 320 + F_PX * (d @ right) / x - 0.5, 256 + F_PX * (d @ down) / x - 0.5


def yaw_pitch_from_q(q) -> tuple[float, float]:
    w, x, y, z = q
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))))
    yaw = math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
    return yaw, pitch


def test_render_puts_the_head_and_ground_at_the_documented_temperatures():
    scene = th.ThermalScene(ambient_c=20.0, ground_c=32.0)
    person = th.PlacedPerson(north_m=4.0, east_m=-3.0, skin_temp_c=37.0, height_m=1.7)
    pose = th.CameraPose(0.0, 0.0, 25.0, yaw_deg=30.0, pitch_deg=-70.0)
    frame = th.render(scene, (person,), pose, np.random.default_rng(7))
    assert frame.shape == (512, 640)
    head = (4.0, -3.0, -(1.7 - 0.12))
    u, v = project((0.0, 0.0, -25.0), 30.0, -70.0, head)
    d_head = math.dist((0.0, 0.0, -25.0), head) - 0.11
    assert frame[round(v), round(u)] == pytest.approx(t_obs(37.0, 0.98, d_head, 20.0), abs=0.5)
    u, v = project((0.0, 0.0, -25.0), 30.0, -70.0, (9.0, 6.0, 0.0))            # bare ground
    assert frame[round(v), round(u)] == pytest.approx(t_obs(32.0, 0.95, math.dist((0, 0, -25), (9, 6, 0)), 20.0),
                                                      abs=0.5)
    assert np.std(frame[400:, :50]) == pytest.approx(0.1, abs=0.05)           # the documented noise


def test_render_shows_the_sky_at_ambient_and_nearer_people_hide_farther_ones():
    scene = th.ThermalScene(ambient_c=15.0, ground_c=25.0)
    near = th.PlacedPerson(10.0, 0.0, 36.0, 1.7)
    far = th.PlacedPerson(14.0, 0.0, 39.0, 1.7)
    pose = th.CameraPose(0.0, 0.0, 1.58, yaw_deg=0.0, pitch_deg=0.0)           # at head height, level
    frame = th.render(scene, (near, far), pose, np.random.default_rng(1))
    assert frame[5, 320] == pytest.approx(15.0, abs=0.5)                      # above the horizon
    expected = t_obs(36.0, 0.98, 10.0 - 0.11, 15.0)                            # the near head, not the far one
    assert frame[255:257, 319:321].mean() == pytest.approx(expected, abs=0.3)


def test_tiff_holds_centi_kelvin_in_sixteen_bits():
    frame = np.full((512, 640), 36.85)
    im = Image.open(io.BytesIO(th.tiff_bytes(frame)))
    assert im.format == "TIFF" and im.mode == "I;16" and im.size == (640, 512)
    assert np.asarray(im)[10, 10] == 31000                                     # (36.85 + 273.15) * 100


@pytest.fixture
def thermal_fleet():
    with SimFleet(vehicles=1, speedup=10.0, base_port=0, ready_after_s=2.0, position_after_s=1.0) as f:
        yield f


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return r.read()


def test_thermal_camera_information_from_component_101(thermal_fleet):
    c = Client(thermal_fleet.urls[0])
    try:
        ack = c.command(M.MAV_CMD_REQUEST_MESSAGE, 259, target_component=101)
        assert ack.result == 0 and ack.get_srcComponent() == 101
        info = c.wait("CAMERA_INFORMATION", lambda m: m.get_srcComponent() == 101)
        assert bytes(info.model_name).rstrip(b"\0") == b"Thermal640"
        assert (info.resolution_h, info.resolution_v, info.focal_length) == (640, 512, 13.0)
        assert (info.sensor_size_h, info.sensor_size_v) == pytest.approx((10.88, 8.70))
        assert info.flags == M.CAMERA_CAP_FLAGS_CAPTURE_IMAGE
        assert c.command(M.MAV_CMD_REQUEST_CAMERA_INFORMATION, 1, target_component=101).result == 0
        assert c.wait("CAMERA_INFORMATION").get_srcComponent() == 101
    finally:
        c.close()


def test_a_capture_over_mavlink_serves_a_radiometric_tiff_of_the_scene(thermal_fleet):
    f = thermal_fleet
    home_lat, home_lon = 23.0469, 112.4651
    person = geodesy.moved(home_lat, home_lon, 3.0, 2.0)
    far_away = geodesy.moved(home_lat, home_lon, 150.0, 0.0)
    f.set_thermal_scene(th.ThermalScene(ambient_c=22.0, ground_c=31.0, people=(
        th.ScenePerson(*person, skin_temp_c=38.2, height_m=1.75), th.ScenePerson(*far_away, skin_temp_c=36.5))))
    c = Client(f.urls[0])
    try:
        wait_ready(c)
        assert c.command(M.MAV_CMD_DO_SET_MODE, 1, 4).result == 0
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == 0
        assert c.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 20).result == 0
        c.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_POSITION, 10, 1)
        c.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 19_500, timeout=30)
        assert c.command(M.MAV_CMD_DO_MOUNT_CONTROL, -90, 0, 0, 0, 0, 0, 2).result == 0
        c.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_EXTRA3, 10, 1)
        c.wait("GIMBAL_DEVICE_ATTITUDE_STATUS", lambda m: yaw_pitch_from_q(m.q)[1] < -89.5, timeout=10)

        ack = c.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 1, target_component=101)
        assert ack.result == 0 and ack.get_srcComponent() == 101
        shot = c.wait("CAMERA_IMAGE_CAPTURED", lambda m: m.get_srcComponent() == 101, timeout=20)
        url = shot.file_url if isinstance(shot.file_url, str) else shot.file_url.decode()
        assert shot.capture_result == 1 and shot.image_index == 0
        assert url == f"http://127.0.0.1:{f.thermal_ports[0]}/thermal/1/0.tiff"
        assert shot.relative_alt == pytest.approx(20_000, abs=500) and shot.alt == shot.relative_alt + 10_000
        im = Image.open(io.BytesIO(_get(url)))
        assert (im.format, im.mode, im.size) == ("TIFF", "I;16", (640, 512))
        frame_c = np.asarray(im).astype(float) / 100.0 - 273.15

        # the camera's pose, as the message reports it
        yaw, pitch = yaw_pitch_from_q(shot.q)
        assert pitch == pytest.approx(-90.0, abs=0.5)
        cam_n, cam_e = geodesy.offset_m(home_lat, home_lon, shot.lat / 1e7, shot.lon / 1e7)
        cam = (cam_n, cam_e, -shot.relative_alt / 1000.0)
        head_n, head_e = geodesy.offset_m(home_lat, home_lon, *person)
        head = (head_n, head_e, -(1.75 - 0.12))
        u, v = project(cam, yaw, pitch, head)
        assert 0 <= u < 640 and 0 <= v < 512
        expected_head = t_obs(38.2, 0.98, math.dist(cam, head) - 0.11, 22.0)
        assert frame_c[round(v), round(u)] == pytest.approx(expected_head, abs=0.5)
        ground = (head_n - 6.0, head_e - 6.0, 0.0)
        gu, gv = project(cam, yaw, pitch, ground)
        assert frame_c[round(gv), round(gu)] == pytest.approx(t_obs(31.0, 0.95, math.dist(cam, ground), 22.0), abs=0.5)
        # the far person is out of view: nothing but the one person is warmer than the ground
        warm = frame_c > t_obs(31.0, 0.95, 20.0, 22.0) + 0.8
        rows, cols = np.nonzero(warm)
        assert warm.any() and max(np.hypot(rows - v, cols - u)) < 40    # only the visible person (2 m wide at most)

        ack = c.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 2, target_component=101)
        second = c.wait("CAMERA_IMAGE_CAPTURED", lambda m: m.get_srcComponent() == 101, timeout=20)
        assert second.image_index == 1
        second_url = second.file_url if isinstance(second.file_url, str) else second.file_url.decode()
        assert second_url.endswith("/thermal/1/1.tiff") and _get(second_url)
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(url.replace("/0.tiff", "/99.tiff"))
        assert missing.value.code == 404
        assert c.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 1, 5, 3, target_component=101).result == \
            M.MAV_RESULT_DENIED                                                  # only single frames
    finally:
        c.close()


def test_the_thermal_frames_port_is_the_mavlink_port_plus_six():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    base = s.getsockname()[1]
    s.close()
    if base + 16 > 65535:
        base -= 100
    with SimFleet(vehicles=2, speedup=10.0, base_port=base, ready_after_s=2.0) as f:
        assert f.thermal_ports == [base + 6, base + 16]
