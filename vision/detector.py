"""Person detector: Ultralytics YOLO weights from an explicit path, exported once to OpenVINO (dynamic
shapes, cached by the weights' SHA-256) and run on all cores: a full frame plus overlapping tiles when
people are small, or only the bands planned from the camera's pose (vision.tiling.plan_bands). The person
classes are a setting of the model (names or ids, several counted as one; by default whichever of
person / pedestrian / people it has); a model with none of them is refused. ``preset_config`` gives the
product's settings per kind of view: "drone" (the VisDrone-trained YOLO11n, bands) and "elevated" (the
COCO YOLO11n, tile grid).

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
from collections import OrderedDict
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vision.counting import CountModel
from vision.errors import ModelError, ModelNotFoundError, NoPersonClassError
from vision.quantize import DEFAULT_CALIBRATION, DEFAULT_CALIBRATION_FRAMES, CalibrationUnavailable
from vision.records import Detection
from vision.tiling import (
    Tile,
    TilePlan,
    grid_for_person_size,
    letterbox,
    letterbox_into,
    letterbox_shape,
    merge_detections,
    merge_planned,
    plan_bands,
    tile_grid,
    uniform_plan,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("../shared/models/yolo11n_from_int8.pt")
# class names counted as people when a model's person classes are not named: COCO's 'person', VisDrone's
# 'pedestrian' (standing, walking) and 'people' (sitting, riding)
DEFAULT_PERSON_CLASSES = ("person", "pedestrian", "people")
PRECISIONS = ("int8", "f32", "bf16", "f16")
# The product default, chosen from measurements (see benchmarks/vision_pipeline.py and the commit that set it).
DEFAULT_PRECISION = "int8"


def default_cache_dir() -> Path:
    """``$SKYGUARD_CACHE_DIR``, else ``.cache`` in the working directory (the project root, which git ignores)."""
    return Path(os.environ.get("SKYGUARD_CACHE_DIR") or Path.cwd() / ".cache")


@dataclass(frozen=True)
class DetectorConfig:
    model_path: Path = DEFAULT_MODEL
    # the classes counted as people, by name or id (several count as one); None: DEFAULT_PERSON_CLASSES found
    person_classes: tuple[str | int, ...] | None = None
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.5
    tile_overlap: float = 0.25
    min_person_px: float = 32.0  # below this height at the model input, people are tiled for
    target_person_px: float = 64.0  # tiles are sized so people reach about this height at the model input
    tile_conf: float = 0.15  # small people score lower: the threshold used for tile detections
    max_tile_cols: int = 4
    # "bands": tiles planned from the expected person size on each row (the camera model and pose: sky and the
    # far band under person_floor_px skipped, each band at the scale that brings its people to
    # target_person_px, never above max_scale); without a pose, frames larger than the model input get one
    # more pass at max_scale after the full-frame one. "grid": the older uniform grid of tiles, each resized
    # to imgsz.
    tiling: str = "grid"
    person_floor_px: float = 8.0  # people smaller than this in the frame are not looked for (bands)
    max_scale: float = 1.0  # the largest scale a band runs at (1.0: full resolution, no upscaling)
    max_compiled_shapes: int = 16  # static-shape models kept compiled (bands and tiles); the oldest go first
    # how this detector's boxes relate to the true count (per-box precision by confidence, recall): the
    # uncertainty that counts carry (vision.counting.estimate_count)
    count_model: CountModel = field(default_factory=CountModel)
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


DRONE_MODEL = Path("../shared/models/yolo11n_visdrone/yolo11n_visdrone_from_tflite_int8.pt")
# The elevated preset's count model: PETS has counts and no boxes, so these are set from its per-frame count
# error (MAE 0.17-0.33 of 3-9 people), not measured box by box.
ELEVATED_COUNT_MODEL = CountModel(((0.25, 0.85), (0.5, 0.95), (0.8, 1.0)), recall=0.95, relative_sigma=0.05)
PRESETS = ("drone", "elevated")


def preset_config(name: str, **overrides) -> DetectorConfig:
    """The product's detector settings for a kind of view (see benchmarks/vision_drone.py for the figures).

    "drone": a patrol drone's camera, 20-60 m up, people 8-60 px tall: the VisDrone-trained YOLO11n (classes
    pedestrian and people counted as one), tiles planned as bands from the pose (tiling="bands", no
    upscaling), a full-frame pass at imgsz 1280 then the whole frame at full resolution when there is no pose.
    "elevated": a fixed or low camera over a street or plaza, people 40+ px tall: the COCO YOLO11n at imgsz
    1280 with the uniform tile grid (the earlier product default; it counts PETS within 0.2-0.3 person).
    ``overrides`` replace any DetectorConfig field.
    """
    if name == "drone":
        # f32: INT8 calibrated on the street clip (the only footage here that is not evaluation data) lost a
        # quarter of the precision on the drone frames (visdrone/ 83 -> 58 %, uav_unicamp/ 71 -> 60 %)
        base = DetectorConfig(
            model_path=DRONE_MODEL, imgsz=1280, conf=0.25, tile_conf=0.2, tiling="bands", target_person_px=32.0,
            person_floor_px=8.0, max_scale=1.0, count_model=CountModel(), precision="f32",
        )
    elif name == "elevated":
        base = DetectorConfig(model_path=DEFAULT_MODEL, imgsz=1280, conf=0.25, tile_conf=0.15, tiling="grid",
                              count_model=ELEVATED_COUNT_MODEL)
    else:
        raise ValueError(f"detector preset must be one of {', '.join(PRESETS)}, got {name!r}")
    return replace(base, **overrides)


@dataclass(frozen=True)
class DetectionSet:
    """One frame's merged person detections and how they were obtained."""

    detections: tuple[Detection, ...]
    grid: tuple[int, int]  # (rows, cols) of tiles used, (1, 1) for full frame only; (bands, 1) for a band plan
    plan: TilePlan | None = None  # the band plan, when one was run
    full_frame: bool = True  # whether the full-frame pass at imgsz ran (a plan from the pose skips it)


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


