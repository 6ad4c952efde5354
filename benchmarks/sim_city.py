"""The simulated city, measured: rendering cost per frame and per camera, the product's detector on rendered frames
(recall and count error against the simulator's exact truth at three altitudes and two gimbal pitches), and the CPU
the station and the simulator take with three drones streaming rendered video at 10 fps.

1. Rendering: frames of the default scenario (config/scenarios/zhaoqing.toml) from patrol poses over its crowds,
   rendered and JPEG-encoded as the drones stream them; ms per frame, and the share of a core one camera takes at
   the scenario's frame rate and at 10 fps.
2. Detection: the station's own detector for these cameras (the config the demo builds: groundstation.shell.
   scenario_config, vision_streams.stream_spec, vision.pipeline with the pose), on frames looking at the two crowds
   and two walkers from four directions, at 15, 25 and 40 m and gimbal pitches -45° (patrol) and -90° (over a crowd).
   A person is in view when half their box is in the frame and half of them is not hidden by nearer people; a
   detection finds them at IoU >= 0.3 (one to one). Count error: mean |boxes - people in view| per frame.
3. CPU: the simulator as a child process (`groundstation sim --scenario`, the camera at --fps) and the station in
   this process with vision on the three cameras at the scenario's analysis rate, the scenario's patrols flying;
   after a warm-up, CPU seconds per wall second of: the station process (core, links, storage, video readers'
   parent), its vision worker processes, the simulator (physics, MAVLink, rendering, MJPEG). 100 % = one core.

Prints figures, never asserts.
    .venv/bin/python benchmarks/sim_city.py [--seconds 40] [--fps 10] [--skip-cpu] [--json]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from groundstation.shell import scenario_config as sc  # noqa: E402
from sim.appearance import DEFAULT_FOOTAGE, load_sprites  # noqa: E402
from sim.pinhole import CameraModel, CameraPose  # noqa: E402
from sim.rgb_camera import jpeg_bytes, render  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.world import World  # noqa: E402

SCENARIO = ROOT / "config" / "scenarios" / "zhaoqing.toml"
T_S = 720.0                                   # both crowds there (simulated seconds)
ALTITUDES_M = (15.0, 25.0, 40.0)
PITCHES_DEG = (-45.0, -90.0)
YAWS_DEG = (0.0, 90.0, 180.0, 270.0)


def iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched(truth, found, threshold=0.3) -> int:
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_t, used_f = set(), set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t)


def targets(world: World, people) -> dict[str, tuple[float, float]]:
    walkers = {p.group: p for p in people if p.group.startswith("walkers.")}
    out = {"plaza crowd": (62.0, 92.0), "park crowd": (-90.0, 100.0)}
    for group, name in (("walkers.0", "market walker"), ("walkers.1", "park walker")):
        if group in walkers:
            out[name] = (walkers[group].east_m, walkers[group].north_m)
    return out


def pose_towards(target, alt_m: float, pitch_deg: float, yaw_deg: float) -> CameraPose:
    reach = alt_m / math.tan(math.radians(-pitch_deg)) if pitch_deg > -89.9 else 0.0
    e = target[0] - reach * math.sin(math.radians(yaw_deg))
    n = target[1] - reach * math.cos(math.radians(yaw_deg))
    return CameraPose(n, e, alt_m, yaw_deg, pitch_deg)


def rendering(scenario, world, sprites, people, frames: int = 24) -> dict:
    cam = scenario.camera
    camera = CameraModel.from_hfov(cam.width_px, cam.height_px, cam.hfov_deg)
    figures = world.figures(people)
    spots = list(targets(world, people).values())
    render(world.ground, figures, pose_towards(spots[0], 25.0, -45.0, 0.0), camera, sprites)   # warm
    render_ms, jpeg_ms = [], []
    for k in range(frames):
        pose = pose_towards(spots[k % len(spots)], 25.0, -45.0, YAWS_DEG[k % 4])
        t0 = time.perf_counter()
        frame, _ = render(world.ground, figures, pose, camera, sprites)
        t1 = time.perf_counter()
        jpeg_bytes(frame, cam.jpeg_quality)
        t2 = time.perf_counter()
        render_ms.append((t1 - t0) * 1e3)
        jpeg_ms.append((t2 - t1) * 1e3)
    per_frame = float(np.median(render_ms) + np.median(jpeg_ms))
    return {"size": f"{cam.width_px}x{cam.height_px}", "people_on_map": len(people),
            "render_ms": round(float(np.median(render_ms)), 1), "jpeg_ms": round(float(np.median(jpeg_ms)), 1),
            "frame_ms": round(per_frame, 1), "camera_core_share_at_scenario_fps": round(per_frame * cam.fps / 1e3, 3),
            "camera_core_share_at_10_fps": round(per_frame * 10 / 1e3, 3), "scenario_fps": cam.fps}


def detection(scenario, world, sprites, people, workdir: Path) -> list[dict]:
    from groundstation.shell.vision_streams import stream_spec
    from vision.detector import PersonDetector
    from vision.pipeline import StreamPipeline
    from vision.pose import VehiclePose
    from vision.sources import Frame

    drones = range(len(scenario.drones))
    config = sc.station_config(scenario, vehicle_urls=[f"tcp:127.0.0.1:{5760 + 10 * i}" for i in drones],
                               speaker_urls=[f"http://127.0.0.1:{5765 + 10 * i}" for i in drones],
                               video_urls=[f"http://127.0.0.1:{5767 + 10 * i}/video" for i in drones], speedup=1.0,
                               workdir=workdir)
    spec = stream_spec(config.cameras[0], config)
    detector = PersonDetector(replace(spec.detector, mode="latency"))
    cam = scenario.camera
    camera = CameraModel.from_hfov(cam.width_px, cam.height_px, cam.hfov_deg)
    figures = world.figures(people)
    spots = targets(world, people)
    out = []
    index = 0
    for alt in ALTITUDES_M:
        for pitch in PITCHES_DEG:
            pipeline = StreamPipeline("bench", "drone", detector, None, spec.geo, spec.tiles)
            in_view = found = boxes_total = 0
            count_errors, detect_ms = [], []
            for target in spots.values():
                for yaw in (YAWS_DEG if pitch > -89.9 else (0.0,)):
                    pose = pose_towards(target, alt, pitch, yaw)
                    frame, truth = render(world.ground, figures, pose, camera, sprites, truth=True)
                    image = np.asarray(Image.open(io.BytesIO(jpeg_bytes(frame, cam.jpeg_quality))))[:, :, ::-1]
                    lat, lon = scenario.latlon((pose.east_m, pose.north_m))
                    t = 1000.0 + index
                    index += 1
                    pipeline.add_pose(VehiclePose(t - 0.1, lat, lon, alt, yaw, pitch, 0.0))
                    pipeline.add_pose(VehiclePose(t + 0.1, lat, lon, alt, yaw, pitch, 0.0))
                    t0 = time.perf_counter()
                    result, _ = pipeline.process(Frame(np.ascontiguousarray(image), index, t))
                    detect_ms.append((time.perf_counter() - t0) * 1e3)
                    visible = [v.box_px for v in truth if v.visible_fraction >= 0.5]
                    found_boxes = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in result.detections]
                    in_view += len(visible)
                    found += matched(visible, found_boxes)
                    boxes_total += len(found_boxes)
                    count_errors.append(abs(len(found_boxes) - len(visible)))
            out.append({"alt_m": alt, "gimbal_pitch_deg": pitch, "in_view": in_view, "found": found,
                        "recall": round(found / in_view, 3) if in_view else None,
                        "precision": round(found / boxes_total, 3) if boxes_total else None,
                        "count_error_per_frame": round(float(np.mean(count_errors)), 2),
                        "frames": len(count_errors), "detect_ms_median": round(float(np.median(detect_ms)), 1)})
    return out


def _free_base_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 40 > 65535:
            continue
        ok = True
        for i in range(3):
            for off in (0, 5, 6, 7, 9):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind(("127.0.0.1", base + 10 * i + off))
                    except OSError:
                        ok = False
        if ok:
            return base


def _cpu_s(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def cpu_share(seconds: float, fps: float, workdir: Path) -> dict:
    """The station (this process) and its vision workers, and the simulator (a child), over `seconds`."""
    import psutil

    from groundstation.config import parse_config
    from groundstation.shell.station import Station

    scenario = load_scenario(SCENARIO)
    speedup = scenario.scenario.speedup
    base = _free_base_port()
    sim = subprocess.Popen([sys.executable, "-m", "groundstation", "sim", "--scenario", str(SCENARIO), "--speedup",
                            f"{speedup:g}", "--base-port", str(base), "--ready-after-s", "2", "--fps", f"{fps:g}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    n = len(scenario.drones)
    config = sc.station_config(
        scenario, vehicle_urls=[f"tcp:127.0.0.1:{base + 10 * i}" for i in range(n)],
        speaker_urls=[f"http://127.0.0.1:{base + 10 * i + 5}" for i in range(n)],
        video_urls=[f"http://127.0.0.1:{base + 10 * i + 7}/video" for i in range(n)], speedup=speedup,
        workdir=workdir, base=parse_config({"station": {"storage_path": str(workdir / "bench.sqlite"),
                                                        "tlog_dir": None},
                                            "vehicles": [{"id": "x", "url": "tcp:127.0.0.1:1"}],
                                            "response": {"speech_cache_dir": str(workdir / "speech")}}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", base + 7 + 10 * (n - 1)), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    station = Station(config).start()
    me, sim_proc = psutil.Process(), psutil.Process(sim.pid)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
                s.state == "live" and s.frames > 0 for s in station.crowd_snapshot().streams):
            time.sleep(0.5)
        sc.store_patrols(config, scenario, speedup, time.time() - 1000.0 / speedup)   # they fly at once
        time.sleep(5.0)                                                                # warm-up
        workers = [c for c in me.children(recursive=True) if c.pid != sim.pid]
        before = (_cpu_s(me), sum(_cpu_s(w) for w in workers), _cpu_s(sim_proc), time.monotonic())
        frames_before = sum(s.frames for s in station.crowd_snapshot().streams)
        time.sleep(seconds)
        after = (_cpu_s(me), sum(_cpu_s(w) for w in workers), _cpu_s(sim_proc), time.monotonic())
        frames = sum(s.frames for s in station.crowd_snapshot().streams) - frames_before
    finally:
        station.stop()
        sim.terminate()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
    wall = after[3] - before[3]
    return {"drones": n, "fps": fps, "speedup": speedup, "analyses_per_s": scenario.camera.analyses_per_s,
            "seconds": round(wall, 1), "station_pct": round(100 * (after[0] - before[0]) / wall, 1),
            "vision_workers_pct": round(100 * (after[1] - before[1]) / wall, 1),
            "simulator_pct": round(100 * (after[2] - before[2]) / wall, 1),
            "frames_analysed_per_s": round(frames / wall, 2), "cores": psutil.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the CPU is measured (wall)")
    parser.add_argument("--fps", type=float, default=10.0, help="the drones' video frame rate for the CPU part")
    parser.add_argument("--skip-cpu", action="store_true", help="rendering and detection only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    world = World(scenario)
    sprites = load_sprites(DEFAULT_FOOTAGE)
    people = world.people(T_S)
    with tempfile.TemporaryDirectory(prefix="sim-city-bench-") as tmp:
        result = {"rendering": rendering(scenario, world, sprites, people),
                  "detection": detection(scenario, world, sprites, people, Path(tmp))}
        if not args.skip_cpu:
            result["cpu"] = cpu_share(args.seconds, args.fps, Path(tmp))
    if args.json:
        print(json.dumps(result))
        return
    r = result["rendering"]
    print(f"rendering {r['size']}, {r['people_on_map']} people on the map: {r['render_ms']} ms + JPEG "
          f"{r['jpeg_ms']} ms = {r['frame_ms']} ms per frame; one camera takes "
          f"{100 * r['camera_core_share_at_scenario_fps']:.0f} % of a core at {r['scenario_fps']:g} fps, "
          f"{100 * r['camera_core_share_at_10_fps']:.0f} % at 10 fps")
    print("detector on rendered frames (the station's own settings for these cameras):")
    for d in result["detection"]:
        recall = "-" if d["recall"] is None else f"{100 * d['recall']:.0f} %"
        precision = "-" if d["precision"] is None else f"{100 * d['precision']:.0f} %"
        print(f"  {d['alt_m']:4.0f} m, gimbal {d['gimbal_pitch_deg']:4.0f}°: recall {recall:>5} ({d['found']}/"
              f"{d['in_view']}), precision {precision:>5}, count error {d['count_error_per_frame']:.2f} per frame "
              f"({d['frames']} frames, {d['detect_ms_median']:.0f} ms each)")
    if "cpu" in result:
        c = result["cpu"]
        print(f"CPU with {c['drones']} drones streaming at {c['fps']:g} fps (speed-up {c['speedup']:g}, "
              f"{c['analyses_per_s']:g} analyses/s per camera), {c['seconds']:.0f} s, 100 % = one core of "
              f"{c['cores']}: station {c['station_pct']} %, vision workers {c['vision_workers_pct']} %, "
              f"simulator {c['simulator_pct']} %; {c['frames_analysed_per_s']} frames analysed/s")


if __name__ == "__main__":
    main()
