"""Counting accuracy against a truth file: a JSON list of {"file", "frame", "count"} items (frame is the
0-based index in sequential VideoCapture order, or null for a still image), files relative to a root;
an item may also name its person boxes: "boxes" (a label file, relative to the root) and "box_format"
("visdrone": ``x,y,w,h,score,category,...`` in pixels, categories 1 pedestrian and 2 people; "yolo":
``class cx cy w h`` normalised, class 0).

Per item the true and predicted count; per group (the item's first folder, or the file itself at the
top level) the mean absolute error and the mean relative error |pred - true| / max(true, 1); where the
truth has boxes, precision and recall of the predicted boxes, each matched to at most one label box at
IoU >= ``MATCH_IOU`` (greedy, most confident first).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from vision.errors import SourceOpenError
from vision.sources import FileSource


MATCH_IOU = 0.3
BOX_FORMATS = ("visdrone", "yolo")
VISDRONE_PERSON_CATEGORIES = (1, 2)
YOLO_PERSON_CLASS = 0


@dataclass(frozen=True)
class TruthItem:
    file: str
    frame: int | None
    count: int
    boxes: str | None = None  # label file relative to the root
    box_format: str | None = None  # one of BOX_FORMATS


@dataclass(frozen=True)
class ItemResult:
    file: str
    frame: int | None
    true: int
    pred: int
    # box matching, where the truth has boxes (None otherwise)
    true_positives: int | None = None
    false_positives: int | None = None
    false_negatives: int | None = None
    estimate: float | None = None  # the count estimate from the detections (vision.counting), when asked for


@dataclass(frozen=True)
class GroupScore:
    n: int
    mae: float
    mean_rel_err: float
    precision: float | None = None  # over the group's items with boxes; None when none has
    recall: float | None = None
    items_with_boxes: int = 0
    estimate_mean_rel_err: float | None = None  # of the count estimates, where every item has one


def load_truth(path: Path) -> tuple[TruthItem, ...]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: truth must be a JSON list of {{file, frame, count}}")
    items = []
    for n, entry in enumerate(data):
        try:
            frame = entry.get("frame")
            boxes, box_format = entry.get("boxes"), entry.get("box_format")
            items.append(TruthItem(str(entry["file"]), None if frame is None else int(frame), int(entry["count"]),
                                   None if boxes is None else str(boxes), None if box_format is None else str(box_format)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: item {n} is not {{file, frame, count}}: {entry!r}") from exc
        if (boxes is None) != (box_format is None) or (box_format is not None and box_format not in BOX_FORMATS):
            raise ValueError(f"{path}: item {n} needs both 'boxes' and 'box_format' (one of {', '.join(BOX_FORMATS)}): {entry!r}")
    return tuple(items)


def load_boxes(path: Path, box_format: str, width_px: int, height_px: int) -> np.ndarray:
    """Person boxes of a label file as an N x 4 array (x1, y1, x2, y2 pixels)."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            if box_format == "visdrone":
                v = [float(x) for x in line.rstrip(",").split(",")]
                if int(v[5]) in VISDRONE_PERSON_CATEGORIES:
                    rows.append((v[0], v[1], v[0] + v[2], v[1] + v[3]))
            elif box_format == "yolo":
                c, cx, cy, w, h = (float(x) for x in line.split()[:5])
                if int(c) == YOLO_PERSON_CLASS:
                    cx, w, cy, h = cx * width_px, w * width_px, cy * height_px, h * height_px
                    rows.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            else:
                raise ValueError(f"unknown box format {box_format!r} (one of {', '.join(BOX_FORMATS)})")
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: not a {box_format} label line: {line!r}") from exc
    return np.array(rows, dtype=float).reshape(-1, 4)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N x 4 xyxy) with every box of ``b`` (M x 4)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_boxes(pred_xyxy, scores, true_xyxy, iou_threshold: float = MATCH_IOU) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): each prediction, most confident first, takes
    the unmatched label box it overlaps most, if that IoU reaches ``iou_threshold``."""
    pred = np.asarray(pred_xyxy, float).reshape(-1, 4)
    true = np.asarray(true_xyxy, float).reshape(-1, 4)
    if len(pred) == 0 or len(true) == 0:
        return 0, len(pred), len(true)
    iou = iou_matrix(pred, true)
    taken = np.zeros(len(true), dtype=bool)
    tp = 0
    for i in np.argsort(-np.asarray(scores, float), kind="stable"):
        row = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(row))
        if row[j] >= iou_threshold:
            taken[j] = True
            tp += 1
    return tp, len(pred) - tp, len(true) - tp


def group_of(file: str) -> str:
    parts = PurePosixPath(file.replace("\\", "/")).parts
    return parts[0] if len(parts) > 1 else file


def frames_for(root: Path, items: tuple[TruthItem, ...]):
    """Yield (item, BGR image) for every truth item, reading each video once, sequentially."""
    by_file: dict[str, list[TruthItem]] = {}
    for item in items:
        by_file.setdefault(item.file, []).append(item)
    for file, wanted in by_file.items():
        source = FileSource(root / file)
        try:
            if source.is_image:
                image = next(source.frames()).image
                for item in wanted:
                    yield item, image
                continue
            need: dict[int, list[TruthItem]] = {}
            for item in wanted:
                if item.frame is None:
                    raise ValueError(f"{file} is a video: its truth items need a frame index")
                need.setdefault(item.frame, []).append(item)
            last = max(need)
            for frame in source.frames():
                for item in need.pop(frame.index, []):
                    yield item, frame.image
                if frame.index >= last:
                    break
            if need:
                raise SourceOpenError(f"{file}: frames {sorted(need)} are past the end of the video")
        finally:
            source.close()


def score(results: list[ItemResult]) -> dict[str, GroupScore]:
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        groups.setdefault(group_of(r.file), []).append(r)
    out = {}
    for name, rs in groups.items():
        err = np.array([abs(r.pred - r.true) for r in rs], dtype=float)
        rel = np.array([abs(r.pred - r.true) / max(r.true, 1) for r in rs], dtype=float)
        boxed = [r for r in rs if r.true_positives is not None]
        precision = recall = None
        if boxed:
            tp = sum(r.true_positives for r in boxed)
            fp = sum(r.false_positives for r in boxed)
            fn = sum(r.false_negatives for r in boxed)
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
        est_err = None
        if all(r.estimate is not None for r in rs):
            est_err = float(np.mean([abs(r.estimate - r.true) / max(r.true, 1) for r in rs]))
        out[name] = GroupScore(len(rs), float(err.mean()), float(rel.mean()), precision, recall, len(boxed), est_err)
    return out


def _boxes_and_scores(found) -> tuple[np.ndarray, np.ndarray]:
    rows = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in found]
    return np.array(rows, float).reshape(-1, 4), np.array([d.confidence for d in found], float)


def evaluate(
    truth_path: Path,
    root: Path | None,
    count: Callable[[np.ndarray], object],
    estimate: Callable[[tuple], float] | None = None,
) -> tuple[list[ItemResult], dict[str, GroupScore]]:
    """Count every truth item and score the groups. ``count(image)`` returns the number of people, or the
    detections themselves (anything with x1_px, y1_px, x2_px, y2_px and confidence), which are then also
    matched to the item's label boxes where the truth has them; ``estimate(detections)``, when given, is the
    count estimate scored beside the number of boxes."""
    items = load_truth(truth_path)
    root = Path(root) if root is not None else Path(truth_path).parent
    results = []
    for item, image in frames_for(root, items):
        found = count(image)
        if isinstance(found, (int, np.integer)):
            results.append(ItemResult(item.file, item.frame, item.count, int(found)))
            continue
        found = tuple(found)
        matched: tuple = ()
        if item.boxes is not None:
            h, w = image.shape[:2]
            truth_boxes = load_boxes(root / item.boxes, item.box_format, w, h)
            matched = match_boxes(*_boxes_and_scores(found), truth_boxes)
        est = None if estimate is None else float(estimate(found))
        if not matched:
            matched = (None, None, None)
        results.append(ItemResult(item.file, item.frame, item.count, len(found), *matched, est))
    order = {(i.file, i.frame): n for n, i in enumerate(items)}
    results.sort(key=lambda r: order[(r.file, r.frame)])
    return results, score(results)


def to_json(results: list[ItemResult], groups: dict[str, GroupScore]) -> dict:
    def item(r: ItemResult) -> dict:
        out = {"file": r.file, "frame": r.frame, "true": r.true, "pred": r.pred}
        if r.true_positives is not None:
            out.update(tp=r.true_positives, fp=r.false_positives, fn=r.false_negatives)
        if r.estimate is not None:
            out["estimate"] = r.estimate
        return out

    def group(g: GroupScore) -> dict:
        out = {"n": g.n, "mae": g.mae, "mean_rel_err": g.mean_rel_err}
        if g.precision is not None:
            out.update(precision=g.precision, recall=g.recall, items_with_boxes=g.items_with_boxes)
        if g.estimate_mean_rel_err is not None:
            out["estimate_mean_rel_err"] = g.estimate_mean_rel_err
        return out

    return {"items": [item(r) for r in results], "groups": {k: group(g) for k, g in groups.items()}}
