"""Counting accuracy against a truth file: a JSON list of {"file", "frame", "count"} items (frame is the
0-based index in sequential VideoCapture order, or null for a still image), files relative to a root.

Per item the true and predicted count; per group (the item's first folder, or the file itself at the
top level) the mean absolute error and the mean relative error |pred - true| / max(true, 1).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from vision.errors import SourceOpenError
from vision.sources import FileSource


@dataclass(frozen=True)
class TruthItem:
    file: str
    frame: int | None
    count: int


@dataclass(frozen=True)
class ItemResult:
    file: str
    frame: int | None
    true: int
    pred: int


@dataclass(frozen=True)
class GroupScore:
    n: int
    mae: float
    mean_rel_err: float


def load_truth(path: Path) -> tuple[TruthItem, ...]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: truth must be a JSON list of {{file, frame, count}}")
    items = []
    for n, entry in enumerate(data):
        try:
            frame = entry.get("frame")
            items.append(TruthItem(str(entry["file"]), None if frame is None else int(frame), int(entry["count"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: item {n} is not {{file, frame, count}}: {entry!r}") from exc
    return tuple(items)


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
        out[name] = GroupScore(len(rs), float(err.mean()), float(rel.mean()))
    return out


def evaluate(
    truth_path: Path, root: Path | None, count: Callable[[np.ndarray], int]
) -> tuple[list[ItemResult], dict[str, GroupScore]]:
    """Count every truth item with ``count(image) -> people`` and score the groups."""
    items = load_truth(truth_path)
    root = Path(root) if root is not None else Path(truth_path).parent
    results = [ItemResult(item.file, item.frame, item.count, int(count(image))) for item, image in frames_for(root, items)]
    order = {(i.file, i.frame): n for n, i in enumerate(items)}
    results.sort(key=lambda r: order[(r.file, r.frame)])
    return results, score(results)


def to_json(results: list[ItemResult], groups: dict[str, GroupScore]) -> dict:
    return {
        "items": [{"file": r.file, "frame": r.frame, "true": r.true, "pred": r.pred} for r in results],
        "groups": {k: {"n": g.n, "mae": g.mae, "mean_rel_err": g.mean_rel_err} for k, g in groups.items()},
    }
