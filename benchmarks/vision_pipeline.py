"""Vision figures: naive Ultralytics baseline vs our pipeline fps, worker memory, capture-to-observation
latency at a fixed analysis rate, and counting accuracy on the shared truth file.

Run: .venv/bin/python benchmarks/vision_pipeline.py [--imgsz 1280] [--frames 150] [--skip-accuracy]
Prints figures only (nothing asserts on time; the machine may be shared and noisy). Targets from
issue 3: pipeline >= 4x baseline fps and >= 20 fps at imgsz 1280 on 2 cores; worker RSS < 1.5 GB;
capture -> observation p95 <= 150 ms at 10 analyses/s; PETS MAE <= 0.5; VisDrone mean relative
error <= 25 %. What each speed figure measures is written in vision/speed.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vision.detector import preset_config  # noqa: E402
from vision.speed import baseline_fps, run_pipeline  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(ROOT.parent / "shared/data/street_1080p.mp4"))
    parser.add_argument("--model", default=str(ROOT.parent / "shared/models/yolo11n_from_int8.pt"))
    parser.add_argument("--truth", default=str(ROOT.parent / "shared/data/truth.json"))
    parser.add_argument("--imgsz", type=int, default=1280)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rate", type=float, default=10.0, help="analyses per second for the latency run")
    parser.add_argument("--latency-s", type=float, default=8.0, help="how long the latency run replays the video")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    os.chdir(ROOT)  # the export cache lives in the project's .cache/
    video, model = Path(args.video), Path(args.model)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    base, n = baseline_fps(video, model, args.imgsz, args.frames)
    print(f"baseline  YOLO(PATH).predict(frame, imgsz={args.imgsz}), PyTorch CPU: {base:.2f} fps over {n} frames")
    config = preset_config("elevated", model_path=model, imgsz=args.imgsz)  # the street clip: an elevated view
    run = run_pipeline(video, config, n)
    st = run.stats
    print(f"pipeline  worker (decode thread + OpenVINO detect + ByteTrack + geo + crowds), every frame: "
          f"{st.analysed_fps:.2f} fps over {st.frames_analysed} frames ({st.model_version})")
    if st.note:
        print(f"note      {st.note}")
    print(f"ratio     {st.analysed_fps / base:.2f}x")
    stages = dict(st.stage_ms)
    print("profile   mean ms per frame: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
          + f"; worker CPU {st.cpu_ms_per_frame:.0f} ms/frame on {os.cpu_count()} cores "
          "(decode runs on its own thread in parallel; infer_wait = analysis thread blocked on the 2 requests in flight)")
    print(f"memory    worker peak RSS {st.peak_rss_mb:.0f} MB")

    live = run_pipeline(video, config, int(args.latency_s * args.rate), realtime=True,
                        analyses_per_s=args.rate)
    lat = np.array(live.latencies_ms)
    print(f"latency   real-time replay (30 fps camera, latest frame only), {args.rate:g} analyses/s requested, "
          f"{live.stats.analysed_fps:.1f}/s achieved: capture -> record in parent "
          f"p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, max {lat.max():.0f} ms "
          f"over {len(lat)} analyses; {live.stats.dropped_frames} camera frames overwritten unanalysed (by design)")
    figures = {
        "baseline_fps": round(base, 2), "pipeline_fps": round(st.analysed_fps, 2),
        "ratio": round(st.analysed_fps / base, 2), "frames": n, "imgsz": args.imgsz,
        "worker_peak_rss_mb": round(st.peak_rss_mb), "latency_p50_ms": round(float(np.percentile(lat, 50))),
        "latency_p95_ms": round(float(np.percentile(lat, 95))), "analyses_per_s": round(live.stats.analysed_fps, 2),
        "backend": st.model_version.split("/", 1)[-1], "stage_ms": {k: round(v, 2) for k, v in st.stage_ms},
        "cpu_ms_per_frame": round(st.cpu_ms_per_frame, 1), "load_average_1m": round(load[0], 2),
    }
    if not args.skip_accuracy:
        from vision.detector import PersonDetector
        from vision.evaluate import evaluate

        det = PersonDetector(config)  # the elevated preset (benchmarks/vision_drone.py compares the drone one)
        _, groups = evaluate(Path(args.truth), None, lambda im: len(det.detect(im, "auto").detections))
        for name, g in groups.items():
            print(f"accuracy  {name}: n={g.n} MAE {g.mae:.2f}, mean relative error {g.mean_rel_err * 100:.1f}% "
                  f"(imgsz {args.imgsz}, tiles auto, {det.version.split('/', 1)[1]}: the `vision eval` defaults)")
            figures[f"mae[{name}]"] = round(g.mae, 3)
            figures[f"mean_rel_err[{name}]"] = round(g.mean_rel_err, 3)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
