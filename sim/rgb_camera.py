"""The simulated RGB video camera (component 100): renders the city as the drone's camera sees it.

Pure (numpy + Pillow; sim never imports cv2). `render(ground, figures, pose, camera, sprites)` returns an RGB frame
(H x W x 3 uint8) and, on request, exactly which people are in view and where (the ground truth a recall test needs).
The projection is the simulator's one pinhole camera (sim/pinhole.py), the pose in the map's local frame (metres
north/east of the map origin, up above the flat ground).

- Ground: the ground map's texture warped into the image by the homography between the image and the ground plane
  (Pillow's perspective transform, bilinear); rows that look above the horizon show the sky; beyond the map, a
  plain ground colour.
- People (Figure): each drawn with its appearance (a Sprite cut from real drone footage, sim/appearance.py) in the
  bounding box of a standing body seen from the camera - a vertical cylinder PERSON_WIDTH_M wide from the ground
  to the person's height: the box spans the projections of the feet and the top of the head, plus the body's
  top-view depth (PERSON_WIDTH_M * sin(depression angle)); its width is PERSON_WIDTH_M at the person's
  distance. Far people are drawn first, so nearer ones hide them. A soft shadow lies under each person.
- Truth (InView): every person whose box lies at least MIN_IN_FRAME inside the frame and who is at least
  MIN_HEIGHT_PX tall, with the fraction of their drawn pixels that nearer people leave visible.

The camera this simulator's vehicles carry (DEFAULT_RGB_CAMERA, or the scenario's [camera]) is reported in
CAMERA_INFORMATION: 1280 x 720 video from a 1/2.3" sensor (6.17 mm wide), focal length 6.62 mm: a 50° horizontal
field of view. Measured with the product's detector (benchmarks/sim_city.py), at 25 m and a gimbal pitch of -45°
people are about 60 px tall and it finds >= 90 % of them; see that benchmark for other heights and pitches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from sim.appearance import Sprite
from sim.ground import OUTSIDE_RGB, GroundMap
from sim.pinhole import CameraModel, CameraPose, ground_homography, horizon_row, project

DEFAULT_RGB_CAMERA = CameraModel.from_hfov(1280, 720, 50.0)
PERSON_WIDTH_M = 0.5
SKY_RGB = (200, 210, 222)
MIN_IN_FRAME = 0.5            # a person counts as in view when at least half their box is inside the frame
MIN_HEIGHT_PX = 4.0
SHADOW_ALPHA = 70             # 0..255
SHADOW_RGB = (30, 30, 30)
GROUND_SCALE = 0.5            # the ground is warped at this fraction of the frame's size, then enlarged


@dataclass(frozen=True)
class Figure:
    """A person as the camera draws them: where they stand (map frame), how tall, which appearance."""
    person_id: int
    north_m: float
    east_m: float
    height_m: float
    appearance: int           # index into the sprites (taken modulo their number)
    mirrored: bool = False


@dataclass(frozen=True)
class InView:
    """A person in the frame: their box (pixels, clipped to the frame), how much of them nearer people leave
    visible (0..1), their distance from the camera and their box height before clipping."""
    person_id: int
    box_px: tuple[float, float, float, float]
    visible_fraction: float
    distance_m: float
    height_px: float


def person_box(figure: Figure, pose: CameraPose, camera: CameraModel,
               aspect: float = 0.0) -> tuple[tuple[float, float, float, float], float] | None:
    """(box x0, y0, x1, y1 in pixels, unclipped; distance in metres) of a person, or None when behind the camera.
    `aspect`: the appearance's own width over height; the box is at least that wide for its height."""
    pts = np.array([[figure.north_m, figure.east_m, 0.0], [figure.north_m, figure.east_m, -figure.height_m],
                    [figure.north_m, figure.east_m, -figure.height_m / 2.0]])
    uv, depth = project(pts, pose, camera)
    if np.any(depth <= 0.05):
        return None
    centre = pts[2] - np.array([pose.north_m, pose.east_m, -pose.up_m])
    distance = float(np.linalg.norm(centre))
    depression = math.asin(max(-1.0, min(1.0, float(centre[2]) / max(distance, 1e-9))))   # down is positive
    w = camera.focal_px * PERSON_WIDTH_M / float(depth[2])
    top_depth = w * abs(math.sin(depression))
    (uf, vf), (uh, vh) = uv[0], uv[1]
    x_mid = (uf + uh) / 2.0
    y0 = min(vf, vh) - top_depth / 2.0
    y1 = max(vf, vh) + top_depth / 2.0
    w = max(w, (y1 - y0) * aspect)
    return (x_mid - w / 2.0, y0, x_mid + w / 2.0, y1), distance


