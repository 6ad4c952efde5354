"""A fleet simulating a city (scenario=): its drones where the scenario puts them, an MJPEG video stream per camera
on the vehicle's port + 7 with each frame's capture time, the ground truth on port + 9, the thermal cameras seeing
the world's people, and the people reacting to what the drones' loudspeakers play. The appearances come from a small
labelled image made here (the real footage is not needed); the checks wait for conditions."""
from __future__ import annotations

import io
import json
import math
import socket
import subprocess
import sys
import time
import urllib.request
import wave

import numpy as np
import pytest
from PIL import Image
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim import geodesy
from sim.fleet import SimFleet
from sim.scenario import parse_scenario
from sim.thermal import ThermalScene
from tests.sim.conftest import Client
from tests.waiting import wait_for
from vision.sources import open_mjpeg

M = mavlink


def city_raw() -> dict:
    return {
        "scenario": {"name": "tiny", "seed": 5, "speedup": 10.0},
        "map": {"origin": [23.0469, 112.4651], "extent": [-60.0, -60.0, 60.0, 60.0]},
        "home": {"position": [0.0, 0.0], "alt_amsl_m": 12.0},
        "zones": [{"id": "plaza", "name": "Plaza", "capacity": 3, "surface": "paving",
                   "polygon": [[10.0, 10.0], [40.0, 10.0], [40.0, 40.0], [10.0, 40.0]]}],
        "camera": {"width_px": 320, "height_px": 180, "hfov_deg": 60.0, "fps": 10.0, "latency_s": 0.2},
        "drones": [{"id": "a"}, {"id": "b", "position": [-20.0, 5.0]}],
        "gatherings": [{"id": "g", "zone": "plaza", "centre": [25.0, 25.0], "size": 6, "radius_m": 3.0,
                        "grow_s": 0.0, "approach_m": 0.0, "react_probability": 1.0, "react_delay_s": [1.0, 2.0]}],
        "people": {"hearing_radius_m": 60.0},
    }


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """A labelled drone-like frame with two people (YOLO labels), laid out like ../shared/data."""
    root = tmp_path_factory.mktemp("footage")
    (root / "uav_unicamp").mkdir()
    image = Image.new("RGB", (400, 300), (90, 130, 70))
    image.paste((200, 30, 30), (100, 100, 120, 160))
    image.paste((30, 30, 200), (250, 80, 272, 150))
    image.save(root / "uav_unicamp" / "frame.jpg", quality=95)
    (root / "uav_unicamp" / "frame.txt").write_text("0 0.275 0.4333 0.05 0.2\n0 0.6525 0.3833 0.055 0.2333\n")
    return root


@pytest.fixture
def city(footage):
    with SimFleet(speedup=10.0, base_port=0, ready_after_s=2.0, position_after_s=1.0,
                  scenario=parse_scenario(city_raw()), footage_dir=footage) as fleet:
        yield fleet


def test_the_drones_start_where_the_scenario_puts_them(city):
    assert len(city) == 2 and len(city.video_urls) == 2 and city.truth_url is not None
    wait_for(lambda: city.truth()["vehicles"], 10, "a first tick")
    vehicles = city.truth()["vehicles"]
    assert (vehicles[0]["east_m"], vehicles[0]["north_m"]) == pytest.approx((0.0, 0.0), abs=0.01)
    assert (vehicles[1]["east_m"], vehicles[1]["north_m"]) == pytest.approx((-20.0, 5.0), abs=0.01)
    assert city.model(0).origin.alt_amsl_m == 12.0


def test_the_camera_reports_the_scenarios_camera(city):
    c = Client(city.urls[0])
    try:
        c.wait("HEARTBEAT")
        assert c.command(M.MAV_CMD_REQUEST_CAMERA_INFORMATION, 1, target_component=100).result == 0
        info = c.wait("CAMERA_INFORMATION", lambda m: m.get_srcComponent() == 100)
        assert (info.resolution_h, info.resolution_v) == (320, 180)
        assert 2 * math.degrees(math.atan(info.sensor_size_h / 2 / info.focal_length)) == pytest.approx(60.0, abs=0.1)
    finally:
        c.close()


