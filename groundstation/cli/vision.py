"""Count people in video: `vision count` (per-frame counts of a video, image or stream), `vision eval`
(count errors, and precision/recall where the truth has boxes), `vision bench` (naive Ultralytics baseline vs
our pipeline, fps), `vision train` (fine-tune a detector on your own YOLO-format labels, offline).

Detector settings come from a preset (--preset drone: the VisDrone-trained model with bands planned from the
pose; elevated: the COCO model with the uniform tile grid); any option given replaces the preset's value."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

DEFAULT_MODEL = "../shared/models/yolo11n_from_int8.pt"  # the naive baseline's weights (bench)
DEFAULT_IMGSZ = 1280
# as vision.detector.PRECISIONS and PRESETS (not imported: nothing at import time)
PRECISIONS = ("int8", "f32", "bf16", "f16")
PRESETS = ("drone", "elevated")


def _tiles(text: str):
    text = text.strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        rows, cols = (int(v) for v in text.split("x"))
    except ValueError:
        raise ValueError(f"--tiles must be auto, off or RxC (e.g. 2x3), got {text!r}") from None
    return (rows, cols)


def _classes(text: str) -> tuple[str | int, ...]:
    """--classes: comma-separated class names or ids, e.g. "pedestrian,people" or "0,1"."""
    out = tuple(int(v) if v.strip().isdigit() else v.strip() for v in text.split(",") if v.strip())
    if not out:
        raise ValueError("--classes needs at least one class name or id")
    return out


def _detector_args(p) -> None:
    p.add_argument("--preset", default="drone", choices=PRESETS,
                   help="detector settings for the view: drone (VisDrone YOLO11n, bands from the pose; the default) "
                        "or elevated (COCO YOLO11n, uniform tile grid)")
    p.add_argument("--model", default=None, help="weights (.pt) or *_openvino_model folder (default: the preset's)")
    p.add_argument("--classes", default=None,
                   help="classes counted as people, names or ids, comma-separated (default: the model's person, "
                        "pedestrian and people classes)")
    p.add_argument("--imgsz", type=int, default=None, help="full-frame model input size, long side (default: the preset's)")
    p.add_argument("--tiles", default="auto", help="auto | off | RxC: sliced inference for small people (default auto)")
    p.add_argument("--tiling", default=None, choices=("bands", "grid"),
                   help="how auto tiles: bands (from the pose; full resolution without one) or grid (default: the preset's)")
    p.add_argument("--conf", type=float, default=None, help="full-frame confidence threshold (default: the preset's)")
    p.add_argument("--tile-conf", type=float, default=None, help="confidence threshold of tiles and bands (default: the preset's)")
    p.add_argument("--max-scale", type=float, default=None, help="largest scale a band runs at (default 1.0: no upscaling)")
    p.add_argument("--cache-dir", default=None, help="where exported models are cached (default ./.cache)")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="int8 (NNCF-quantised, the default; f32 when no calibration frames are available), "
                        "or the OpenVINO float precision f32 | bf16 | f16")
    p.add_argument("--tile-precision", default=None, choices=PRECISIONS,
                   help="precision of the tile passes (default: the same as --precision)")
    p.add_argument("--calibration", default=None,
                   help="INT8 calibration video, image or image folder (default ../shared/data/street_1080p.mp4; "
                        "never the evaluation footage)")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="vision_command", metavar="ACTION", required=True)
    count = sub.add_parser("count", help="per-frame person counts of a video, image, stream URL or device:N")
    count.add_argument("source")
    _detector_args(count)
    count.add_argument("--out", default=None, help="write an annotated video (.mp4/.avi) or image here")
    count.add_argument("--json", action="store_true", help="one JSON object per frame (JSON lines)")
    count.add_argument("--max-frames", type=int, default=None)
    count.add_argument("--density-model", default=None,
                       help="a density-map model (OpenVINO .xml or ONNX) that counts packed views instead of the boxes")
    count.set_defaults(_vision=_run_count)

    ev = sub.add_parser("eval", help="counting accuracy (and precision/recall where the truth has boxes)")
    ev.add_argument("--truth", required=True, help="JSON list of {file, frame, count[, boxes, box_format]}")
    ev.add_argument("--root", default=None, help="folder the truth's files are relative to (default: the truth file's)")
    _detector_args(ev)  # the product's configuration: eval measures what `count` and the workers run
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(_vision=_run_eval)

    bench = sub.add_parser("bench", help="fps of the naive Ultralytics baseline vs our pipeline on the same frames")
    bench.add_argument("--video", required=True, help="a video; a short clip is looped to --frames")
    bench.add_argument("--preset", default="drone", choices=PRESETS, help="the pipeline's detector preset (default drone)")
    bench.add_argument("--model", default=None, help="the pipeline's weights (default: the preset's)")
    bench.add_argument("--baseline-model", default=DEFAULT_MODEL, help=f"the naive baseline's weights (default {DEFAULT_MODEL})")
    bench.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ, help="the baseline's imgsz (the pipeline's comes from the preset)")
    bench.add_argument("--frames", type=int, default=150, help="frames timed for each (default 150)")
    bench.add_argument("--alt-m", type=float, default=None, help="assumed camera altitude for the pipeline's poses")
    bench.add_argument("--pitch-deg", type=float, default=None, help="assumed gimbal pitch (0 horizon, -90 down)")
    bench.add_argument("--hfov-deg", type=float, default=None, help="assumed horizontal field of view")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(_vision=_run_bench)

    train = sub.add_parser("train", help="fine-tune a detector on your own labelled footage (YOLO-format labels, offline)")
    train.add_argument("--data", required=True,
                       help="an Ultralytics dataset YAML, or a folder with images/ and labels/ (class 0 = person)")
    train.add_argument("--model", required=True, help="the weights to start from (.pt), e.g. the drone preset's")
    train.add_argument("--out", required=True, help="where to write the fine-tuned weights (.pt)")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--imgsz", type=int, default=640)
    train.add_argument("--batch", type=int, default=8)
    train.add_argument("--device", default="cpu", help="cpu, or a CUDA device index such as 0")
    train.add_argument("--cache-dir", default=None)
    train.add_argument("--json", action="store_true")
    train.set_defaults(_vision=_run_train)


def run(args) -> int:
    from vision.errors import VisionError

    try:
        return args._vision(args)
    except (VisionError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _detector_config(args, mode: str = "latency"):
    from vision.detector import preset_config

    chosen = {}  # only what was given: the rest are the preset's
    for option, field, convert in (
        ("model", "model_path", Path), ("classes", "person_classes", _classes), ("imgsz", "imgsz", int),
        ("tiling", "tiling", str), ("conf", "conf", float), ("tile_conf", "tile_conf", float),
        ("max_scale", "max_scale", float), ("precision", "precision", str),
        ("tile_precision", "tile_precision", str), ("calibration", "calibration", Path),
        ("cache_dir", "cache_dir", Path),
    ):
        value = getattr(args, option, None)
        if value is not None:
            chosen[field] = convert(value)
    return preset_config(args.preset, mode=mode, **chosen)


def _detector(args, mode: str = "latency"):
    from vision.detector import PersonDetector

    detector = PersonDetector(_detector_config(args, mode))
    if detector.fallback_reason:
        print(f"warning: {detector.fallback_reason}", file=sys.stderr)
    return detector


def _run_count(args) -> int:
    from vision.annotation import AnnotatedWriter
    from vision.detector import default_cache_dir, prepare_ultralytics
    from vision.pipeline import StreamPipeline
    from vision.sources import FileSource, LiveSource, is_live_target
    from vision.tracker import PersonTracker

    tiles = _tiles(args.tiles)
    live = is_live_target(args.source)
    statuses = []
    source = (
        LiveSource(args.source, "cli", on_status=statuses.append, max_failures=3).start()
        if live
        else FileSource(args.source)
    )
    detector = _detector(args, "latency" if live else "throughput")
    prepare_ultralytics(Path(args.cache_dir) if args.cache_dir else default_cache_dir())
    fps = 30.0 if live else (source.fps or 30.0)
    density = None
    if args.density_model:
        from vision.density import DensityConfig, DensityEstimator

        density = DensityEstimator(DensityConfig(Path(args.density_model)))
    tracker = PersonTracker(frame_rate_hz=fps, min_confidence=min(detector.config.conf, detector.config.tile_conf))
    pipeline = StreamPipeline("cli", "", detector, tracker, None, tiles, density)
    writer = AnnotatedWriter(Path(args.out), fps) if args.out else None
    n = 0
    try:
        images: dict[int, object] = {}  # frames in flight, for the annotated output

        def kept(frames):
            for frame in frames:
                images[frame.index] = frame.image if writer is not None else None
                yield frame

        if live:
            outputs = (pipeline.process(frame) for frame in kept(_live_frames(source)))
        else:
            outputs = pipeline.process_stream(kept(_first(source.frames(), args.max_frames)))
        for result, _ in outputs:
            image = images.pop(result.frame_index)
            n += 1
            if args.json:
                print(json.dumps({
                    "frame": result.frame_index,
                    "time_s": round(result.capture_time_s, 3),
                    "count": result.count_in_view,
                    "count_estimate": None if result.count_estimate is None else round(result.count_estimate, 2),
                    "count_sigma": round(result.count_sigma, 2),
                    "count_method": result.count_method,
                    "unique": result.unique_seen,
                    "tiles": list(result.tiles),
                    "boxes": [[round(d.x1_px, 1), round(d.y1_px, 1), round(d.x2_px, 1), round(d.y2_px, 1),
                               round(d.confidence, 3), d.track_id] for d in result.detections],
                }), flush=True)
            else:
                estimate = result.count_in_view if result.count_estimate is None else result.count_estimate
                print(f"frame {result.frame_index}: {result.count_in_view} people in view "
                      f"(estimate {estimate:.1f} +/- {result.count_sigma:.1f}, {result.count_method}), "
                      f"{result.unique_seen} unique so far", flush=True)
            if writer is not None:
                writer.write(image, result)
            if args.max_frames is not None and n >= args.max_frames:
                break
    finally:
        if writer is not None:
            writer.close()
        if live:
            source.stop()
    if not live and source.ended_early and (args.max_frames is None or n < args.max_frames):
        print(f"warning: {args.source} ended after {source.frames_read} of {source.declared_frames} "
              "declared frames (truncated or damaged)", file=sys.stderr)
    for status in statuses:
        if status.state in ("dead", "failed"):
            print(f"stream {status.state}: {status.message}", file=sys.stderr)
    return 0 if n else 1


def _first(frames, limit):
    for n, frame in enumerate(frames):
        if limit is not None and n >= limit:
            return
        yield frame


def _live_frames(source):
    while not source.finished:
        frame = source.latest(timeout_s=1.0)
        if frame is not None:
            yield frame


def _run_eval(args) -> int:
    from vision.counting import estimate_count
    from vision.evaluate import evaluate, to_json

    tiles = _tiles(args.tiles)
    detector = _detector(args)
    results, groups = evaluate(
        Path(args.truth), Path(args.root) if args.root else None, lambda image: detector.detect(image, tiles).detections,
        lambda found: estimate_count((d.confidence for d in found), detector.config.count_model)[0],
    )
    if args.json:
        out = to_json(results, groups)
        out["detector"] = detector.version
        print(json.dumps(out, indent=1))
        return 0
    for r in results:
        frame = "image" if r.frame is None else f"frame {r.frame}"
        boxes = "" if r.true_positives is None else (
            f" (boxes: {r.true_positives} matched, {r.false_positives} false, {r.false_negatives} missed)")
        print(f"{r.file} {frame}: true {r.true}, predicted {r.pred} (estimate {r.estimate:.1f}){boxes}")
    for name, g in groups.items():
        pr = "" if g.precision is None else (
            f" precision={g.precision * 100:.1f}% recall={g.recall * 100:.1f}% (IoU >= 0.3, {g.items_with_boxes} with boxes)")
        print(f"{name}: n={g.n} MAE={g.mae:.2f} mean relative error={g.mean_rel_err * 100:.1f}% "
              f"(of the estimates {g.estimate_mean_rel_err * 100:.1f}%){pr}")
    print(f"detector: {detector.version}")
    return 0


def _run_bench(args) -> int:
    from vision.detector import preset_config
    from vision.errors import ModelNotFoundError
    from vision.speed import ASSUMED_POSE, baseline_fps, run_pipeline

    base_model = Path(args.baseline_model)
    config = preset_config(args.preset, **({"model_path": Path(args.model)} if args.model else {}))
    for model in (base_model, Path(config.model_path)):
        if not model.exists():
            raise ModelNotFoundError(f"model weights not found: {model}")
    given = {k: v for k, v in (("alt_m", args.alt_m), ("pitch_deg", args.pitch_deg), ("hfov_deg", args.hfov_deg))
             if v is not None}
    pose = replace(ASSUMED_POSE, **given)
    base, n = baseline_fps(Path(args.video), base_model, args.imgsz, args.frames)
    run_ = run_pipeline(Path(args.video), config, n, pose=pose)
    pipe = run_.stats.analysed_fps
    report = {
        "baseline_fps": round(base, 2),
        "pipeline_fps": round(pipe, 2),
        "ratio": round(pipe / base, 2) if base > 0 else None,
        "frames": n,
        "imgsz": args.imgsz,
        "preset": args.preset,
        "assumed_pose": {"alt_m": pose.alt_m, "pitch_deg": pose.pitch_deg, "hfov_deg": pose.hfov_deg},
        "backend": run_.stats.model_version.split("/", 1)[-1],
        "model": run_.stats.model_version,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"baseline (Ultralytics predict, PyTorch, {base_model.name}): {report['baseline_fps']} fps")
        print(f"pipeline ({args.preset} preset, decode+detect+track+geo+count, {report['model']}): {report['pipeline_fps']} fps")
        print(f"ratio {report['ratio']}x over {n} frames (baseline imgsz {args.imgsz}; assumed camera {pose.alt_m:g} m up, "
              f"pitch {pose.pitch_deg:g} deg, hfov {pose.hfov_deg:g} deg); worker peak RSS {run_.stats.peak_rss_mb:.0f} MB")
    return 0


def _run_train(args) -> int:
    from vision.training import train_detector

    result = train_detector(Path(args.data), Path(args.model), Path(args.out), epochs=args.epochs, imgsz=args.imgsz,
                            batch=args.batch, device=args.device, cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    report = {"weights": str(result.weights_path), "epochs": result.epochs, "train_images": result.train_images,
              "val_images": result.val_images, "metrics": dict(result.metrics)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"wrote {result.weights_path} ({result.epochs} epochs, {result.train_images} training images); "
              + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics))
        print(f"use it with --model {result.weights_path} (or [[cameras]] model_path)")
    return 0