def person_class_indices(
    names: dict[int, str], model_name: str, wanted: tuple[str | int, ...] | None = None
) -> tuple[int, ...]:
    """The class ids counted as people: ``wanted`` names (case-insensitive) or ids, every one of which must
    exist; by default (None) whichever of DEFAULT_PERSON_CLASSES the model has (COCO's 'person'; a
    VisDrone model's 'pedestrian' and 'people'). Several classes count as one (class-agnostic NMS)."""
    by_name = {str(n).strip().lower(): int(i) for i, n in names.items()}
    shown = ", ".join(f"{i} {n}" for i, n in list(names.items())[:12]) or "none"
    if wanted is None:
        found = tuple(sorted({by_name[n] for n in DEFAULT_PERSON_CLASSES if n in by_name}))
        if not found:
            raise NoPersonClassError(
                f"model {model_name} has no 'person' class (looked for {', '.join(DEFAULT_PERSON_CLASSES)}; "
                f"classes: {shown}): name the classes to count (person_classes / --classes)"
            )
        return found
    if not wanted:
        raise NoPersonClassError(f"model {model_name}: person_classes is empty; name at least one class")
    out, unknown = set(), []
    for w in wanted:
        if isinstance(w, int) or (isinstance(w, str) and w.strip().isdigit()):
            i = int(w)
            (out.add(i) if i in names else unknown.append(str(w)))
        elif str(w).strip().lower() in by_name:
            out.add(by_name[str(w).strip().lower()])
        else:
            unknown.append(repr(w))
    if unknown:
        raise NoPersonClassError(f"model {model_name} has no class {', '.join(unknown)} (classes: {shown})")
    return tuple(sorted(out))


def person_class_index(names: dict[int, str], model_name: str) -> int:
    """The first person class id (kept for callers of the single-class API)."""
    return person_class_indices(names, model_name)[0]


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