def test_video_frames_carry_their_capture_time_and_leave_after_the_link_latency(city):
    stream = open_mjpeg(city.video_urls[1], timeout_s=10.0)
    assert stream is not None
    try:
        frames = []
        while len(frames) < 5:
            image, stamp = stream.read()
            frames.append((image, stamp, time.time()))
    finally:
        stream.close()
    assert all(image.shape == (180, 320, 3) for image, _, _ in frames)
    stamps = [s for _, s, _ in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    ages = [arrived - stamp for _, stamp, arrived in frames]
    assert all(0.2 - 0.05 <= age < 0.2 + 1.0 for age in ages), ages     # captured, then sent 0.2 s later
    with urllib.request.urlopen(city.video_urls[1].replace("/video", "/snapshot.jpg"), timeout=10) as r:
        assert r.headers["Content-Type"] == "image/jpeg" and float(r.headers["X-Timestamp"]) > 0
        assert Image.open(io.BytesIO(r.read())).size == (320, 180)


def test_the_ground_truth_is_served_as_json(city):
    with urllib.request.urlopen(city.truth_url, timeout=10) as r:
        world = json.loads(r.read())
    assert world["scenario"] == "tiny" and world["zones"] == {"plaza": 6}
    assert len(world["people"]) == 6 and all(p["group"] == "g" for p in world["people"])
    person = world["people"][0]
    north, east = geodesy.offset_m(23.0469, 112.4651, person["lat_deg"], person["lon_deg"])
    assert (east, north) == pytest.approx((person["east_m"], person["north_m"]), abs=0.05)


def _wav(seconds: float = 1.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


def test_people_who_hear_the_loudspeaker_leave(city):
    assert city.truth()["zones"] == {"plaza": 6}
    request = urllib.request.Request(f"{city.speaker_urls[0]}/speaker/play?clip_id=disperse", data=_wav(),
                                     headers={"Content-Type": "audio/wav"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert json.loads(r.read())["accepted"] is True
    (heard,) = wait_for(lambda: city.heard, 30, "the broadcast heard")
    assert heard.clip_id == "disperse" and heard.vehicle == 0 and heard.radius_m == 60.0
    wait_for(lambda: all(p["activity"] == "leaving" for p in city.truth()["people"]), 30, "everyone leaving")
    wait_for(lambda: city.truth()["zones"]["plaza"] == 0, 60, "the plaza empty")


def test_the_thermal_cameras_see_the_world(city):
    scene = city.thermal_scene
    assert len(scene.people) == 6 and scene.ground is not None
    assert all(33.0 <= p.skin_temp_c <= 36.5 for p in scene.people)
    with pytest.raises(RuntimeError, match="its thermal cameras see the world"):
        city.set_thermal_scene(ThermalScene())


def test_a_camera_nobody_watches_is_not_rendered(city):
    wait_for(lambda: city.sim_time_s > 1.0, 10, "a simulated second")
    assert city.frames_rendered == 0


def test_the_video_and_truth_ports_follow_the_mavlink_port(footage):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    base = s.getsockname()[1]
    s.close()
    if base + 30 > 65535:
        base -= 100
    with SimFleet(speedup=10.0, base_port=base, ready_after_s=2.0, scenario=parse_scenario(city_raw()),
                  footage_dir=footage) as f:
        assert f.video_urls == [f"http://127.0.0.1:{base + 7}/video", f"http://127.0.0.1:{base + 17}/video"]
        assert f.truth_url == f"http://127.0.0.1:{base + 9}/world"


def test_the_launcher_runs_a_scenario_and_prints_its_addresses(tmp_path, footage):
    path = tmp_path / "tiny.toml"
    path.write_text(_toml(city_raw()), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "sim", "--scenario", str(path), "--base-port", "0",
                             "--footage", str(footage), "--speedup", "10"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
    finally:
        proc.terminate()
        proc.wait(10)
    assert lines[0].startswith("vehicle 1 listening on tcp:127.0.0.1:")
    assert lines[2].startswith("vehicle 1 video on http://127.0.0.1:") and lines[2].rstrip().endswith("/video")
    assert lines[4].startswith("ground truth on http://127.0.0.1:")


def test_the_launcher_refuses_a_bad_scenario(tmp_path):
    raw = city_raw()
    raw["gatherings"][0]["zone"] = "nowhere"
    path = tmp_path / "bad.toml"
    path.write_text(_toml(raw), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "sim", "--scenario", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "gatherings.0.zone: unknown zone 'nowhere' (zones: plaza)" in done.stderr


def _toml(raw: dict) -> str:
    """A small TOML writer for this test's dicts (tables, arrays of tables, inline values)."""
    def value(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)
    out = []
    for key, section in raw.items():
        for entry in (section if isinstance(section, list) else [section]):
            out.append(f"[[{key}]]" if isinstance(section, list) else f"[{key}]")
            out.extend(f"{k} = {value(v)}" for k, v in entry.items())
    return "\n".join(out) + "\n"


def test_the_people_drawn_come_from_the_footage(city):
    from sim.pinhole import CameraPose
    from sim.rgb_camera import render

    people = city.world.people(city.sim_time_s, city.heard)
    pose = CameraPose(10.0, 25.0, 15.0, 0.0, -45.0)               # 15 m south of the crowd, 15 m up, looking at it
    frame, seen = render(city.world.ground, city.world.figures(people), pose, city.rgb_camera, city.sprites(),
                         truth=True)
    assert len(city.sprites()) == 2 and len(seen) >= 4
    red_or_blue = ((frame[..., 0] > 150) & (frame[..., 1] < 90)) | ((frame[..., 2] > 150) & (frame[..., 1] < 90))
    inside = np.zeros(frame.shape[:2], bool)
    near = np.zeros(frame.shape[:2], bool)                          # the boxes and a 2-pixel margin (rounding)
    for v in seen:
        x0, y0, x1, y1 = (int(round(c)) for c in v.box_px)
        inside[y0:y1, x0:x1] = True
        near[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = True
    assert red_or_blue[inside].sum() > 0.3 * inside.sum() and red_or_blue[~near].sum() == 0