def _ground(ground: GroundMap, pose: CameraPose, camera: CameraModel) -> Image.Image:
    """The ground (and sky), warped at GROUND_SCALE of the frame's size and enlarged: the texture is coarser than a
    frame's pixel at patrol heights, so this loses nothing visible and costs a quarter."""
    small = CameraModel(max(1, round(camera.width_px * GROUND_SCALE)), max(1, round(camera.height_px * GROUND_SCALE)),
                        camera.sensor_width_mm, camera.sensor_height_mm, camera.focal_length_mm)
    frame = Image.new("RGB", (small.width_px, small.height_px), SKY_RGB)
    top = horizon_row(pose, small)
    h = ground_homography(pose, small)
    while top < small.height_px and h[2, 1] * top + h[2, 2] <= 1e-9:
        top += 1          # the sub-image's first row must look down from its top edge (its homography's origin)
    if top < small.height_px:
        # map frame (north, east, 1) -> texture continuous pixel (column, row, 1)
        to_texture = np.array([[0.0, 1.0 / ground.cell_m, -ground.west_m / ground.cell_m],
                               [-1.0 / ground.cell_m, 0.0, ground.north_m / ground.cell_m],
                               [0.0, 0.0, 1.0]])
        shift = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, float(top)], [0.0, 0.0, 1.0]])   # rows start at `top`
        m = to_texture @ h @ shift
        m = m / m[2, 2]
        data = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1])
        below = ground.texture.transform((small.width_px, small.height_px - top), Image.PERSPECTIVE, data,
                                         resample=Image.BILINEAR, fillcolor=OUTSIDE_RGB)
        frame.paste(below, (0, top))
    return frame.resize((camera.width_px, camera.height_px), Image.NEAREST)


def _shadow(width_px: int, height_px: int) -> Image.Image:
    """A soft, dark ellipse (an L mask) of this size."""
    w, h = max(2, width_px), max(2, height_px)
    mask = Image.new("L", (w + 4, h + 4), 0)
    ImageDraw.Draw(mask).ellipse((2, 2, w + 1, h + 1), fill=SHADOW_ALPHA)
    return mask.filter(ImageFilter.GaussianBlur(1.2))


def _sprite_image(sprite: Sprite, mirrored: bool, size: tuple[int, int]) -> Image.Image:
    image = ImageOps.mirror(sprite.image) if mirrored else sprite.image
    return image.resize(size, Image.BILINEAR)


def render(ground: GroundMap, figures: tuple[Figure, ...], pose: CameraPose, camera: CameraModel,
           sprites: tuple[Sprite, ...], truth: bool = False) -> tuple[np.ndarray, tuple[InView, ...]]:
    """The RGB frame (H x W x 3 uint8) and, with truth=True, the people in view (else ())."""
    frame = _ground(ground, pose, camera)
    placed = []
    for figure in figures:
        found = person_box(figure, pose, camera, sprites[figure.appearance % len(sprites)].aspect)
        if found is None:
            continue
        (x0, y0, x1, y1), distance = found
        if x1 < 0 or y1 < 0 or x0 >= camera.width_px or y0 >= camera.height_px or y1 - y0 < 1.0:
            continue
        placed.append((distance, figure, (x0, y0, x1, y1)))
    placed.sort(key=lambda p: -p[0])                     # far first: nearer people are drawn over them
    labels = np.zeros((camera.height_px, camera.width_px), np.int32) if truth else None
    drawn_px: dict[int, int] = {}
    for _, _, (x0, y0, x1, y1) in placed:
        w = x1 - x0
        mask = _shadow(int(round(1.6 * w)), int(round(0.45 * w)))
        frame.paste(SHADOW_RGB, (int(round(x0 - 0.1 * w)), int(round(y1 - 0.3 * w))), mask)
    for k, (distance, figure, (x0, y0, x1, y1)) in enumerate(placed, start=1):
        sprite = sprites[figure.appearance % len(sprites)]
        ix0, iy0 = int(math.floor(x0)), int(math.floor(y0))
        size = (max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0))))
        image = _sprite_image(sprite, figure.mirrored, size)
        frame.paste(image, (ix0, iy0), image)
        if labels is not None:
            alpha = np.asarray(image.getchannel("A")) > 96
            cx0, cy0 = max(0, ix0), max(0, iy0)
            cx1, cy1 = min(camera.width_px, ix0 + size[0]), min(camera.height_px, iy0 + size[1])
            if cx1 > cx0 and cy1 > cy0:
                a = alpha[cy0 - iy0:cy1 - iy0, cx0 - ix0:cx1 - ix0]
                labels[cy0:cy1, cx0:cx1][a] = k
                drawn_px[k] = int(a.sum())
    in_view: list[InView] = []
    if labels is not None and placed:
        visible = np.bincount(labels.ravel(), minlength=len(placed) + 1)
        for k, (distance, figure, (x0, y0, x1, y1)) in enumerate(placed, start=1):
            area = (x1 - x0) * (y1 - y0)
            cx0, cy0 = max(0.0, x0), max(0.0, y0)
            cx1, cy1 = min(float(camera.width_px), x1), min(float(camera.height_px), y1)
            inside = max(0.0, cx1 - cx0) * max(0.0, cy1 - cy0) / area if area > 0 else 0.0
            if inside < MIN_IN_FRAME or (y1 - y0) < MIN_HEIGHT_PX:
                continue
            fraction = float(visible[k]) / drawn_px[k] if drawn_px.get(k) else 0.0
            in_view.append(InView(figure.person_id, (cx0, cy0, cx1, cy1), min(1.0, fraction), distance, y1 - y0))
        in_view.sort(key=lambda v: v.person_id)
    return np.asarray(frame), tuple(in_view)


def jpeg_bytes(frame: np.ndarray, quality: int = 80) -> bytes:
    """The frame as a baseline JPEG (what the video link carries)."""
    import io

    out = io.BytesIO()
    Image.fromarray(frame, "RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()