def exported_openvino_dir(weights: Path, cache_dir: Path, person_classes: tuple[str | int, ...] | None = None) -> Path:
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
        names = {int(k): v for k, v in model.names.items()}
        person_class_indices(names, str(weights), person_classes)  # refuse before exporting
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
        if config.tiling not in ("bands", "grid"):
            raise ValueError(f"detector tiling must be bands or grid, got {config.tiling!r}")
        cache_dir = Path(config.cache_dir or default_cache_dir())
        if path.is_dir():
            model_dir, digest = path, hashlib.sha256(str(path.resolve()).encode()).hexdigest()
        elif path.suffix == ".pt":
            model_dir, digest = exported_openvino_dir(path, cache_dir, config.person_classes), file_sha256(path)
        else:
            raise ModelError(f"unsupported model {path}: give an Ultralytics .pt file or an *_openvino_model folder")
        meta = _read_metadata(model_dir)
        self.names: dict[int, str] = meta["names"]
        self.person_classes = person_class_indices(self.names, str(path), config.person_classes)
        self.person_class = self.person_classes[0]  # the single-class API of earlier callers
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
        # (tiles?, input w, h) -> requests, least recently used first (at most max_compiled_shapes)
        self._stream_models: OrderedDict[tuple[bool, int, int], list] = OrderedDict()
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
        return decode_people(pred, self.person_classes, scale, conf)

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
        self,
        frame: np.ndarray,
        tiles: str | tuple[int, int] = "off",
        expected_person_px: float | None = None,
        person_px_by_row: np.ndarray | None = None,
    ) -> DetectionSet:
        """People in a BGR frame.

        ``tiles``: "off" (full frame only), (rows, cols) (full frame plus that grid), or "auto". With
        ``tiling="bands"`` and ``person_px_by_row`` (the expected person size on each row, from the camera
        model and pose: vision.camera.person_size_by_row), "auto" runs only the bands planned from it (no
        full-frame pass); without it, the full frame at imgsz and then the whole frame at ``max_scale`` when
        that adds resolution (unless ``expected_person_px`` says people are large enough already).
        With ``tiling="grid"``: with ``expected_person_px`` (from altitude, gimbal and camera) tile when
        people would be smaller than ``min_person_px`` at the model input; without it, look at the
        full-frame detections and tile when the frame is larger than the model input and the smallest
        person found is small (or none is found).
        Tile detections use the lower ``tile_conf`` threshold (small people score lower).
        """
        _check_frame(frame)
        if self._plans(tiles, person_px_by_row):
            return self.detect_planned(frame, self.plan_for(frame.shape[1], frame.shape[0], person_px_by_row))
        full_boxes, full_scores = self._run([frame], self.config.conf)[0]
        return self._finish(frame, full_boxes, full_scores, tiles, expected_person_px)

    def _plans(self, tiles, person_px_by_row) -> bool:
        return tiles == "auto" and self.config.tiling == "bands" and person_px_by_row is not None

    def plan_for(self, frame_w: int, frame_h: int, person_px_by_row) -> TilePlan:
        """The band plan for a frame whose rows would show people ``person_px_by_row`` tall."""
        c = self.config
        return plan_bands(frame_w, frame_h, person_px_by_row, c.target_person_px, c.person_floor_px, c.max_scale)

    def detect_planned(self, frame: np.ndarray, plan: TilePlan) -> DetectionSet:
        """People in the tiles of ``plan`` only (no full-frame pass), merged by feet-row ownership and NMS."""
        _check_frame(frame)
        fh, fw = frame.shape[:2]
        if (plan.frame_w, plan.frame_h) != (fw, fh):
            raise ValueError(f"plan is for {plan.frame_w}x{plan.frame_h} frames, got {fw}x{fh}")
        t0 = time.perf_counter()
        boxes, scores, origin = self._run_plan(frame, plan, self.config.tile_conf)
        self.stage_totals_ms["tiles"] += (time.perf_counter() - t0) * 1e3
        return self._merged(boxes, scores, origin, plan, fw, fh, full_frame=False)

    def _run_plan(self, frame: np.ndarray, plan: TilePlan, conf: float):
        """Run a plan's tiles, each on a request of a static-shape model compiled for its input size, as many in
        flight as the mode allows; boxes (frame pixels), scores and the tile index of each box."""
        inflight: list = []  # (tile index, request, letterbox), oldest first
        done: list = []
        for i, tile in enumerate(plan.tiles):
            requests = self._requests_for(*tile.input_size(), tiles=True)
            while True:
                busy = {id(r) for _, r, _ in inflight}
                free = [r for r in requests if id(r) not in busy]
                if free:
                    break
                done.append(self._collect_tile(plan, inflight.pop(0), conf))
            inflight.append(self._start_tile(frame, plan, i, free[0]))
        done.extend(self._collect_tile(plan, entry, conf) for entry in inflight)
        return self._stacked(done)

    @staticmethod
    def _start_tile(frame: np.ndarray, plan: TilePlan, i: int, request):
        tile = plan.tiles[i]
        lb = letterbox_into(frame[tile.y0 : tile.y1, tile.x0 : tile.x1], request.get_input_tensor(0).data[0])
        request.start_async()
        return i, request, lb

    def _collect_tile(self, plan: TilePlan, entry, conf: float):
        i, request, lb = entry
        request.wait()
        b, sc = self._decode(request.get_output_tensor(0).data[0], lb.scale, conf)
        t = plan.tiles[i]
        return b + np.array([t.x0, t.y0, t.x0, t.y0], dtype=np.float32), sc, np.full(len(b), i)

    @staticmethod
    def _stacked(parts):
        if not parts:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        return (np.concatenate([p[0] for p in parts]).reshape(-1, 4), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))

    def _stream_planned(self, items, image_of, profile_of):
        """detect_stream for frames with a band plan: a frame's tiles are started before the previous frame's
        are collected (when the shapes' requests allow), so both cores stay busy; results come out in order."""
        pending: list = []  # (item, image, plan, inflight entries, start time), oldest first

        def finish(entry):
            item, image, plan, inflight, t0 = entry
            parts = [self._collect_tile(plan, e, self.config.tile_conf) for e in inflight]
            self.stage_totals_ms["tiles"] += (time.perf_counter() - t0) * 1e3
            self.frames_done += 1
            fh, fw = image.shape[:2]
            return item, self._merged(*self._stacked(parts), plan, fw, fh, full_frame=False)

        for item in items:
            image = image_of(item)
            _check_frame(image)
            h, w = image.shape[:2]
            plan = self.plan_for(w, h, profile_of(item))
            pools = [self._requests_for(*t.input_size(), tiles=True) for t in plan.tiles]
            while True:  # enough free requests for every tile of this frame, or the oldest frame finishes first
                busy = {id(e[1]) for p in pending for e in p[3]}
                chosen, ok = [], True
                for pool in pools:
                    free = [r for r in pool if id(r) not in busy and all(r is not c for c in chosen)]
                    if not free:
                        ok = False
                        break
                    chosen.append(free[0])
                if ok or not pending:
                    break
                yield finish(pending.pop(0))
            t0 = time.perf_counter()
            if ok:
                inflight = [self._start_tile(image, plan, i, r) for i, r in enumerate(chosen)]
                pending.append((item, image, plan, inflight, t0))
            else:  # more tiles of one shape than its requests: this frame alone, in turns
                b, sc, o = self._run_plan(image, plan, self.config.tile_conf)
                self.stage_totals_ms["tiles"] += (time.perf_counter() - t0) * 1e3
                self.frames_done += 1
                yield item, self._merged(b, sc, o, plan, w, h, full_frame=False)
            while len(pending) > 1:
                yield finish(pending.pop(0))
            # in throughput mode the newest frame stays in flight while the next is decoded and started
        while pending:
            yield finish(pending.pop(0))

    def _merged(self, boxes, scores, origin, plan: TilePlan, fw: int, fh: int, full_frame: bool) -> DetectionSet:
        boxes = boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, fw)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, fh)
        keep = merge_planned(boxes, scores, origin, plan, self.config.iou)
        dets = tuple(
            Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(sc))
            for b, sc in zip(boxes[keep], scores[keep])
        )
        return DetectionSet(dets, (len(plan.tiles), 1) if plan.tiles else (1, 1), plan, full_frame)

    def detect_stream(self, items, image_of, tiles: str | tuple[int, int] = "off", expected_px_of=None, profile_of=None):
        """Detect in a sequence of frames, yielding ``(item, DetectionSet)`` in order.

        In throughput mode up to one full-frame inference per core is in flight (each on one thread),
        which keeps both cores busy while the next frame is decoded and the last one is finished;
        tiles, when needed, run after their frame's full-frame pass. ``image_of(item)`` gives the BGR
        image, ``expected_px_of(item)`` the expected person height (or None), ``profile_of(item)`` the
        expected person size per row (or None): frames with one and ``tiling="bands"`` run only their
        planned bands, a frame's bands started before the previous frame's are collected.
        """
        pending: list = []  # (item, image, scale, request, input shape), oldest first
        totals = self.stage_totals_ms
        held: list = []  # a frame without a plan that ended a run of planned frames
        items = iter(items)
        for k, item in enumerate(items):
            image = image_of(item)
            _check_frame(image)
            h, w = image.shape[:2]
            profile = profile_of(item) if profile_of is not None else None
            if self._plans(tiles, profile):
                while pending:  # frames before this one come out first, in order
                    yield self._complete(pending.pop(0), tiles, expected_px_of)
                # this frame and the following ones that have a plan, pipelined
                yield from self._stream_planned(
                    _while_planned(item, items, lambda it: self._plans(tiles, profile_of(it)), held),
                    image_of, profile_of,
                )
                if not held:
                    continue
                item = held.pop()  # the frame without a plan that ended the run: on as below
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
        if key in self._stream_models:
            self._stream_models.move_to_end(key)
        else:
            while len(self._stream_models) >= max(2, self.config.max_compiled_shapes):
                self._stream_models.popitem(last=False)  # requests still in flight keep their model alive
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
        if tiles == "auto" and self.config.tiling == "bands":
            return self._finish_bands(frame, full_boxes, full_scores, expected_person_px)
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


    def _finish_bands(self, frame, full_boxes, full_scores, expected_person_px) -> DetectionSet:
        """Bands without a pose: after the full-frame pass, the whole frame once more at ``max_scale`` (when
        that adds resolution), unless the expected person size says people are large enough at the model
        input. Without any size the far people a drone sees may be anywhere: the smallest person the
        full-frame pass found says nothing about those it missed, so the pass always runs."""
        fh, fw = frame.shape[:2]
        c = self.config
        full_scale = min(self._input_shape(fw, fh)[0] / fw, self._input_shape(fw, fh)[1] / fh)
        small = expected_person_px is None or expected_person_px * full_scale < c.min_person_px
        plan = TilePlan((), fw, fh, 0, "uniform")
        boxes, scores, origin = full_boxes, full_scores, np.full(len(full_boxes), -1)
        if small and full_scale < c.max_scale * 0.8:  # a pass that adds resolution
            plan = uniform_plan(fw, fh, c.max_scale)
            t0 = time.perf_counter()
            b, sc, o = self._run_plan(frame, plan, c.tile_conf)
            self.stage_totals_ms["tiles"] += (time.perf_counter() - t0) * 1e3
            boxes, scores, origin = np.concatenate([boxes, b]), np.concatenate([scores, sc]), np.concatenate([origin, o])
        return self._merged(boxes.reshape(-1, 4), scores, origin, plan, fw, fh, full_frame=True)



