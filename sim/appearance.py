"""How simulated people look from a drone: appearances cut at run time from real drone footage and its labelled
person boxes (../shared/data: uav_unicamp/ frames with YOLO labels, visdrone/ frames with VisDrone labels). The
footage is read by path and never copied into the project.

Each labelled person that is tall enough, not cut by the frame's edge and not overlapping another labelled box
becomes a Sprite: the box's pixels with an alpha matte that keeps the person and fades the ground around them
(the matte: the colour distance to the ground's median colour in a ring around the box, kept inside a soft
ellipse, with the body's core always opaque), sharpened. Sprites are RGBA Pillow images, shared read-only by
every camera. Only people at least MIN_SOURCE_HEIGHT_PX tall in the footage are used: measured with the product's
detector on rendered frames (benchmarks/sim_city.py), smaller ones, scaled up, look too soft to be found.

Errors: AppearanceError when the footage is missing or holds no usable person.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

DEFAULT_FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "data"   # ../shared/data beside the project
MIN_SOURCE_HEIGHT_PX = 45      # smaller people make blurry sprites when scaled up (measured: fewer are detected)
RING_PAD = 0.35                # the ground ring around a box: this fraction of the box on each side
EDGE_MARGIN_PX = 2             # a box this close to the frame's edge is cut by it: not used
# the footage is soft (video, scaled down): sharpened, the product's detector finds these people far more often
SHARPEN = ImageFilter.UnsharpMask(radius=1.5, percent=80, threshold=2)


class AppearanceError(Exception):
    """The footage for people's appearances is missing or unusable (the message says which path and why)."""


@dataclass(frozen=True, eq=False)
class Sprite:
    """One person's appearance: RGBA pixels (the person upright, feet at the bottom) and where it was cut from."""

    image: Image.Image
    source: str              # "file#box index"

    @property
    def aspect(self) -> float:
        """Width over height."""
        return self.image.width / self.image.height


def _yolo_boxes(label: Path, width: int, height: int) -> list[tuple[float, float, float, float]]:
    out = []
    for line in label.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "0":
            cx, cy, w, h = (float(p) for p in parts[1:])
            out.append(((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height))
    return out


def _visdrone_boxes(label: Path) -> tuple[list[tuple[float, float, float, float]], list[tuple]]:
    """(pedestrians, every labelled box): only category 1 (a standing or walking pedestrian) makes a sprite."""
    people, everything = [], []
    for line in label.read_text().splitlines():
        parts = line.strip().split(",")
        if len(parts) < 6:
            continue
        x, y, w, h = (float(p) for p in parts[:4])
        box = (x, y, x + w, y + h)
        everything.append(box)
        if parts[5] == "1":
            people.append(box)
    return people, everything


def _overlaps(box, others) -> bool:
    x0, y0, x1, y1 = box
    for o in others:
        if o is box:
            continue
        if o[0] < x1 and o[2] > x0 and o[1] < y1 and o[3] > y0:
            return True
    return False


def _matte(frame: np.ndarray, box: tuple[float, float, float, float]) -> Image.Image | None:
    """The person in `box` as an RGBA image, or None when the box is too small or at the frame's edge."""
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if h < MIN_SOURCE_HEIGHT_PX or w < 4:
        return None
    if x0 < EDGE_MARGIN_PX or y0 < EDGE_MARGIN_PX or x1 > fw - EDGE_MARGIN_PX or y1 > fh - EDGE_MARGIN_PX:
        return None
    px, py = RING_PAD * w, RING_PAD * h * 0.5
    rx0, ry0 = max(0, int(x0 - px)), max(0, int(y0 - py))
    rx1, ry1 = min(fw, int(np.ceil(x1 + px))), min(fh, int(np.ceil(y1 + py)))
    region = frame[ry0:ry1, rx0:rx1].astype(np.float32)
    bx0, by0 = int(round(x0)) - rx0, int(round(y0)) - ry0
    bx1, by1 = int(round(x1)) - rx0, int(round(y1)) - ry0
    ring = np.ones(region.shape[:2], bool)
    ring[by0:by1, bx0:bx1] = False
    if ring.sum() < 10:
        return None
    ground = np.median(region[ring], axis=0)
    dist = np.linalg.norm(region - ground, axis=-1)
    t0 = float(np.percentile(dist[ring], 80)) + 4.0
    t1 = t0 + 30.0
    crop = region[by0:by1, bx0:bx1]
    keyed = np.clip((dist[by0:by1, bx0:bx1] - t0) / (t1 - t0), 0.0, 1.0)
    hh, ww = crop.shape[:2]
    yy, xx = np.mgrid[0:hh, 0:ww]
    nx = (xx + 0.5 - ww / 2.0) / (ww / 2.0)
    ny = (yy + 0.5 - hh / 2.0) / (hh / 2.0)
    r = np.sqrt(nx ** 2 + ny ** 2)
    outer = np.clip((1.15 - r) / 0.3, 0.0, 1.0)              # soft ellipse filling the box
    core = np.clip((0.75 - np.sqrt((nx / 0.7) ** 2 + (ny / 0.95) ** 2)) / 0.25, 0.0, 1.0)
    alpha = outer * np.maximum(keyed, core)
    image = Image.fromarray(crop.clip(0, 255).astype(np.uint8), "RGB").filter(SHARPEN)
    image.putalpha(Image.fromarray((alpha * 255.0).clip(0, 255).astype(np.uint8), "L")
                   .filter(ImageFilter.GaussianBlur(0.7)))
    return image


def load_sprites(data_dir: Path) -> tuple[Sprite, ...]:
    """Every usable person of the footage in `data_dir` (uav_unicamp/*.jpg + .txt, visdrone/*_masked.png + .txt)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise AppearanceError(f"no footage folder {data_dir}: people's appearances are cut from the drone footage "
                              "there (uav_unicamp/, visdrone/)")
    sprites: list[Sprite] = []
    for image_path in sorted((data_dir / "uav_unicamp").glob("*.jpg")):
        label = image_path.with_suffix(".txt")
        if not label.is_file():
            continue
        frame = np.asarray(Image.open(image_path).convert("RGB"))
        boxes = _yolo_boxes(label, frame.shape[1], frame.shape[0])
        for i, box in enumerate(boxes):
            if _overlaps(box, boxes):
                continue
            matte = _matte(frame, box)
            if matte is not None:
                sprites.append(Sprite(matte, f"{image_path.name}#{i}"))
    for image_path in sorted((data_dir / "visdrone").glob("*_masked.png")):
        label = image_path.with_name(image_path.name.replace("_masked.png", ".txt"))
        if not label.is_file():
            continue
        frame = np.asarray(Image.open(image_path).convert("RGB"))
        people, everything = _visdrone_boxes(label)
        for i, box in enumerate(people):
            if _overlaps(box, everything):
                continue
            matte = _matte(frame, box)
            if matte is not None:
                sprites.append(Sprite(matte, f"{image_path.name}#{i}"))
    if not sprites:
        raise AppearanceError(f"{data_dir} holds no labelled person at least {MIN_SOURCE_HEIGHT_PX} px tall "
                              "(expected uav_unicamp/*.jpg with YOLO .txt labels, visdrone/*_masked.png with .txt)")
    return tuple(sprites)
