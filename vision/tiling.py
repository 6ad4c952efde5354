"""Sliced inference geometry: when to tile a frame, where the overlapping tiles lie, letterboxing, and
how tile detections merge so a person on a seam is counted once. Pure numpy/OpenCV, no model.

Two ways to slice:
- a uniform grid (``tile_grid``, ``grid_for_person_size``, ``merge_detections``): equal overlapping tiles
  over the whole frame, each letterboxed to the model input;
- a plan from the expected size of a person on each image row (``plan_bands``, ``merge_planned``): from
  the camera model and pose (vision.camera.person_size_by_row), the frame is cut into full-width bands
  that each run at one scale (never above ``max_scale``, so no upscaling by default): small far people at
  full resolution, large near people shrunk, and no band over the sky or over the far rows where a person
  would be under the pixel floor. Each band owns the rows where people's feet fall in it and reaches up
  by a person's height, so someone on a band edge is seen whole in the band that owns their feet and
  counted once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

STRIDE_PX = 32


@dataclass(frozen=True)
class Tile:
    """A crop of the frame: [x0, x1) x [y0, y1) in full-frame pixels."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True)
class Letterbox:
    """How an image was resized (``scale``) and padded (right/bottom) to the model input."""

    scale: float
    input_w: int
    input_h: int


def letterbox_shape(width_px: int, height_px: int, imgsz: int) -> tuple[int, int, float]:
    """(input_w, input_h, scale): the long side resized to ``imgsz``, both sides padded up to the stride."""
    scale = imgsz / max(width_px, height_px)
    w, h = round(width_px * scale), round(height_px * scale)
    return math.ceil(w / STRIDE_PX) * STRIDE_PX, math.ceil(h / STRIDE_PX) * STRIDE_PX, scale


