"""Crowd density for views where individuals cannot be told apart (a packed gathering, a nadir view of heads):
a density-map model given by path, its count with an uncertainty per blob, and the rule that switches a
frame's count from the detector's boxes to it.

The model: an OpenVINO IR (.xml) or ONNX file taking one 1x3xHxW float RGB image (normalised with
``mean_rgb`` / ``std_rgb``, any H and W) and giving a 1x1xhxw map whose sum is the number of people
(CSRNet, DM-Count, SFANet and most crowd-counting models have this form). None ships with the project and
none can be downloaded here: give one by path (``DensityConfig.model_path``, ``[[cameras]]
density_model_path``). Without one, packed views keep the detector's count, and its uncertainty says how
far to trust it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.errors import ModelError, ModelNotFoundError
from vision.records import Detection


@dataclass(frozen=True)
class DensityConfig:
    model_path: Path
    input_scale: float = 0.5  # the frame is resized by this before the model (density models are costly)
    mean_rgb: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet, as most such models
    std_rgb: tuple[float, float, float] = (0.229, 0.224, 0.225)
    relative_sigma: float = 0.15  # the model's one-sigma error as a share of the count (from its own benchmark)
    min_people: int = 15  # fewer boxes than this never switch to density
    packed_fraction: float = 0.35  # a view is packed when at least this share of the boxes overlap another box
    blob_min_people: float = 2.0  # density regions holding fewer people than this are not reported as blobs
    threads: int | None = None


@dataclass(frozen=True)
class DensityBlob:
    """A connected region of the density map: its density-weighted centre (frame pixels), people, one sigma."""

    x_px: float
    y_px: float
    count: float
    sigma: float
    area_px: float


@dataclass(frozen=True)
class DensityEstimate:
    count: float
    sigma: float
    blobs: tuple[DensityBlob, ...]


def is_packed(detections: tuple[Detection, ...], min_people: int = 15, packed_fraction: float = 0.35) -> bool:
    """The switch-over rule: the detector's count is not credible when at least ``min_people`` boxes were found
    and at least ``packed_fraction`` of them overlap another box (people touching and hiding one another,
    where a detector finds a fraction of them)."""
    n = len(detections)
    if n < max(2, min_people):
        return False
    b = np.array([(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in detections], dtype=float)
    ix = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    iy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    touching = (ix > 0) & (iy > 0)
    np.fill_diagonal(touching, False)
    return float(touching.any(axis=1).mean()) >= packed_fraction


class DensityEstimator:
    """Runs a density-map model on frames (OpenVINO, CPU). One instance per process."""

    def __init__(self, config: DensityConfig):
        import openvino as ov

        path = Path(config.model_path)
        if not path.is_file():
            raise ModelNotFoundError(f"density model not found: {path} (an OpenVINO .xml or ONNX file)")
        if path.suffix.lower() not in (".xml", ".onnx"):
            raise ModelError(f"unsupported density model {path}: give an OpenVINO .xml or an .onnx file")
        if not 0.0 < config.input_scale <= 4.0:
            raise ValueError(f"density input_scale must be in (0, 4], got {config.input_scale}")
        self.config = config
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses
            raise ModelError(f"cannot read density model {path}: {exc}") from exc
        if len(model.inputs) != 1 or len(model.outputs) < 1:
            raise ModelError(f"density model {path} must have one image input and a density-map output")
        threads = config.threads or os.cpu_count() or 1
        self._compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
        self._request = self._compiled.create_infer_request()
        self.version = f"{path.name}"

    def estimate(self, image_bgr: np.ndarray) -> DensityEstimate:
        """People in a BGR frame: the map's sum, one sigma, and its blobs (regions of the map holding people)."""
        import cv2

        h, w = image_bgr.shape[:2]
        s = self.config.input_scale
        in_w, in_h = max(8, round(w * s)), max(8, round(h * s))
        small = cv2.resize(image_bgr, (in_w, in_h), interpolation=cv2.INTER_AREA) if (in_w, in_h) != (w, h) else image_bgr
        rgb = small[:, :, ::-1].astype(np.float32) / 255.0
        x = ((rgb - np.array(self.config.mean_rgb, np.float32)) / np.array(self.config.std_rgb, np.float32))
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        out = self._request.infer({0: x})[self._compiled.output(0)]
        density = np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])
        density = np.clip(density, 0.0, None)  # negative density is model noise
        return density_estimate(density, w, h, self.config.relative_sigma, self.config.blob_min_people)


def density_estimate(
    density: np.ndarray, frame_w: int, frame_h: int, relative_sigma: float, blob_min_people: float = 2.0
) -> DensityEstimate:
    """Count, one sigma and blobs of a density map that covers a ``frame_w`` x ``frame_h`` frame (pure).

    Blobs are the connected regions of the map above a tenth of its peak (after a light blur), each with its
    share of the count; sigma combines the model's relative error with Poisson noise."""
    import cv2

    total = float(density.sum())
    sigma = math.sqrt((relative_sigma * total) ** 2 + total)
    blobs: list[DensityBlob] = []
    if total > 0:
        smooth = cv2.GaussianBlur(density, (0, 0), 1.0)
        mask = (smooth > 0.1 * float(smooth.max())).astype(np.uint8)
        n, labels = cv2.connectedComponents(mask, connectivity=8)
        sy, sx = frame_h / density.shape[0], frame_w / density.shape[1]
        ys, xs = np.mgrid[0 : density.shape[0], 0 : density.shape[1]]
        for k in range(1, n):
            region = labels == k
            people = float(density[region].sum())
            if people < blob_min_people:
                continue
            weights = density[region]
            cx = float((xs[region] + 0.5).dot(weights) / people) * sx
            cy = float((ys[region] + 0.5).dot(weights) / people) * sy
            blobs.append(DensityBlob(cx, cy, people, math.sqrt((relative_sigma * people) ** 2 + people),
                                     float(region.sum()) * sx * sy))
    return DensityEstimate(total, sigma, tuple(sorted(blobs, key=lambda b: -b.count)))
