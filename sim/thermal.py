"""The simulated radiometric thermal camera: a scene of people on flat ground, rendered as a camera sees it.

Pure (no sockets, no clock): `render(scene, pose, rng)` returns a frame of observed temperatures in °C and
`tiff_bytes(frame_c)` encodes it the way radiometric cameras export it. The station inverts exactly the
model documented here (implemented independently on its side), so every constant lives in this module.

Camera (THERMAL_CAMERA): 640 x 512 px, sensor 10.88 x 8.70 mm (17 µm pixels), focal length 13.0 mm. Pinhole,
no distortion. The camera frame is x forward (the optical axis), y right, z down (image down). The pixel in
column u, row v (0-based) looks along (1, (u + 0.5 - 320) / f_px, (v + 0.5 - 256) / f_px) in that frame,
with f_px = focal_length / pixel_pitch = 764.7 px: the principal point is the image centre.

Pose (CameraPose): the camera sits at the vehicle's position (no lever arm); its orientation is yaw = compass
direction of the optical axis, pitch = elevation of the optical axis (0 at the horizon, -90 straight down),
roll 0 - the gimbal's earth-frame pitch and the vehicle's heading plus the gimbal's body-frame yaw. As a
quaternion (w, x, y, z) it is the aerospace Z-Y-X rotation from NED into the camera frame
(`quaternion()`, the `q` of CAMERA_IMAGE_CAPTURED).

Scene (ThermalScene): flat ground at the vehicles' ground level at ground_c; the sky (rays that miss the
ground) reads ambient_c. Each ScenePerson is a standing body - a vertical cylinder of radius BODY_RADIUS_M
from the ground to the bottom of the head, clothed, at skin_temp_c + CLOTHING_OFFSET_C - topped by a head,
a sphere of radius HEAD_RADIUS_M centred HEAD_CENTRE_BELOW_TOP_M below height_m, at skin_temp_c. Each pixel
sees the nearest surface along its ray, so nearer people hide farther ones.

Radiometry (what each pixel reports, temperatures in °C or K alike, the model being affine):
    T_obs = tau(d) * (eps * T_surface + (1 - eps) * T_atm) + (1 - tau(d)) * T_atm,  tau(d) = exp(-ATTENUATION_PER_M * d)
with d the distance in metres from the camera to the surface, eps EMISSIVITY_SKIN / EMISSIVITY_CLOTHING /
EMISSIVITY_GROUND, T_atm = ambient_c; plus Gaussian noise of NOISE_SIGMA_C (the caller's generator, seeded per
vehicle, so a run is deterministic).

File format: a single-channel 16-bit TIFF (Pillow "I;16"), each value round((T_obs + 273.15) * 100), i.e.
centi-kelvin.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

# --- the documented model: every constant in one place -------------------------------------------------
ATTENUATION_PER_M = 0.0015     # tau(d) = exp(-ATTENUATION_PER_M * d)
EMISSIVITY_SKIN = 0.98
EMISSIVITY_CLOTHING = 0.98
EMISSIVITY_GROUND = 0.95
NOISE_SIGMA_C = 0.1            # Gaussian noise per pixel
CLOTHING_OFFSET_C = -4.0       # clothing is this much cooler than skin
HEAD_RADIUS_M = 0.11
HEAD_CENTRE_BELOW_TOP_M = 0.12  # the head's centre is this far below the person's height
BODY_RADIUS_M = 0.25
KELVIN_OFFSET = 273.15
CENTI_KELVIN_PER_KELVIN = 100.0


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


THERMAL_CAMERA = CameraModel(640, 512, 10.88, 8.70, 13.0)


@dataclass(frozen=True)
class ScenePerson:
    lat_deg: float
    lon_deg: float
    skin_temp_c: float
    height_m: float = 1.7


@dataclass(frozen=True)
class ThermalScene:
    ambient_c: float = 25.0
    ground_c: float = 30.0
    people: tuple[ScenePerson, ...] = ()


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is (north/east/up metres from a local origin on the ground) and where it looks."""
    north_m: float
    east_m: float
    up_m: float            # above the ground
    yaw_deg: float         # compass direction of the optical axis
    pitch_deg: float       # 0 horizon, -90 straight down


@dataclass(frozen=True)
class PlacedPerson:
    """A scene person in the same local frame as the pose."""
    north_m: float
    east_m: float
    skin_temp_c: float
    height_m: float


def observed_c(surface_c: np.ndarray | float, emissivity: np.ndarray | float, distance_m: np.ndarray | float,
               ambient_c: float) -> np.ndarray | float:
    """T_obs of the documented model (no noise)."""
    tau = np.exp(-ATTENUATION_PER_M * np.asarray(distance_m))
    return tau * (emissivity * np.asarray(surface_c) + (1.0 - emissivity) * ambient_c) + (1.0 - tau) * ambient_c