def letterbox(image: np.ndarray, input_w: int, input_h: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio to fit (input_w, input_h) and pad right/bottom with grey 114."""
    h, w = image.shape[:2]
    scale = min(input_w / w, input_h / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if (nw, nh) == (input_w, input_h):
        return np.ascontiguousarray(resized), Letterbox(scale, input_w, input_h)
    out = np.full((input_h, input_w, 3), 114, dtype=np.uint8)
    out[:nh, :nw] = resized
    return out, Letterbox(scale, input_w, input_h)


def letterbox_into(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """``letterbox`` written into ``out`` (input_h x input_w x 3 uint8, e.g. an inference request's input
    tensor): the frame is resized straight into place and only the padding is painted, no other copy."""
    h, w = image.shape[:2]
    input_h, input_w = out.shape[:2]
    scale = min(input_w / w, input_h / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    nw, nh = min(nw, input_w), min(nh, input_h)
    region = out[:nh, :nw]
    if (nw, nh) == (w, h):
        region[...] = image
    else:
        resized = cv2.resize(image, (nw, nh), dst=region, interpolation=cv2.INTER_LINEAR)
        if resized is not region and not np.shares_memory(resized, out):  # OpenCV would not write in place
            region[...] = resized
    out[nh:, :] = 114
    out[:nh, nw:] = 114
    return Letterbox(scale, input_w, input_h)


def tile_grid(width_px: int, height_px: int, rows: int, cols: int, overlap: float) -> tuple[Tile, ...]:
    """rows x cols equal tiles covering the frame, neighbours overlapping by ``overlap`` of a tile."""
    if rows < 1 or cols < 1:
        raise ValueError(f"tile grid must be at least 1x1, got {rows}x{cols}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"tile overlap must be in [0, 1), got {overlap}")
    tw = math.ceil(width_px / (cols - (cols - 1) * overlap))
    th = math.ceil(height_px / (rows - (rows - 1) * overlap))
    tw, th = min(tw, width_px), min(th, height_px)
    xs = [round(i * (width_px - tw) / (cols - 1)) if cols > 1 else 0 for i in range(cols)]
    ys = [round(j * (height_px - th) / (rows - 1)) if rows > 1 else 0 for j in range(rows)]
    return tuple(Tile(x, y, x + tw, y + th) for y in ys for x in xs)


def grid_for_person_size(
    person_px: float, width_px: int, height_px: int, imgsz: int, min_person_px: float = 32.0, max_cols: int = 4
) -> tuple[int, int]:
    """(rows, cols) so that a person ``person_px`` tall in the frame spans ``min_person_px`` at the model input.

    (1, 1) means no tiling. Grids stop at ``max_cols`` columns (cost grows with the square), and rows
    follow the aspect ratio so tiles stay roughly square.
    """
    long_side = max(width_px, height_px)
    at_input = person_px * imgsz / long_side
    if at_input >= min_person_px:
        return (1, 1)
    n = min(max_cols, math.ceil(min_person_px / max(at_input, 1e-6)))
    if n <= 1:
        return (1, 1)
    if width_px >= height_px:
        return (max(1, math.ceil(n * height_px / width_px)), n)
    return (n, max(1, math.ceil(n * width_px / height_px)))


def merge_detections(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    tile_of_box: np.ndarray,
    tiles: tuple[Tile, ...],
    frame_w: int,
    frame_h: int,
    iou_threshold: float = 0.5,
    fragment_cover: float = 0.6,
    seam_margin_px: float = 3.0,
) -> np.ndarray:
    """Indices of boxes kept after merging full-frame and tile detections.

    1. Greedy NMS (IoU) across all sources: a person seen whole in two overlapping tiles, or in a
       tile and the full frame, stays once.
    2. A box touching a tile's inner edge (a seam, not the frame border) is a fragment of someone cut
       by the tile; it is dropped when another kept box covers at least ``fragment_cover`` of it.
    ``tile_of_box`` holds, per box, the index into ``tiles`` it came from, or -1 for the full frame.
    """
    if len(boxes_xyxy) == 0:
        return np.zeros(0, dtype=int)
    xywh = np.column_stack([boxes_xyxy[:, :2], boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]])
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), 0.0, iou_threshold), dtype=int)
    keep = keep.reshape(-1)
    if len(keep) < 2 or not tiles:
        return keep
    kept = boxes_xyxy[keep]
    on_seam = np.zeros(len(keep), dtype=bool)
    for k, i in enumerate(keep):
        t = int(tile_of_box[i])
        if t < 0:
            continue
        tile = tiles[t]
        x1, y1, x2, y2 = boxes_xyxy[i]
        on_seam[k] = (
            (tile.x0 > 0 and x1 <= tile.x0 + seam_margin_px)
            or (tile.y0 > 0 and y1 <= tile.y0 + seam_margin_px)
            or (tile.x1 < frame_w and x2 >= tile.x1 - seam_margin_px)
            or (tile.y1 < frame_h and y2 >= tile.y1 - seam_margin_px)
        )
    area = np.clip(kept[:, 2] - kept[:, 0], 0, None) * np.clip(kept[:, 3] - kept[:, 1], 0, None)
    drop = np.zeros(len(keep), dtype=bool)
    # Largest fragments are judged first so two halves of one person do not remove each other.
    for k in np.argsort(-area):
        if not on_seam[k]:
            continue
        ix1 = np.maximum(kept[k, 0], kept[:, 0])
        iy1 = np.maximum(kept[k, 1], kept[:, 1])
        ix2 = np.minimum(kept[k, 2], kept[:, 2])
        iy2 = np.minimum(kept[k, 3], kept[:, 3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        cover = inter / max(area[k], 1e-9)
        cover[k] = 0.0
        cover[drop] = 0.0
        if np.any(cover >= fragment_cover):
            drop[k] = True
    return keep[~drop]


# scales a band may run at: a short ladder, so that the input shapes (and compiled models) recur from frame to frame
SCALE_LADDER = (1.0, 0.75, 0.5, 0.375, 0.25, 0.1875, 0.125)


@dataclass(frozen=True)
class PlannedTile:
    """A crop [x0, x1) x [y0, y1) run at ``scale`` (input size = crop size x scale, padded to the stride); it
    owns the detections whose feet (box bottom centre) fall in [own_y0, own_y1)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float
    own_y0: int
    own_y1: int

    def input_size(self, stride: int = STRIDE_PX) -> tuple[int, int]:
        """(width, height) of the model input for this crop: scaled, rounded up to the stride."""
        w = math.ceil(round((self.x1 - self.x0) * self.scale) / stride) * stride
        h = math.ceil(round((self.y1 - self.y0) * self.scale) / stride) * stride
        return max(stride, w), max(stride, h)


@dataclass(frozen=True)
class TilePlan:
    """Where to look in a frame and at what scale. ``skipped_rows``: rows no band owns (sky, or people under the
    pixel floor); ``source``: what the plan came from ("pose", or "uniform" without one)."""

    tiles: tuple[PlannedTile, ...]
    frame_w: int
    frame_h: int
    skipped_rows: int = 0
    source: str = "pose"

    def input_pixels(self, stride: int = STRIDE_PX) -> int:
        """Model input pixels summed over the tiles: what the plan costs."""
        return sum(w * h for w, h in (t.input_size(stride) for t in self.tiles))


def snap_scale(scale: float, max_scale: float = 1.0, ladder: tuple[float, ...] = SCALE_LADDER) -> float:
    """The largest ladder scale at or below ``scale`` (people stay at least as small as asked, never larger),
    within (0, max_scale]; ``max_scale`` itself when ``scale`` reaches it; the smallest rung below the ladder."""
    if scale >= max_scale:
        return max_scale
    fitting = [s for s in ladder if s <= scale]
    return max(fitting) if fitting else min(ladder)


def uniform_plan(frame_w: int, frame_h: int, scale: float = 1.0) -> TilePlan:
    """One tile: the whole frame at ``scale`` (no pose, so nothing is known about where people can be)."""
    return TilePlan((PlannedTile(0, 0, frame_w, frame_h, scale, 0, frame_h),), frame_w, frame_h, 0, "uniform")


def plan_bands(
    frame_w: int,
    frame_h: int,
    person_px_by_row,
    target_person_px: float,
    floor_px: float,
    max_scale: float = 1.0,
    band_ratio: float = 2.0,
    min_band_input_px: int = 128,
    head_margin: float = 1.3,
    stride: int = STRIDE_PX,
) -> TilePlan:
    """Full-width bands covering the rows where a person would be at least ``floor_px`` tall.

    ``person_px_by_row``: the expected size of a person standing on each row (frame_h values, NaN above the
    horizon). From the top, a band grows until its largest person is ``band_ratio`` times its smallest and
    its input is at least ``min_band_input_px`` tall; it runs at the scale that brings its smallest person
    to ``target_person_px`` (snapped down the ladder, at most ``max_scale``). Its crop reaches up by
    ``head_margin`` person heights above its owned rows, so the heads of people standing on its top rows are
    inside it.
    """
    size = np.asarray(person_px_by_row, dtype=float).reshape(-1)
    if len(size) != frame_h:
        raise ValueError(f"person sizes must have one value per row ({frame_h}), got {len(size)}")
    if not (target_person_px > 0 and floor_px >= 0 and max_scale > 0 and band_ratio > 1):
        raise ValueError("plan_bands needs target_person_px > 0, floor_px >= 0, max_scale > 0 and band_ratio > 1")
    usable = np.isfinite(size) & (size >= max(floor_px, 1e-6))
    rows = np.flatnonzero(usable)
    if len(rows) == 0:
        return TilePlan((), frame_w, frame_h, frame_h, "pose")
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    filled = np.where(usable, size, np.nan)
    tiles = []
    y = top
    while y < bottom:
        lo = hi = float(np.nanmin(filled[y : y + 1])) if np.isfinite(filled[y]) else float(floor_px)
        end = y + 1
        while end < bottom:
            v = filled[end]
            if np.isfinite(v):
                new_lo, new_hi = min(lo, v), max(hi, v)
                scale = snap_scale(target_person_px / max(new_lo, 1e-6), max_scale)
                if new_hi > band_ratio * new_lo and (end - y) * scale >= min_band_input_px:
                    break
                lo, hi = new_lo, new_hi
            end += 1
        scale = snap_scale(target_person_px / max(lo, 1e-6), max_scale)
        owned = np.arange(y, end)
        heads = owned - head_margin * np.nan_to_num(filled[y:end], nan=lo)
        crop_y0 = max(0, int(math.floor(heads.min())))
        crop_y1 = end
        # grow the crop downwards (then upwards) to a whole number of strides at this scale: no padding wasted
        want = math.ceil(round((crop_y1 - crop_y0) * scale) / stride) * stride
        rows_needed = min(frame_h, math.ceil(want / scale))
        extra = rows_needed - (crop_y1 - crop_y0)
        crop_y1 = min(frame_h, crop_y1 + extra)
        crop_y0 = max(0, crop_y0 - (rows_needed - (crop_y1 - crop_y0)))
        tiles.append(PlannedTile(0, crop_y0, frame_w, crop_y1, scale, y, end))
        y = end
    # neighbours that came out at the same scale run as one band (one call instead of two)
    merged: list[PlannedTile] = []
    for t in tiles:
        if merged and merged[-1].scale == t.scale:
            prev = merged.pop()
            t = PlannedTile(0, prev.y0, frame_w, max(prev.y1, t.y1), t.scale, prev.own_y0, t.own_y1)
        merged.append(t)
    tiles = merged
    # a last band too thin to be worth a call of its own joins the one above (at that band's larger scale)
    if len(tiles) > 1 and tiles[-1].input_size(stride)[1] < min_band_input_px:
        thin, prev = tiles.pop(), tiles.pop()
        tiles.append(PlannedTile(0, prev.y0, frame_w, max(prev.y1, thin.y1), prev.scale, prev.own_y0, thin.own_y1))
    # the last band owns down to the frame's bottom edge (people cut by it stand below it)
    last = tiles[-1]
    if last.own_y1 < frame_h and bottom >= frame_h:
        tiles[-1] = PlannedTile(last.x0, last.y0, last.x1, frame_h, last.scale, last.own_y0, frame_h)
    return TilePlan(tuple(tiles), frame_w, frame_h, int(frame_h - (bottom - top)), "pose")


def merge_planned(
    boxes_xyxy: np.ndarray, scores: np.ndarray, tile_of_box: np.ndarray, plan: TilePlan, iou_threshold: float = 0.5
) -> np.ndarray:
    """Indices of boxes kept from a plan's tiles: each box only from the tile that owns its feet row (a
    person cut by a band's bottom edge stands in the next band, which sees them whole), then greedy NMS
    across tiles. ``tile_of_box`` indexes ``plan.tiles``; -1 marks a box from another pass, kept as is
    before the NMS."""
    if len(boxes_xyxy) == 0:
        return np.zeros(0, dtype=int)
    foot = boxes_xyxy[:, 3]
    owned = np.ones(len(boxes_xyxy), dtype=bool)
    for i, t in enumerate(tile_of_box):
        if t >= 0:
            tile = plan.tiles[int(t)]
            # a box that reaches the tile's bottom edge (not the frame's) is cut there: its feet are lower
            cut = tile.y1 < plan.frame_h and foot[i] >= tile.y1 - 1.0
            owned[i] = (tile.own_y0 <= foot[i] < tile.own_y1) and not cut
    idx = np.flatnonzero(owned)
    if len(idx) == 0:
        return idx
    b = boxes_xyxy[idx]
    xywh = np.column_stack([b[:, :2], b[:, 2:] - b[:, :2]])
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores[idx].astype(float).tolist(), 0.0, iou_threshold), dtype=int)
    return idx[keep.reshape(-1)]
