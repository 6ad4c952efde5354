"""Person detector: Ultralytics YOLO weights from an explicit path, exported once to OpenVINO (dynamic
shapes, cached by the weights' SHA-256) and run on all cores, full frame plus optional overlapping
tiles when people are small. Only the person class is kept; a model without one is refused.

Ultralytics is used for what it is good at (export, and the tracker in vision/tracker.py); inference
calls the OpenVINO runtime directly so that the thread count, the in-graph preprocessing (uint8 BGR
in, normalised RGB inside the graph) and the batching of tiles are under our control.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.errors import ModelError, ModelNotFoundError, NoPersonClassError
from vision.records import Detection
from vision.tiling import Tile, grid_for_person_size, letterbox, letterbox_shape, merge_detections, tile_grid

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("../shared/models/yolo11n_from_int8.pt")


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
    precision: str | None = None  # OpenVINO inference precision hint (f32, bf16); None: the device default
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
        from openvino.preprocess import ColorFormat, PrePostProcessor

        self.config = config
        path = Path(config.model_path)
        if not path.exists():
            raise ModelNotFoundError(f"model weights not found: {path} (pass --model PATH)")
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
        xml = next(iter(sorted(model_dir.glob("*.xml"))), None)
        if xml is None:
            raise ModelError(f"{model_dir} holds no OpenVINO .xml model")

        core = ov.Core()
        model = core.read_model(str(xml))
        shape = model.input().get_partial_shape()
        self.dynamic = shape.is_dynamic
        self.static_hw = None if self.dynamic else (shape[2].get_length(), shape[3].get_length())
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
            ColorFormat.BGR
        )
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
        model = ppp.build()
        threads = config.threads or os.cpu_count() or 1
        if config.mode not in ("latency", "throughput"):
            raise ValueError(f"detector mode must be latency or throughput, got {config.mode!r}")
        ov_config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1}
        if config.precision:
            ov_config["INFERENCE_PRECISION_HINT"] = config.precision
        self._core, self._model, self._ov_config = core, model, ov_config
        self._compiled = core.compile_model(model, "CPU", ov_config)
        self._request = self._compiled.create_infer_request()
        # throughput mode: per input shape, a static-shape model compiled with one stream per core
        # (several streams running a dynamic-shape model crashed the CPU plugin here)
        self._stream_models: dict[tuple[int, int], list] = {}
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        self.threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS"))
        self.version = f"{path.name}@{digest[:12]}/openvino-{self.precision}"
        self.backend = "openvino"

    # --- inference -------------------------------------------------------------------------------
    def _input_shape(self, width_px: int, height_px: int) -> tuple[int, int]:
        if self.static_hw is not None:
            return self.static_hw[1], self.static_hw[0]
        w, h, _ = letterbox_shape(width_px, height_px, self.config.imgsz)
        return w, h

    def _run(self, crops: list[np.ndarray], conf: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes (xyxy, in each crop's pixels) and person scores above ``conf``, per crop (same-size crops)."""
        h, w = crops[0].shape[:2]
        in_w, in_h = self._input_shape(w, h)
        batch, boxes = [], []
        for crop in crops:
            img, lb = letterbox(crop, in_w, in_h)
            batch.append(img)
            boxes.append(lb)
        x = np.stack(batch) if len(batch) > 1 else batch[0][None]
        if self.dynamic or len(batch) == 1:
            out = self._request.infer({0: x}, share_inputs=True)[self._compiled.output(0)]
        else:  # a static-batch model: one crop at a time
            out = np.concatenate(
                [self._request.infer({0: xi[None]})[self._compiled.output(0)] for xi in x]
            )
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
        pending: list = []  # (item, image, scale, request, input), oldest first
        for k, item in enumerate(items):
            image = image_of(item)
            _check_frame(image)
            h, w = image.shape[:2]
            in_w, in_h = self._input_shape(w, h)
            if pending and pending[-1][5] != (in_w, in_h):  # frame size changed: finish the old shape first
                while pending:
                    yield self._complete(pending.pop(0), tiles, expected_px_of)
            requests = self._requests_for(in_w, in_h)
            # round robin: with fewer than len(requests) in flight, requests[k % n] is free
            while len(pending) >= len(requests):
                yield self._complete(pending.pop(0), tiles, expected_px_of)
            x, lb = letterbox(image, in_w, in_h)
            request = requests[k % len(requests)]
            request.start_async({0: x[None]})
            pending.append((item, image, lb.scale, request, x, (in_w, in_h)))
        while pending:
            yield self._complete(pending.pop(0), tiles, expected_px_of)

    def _requests_for(self, in_w: int, in_h: int) -> list:
        if self.config.mode == "latency" or not self.dynamic:
            return [self._request]
        if (in_w, in_h) not in self._stream_models:
            streams = max(1, min(int(self._ov_config["INFERENCE_NUM_THREADS"]), 4))
            model = self._model.clone()
            model.reshape({0: [1, in_h, in_w, 3]})
            config = {**self._ov_config, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": streams}
            compiled = self._core.compile_model(model, "CPU", config)
            self._stream_models[(in_w, in_h)] = [compiled.create_infer_request() for _ in range(streams)]
        return self._stream_models[(in_w, in_h)]

    def _complete(self, entry, tiles, expected_px_of):
        item, image, scale, request, _input, _shape = entry
        request.wait()
        out = request.get_output_tensor(0).data
        boxes, scores = self._decode(out[0], scale, self.config.conf)
        expected = expected_px_of(item) if expected_px_of is not None else None
        return item, self._finish(image, boxes, scores, tiles, expected)

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
            for i, (tile, (b, s)) in enumerate(zip(tile_list, self._run(crops, self.config.tile_conf))):
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