def quaternion(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> list[float]:
    """(w, x, y, z) of the Z-Y-X (yaw, pitch, roll) rotation from NED into the body/camera frame."""
    cr, sr = math.cos(math.radians(roll_deg) / 2), math.sin(math.radians(roll_deg) / 2)
    cp, sp = math.cos(math.radians(pitch_deg) / 2), math.sin(math.radians(pitch_deg) / 2)
    cy, sy = math.cos(math.radians(yaw_deg) / 2), math.sin(math.radians(yaw_deg) / 2)
    return [cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy]


def _camera_to_ned(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rotation matrix taking camera-frame vectors (x forward, y right, z down) into NED (roll 0)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    cy, sy, cp, sp = math.cos(y), math.sin(y), math.cos(p), math.sin(p)
    return np.array([[cy * cp, -sy, cy * sp],
                     [sy * cp, cy, sy * sp],
                     [-sp, 0.0, cp]])


def ray_directions_ned(pose: CameraPose, camera: CameraModel = THERMAL_CAMERA) -> np.ndarray:
    """Unit ray of every pixel in NED, shape (height, width, 3)."""
    f = camera.focal_px
    u = (np.arange(camera.width_px) + 0.5 - camera.width_px / 2.0) / f
    v = (np.arange(camera.height_px) + 0.5 - camera.height_px / 2.0) / f
    uu, vv = np.meshgrid(u, v)
    cam = np.stack([np.ones_like(uu), uu, vv], axis=-1)
    cam /= np.linalg.norm(cam, axis=-1, keepdims=True)
    return cam @ _camera_to_ned(pose.yaw_deg, pose.pitch_deg).T


def render(scene: ThermalScene, people: tuple[PlacedPerson, ...], pose: CameraPose, rng: np.random.Generator,
           camera: CameraModel = THERMAL_CAMERA) -> np.ndarray:
    """Observed temperature (°C) of every pixel, shape (height, width), noise included."""
    d = ray_directions_ned(pose, camera)
    dn, de, dd = d[..., 0], d[..., 1], d[..., 2]          # dd > 0: looking down
    # camera position in a north/east/down frame with the ground at down = 0
    cn, ce, cd = pose.north_m, pose.east_m, -pose.up_m
    dist = np.full(dn.shape, np.inf)
    surface = np.full(dn.shape, float(scene.ambient_c))
    emissivity = np.ones(dn.shape)
    # ground plane (down = 0), in front of the camera only
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = np.where(dd > 1e-9, -cd / dd, np.inf)
    hit = np.isfinite(t_ground) & (t_ground > 0)
    dist[hit] = t_ground[hit]
    surface[hit] = scene.ground_c
    emissivity[hit] = EMISSIVITY_GROUND
    for person in people:
        top = -(person.height_m - HEAD_CENTRE_BELOW_TOP_M - HEAD_RADIUS_M)     # down of the body's top
        body_c = person.skin_temp_c + CLOTHING_OFFSET_C
        # body: lateral surface of the vertical cylinder, then its top disc
        on, oe = cn - person.north_m, ce - person.east_m
        a = dn * dn + de * de
        b = 2.0 * (on * dn + oe * de)
        c = on * on + oe * oe - BODY_RADIUS_M ** 2
        disc = b * b - 4.0 * a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            t_side = np.where((disc >= 0) & (a > 1e-12), (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a), np.inf)
            z_side = cd + t_side * dd
            t_side = np.where((t_side > 0) & (z_side <= 0.0) & (z_side >= top), t_side, np.inf)
            t_cap = np.where(np.abs(dd) > 1e-12, (top - cd) / dd, np.inf)
            n_cap, e_cap = on + t_cap * dn, oe + t_cap * de
            t_cap = np.where((t_cap > 0) & (n_cap * n_cap + e_cap * e_cap <= BODY_RADIUS_M ** 2), t_cap, np.inf)
        t_body = np.minimum(t_side, t_cap)
        nearer = t_body < dist
        dist[nearer] = t_body[nearer]
        surface[nearer] = body_c
        emissivity[nearer] = EMISSIVITY_CLOTHING
        # head: sphere
        hd = -(person.height_m - HEAD_CENTRE_BELOW_TOP_M)
        oz = cd - hd
        b = 2.0 * (on * dn + oe * de + oz * dd)
        c = on * on + oe * oe + oz * oz - HEAD_RADIUS_M ** 2
        disc = b * b - 4.0 * c
        t_head = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0.0))) / 2.0, np.inf)
        t_head = np.where(t_head > 0, t_head, np.inf)
        nearer = t_head < dist
        dist[nearer] = t_head[nearer]
        surface[nearer] = person.skin_temp_c
        emissivity[nearer] = EMISSIVITY_SKIN
    frame = np.full(dn.shape, float(scene.ambient_c))      # sky: tau(inf) = 0, T_obs = T_atm
    seen = np.isfinite(dist)
    frame[seen] = observed_c(surface[seen], emissivity[seen], dist[seen], scene.ambient_c)
    return frame + rng.normal(0.0, NOISE_SIGMA_C, frame.shape)


def to_centi_kelvin(frame_c: np.ndarray) -> np.ndarray:
    ck = np.round((frame_c + KELVIN_OFFSET) * CENTI_KELVIN_PER_KELVIN)
    return np.clip(ck, 0, 65535).astype(np.uint16)


def tiff_bytes(frame_c: np.ndarray) -> bytes:
    """A single-channel 16-bit TIFF of centi-kelvin values."""
    out = io.BytesIO()
    Image.fromarray(to_centi_kelvin(frame_c)).save(out, format="TIFF")   # uint16 -> mode "I;16"
    return out.getvalue()
