"""Sliced inference geometry: when to tile a frame, where the overlapping tiles lie, letterboxing, and
how tile detections merge so a person on a seam is counted once. Pure numpy/OpenCV, no model.
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
