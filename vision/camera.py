"""Camera geometry: pinhole camera on a gimbal, pixel -> ground ray -> lat/lon, ground footprint,
expected pixel size of a person, and how uncertain a ground position is. Pure numpy, no I/O.

Conventions: world frame is local East-North-Up around the camera's horizontal position.
Gimbal pitch is 0 at the horizon and -90 straight down (nadir); yaw is the absolute compass
direction of the optical axis (degrees clockwise from north); positive roll turns the image's
right side down. Image pixels: u to the right, v down, (0, 0) the top-left corner.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from missions.geo import enu_to_latlon

# camera axes (x right, y down, z forward) expressed in the level, north-facing world frame
_CAMERA_TO_LEVEL = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))

# Terrain: (lat_deg array, lon_deg array) -> ground height in metres, same vertical datum as CameraPose.alt_m
Terrain = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics of the image as delivered (after any resizing by the video link)."""

    width_px: int
    height_px: int
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float

    @classmethod
    def from_hfov(cls, width_px: int, height_px: int, hfov_deg: float) -> "CameraModel":
        """Square pixels, principal point at the image centre, focal length from the horizontal field of view."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}")
        fx = (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width_px, height_px, fx, fx, width_px / 2.0, height_px / 2.0)

    def scaled_to(self, width_px: int, height_px: int) -> "CameraModel":
        """The same camera delivering frames of another resolution."""
        sx, sy = width_px / self.width_px, height_px / self.height_px
        return CameraModel(width_px, height_px, self.fx_px * sx, self.fy_px * sy, self.cx_px * sx, self.cy_px * sy)


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is and where it points at one instant."""

    lat_deg: float
    lon_deg: float
    alt_m: float  # height of the camera above the vertical datum of the ground (flat ground is at 0)
    yaw_deg: float
    pitch_deg: float
    roll_deg: float = 0.0


@dataclass(frozen=True)
class PoseErrors:
    """One-sigma errors of the pose, used for position uncertainty."""

    pitch_sigma_deg: float = 1.0
    yaw_sigma_deg: float = 2.0
    alt_sigma_m: float = 1.0
    position_sigma_m: float = 1.5


@dataclass(frozen=True)
class GroundPoints:
    """Ground positions of pixels; rows where ``valid`` is False looked above the horizon."""

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    east_m: np.ndarray
    north_m: np.ndarray
    uncertainty_m: np.ndarray
    valid: np.ndarray


def rotation_camera_to_enu(pose: CameraPose) -> np.ndarray:
    """3x3 matrix turning camera-frame vectors into East-North-Up vectors."""
    y, p, r = (math.radians(a) for a in (pose.yaw_deg, pose.pitch_deg, pose.roll_deg))
    yaw = np.array([[math.cos(y), math.sin(y), 0.0], [-math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), -math.sin(p)], [0.0, math.sin(p), math.cos(p)]])
    roll = np.array([[math.cos(r), 0.0, math.sin(r)], [0.0, 1.0, 0.0], [-math.sin(r), 0.0, math.cos(r)]])
    return yaw @ pitch @ roll @ np.array(_CAMERA_TO_LEVEL)


def pixel_rays(camera: CameraModel, pose: CameraPose, pixels_uv) -> np.ndarray:
    """Unit ray directions (N x 3, East-North-Up) through the given pixels (N x 2)."""
    uv = np.atleast_2d(np.asarray(pixels_uv, dtype=float))
    cam = np.stack(
        [(uv[:, 0] - camera.cx_px) / camera.fx_px, (uv[:, 1] - camera.cy_px) / camera.fy_px, np.ones(len(uv))], axis=1
    )
    rays = cam @ rotation_camera_to_enu(pose).T
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def pixels_to_ground(
    camera: CameraModel,
    pose: CameraPose,
    pixels_uv,
    errors: PoseErrors = PoseErrors(),
    terrain: Terrain | None = None,
    terrain_iterations: int = 6,
) -> GroundPoints:
    """Intersect pixel rays with the ground: flat ground at height 0, or ``terrain`` when given.

    Uncertainty (one sigma, metres) combines the along-range error from pitch and altitude errors
    (``h·σpitch/sin²θ`` and ``σh/tanθ`` for a ray depressed θ below the horizon), the cross-range
    error from yaw (``range·σyaw``) and the vehicle's own position error.
    """
    rays = pixel_rays(camera, pose, pixels_uv)
    down = -rays[:, 2]
    valid = down > 1e-6
    safe_down = np.where(valid, down, 1.0)
    ground_m = np.zeros(len(rays))
    for _ in range(terrain_iterations if terrain is not None else 1):
        height = pose.alt_m - ground_m
        t = height / safe_down
        east, north = rays[:, 0] * t, rays[:, 1] * t
        if terrain is None:
            break
        lat, lon = enu_to_latlon(pose.lat_deg, pose.lon_deg, east, north)
        ground_m = np.asarray(terrain(lat, lon), dtype=float) * np.ones(len(rays))
    valid &= height > 0
    lat, lon = enu_to_latlon(pose.lat_deg, pose.lon_deg, east, north)
    horizontal = np.hypot(east, north)
    sin_dep = np.clip(safe_down, 1e-6, 1.0)
    tan_dep = sin_dep / np.sqrt(np.clip(1.0 - sin_dep**2, 1e-12, 1.0))
    along = np.hypot(height * math.radians(errors.pitch_sigma_deg) / sin_dep**2, errors.alt_sigma_m / tan_dep)
    cross = horizontal * math.radians(errors.yaw_sigma_deg)
    sigma = np.sqrt(along**2 + cross**2 + errors.position_sigma_m**2)
    nan = np.full(len(rays), np.nan)
    return GroundPoints(
        lat_deg=np.where(valid, lat, nan),
        lon_deg=np.where(valid, lon, nan),
        east_m=np.where(valid, east, nan),
        north_m=np.where(valid, north, nan),
        uncertainty_m=np.where(valid, sigma, nan),
        valid=valid,
    )


