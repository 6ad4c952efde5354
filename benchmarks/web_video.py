"""The web map's video panel, measured: latency from frame capture to the browser on loopback (target < 0.5 s).

A real vision worker (vision/worker.py, the model by path) replays a video in real time as if it were a camera
(each frame stamped with the wall-clock time it was captured) and serves its analysed frames, detections drawn, as
MJPEG on loopback (vision/mjpeg.py); the web map (gevent server, web/fakes.py's station pointing at that worker)
proxies the stream to logged-in viewers (web/video.py). Each viewer here is a process reading the stream as a browser
does; latency = the wall-clock time a part has fully arrived - its X-Timestamp (capture time). It includes the
analysis (detection), drawing, JPEG encoding and both HTTP hops. Printed per path: the worker's stream read
directly, and through the web map with 1 and --viewers viewers; frames received per second; the worker's
detection time per frame for comparison. Wall clock on one machine; prints figures, never asserts.

    .venv/bin/python benchmarks/web_video.py [--video FILE] [--model FILE] [--imgsz 640] [--seconds 15]
                                             [--viewers 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark-password"
SHARED = ROOT.parent / "shared"


def watch(url: str, login: bool, seconds: float, start_at: float, out: mp.Queue) -> None:
    """One viewer: reads the stream for `seconds` from `start_at`; puts (latencies_s, parts)."""
    import requests

    from vision.mjpeg import read_parts

    session = requests.Session()
    if login:
        base = url.split("/video/", 1)[0] + "/"
        session.post(base + "api/session", json={"name": "bench", "password": PASSWORD}, timeout=30).raise_for_status()
    r = session.get(url, stream=True, timeout=30)
    r.raise_for_status()
    boundary = r.headers["Content-Type"].split("boundary=", 1)[1]
    latencies: list[float] = []
    parts = 0
    for headers, _ in read_parts(r.raw, boundary):
        now = time.time()
        if now < start_at:
            continue
        if now > start_at + seconds:
            break
        parts += 1
        latencies.append(now - float(headers["x-timestamp"]))
    r.close()
    out.put((latencies, parts))


def measure(url: str, login: bool, viewers: int, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + 6.0  # every viewer started and connected
    procs = [ctx.Process(target=watch, args=(url, login, seconds, start_at, out), daemon=True) for _ in range(viewers)]
    for p in procs:
        p.start()
    latencies: list[float] = []
    parts = 0
    for _ in procs:
        got, n = out.get(timeout=seconds + 120)
        latencies.extend(got)
        parts += n
    for p in procs:
        p.join(10)
    ms = sorted(x * 1000.0 for x in latencies)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100.0 * len(ms)))], 1) if ms else float("nan")

    return {"viewers": viewers, "parts_per_s_per_viewer": round(parts / viewers / seconds, 2), "p50_ms": pct(50),
            "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": round(ms[-1], 1) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 1) if ms else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=SHARED / "data" / "pets2009_s2l1_elevated.avi")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolo11n_from_int8.pt")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--viewers", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for path in (args.video, args.model):
        if not path.exists():
            print(f"{path} is missing (weights and footage are used by path from {SHARED})", file=sys.stderr)
            return 2

    import logging

    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from vision.detector import DetectorConfig
    from vision.mjpeg import VideoServing
    from vision.records import FrameResult
    from vision.worker import StreamSpec, VisionWorkers
    from web.auth import Passwords
    from web.fakes import FakeStation, MemoryUsers
    from web.server import WebServer
    from web.settings import ServerSettings

    logging.basicConfig(level=logging.WARNING)
    workers = VisionWorkers()
    detector = DetectorConfig(model_path=args.model, imgsz=args.imgsz, cache_dir=ROOT / ".cache")
    workers.start(StreamSpec("cam", str(args.video), "d1", detector, tiles="off", track=False, realtime=True))
    records: list = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            records.extend(workers.poll(0.2))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (any(isinstance(r, VideoServing) for r in records)
                                               and sum(isinstance(r, FrameResult) for r in records) > 10):
        time.sleep(0.2)
    serving = next((r for r in records if isinstance(r, VideoServing)), None)
    if serving is None:
        print(f"the worker did not start serving video: {records[-3:]}", file=sys.stderr)
        stop.set()
        workers.stop()
        return 1
    passwords = Passwords(PasswordHasher.from_parameters(CHEAPEST))
    station, users = FakeStation(), MemoryUsers()
    station.video = [{"stream_id": "cam", "vehicle_id": "d1", "url": serving.url}]
    users.add("bench", "viewer", passwords.hash(PASSWORD), time.time())
    server = WebServer(station, users, ServerSettings(secret_key=b"v" * 32, port=0), passwords=passwords).start()
    proxied = server.url + "video/cam.mjpeg"
    try:
        results = {"video": str(args.video), "model": args.model.name, "imgsz": args.imgsz,
                   "direct": measure(serving.url, False, 1, args.seconds),
                   "web_map_1": measure(proxied, True, 1, args.seconds),
                   f"web_map_{args.viewers}": measure(proxied, True, args.viewers, args.seconds)}
    finally:
        server.stop()
        stop.set()
        workers.stop()
        reader.join(5)
    frames = [r for r in records if isinstance(r, FrameResult)]
    detect = [r.timings.detect_ms for r in frames[5:]]
    results["analysed_fps"] = round(len(frames) / max(1e-9, frames[-1].capture_time_s - frames[0].capture_time_s), 2) \
        if len(frames) > 1 else None
    results["detect_ms_p50"] = round(statistics.median(detect), 1) if detect else None
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"video panel: {args.video.name}, {args.model.name} at imgsz {args.imgsz}: worker analyses "
          f"{results['analysed_fps']} frames/s, detection p50 {results['detect_ms_p50']} ms per frame")
    for key, label in (("direct", "worker's stream, direct"), ("web_map_1", "through the web map, 1 viewer"),
                       (f"web_map_{args.viewers}", f"through the web map, {args.viewers} viewers")):
        r = results[key]
        print(f"  capture -> browser, {label}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms "
              f"(max {r['max_ms']} ms; {r['parts_per_s_per_viewer']} frames/s per viewer)  target < 500 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
