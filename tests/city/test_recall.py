"""The product's detector on rendered frames, against the simulator's exact truth: at the default scenario's patrol
altitude and gimbal pitch (config/scenarios/zhaoqing.toml: 25 m, -45°) it finds at least 90 % of the people in view.

The frames are what the drones stream (rendered, JPEG-encoded at the scenario's quality, decoded); the detector and
its settings are the station's own for that camera (the config the demo builds, groundstation.shell.vision_streams'
stream_spec, vision.pipeline). A person is in view when at least half their box is in the frame and at least half
of them is not hidden by nearer people; a detection finds them when its box overlaps theirs (IoU >= 0.3, one to one).
"""
from __future__ import annotations

import io
import math
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from groundstation.shell import scenario_config as sc
from groundstation.shell.vision_streams import stream_spec
from sim.appearance import load_sprites
from sim.pinhole import CameraModel, CameraPose
from sim.rgb_camera import jpeg_bytes, render
from sim.scenario import load_scenario
from sim.world import World
from tests.shared import DATA, MODELS, ROOT, need

pytestmark = pytest.mark.slow
SCENARIO = ROOT / "config" / "scenarios" / "zhaoqing.toml"
MODEL = MODELS / "yolo11n_visdrone" / "yolo11n_visdrone_from_tflite_int8.pt"   # the drone preset's
T_S = 720.0             # simulated seconds: the plaza's crowd and the park's are both there, walkers everywhere


def iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched(truth_boxes, found_boxes, threshold=0.3) -> int:
    """One-to-one matches, best overlaps first."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth_boxes) for j, f in enumerate(found_boxes)),
                   reverse=True)
    used_t, used_f = set(), set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t)


def test_the_product_detector_finds_nine_in_ten_people_in_view_at_patrol_altitude_and_pitch(tmp_path):
    need(MODEL)
    from vision.detector import PersonDetector
    from vision.pipeline import StreamPipeline
    from vision.pose import VehiclePose
    from vision.sources import Frame

    scenario = load_scenario(SCENARIO)
    world = World(scenario)
    sprites = load_sprites(need(DATA / "uav_unicamp").parent)
    patrol = scenario.patrols[0]
    alt, pitch = patrol.alt_m, patrol.gimbal_pitch_deg
    drones = range(len(scenario.drones))
    config = sc.station_config(scenario, vehicle_urls=[f"tcp:127.0.0.1:{5760 + 10 * i}" for i in drones],
                               speaker_urls=[f"http://127.0.0.1:{5765 + 10 * i}" for i in drones],
                               video_urls=[f"http://127.0.0.1:{5767 + 10 * i}/video" for i in drones], speedup=1.0,
                               workdir=tmp_path)
    spec = stream_spec(config.cameras[0], config)
    pipeline = StreamPipeline("cam", "drone", PersonDetector(replace(spec.detector, mode="latency")), None,
                              spec.geo, spec.tiles)
    cam = scenario.camera
    camera = CameraModel.from_hfov(cam.width_px, cam.height_px, cam.hfov_deg)
    people = world.people(T_S)
    walkers = {p.group: p for p in people if p.group.startswith("walkers.")}   # one of each group
    targets = {"plaza crowd": (62.0, 92.0), "park crowd": (-90.0, 100.0),
               "market walker": (walkers["walkers.0"].east_m, walkers["walkers.0"].north_m),
               "park walker": (walkers["walkers.1"].east_m, walkers["walkers.1"].north_m)}
    reach = alt / math.tan(math.radians(-pitch))      # the optical axis meets the ground this far ahead
    total = found_total = false = 0
    index = 0
    for name, (te, tn) in targets.items():
        for yaw in (0.0, 90.0, 180.0, 270.0):
            e = te - reach * math.sin(math.radians(yaw))
            n = tn - reach * math.cos(math.radians(yaw))
            frame, truth = render(world.ground, world.figures(people), CameraPose(n, e, alt, yaw, pitch), camera,
                                  sprites, truth=True)
            image = np.asarray(Image.open(io.BytesIO(jpeg_bytes(frame, cam.jpeg_quality))))[:, :, ::-1]
            lat, lon = scenario.latlon((e, n))
            t = 1000.0 + index
            index += 1
            pipeline.add_pose(VehiclePose(t - 0.1, lat, lon, alt, yaw, pitch, 0.0))
            pipeline.add_pose(VehiclePose(t + 0.1, lat, lon, alt, yaw, pitch, 0.0))
            result, _ = pipeline.process(Frame(np.ascontiguousarray(image), index, t))
            in_view = [v.box_px for v in truth if v.visible_fraction >= 0.5]
            boxes = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in result.detections]
            found = matched(in_view, boxes)
            total += len(in_view)
            found_total += found
            false += len(boxes) - matched([v.box_px for v in truth], boxes)
            print(f"{name:<14} yaw {yaw:5.0f}: {found:2d} of {len(in_view):2d} in view found, "
                  f"{len(boxes) - found:2d} other boxes")
    recall = found_total / total
    print(f"recall {found_total}/{total} = {recall:.2f} at {alt:g} m, gimbal {pitch:g}°; {false} false detections")
    assert total >= 60, "the views hold enough people to measure"
    assert recall >= 0.9
