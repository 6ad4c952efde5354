"""Person detector: Ultralytics YOLO weights from an explicit path, exported once to OpenVINO (dynamic
shapes, cached by the weights' SHA-256) and run on all cores, full frame plus optional overlapping
tiles when people are small. Only the person class is kept; a model without one is refused.

Ultralytics is used for what it is good at (export, and the tracker in vision/tracker.py); inference
calls the OpenVINO runtime directly so that the thread count, the in-graph preprocessing (uint8 BGR
in, normalised RGB inside the graph) and the batching of tiles are under our control.

Precision: the product default is INT8 (an NNCF post-training quantisation of the export, built once
per weights + calibration source + NNCF version by vision/quantize.py), for full frames and tiles.
Measured on ../shared/data/truth.json at imgsz 1280, tiles auto (PETS MAE / VisDrone mean relative
error): INT8 0.17 / 18.8 %; INT8 full frames + f32 tiles (``tile_precision="f32"``) 0.17 / 17.1 %;
f32 0.33 / 17.1 %; bf16 0.33 / 29.1 % (bf16 loses small people, so it is not the fallback). Only two
VisDrone images: one person more or less moves that figure by 1.3-1.7 points. Without calibration
frames (or NNCF) INT8 falls back to f32 and says why (``fallback_reason``).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.errors import ModelError, ModelNotFoundError, NoPersonClassError
from vision.quantize import DEFAULT_CALIBRATION, DEFAULT_CALIBRATION_FRAMES, CalibrationUnavailable
from vision.records import Detection
from vision.tiling import (
    Tile,
    grid_for_person_size,
    letterbox,
    letterbox_into,
    letterbox_shape,
    merge_detections,
    tile_grid,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("../shared/models/yolo11n_from_int8.pt")
PRECISIONS = ("int8", "f32", "bf16", "f16")
# The product default, chosen from measurements (see benchmarks/vision_pipeline.py and the commit that set it).
DEFAULT_PRECISION = "int8"


def default_cache_dir() -> Path:
    """``$SKYGUARD_CACHE_DIR``, else ``.cache`` in the working directory (the project root, which git ignores)."""
    return Path(os.environ.get("SKYGUARD_CACHE_DIR") or Path.cwd() / ".cache")


@dataclass(frozen=True)
class DetectorConfig:
    model_path: Path = DEFAULT_MODEL
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.5
    tile_overlap: float = 0.25
    min_person_px: float = 32.0  # below this height at the model input, people are tiled for
    target_person_px: float = 64.0  # tiles are sized so people reach about this height at the model input
    tile_conf: float = 0.15  # small people score lower: the threshold used for tile detections
    max_tile_cols: int = 4
    threads: int | None = None  # None: every core
    # "int8": NNCF post-training quantisation of the export (vision/quantize.py; the ops left in float
    # run at the device default, bf16 here); "f32", "bf16", "f16": OpenVINO inference precision hint of
    # the float export; None: the float export at the device default.
    precision: str | None = DEFAULT_PRECISION
    tile_precision: str | None = "same"  # precision of the tile passes: "same" as full frames, or one of the above
    calibration: Path | None = None  # INT8 calibration video, image or image folder; None: DEFAULT_CALIBRATION
    calibration_frames: int = DEFAULT_CALIBRATION_FRAMES
    # "latency": one frame at a time on every core (live streams). "throughput": recorded video, with
    # one frame per core in flight (detect_stream); higher fps, each frame takes longer.
    mode: str = "latency"
    cache_dir: Path | None = None


@dataclass(frozen=True)
class DetectionSet:
    """One frame's merged person detections and how they were obtained."""

    detections: tuple[Detection, ...]
    grid: tuple[int, int]  # (rows, cols) of tiles used, (1, 1) for full frame only


