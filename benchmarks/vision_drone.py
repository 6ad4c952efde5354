"""Vision at patrol altitude (issue 12): the targets side by side with today's pipeline, in one run.

Run: .venv/bin/python benchmarks/vision_drone.py [--frames 60] [--skip-speed] [--skip-accuracy] [--json]

- accuracy on ../shared/data/truth.json (still images, no telemetry): mean relative count error (of the
  number of boxes, and of the count estimate that the records carry), precision and recall (boxes matched
  to labels at IoU >= 0.3) on uav_unicamp/ and visdrone/, MAE on the PETS frames;
  "today" is the earlier product default (the COCO YOLO11n, INT8, imgsz 1280, uniform tile grid; now the
  elevated preset), "drone" the drone preset (VisDrone YOLO11n, f32, bands);
- fps on 1920x1080 drone footage (../shared/data/uav_unicamp_seq.mp4, 18 frames looped), each pipeline in a
  spawned worker as the station runs it, with the same assumed pose (vision.speed.UNICAMP_POSE: the clip has
  no telemetry): today's tiled pipeline against the drone preset; real time needs >= 10 analyses/s;
- the street clip (../shared/data/street_1080p.mp4) with the elevated preset against the naive Ultralytics
  baseline (YOLO(PATH).predict, PyTorch), in the same run.
Targets (issue 12): count error <= 15 % and precision >= 90 % at recall >= 80 % on both drone sets; drone fps
>= 3x today's tiled pipeline; street >= 4x the baseline; PETS MAE <= 0.5. Prints figures, asserts nothing
(the machine may be shared: compare ratios within one run, never absolute fps across machines).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vision.counting import estimate_count  # noqa: E402
from vision.detector import PersonDetector, preset_config  # noqa: E402
from vision.evaluate import evaluate  # noqa: E402
from vision.speed import ASSUMED_POSE, UNICAMP_POSE, baseline_fps, run_pipeline  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
GROUPS = ("uav_unicamp", "visdrone", "pets2009_s2l1_elevated.avi")


def accuracy(name: str, config) -> dict:
    det = PersonDetector(config)
    _, groups = evaluate(DATA / "truth.json", None, lambda image: det.detect(image, "auto").detections,
                         lambda found: estimate_count((d.confidence for d in found), config.count_model)[0])
    out = {"detector": det.version}
    for g in GROUPS:
        if g in groups:
            s = groups[g]
            out[g] = {"n": s.n, "mae": round(s.mae, 2), "mean_rel_err": round(s.mean_rel_err, 3),
                      "estimate_mean_rel_err": round(s.estimate_mean_rel_err, 3),
                      "precision": None if s.precision is None else round(s.precision, 3),
                      "recall": None if s.recall is None else round(s.recall, 3)}
    print(f"accuracy  {name:6s} {det.version}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames timed per pipeline (default 60)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print every figure as one JSON line")
    args = parser.parse_args()
    os.chdir(ROOT)  # model paths and the export cache are relative to the project root
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    today, drone, elevated = preset_config("elevated"), preset_config("drone"), preset_config("elevated")
    figures: dict = {"load_average_1m": round(load[0], 2)}

    if not args.skip_accuracy:
        figures["accuracy"] = {"today": accuracy("today", today), "drone": accuracy("drone", drone)}
        print("\n| set | target | today | drone preset |\n|---|---|---|---|")
        for g in ("uav_unicamp", "visdrone"):
            t, d = figures["accuracy"]["today"][g], figures["accuracy"]["drone"][g]
            print(f"| {g} count error (boxes) | <= 15 % | {t['mean_rel_err'] * 100:.1f} % | {d['mean_rel_err'] * 100:.1f} % |")
            print(f"| {g} count error (estimate) | <= 15 % | {t['estimate_mean_rel_err'] * 100:.1f} % "
                  f"| {d['estimate_mean_rel_err'] * 100:.1f} % |")
            print(f"| {g} precision / recall | >= 90 / >= 80 % | {t['precision'] * 100:.1f} / {t['recall'] * 100:.1f} % "
                  f"| {d['precision'] * 100:.1f} / {d['recall'] * 100:.1f} % |")
        p_t = figures["accuracy"]["today"]["pets2009_s2l1_elevated.avi"]["mae"]
        p_d = figures["accuracy"]["drone"]["pets2009_s2l1_elevated.avi"]["mae"]
        print(f"| PETS MAE (elevated preset = today) | <= 0.5 | {p_t:.2f} | {p_t:.2f} (drone preset on PETS: {p_d:.2f}) |")

    if not args.skip_speed:
        video = DATA / "uav_unicamp_seq.mp4"
        old = run_pipeline(video, today, args.frames, pose=UNICAMP_POSE).stats
        new = run_pipeline(video, drone, args.frames, pose=UNICAMP_POSE).stats
        street = DATA / "street_1080p.mp4"
        base, n = baseline_fps(street, Path(elevated.model_path), elevated.imgsz, args.frames)
        st = run_pipeline(street, elevated, n, pose=ASSUMED_POSE).stats
        figures["speed"] = {
            "drone_today_fps": round(old.analysed_fps, 2), "drone_new_fps": round(new.analysed_fps, 2),
            "drone_ratio": round(new.analysed_fps / old.analysed_fps, 2), "drone_new_rss_mb": round(new.peak_rss_mb),
            "drone_new_stage_ms": {k: round(v, 1) for k, v in new.stage_ms},
            "street_baseline_fps": round(base, 2), "street_pipeline_fps": round(st.analysed_fps, 2),
            "street_ratio": round(st.analysed_fps / base, 2), "frames": args.frames,
        }
        s = figures["speed"]
        print(f"\n| speed ({args.frames} frames each, same run) | target | today | new |\n|---|---|---|---|")
        print(f"| 1920x1080 drone footage fps | >= 3x today | {s['drone_today_fps']} | {s['drone_new_fps']} "
              f"({s['drone_ratio']}x; 10 fps real time: {'yes' if new.analysed_fps >= 10 else 'no'} here) |")
        print(f"| street clip vs naive baseline ({s['street_baseline_fps']} fps) | >= 4x | - | "
              f"{s['street_pipeline_fps']} fps ({s['street_ratio']}x) |")
        print(f"drone worker: peak RSS {new.peak_rss_mb:.0f} MB; stage ms/frame "
              + ", ".join(f"{k} {v:.1f}" for k, v in new.stage_ms))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
