"""Count people in video: `vision count` (per-frame counts of a video, image or stream), `vision eval`
(accuracy against a truth file), `vision bench` (naive Ultralytics baseline vs our pipeline, fps)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_MODEL = "../shared/models/yolo11n_from_int8.pt"
DEFAULT_IMGSZ = 1280
PRECISIONS = ("int8", "f32", "bf16", "f16")  # as vision.detector.PRECISIONS (not imported: nothing at import time)


def _tiles(text: str):
    text = text.strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        rows, cols = (int(v) for v in text.split("x"))
    except ValueError:
        raise ValueError(f"--tiles must be auto, off or RxC (e.g. 2x3), got {text!r}") from None
    return (rows, cols)


def _detector_args(p) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"weights (.pt) or *_openvino_model folder (default {DEFAULT_MODEL})")
    p.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ, help=f"model input size, long side (default {DEFAULT_IMGSZ})")
    p.add_argument("--tiles", default="auto", help="auto | off | RxC: sliced inference for small people (default auto)")
    p.add_argument("--conf", type=float, default=0.25, help="full-frame confidence threshold (default 0.25)")
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
    count.set_defaults(_vision=_run_count)

    ev = sub.add_parser("eval", help="counting accuracy against a truth file")
    ev.add_argument("--truth", required=True, help="JSON list of {file, frame, count}")
    ev.add_argument("--root", default=None, help="folder the truth's files are relative to (default: the truth file's)")
    _detector_args(ev)  # the product's configuration: eval measures what `count` and the workers run
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(_vision=_run_eval)

    bench = sub.add_parser("bench", help="fps of the naive Ultralytics baseline vs our pipeline on the same frames")
    bench.add_argument("--video", required=True)
    bench.add_argument("--model", default=DEFAULT_MODEL)
    bench.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ)
    bench.add_argument("--frames", type=int, default=150, help="frames timed for each (default 150)")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(_vision=_run_bench)


def run(args) -> int:
    from vision.errors import VisionError

    try:
        return args._vision(args)
    except (VisionError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _detector(args, mode: str = "latency"):
    from vision.detector import DetectorConfig, PersonDetector

    chosen = {}  # only what was given: the rest are the product defaults in DetectorConfig
    if args.precision is not None:
        chosen["precision"] = args.precision
    if args.tile_precision is not None:
        chosen["tile_precision"] = args.tile_precision
    if args.calibration is not None:
        chosen["calibration"] = Path(args.calibration)
    config = DetectorConfig(
        mode=mode,
        model_path=Path(args.model),
        imgsz=args.imgsz,
        conf=args.conf,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        **chosen,
    )
    detector = PersonDetector(config)
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
    pipeline = StreamPipeline("cli", "", detector, PersonTracker(frame_rate_hz=fps, min_confidence=min(detector.config.conf, detector.config.tile_conf)), None, tiles)
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
                    "unique": result.unique_seen,
                    "tiles": list(result.tiles),
                    "boxes": [[round(d.x1_px, 1), round(d.y1_px, 1), round(d.x2_px, 1), round(d.y2_px, 1),
                               round(d.confidence, 3), d.track_id] for d in result.detections],
                }), flush=True)
            else:
                print(f"frame {result.frame_index}: {result.count_in_view} people in view, "
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
    from vision.evaluate import evaluate, to_json

    tiles = _tiles(args.tiles)
    detector = _detector(args)
    results, groups = evaluate(
        Path(args.truth), Path(args.root) if args.root else None, lambda image: len(detector.detect(image, tiles).detections)
    )
    if args.json:
        print(json.dumps(to_json(results, groups), indent=1))
        return 0
    for r in results:
        frame = "image" if r.frame is None else f"frame {r.frame}"
        print(f"{r.file} {frame}: true {r.true}, predicted {r.pred}")
    for name, g in groups.items():
        print(f"{name}: n={g.n} MAE={g.mae:.2f} mean relative error={g.mean_rel_err * 100:.1f}%")
    return 0


def _run_bench(args) -> int:
    from vision.speed import baseline_fps, run_pipeline

    model = Path(args.model)
    if not model.exists():
        from vision.errors import ModelNotFoundError

        raise ModelNotFoundError(f"model weights not found: {model}")
    base, n = baseline_fps(Path(args.video), model, args.imgsz, args.frames)
    run_ = run_pipeline(Path(args.video), model, args.imgsz, n)
    pipe = run_.stats.analysed_fps
    report = {
        "baseline_fps": round(base, 2),
        "pipeline_fps": round(pipe, 2),
        "ratio": round(pipe / base, 2) if base > 0 else None,
        "frames": n,
        "imgsz": args.imgsz,
        "backend": run_.stats.model_version.split("/", 1)[-1],
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"baseline (Ultralytics predict, PyTorch): {report['baseline_fps']} fps")
        print(f"pipeline (decode+detect+track+geo+count, {report['backend']}): {report['pipeline_fps']} fps")
        print(f"ratio {report['ratio']}x over {n} frames at imgsz {args.imgsz}; worker peak RSS "
              f"{run_.stats.peak_rss_mb:.0f} MB")
    return 0