def prepare_ultralytics(cache_dir: Path):
    """Import Ultralytics safely in this process and return the module.

    Sets the offline/no-autoinstall environment and a writable config dir *before* the import, and
    makes torchvision importable under CPU torch (vision.torch_compat).
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    config_dir = Path(os.environ.get("YOLO_CONFIG_DIR") or cache_dir / "ultralytics")
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    from vision.torch_compat import ensure_torchvision_ops

    ensure_torchvision_ops()
    # Ultralytics prints its settings banner and binds its log handler to sys.stdout at import: send both
    # to stderr, so that stdout carries only our own output (e.g. `vision eval --json`).
    with contextlib.redirect_stdout(sys.stderr):
        import ultralytics

    return ultralytics


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def person_class_index(names: dict[int, str], model_name: str) -> int:
    for index, name in names.items():
        if str(name).strip().lower() == "person":
            return int(index)
    shown = ", ".join(str(n) for n in list(names.values())[:10]) or "none"
    raise NoPersonClassError(f"model {model_name} has no 'person' class (classes: {shown}); it cannot count people")


def _read_metadata(model_dir: Path) -> dict:
    import yaml  # installed with ultralytics

    meta = model_dir / "metadata.yaml"
    if not meta.is_file():
        raise ModelError(f"{model_dir} has no metadata.yaml: not an Ultralytics OpenVINO export")
    data = yaml.safe_load(meta.read_text()) or {}
    names = data.get("names") or {}
    if isinstance(names, list):
        names = dict(enumerate(names))
    data["names"] = {int(k): str(v) for k, v in names.items()}
    return data


def _model_xml(model_dir: Path) -> Path:
    xml = next(iter(sorted(Path(model_dir).glob("*.xml"))), None)
    if xml is None:
        raise ModelError(f"{model_dir} holds no OpenVINO .xml model")
    return xml


def exported_openvino_dir(weights: Path, cache_dir: Path) -> Path:
    """The OpenVINO export of ``weights`` (a .pt file), made once and cached by the file's SHA-256.

    The export runs in a temporary folder next to the cache entry and is renamed into place, so two
    processes exporting at once both end with a complete model.
    """
    from importlib.metadata import version

    sha = file_sha256(weights)
    key = f"{sha[:16]}-ul{version('ultralytics')}-ov{version('openvino')}"
    target = cache_dir / "openvino" / key
    if (target / "metadata.yaml").is_file():
        return target
    ultralytics = prepare_ultralytics(cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        link = work / "model.pt"
        link.symlink_to(weights.resolve())
        model = ultralytics.YOLO(str(link), task="detect")
        person_class_index({int(k): v for k, v in model.names.items()}, str(weights))  # refuse before exporting
        log.info("exporting %s to OpenVINO (dynamic shapes) into %s", weights, target)
        out = Path(model.export(format="openvino", dynamic=True, imgsz=640, verbose=False))
        try:
            out.rename(target)
        except OSError:
            if not (target / "metadata.yaml").is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class PersonDetector:
    """Finds people in BGR frames. One instance per process (it owns an OpenVINO infer request)."""

    def __init__(self, config: DetectorConfig):
        import openvino as ov

        self.config = config
        path = Path(config.model_path)
        if not path.exists():
            raise ModelNotFoundError(f"model weights not found: {path} (pass --model PATH)")
        for name, value in (("precision", config.precision), ("tile_precision", config.tile_precision)):
            if value is not None and value not in PRECISIONS and not (name == "tile_precision" and value == "same"):
                raise ValueError(f"{name} must be one of {', '.join(PRECISIONS)} or None, got {value!r}")
        if config.mode not in ("latency", "throughput"):
            raise ValueError(f"detector mode must be latency or throughput, got {config.mode!r}")
        cache_dir = Path(config.cache_dir or default_cache_dir())
        if path.is_dir():
            model_dir, digest = path, hashlib.sha256(str(path.resolve()).encode()).hexdigest()
        elif path.suffix == ".pt":
            model_dir, digest = exported_openvino_dir(path, cache_dir), file_sha256(path)
        else:
            raise ModelError(f"unsupported model {path}: give an Ultralytics .pt file or an *_openvino_model folder")
        meta = _read_metadata(model_dir)
        self.names: dict[int, str] = meta["names"]
        self.person_class = person_class_index(self.names, str(path))
        _model_xml(model_dir)  # refuse a folder without a model before any quantisation

        self.fallback_reason: str | None = None  # why INT8 was asked for and not used
        self._int8_dir: Path | None = None
        self.calibration_digest: str | None = None
        full_precision = config.precision
        tile_precision = full_precision if config.tile_precision == "same" else config.tile_precision
        if "int8" in (full_precision, tile_precision):
            from vision.quantize import quantized_openvino_dir

            source = Path(config.calibration or DEFAULT_CALIBRATION)
            try:
                self._int8_dir = quantized_openvino_dir(
                    model_dir, digest, source, config.calibration_frames, config.imgsz, cache_dir
                )
                self.calibration_digest = self._int8_dir.name.split("-cal", 1)[1][:12]
            except CalibrationUnavailable as exc:
                # f32, not bf16: the fallback keeps accuracy (bf16 loses small people) and is slower
                self.fallback_reason = f"INT8 unavailable ({exc}); using f32"
                log.warning("%s: %s", path, self.fallback_reason)
                full_precision = "f32" if full_precision == "int8" else full_precision
                tile_precision = "f32" if tile_precision == "int8" else tile_precision

        threads = config.threads or os.cpu_count() or 1
        self._core = ov.Core()
        self._ov_config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1}
        self._model = self._load(self._int8_dir if full_precision == "int8" else model_dir)
        self._model_config = self._config_for(full_precision)
        shape = self._model.input().get_partial_shape()
        self.dynamic = shape.is_dynamic
        self.static_hw = None if self.dynamic else (shape[1].get_length(), shape[2].get_length())
        self._compiled = self._core.compile_model(self._model, "CPU", self._model_config)
        self._request = self._compiled.create_infer_request()
        if tile_precision == full_precision:
            self._tile_model, self._tile_config = self._model, self._model_config
            self._tile_compiled = self._compiled
        else:
            self._tile_model = self._load(self._int8_dir if tile_precision == "int8" else model_dir)
            self._tile_config = self._config_for(tile_precision)
            self._tile_compiled = self._core.compile_model(self._tile_model, "CPU", self._tile_config)
        # throughput mode: per input shape, a static-shape model compiled with one stream per core
        # (several streams running a dynamic-shape model crashed the CPU plugin here)
        self._stream_models: dict[tuple[bool, int, int], list] = {}  # (tiles?, input w, h) -> requests
        self.precision = self._describe(full_precision, self._compiled)
        self.tile_precision = self._describe(tile_precision, self._tile_compiled)
        self.threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS"))
        shown = self.precision if self.tile_precision == self.precision else f"{self.precision}+tiles-{self.tile_precision}"
        self.version = f"{path.name}@{digest[:12]}/openvino-{shown}"
        self.backend = "openvino"
        # where the detector's own time goes, in ms summed over frames (detect_stream); see stage_means_ms
        self.stage_totals_ms: dict[str, float] = {"preprocess": 0.0, "infer_wait": 0.0, "postprocess": 0.0, "tiles": 0.0}
        self.frames_done = 0

    def _load(self, model_dir: Path):
        """The model of ``model_dir`` with in-graph preprocessing: uint8 BGR NHWC in, normalised RGB NCHW inside."""
        import openvino as ov
        from openvino.preprocess import ColorFormat, PrePostProcessor

        model = self._core.read_model(str(_model_xml(model_dir)))
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
            ColorFormat.BGR
        )
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
        return ppp.build()

    def _config_for(self, precision: str | None) -> dict:
        config = dict(self._ov_config)
        if precision not in (None, "int8"):  # int8: the float ops left run at the device default
            config["INFERENCE_PRECISION_HINT"] = precision
        return config

    @staticmethod
    def _describe(precision: str | None, compiled) -> str:
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        return f"int8-{name}" if precision == "int8" else name

    def stage_means_ms(self) -> dict[str, float]:
        """Mean ms per frame spent by the caller's thread in each detector stage (detect_stream only):
        preprocess (letterbox into the input tensor), infer_wait (blocked on inference), postprocess
        (decoding boxes, merging), tiles (tile passes, synchronous)."""
        n = max(self.frames_done, 1)
        return {k: v / n for k, v in self.stage_totals_ms.items()}

    # --- inference -------------------------------------------------------------------------------
    def _input_shape(self, width_px: int, height_px: int) -> tuple[int, int]:
        if self.static_hw is not None:
            return self.static_hw[1], self.static_hw[0]
        w, h, _ = letterbox_shape(width_px, height_px, self.config.imgsz)
        return w, h

    def _run(self, crops: list[np.ndarray], conf: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes (xyxy, in each crop's pixels) and person scores above ``conf``, per crop (same-size crops)."""
        request, compiled = self._request, self._compiled
        h, w = crops[0].shape[:2]
        in_w, in_h = self._input_shape(w, h)
        if len(crops) == 1 and self.config.mode == "latency" and self.dynamic:
            # live full frames: a static-shape model compiled for this frame size (faster than dynamic),
            # fed in place
            static = self._requests_for(in_w, in_h)[0]
            lb = letterbox_into(crops[0], static.get_input_tensor(0).data[0])
            static.infer()
            return [self._decode(static.get_output_tensor(0).data[0], lb.scale, conf)]
        x = np.empty((len(crops), in_h, in_w, 3), dtype=np.uint8)
        boxes = [letterbox_into(crop, x[i]) for i, crop in enumerate(crops)]
        if self.dynamic or len(crops) == 1:
            out = request.infer({0: x}, share_inputs=True)[compiled.output(0)]
        else:  # a static-batch model: one crop at a time
            out = np.concatenate([request.infer({0: xi[None]})[compiled.output(0)] for xi in x])
        return [self._decode(pred, lb.scale, conf) for pred, lb in zip(out, boxes)]

    def _decode(self, pred: np.ndarray, scale: float, conf: float) -> tuple[np.ndarray, np.ndarray]:
        """One image's raw output (4 + classes, anchors) -> person boxes (xyxy, input pixels / scale) and scores."""
        scores = pred[4 + self.person_class]
        keep = scores > conf
        cx, cy, bw, bh = pred[0][keep], pred[1][keep], pred[2][keep], pred[3][keep]
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / scale
        return xyxy, scores[keep].astype(np.float32)

    def grid_for(self, frame_w: int, frame_h: int, person_px: float) -> tuple[int, int]:
        """Tile grid for people ``person_px`` tall: (1, 1) when they reach ``min_person_px`` at the model
        input, else tiles sized to bring them to ``target_person_px``."""
        at_input = person_px * self.config.imgsz / max(frame_w, frame_h)
        if at_input >= self.config.min_person_px:
            return (1, 1)
        return grid_for_person_size(
            person_px, frame_w, frame_h, self.config.imgsz, self.config.target_person_px, self.config.max_tile_cols
        )

    def detect(
        self, frame: np.ndarray, tiles: str | tuple[int, int] = "off", expected_person_px: float | None = None
    ) -> DetectionSet:
        """People in a BGR frame.

        ``tiles``: "off" (full frame only), (rows, cols) (full frame plus that grid), or "auto": with
        ``expected_person_px`` (from altitude, gimbal and camera) tile when people would be smaller
        than ``min_person_px`` at the model input; without it, look at the full-frame detections and
        tile when the frame is larger than the model input and the smallest person found is small
        (or none is found).
        Tile detections use the lower ``tile_conf`` threshold (small people score lower).
        """
        _check_frame(frame)
        full_boxes, full_scores = self._run([frame], self.config.conf)[0]
        return self._finish(frame, full_boxes, full_scores, tiles, expected_person_px)

    def detect_stream(self, items, image_of, tiles: str | tuple[int, int] = "off", expected_px_of=None):
        """Detect in a sequence of frames, yielding ``(item, DetectionSet)`` in order.

        In throughput mode up to one full-frame inference per core is in flight (each on one thread),
        which keeps both cores busy while the next frame is decoded and the last one is finished;
        tiles, when needed, run after their frame's full-frame pass. ``image_of(item)`` gives the BGR
        image, ``expected_px_of(item)`` the expected person height (or None).
        """
        pending: list = []  # (item, image, scale, request, input shape), oldest first
        totals = self.stage_totals_ms
        for k, item in enumerate(items):
            image = image_of(item)
            _check_frame(image)
            h, w = image.shape[:2]
            in_w, in_h = self._input_shape(w, h)
            if pending and pending[-1][4] != (in_w, in_h):  # frame size changed: finish the old shape first
                while pending:
                    yield self._complete(pending.pop(0), tiles, expected_px_of)
            requests = self._requests_for(in_w, in_h)
            # round robin: with fewer than len(requests) in flight, requests[k % n] is free
            while len(pending) >= len(requests):
                yield self._complete(pending.pop(0), tiles, expected_px_of)
            request = requests[k % len(requests)]
            t0 = time.perf_counter()
            # letterbox straight into the request's own input tensor: no intermediate frame copy
            lb = letterbox_into(image, request.get_input_tensor(0).data[0])
            request.start_async()
            totals["preprocess"] += (time.perf_counter() - t0) * 1e3
            pending.append((item, image, lb.scale, request, (in_w, in_h)))
        while pending:
            yield self._complete(pending.pop(0), tiles, expected_px_of)

    def prepare(self, width_px: int, height_px: int) -> float:
        """Compile ahead the static-shape model that frames of this size will use (detect_stream, and
        live full frames); returns the seconds it took (0 when already compiled)."""
        if width_px <= 0 or height_px <= 0 or (self.config.mode == "throughput" and not self.dynamic):
            return 0.0
        t0 = time.perf_counter()
        self._requests_for(*self._input_shape(width_px, height_px))
        return time.perf_counter() - t0

    def _requests_for(self, in_w: int, in_h: int, tiles: bool = False) -> list:
        """Infer requests of a static-shape model compiled for this input size: one (latency mode, every
        core on it) or one per core (throughput mode, a thread each). ``tiles``: of the tile model."""
        # tiles never share requests with full frames: the next frame's full-frame pass may be in flight
        key = (tiles, in_w, in_h)
        if key not in self._stream_models:
            base = self._tile_model if tiles else self._model
            base_config = self._tile_config if tiles else self._model_config
            model = base.clone()
            if self.config.mode == "latency":
                config, n = base_config, 1
            else:
                n = max(1, min(int(self._ov_config["INFERENCE_NUM_THREADS"]), 4))
                # no pinning: on a machine shared with other work a pinned inference thread cannot move
                # off a busy core (measured here: pinned 9.7-21.4 fps, unpinned 20.0-21.8 fps, 3 runs each)
                config = {**base_config, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": n, "ENABLE_CPU_PINNING": False}
            if self.dynamic:
                model.reshape({0: [1, in_h, in_w, 3]})
            compiled = self._core.compile_model(model, "CPU", config)
            self._stream_models[key] = [compiled.create_infer_request() for _ in range(n)]
        return self._stream_models[key]

    def _run_tiles(self, crops: list[np.ndarray], conf: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Like ``_run`` for same-size tile crops, one crop per request of a static-shape model, with as
        many in flight as the mode allows (a batch through the dynamic model needed ~2.4 GB for 6 tiles)."""
        h, w = crops[0].shape[:2]
        requests = self._requests_for(*self._input_shape(w, h), tiles=True)
        out: list = [None] * len(crops)
        inflight: list = []  # (crop index, request, scale), oldest first

        def collect():
            i, request, scale = inflight.pop(0)
            request.wait()
            out[i] = self._decode(request.get_output_tensor(0).data[0], scale, conf)

        for i, crop in enumerate(crops):
            if len(inflight) >= len(requests):
                collect()
            request = requests[i % len(requests)]
            lb = letterbox_into(crop, request.get_input_tensor(0).data[0])
            request.start_async()
            inflight.append((i, request, lb.scale))
        while inflight:
            collect()
        return out

    def _complete(self, entry, tiles, expected_px_of):
        item, image, scale, request, _shape = entry
        t0 = time.perf_counter()
        request.wait()
        t1 = time.perf_counter()
        out = request.get_output_tensor(0).data
        boxes, scores = self._decode(out[0], scale, self.config.conf)
        expected = expected_px_of(item) if expected_px_of is not None else None
        tiles_before = self.stage_totals_ms["tiles"]
        found = self._finish(image, boxes, scores, tiles, expected)
        t2 = time.perf_counter()
        self.stage_totals_ms["infer_wait"] += (t1 - t0) * 1e3
        self.stage_totals_ms["postprocess"] += (t2 - t1) * 1e3 - (self.stage_totals_ms["tiles"] - tiles_before)
        self.frames_done += 1
        return item, found

    def _finish(self, frame, full_boxes, full_scores, tiles, expected_person_px) -> DetectionSet:
        """Decide the tiles, run them, merge everything."""
        fh, fw = frame.shape[:2]
        grid = (1, 1)
        if isinstance(tiles, tuple):
            grid = tiles
        elif tiles == "auto":
            if expected_person_px is not None:
                grid = self.grid_for(fw, fh, expected_person_px)
            elif max(fw, fh) > 1.25 * self.config.imgsz:
                # The smallest person found stands for those the full frame missed (they are
                # smaller still); no person found at all also tiles: small people may be missed.
                hs = full_boxes[:, 3] - full_boxes[:, 1]
                grid = self.grid_for(fw, fh, float(hs.min()) if len(hs) else 0.0)
        elif tiles != "off":
            raise ValueError(f"tiles must be 'off', 'auto' or (rows, cols), got {tiles!r}")

        all_boxes, all_scores, origin = [full_boxes], [full_scores], [np.full(len(full_boxes), -1)]
        tile_list: tuple[Tile, ...] = ()
        if grid != (1, 1):
            tile_list = tile_grid(fw, fh, grid[0], grid[1], self.config.tile_overlap)
            crops = [frame[t.y0 : t.y1, t.x0 : t.x1] for t in tile_list]
            t0 = time.perf_counter()
            found = self._run_tiles(crops, self.config.tile_conf)
            self.stage_totals_ms["tiles"] += (time.perf_counter() - t0) * 1e3
            for i, (tile, (b, s)) in enumerate(zip(tile_list, found)):
                all_boxes.append(b + np.array([tile.x0, tile.y0, tile.x0, tile.y0], dtype=np.float32))
                all_scores.append(s)
                origin.append(np.full(len(b), i))
        boxes = np.concatenate(all_boxes).reshape(-1, 4)
        scores = np.concatenate(all_scores)
        src = np.concatenate(origin)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, fw)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, fh)
        keep = merge_detections(boxes, scores, src, tile_list, fw, fh, self.config.iou)
        dets = tuple(
            Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s))
            for b, s in zip(boxes[keep], scores[keep])
        )
        return DetectionSet(dets, grid)


def _check_frame(frame) -> None:
    if frame is None or getattr(frame, "ndim", 0) != 3 or frame.shape[2] != 3 or frame.size == 0:
        raise ValueError("detect() needs an H x W x 3 BGR image")
