"""The simulator's one camera projection: a pinhole camera on a gimbal, used by every simulated camera (the
radiometric thermal camera, sim/thermal.py, and the RGB video camera, sim/rgb_camera.py).

Pure numpy, no I/O. Camera (CameraModel): width x height pixels, a sensor of sensor_width x sensor_height mm and
a focal length in mm; square pixels, no distortion, the principal point at the image centre. The camera frame is
x forward (the optical axis), y right, z down (image down). The pixel in column u, row v (0-based) looks along
(1, (u + 0.5 - width/2) / f_px, (v + 0.5 - height/2) / f_px) in that frame, f_px = focal_length * width /
sensor_width: pixel centres sit at integer + 0.5.

Pose (CameraPose): the camera sits at the vehicle's position (no lever arm), `up_m` above flat ground, in a local
north/east frame; its orientation is yaw = compass direction of the optical axis, pitch = elevation of the
optical axis (0 at the horizon, -90 straight down), roll 0 - the gimbal's earth-frame pitch and the vehicle's
heading plus the gimbal's body-frame yaw. As a quaternion (w, x, y, z) it is the aerospace Z-Y-X rotation from
NED into the camera frame (`quaternion()`, the `q` of CAMERA_IMAGE_CAPTURED and GIMBAL_DEVICE_ATTITUDE_STATUS).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraModel:
    width_px: int
    height_px: int
    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float

    @property
    def focal_px(self) -> float:
        return self.focal_length_mm * self.width_px / self.sensor_width_mm

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.sensor_width_mm / (2.0 * self.focal_length_mm)))

    @classmethod
    def from_hfov(cls, width_px: int, height_px: int, hfov_deg: float,
                  sensor_width_mm: float = 6.17) -> "CameraModel":
        """Square pixels on a sensor sensor_width_mm wide (default a 1/2.3" sensor), focal length from the field."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}")
        focal = sensor_width_mm / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
        return cls(width_px, height_px, sensor_width_mm, sensor_width_mm * height_px / width_px, focal)


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is (north/east/up metres from a local origin on the ground) and where it looks."""
    north_m: float
    east_m: float
    up_m: float            # above the ground
    yaw_deg: float         # compass direction of the optical axis
    pitch_deg: float       # 0 horizon, -90 straight down


def quaternion(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> list[float]:
    """(w, x, y, z) of the Z-Y-X (yaw, pitch, roll) rotation from NED into the body/camera frame."""
    cr, sr = math.cos(math.radians(roll_deg) / 2), math.sin(math.radians(roll_deg) / 2)
    cp, sp = math.cos(math.radians(pitch_deg) / 2), math.sin(math.radians(pitch_deg) / 2)
    cy, sy = math.cos(math.radians(yaw_deg) / 2), math.sin(math.radians(yaw_deg) / 2)
    return [cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy]


def camera_to_ned(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rotation matrix taking camera-frame vectors (x forward, y right, z down) into NED (roll 0)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    cy, sy, cp, sp = math.cos(y), math.sin(y), math.cos(p), math.sin(p)
    return np.array([[cy * cp, -sy, cy * sp],
                     [sy * cp, cy, sy * sp],
                     [-sp, 0.0, cp]])


def ray_directions_ned(pose: CameraPose, camera: CameraModel) -> np.ndarray:
    """Unit ray of every pixel in NED, shape (height, width, 3)."""
    f = camera.focal_px
    u = (np.arange(camera.width_px) + 0.5 - camera.width_px / 2.0) / f
    v = (np.arange(camera.height_px) + 0.5 - camera.height_px / 2.0) / f
    uu, vv = np.meshgrid(u, v)
    cam = np.stack([np.ones_like(uu), uu, vv], axis=-1)
    cam /= np.linalg.norm(cam, axis=-1, keepdims=True)
    return cam @ camera_to_ned(pose.yaw_deg, pose.pitch_deg).T


def project(points_ned: np.ndarray, pose: CameraPose, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Image positions of points given north/east/down metres in the pose's frame (the ground at down = 0).

    Returns (uv, depth): uv (N x 2) in continuous pixel coordinates (the centre of pixel (u, v) is (u + 0.5,
    v + 0.5)), depth (N) the distance along the optical axis; points behind the camera have depth <= 0 and uv NaN.
    """
    pts = np.atleast_2d(np.asarray(points_ned, dtype=float))
    rel = pts - np.array([pose.north_m, pose.east_m, -pose.up_m])
    cam = rel @ camera_to_ned(pose.yaw_deg, pose.pitch_deg)       # NED -> camera (the matrix is orthonormal)
    depth = cam[:, 0]
    ahead = depth > 1e-9
    safe = np.where(ahead, depth, np.nan)
    f = camera.focal_px
    uv = np.stack([camera.width_px / 2.0 + f * cam[:, 1] / safe, camera.height_px / 2.0 + f * cam[:, 2] / safe], axis=1)
    return uv, depth


def ground_homography(pose: CameraPose, camera: CameraModel) -> np.ndarray:
    """3x3 matrix H taking homogeneous continuous pixel coordinates (x, y, 1) to homogeneous ground coordinates
    (north, east, 1) where the pixel's ray meets the ground (valid only where the ray points down)."""
    f = camera.focal_px
    # camera-frame ray of the continuous pixel (x, y): (1, (x - w/2) / f, (y - h/2) / f)
    k_inv = np.array([[0.0, 0.0, 1.0],
                      [1.0 / f, 0.0, -camera.width_px / (2.0 * f)],
                      [0.0, 1.0 / f, -camera.height_px / (2.0 * f)]])
    ray = camera_to_ned(pose.yaw_deg, pose.pitch_deg) @ k_inv      # (x, y, 1) -> NED direction (not unit)
    # ground point = camera + t * ray with t = up / ray_down: homogeneous (up*ray_n + n0*ray_d, up*ray_e + e0*ray_d, ray_d)
    return np.stack([pose.up_m * ray[0] + pose.north_m * ray[2],
                     pose.up_m * ray[1] + pose.east_m * ray[2],
                     ray[2]])


def horizon_row(pose: CameraPose, camera: CameraModel, margin: float = 1e-3) -> int:
    """The first image row (0-based) whose rays all point down at the ground by more than `margin` (roll 0: a row
    looks down or not as a whole); rows above it see the sky. 0 when the whole image sees the ground."""
    p = math.radians(pose.pitch_deg)
    # a ray's down component is proportional to -sin(p) + cos(p) * (v + 0.5 - h/2) / f
    f = camera.focal_px
    v = np.arange(camera.height_px) + 0.5 - camera.height_px / 2.0
    down = (-math.sin(p) + math.cos(p) * v / f) / np.sqrt(1.0 + (v / f) ** 2)
    rows = np.nonzero(down > margin)[0]
    return int(rows[0]) if len(rows) else camera.height_px