def _while_planned(first, rest, planned, held: list):
    """``first`` and then the items of ``rest`` while ``planned(item)``; the first item that is not is put in
    ``held`` (for the caller to handle) and ends the run."""
    yield first
    for item in rest:
        if not planned(item):
            held.append(item)
            return
        yield item


def decode_people(
    pred: np.ndarray, person_classes: tuple[int, ...], scale: float, conf: float
) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw YOLO output (4 box rows cx, cy, w, h + one score row per class, by anchors) -> person
    boxes (xyxy, input pixels / ``scale``) and scores above ``conf``. Several person classes count as one:
    each anchor keeps its best person score, so the NMS that follows is class-agnostic (a person scored both
    'pedestrian' and 'people' is one box)."""
    rows = np.asarray([4 + c for c in person_classes])
    scores = pred[rows[0]] if len(rows) == 1 else pred[rows].max(axis=0)
    keep = scores > conf
    cx, cy, bw, bh = pred[0][keep], pred[1][keep], pred[2][keep], pred[3][keep]
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / scale
    return xyxy, scores[keep].astype(np.float32)

def _check_frame(frame) -> None:
    if frame is None or getattr(frame, "ndim", 0) != 3 or frame.shape[2] != 3 or frame.size == 0:
        raise ValueError("detect() needs an H x W x 3 BGR image")