def enu_to_pixels(camera: CameraModel, pose: CameraPose, points_enu) -> np.ndarray:
    """Project East-North-Up points (metres from the camera's horizontal position, height above datum) to pixels.

    Points behind the camera come back as NaN.
    """
    pts = np.atleast_2d(np.asarray(points_enu, dtype=float)) - np.array([0.0, 0.0, pose.alt_m])
    cam = pts @ rotation_camera_to_enu(pose)
    z = cam[:, 2]
    in_front = z > 1e-9
    z = np.where(in_front, z, np.nan)
    return np.stack([camera.fx_px * cam[:, 0] / z + camera.cx_px, camera.fy_px * cam[:, 1] / z + camera.cy_px], axis=1)


def expected_person_height_px(
    camera: CameraModel, pose: CameraPose, person_height_m: float = 1.7, person_width_m: float = 0.5
) -> float | None:
    """Apparent size in pixels of a person standing where the image centre meets the ground.

    Returns the larger of the projected standing height and shoulder width (so a nadir view, where a
    person is seen from above, still gets a size), or None when the image centre misses the ground or the
    person cannot be projected (a camera below head height on a landed drone, looking down).
    """
    centre = pixels_to_ground(camera, pose, [(camera.cx_px, camera.cy_px)], PoseErrors())
    if not centre.valid[0]:
        return None
    e, n = float(centre.east_m[0]), float(centre.north_m[0])
    yaw = math.radians(pose.yaw_deg)
    right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
    feet = np.array([e, n, 0.0])
    px = enu_to_pixels(camera, pose, [feet, feet + [0.0, 0.0, person_height_m], feet + right * person_width_m])
    if not np.isfinite(px).all():
        return None
    tall = float(np.hypot(*(px[1] - px[0])))
    wide = float(np.hypot(*(px[2] - px[0])))
    return max(tall, wide)


def person_size_by_row(
    camera: CameraModel,
    pose: CameraPose,
    person_height_m: float = 1.7,
    person_width_m: float = 0.5,
    columns: tuple[float, ...] = (0.0, 0.5, 1.0),
) -> np.ndarray:
    """Apparent size in pixels of a person standing where each image row meets the ground (one value per row).

    As ``expected_person_height_px`` (the larger of projected standing height and shoulder width, so a nadir
    view still gets a size), taken at a few columns (fractions of the width) and the smallest kept, so a
    rolled camera plans for its far side. NaN where the row looks above the horizon.
    """
    rows = np.arange(camera.height_px, dtype=float) + 0.5
    us = np.array([c * (camera.width_px - 1) for c in columns], dtype=float)
    uv = np.column_stack([np.repeat(us, len(rows)), np.tile(rows, len(us))])
    ground = pixels_to_ground(camera, pose, uv, PoseErrors())
    yaw = math.radians(pose.yaw_deg)
    right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
    feet = np.column_stack([ground.east_m, ground.north_m, np.zeros(len(uv))])
    valid = ground.valid
    sizes = np.full(len(uv), np.nan)
    if valid.any():
        f = feet[valid]
        base = enu_to_pixels(camera, pose, f)
        head = enu_to_pixels(camera, pose, f + [0.0, 0.0, person_height_m])
        side = enu_to_pixels(camera, pose, f + right * person_width_m)
        tall = np.hypot(*(head - base).T)
        wide = np.hypot(*(side - base).T)
        sizes[valid] = np.fmax(tall, wide)
    smallest = np.where(np.isnan(sizes), np.inf, sizes).reshape(len(us), len(rows)).min(axis=0)
    return np.where(np.isinf(smallest), np.nan, smallest)


def seen_area(
    camera: CameraModel, pose: CameraPose, min_person_px: float = 16.0, margin_px: float = 16.0,
    sizes_px: np.ndarray | None = None,
) -> tuple[tuple[float, float], ...]:
    """The ground where a person standing would be seen whole and at least ``min_person_px`` tall, as (lat_deg,
    lon_deg) vertices clockwise from the top-left: the frame's rows from the first where a person reaches that size
    (and their head is ``margin_px`` inside the frame) to the bottom, less ``margin_px`` on the other sides (a
    person cut by the frame's edge may be missed). () when no row qualifies. ``sizes_px``: person_size_by_row's
    answer when the caller has it."""
    sizes = person_size_by_row(camera, pose) if sizes_px is None else np.asarray(sizes_px, dtype=float)
    rows = np.arange(len(sizes), dtype=float) + 0.5
    with np.errstate(invalid="ignore"):
        ok = np.flatnonzero((sizes >= min_person_px) & (rows - sizes >= margin_px))
    top, bottom = (float(ok[0]) + 0.5 if len(ok) else math.inf), camera.height_px - margin_px
    left, right = margin_px, camera.width_px - margin_px
    if not (top < bottom and left < right):
        return ()
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    ground = pixels_to_ground(camera, pose, corners, PoseErrors())
    if not ground.valid.all():
        return ()
    return tuple((float(a), float(b)) for a, b in zip(ground.lat_deg, ground.lon_deg))
