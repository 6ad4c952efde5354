"""The simulated radiometric thermal camera: a scene of people on flat ground, rendered as a camera sees it.

Pure (no sockets, no clock): `render(scene, pose, rng)` returns a frame of observed temperatures in °C and
`tiff_bytes(frame_c)` encodes it the way radiometric cameras export it. The station inverts exactly the
model documented here (implemented independently on its side), so every constant lives in this module.

Camera (THERMAL_CAMERA): 640 x 512 px, sensor 10.88 x 8.70 mm (17 µm pixels), focal length 13.0 mm, so
f_px = focal_length / pixel_pitch = 764.7 px. The projection and the pose convention are the simulator's one
pinhole camera (sim/pinhole.py): the pixel in column u, row v (0-based) looks along
(1, (u + 0.5 - 320) / f_px, (v + 0.5 - 256) / f_px) in the camera frame (x forward, y right, z down); the pose
is the vehicle's position with yaw = compass direction of the optical axis and pitch = its elevation (-90 straight
down), roll 0 (`quaternion()` is the `q` of CAMERA_IMAGE_CAPTURED).

Scene (ThermalScene): flat ground at the vehicles' ground level at ground_c, or, where the scene has a
GroundTemperature raster (the simulated city's surfaces: asphalt, paving, grass...), at that cell's temperature;
the sky (rays that miss the ground) reads ambient_c. Each ScenePerson is a standing body - a vertical cylinder of radius BODY_RADIUS_M
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
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sim import pinhole
from sim.pinhole import CameraModel, CameraPose, quaternion

__all__ = ["CameraModel", "CameraPose", "GroundTemperature", "PlacedPerson", "ScenePerson", "THERMAL_CAMERA",
           "ThermalScene", "observed_c", "quaternion", "ray_directions_ned", "render", "tiff_bytes",
           "to_centi_kelvin"]

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


THERMAL_CAMERA = CameraModel(640, 512, 10.88, 8.70, 13.0)


@dataclass(frozen=True)
class ScenePerson:
    lat_deg: float
    lon_deg: float
    skin_temp_c: float
    height_m: float = 1.7


@dataclass(frozen=True, eq=False)
class GroundTemperature:
    """The ground's temperature by surface: a north-up raster of °C, `cell_m` metres per cell, its north-west
    corner at (lat_deg, lon_deg); row 0 is the northern edge, column 0 the western one. Outside it: ground_c."""
    lat_deg: float
    lon_deg: float
    cell_m: float
    temp_c: np.ndarray     # (rows, cols) float


@dataclass(frozen=True)
class ThermalScene:
    ambient_c: float = 25.0
    ground_c: float = 30.0
    people: tuple[ScenePerson, ...] = ()
    ground: GroundTemperature | None = None


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


def ray_directions_ned(pose: CameraPose, camera: CameraModel = THERMAL_CAMERA) -> np.ndarray:
    """Unit ray of every pixel in NED, shape (height, width, 3) (sim/pinhole.py's projection)."""
    return pinhole.ray_directions_ned(pose, camera)


def _window(person: PlacedPerson, pose: CameraPose, camera: CameraModel) -> tuple[slice, slice] | None:
    """The pixels (rows, columns) a person can cover: the projection of the box around their body and head,
    plus a margin; the whole frame when part of the box is behind the camera; None when it is out of the frame.
    (Only which pixels are looked at: the surfaces themselves are intersected exactly.)"""
    r = BODY_RADIUS_M
    corners = np.array([[person.north_m + dn, person.east_m + de, -h]
                        for dn in (-r, r) for de in (-r, r) for h in (0.0, person.height_m)])
    uv, depth = pinhole.project(corners, pose, camera)
    if np.any(depth <= 0.05):
        return slice(0, camera.height_px), slice(0, camera.width_px)
    c0, c1 = int(np.floor(uv[:, 0].min())) - 2, int(np.ceil(uv[:, 0].max())) + 2
    r0, r1 = int(np.floor(uv[:, 1].min())) - 2, int(np.ceil(uv[:, 1].max())) + 2
    c0, c1, r0, r1 = max(0, c0), min(camera.width_px, c1), max(0, r0), min(camera.height_px, r1)
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def render(scene: ThermalScene, people: tuple[PlacedPerson, ...], pose: CameraPose, rng: np.random.Generator,
           camera: CameraModel = THERMAL_CAMERA, ground_origin_ne: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Observed temperature (°C) of every pixel, shape (height, width), noise included. `ground_origin_ne`: where
    the scene's GroundTemperature raster's north-west corner lies in the pose's north/east frame."""
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
    if scene.ground is not None and hit.any():
        g = scene.ground
        rows = np.floor((ground_origin_ne[0] - (cn + t_ground[hit] * dn[hit])) / g.cell_m).astype(np.int64)
        cols = np.floor(((ce + t_ground[hit] * de[hit]) - ground_origin_ne[1]) / g.cell_m).astype(np.int64)
        inside = (rows >= 0) & (rows < g.temp_c.shape[0]) & (cols >= 0) & (cols < g.temp_c.shape[1])
        temps = surface[hit]
        temps[inside] = g.temp_c[rows[inside], cols[inside]]
        surface[hit] = temps
    emissivity[hit] = EMISSIVITY_GROUND
    for person in people:
        window = _window(person, pose, camera)
        if window is None:
            continue                                        # entirely out of the frame
        rows, cols = window
        wn, we, wd = dn[rows, cols], de[rows, cols], dd[rows, cols]
        w_dist, w_surface, w_emissivity = dist[rows, cols], surface[rows, cols], emissivity[rows, cols]   # views
        top = -(person.height_m - HEAD_CENTRE_BELOW_TOP_M - HEAD_RADIUS_M)     # down of the body's top
        body_c = person.skin_temp_c + CLOTHING_OFFSET_C
        # body: lateral surface of the vertical cylinder, then its top disc
        on, oe = cn - person.north_m, ce - person.east_m
        a = wn * wn + we * we
        b = 2.0 * (on * wn + oe * we)
        c = on * on + oe * oe - BODY_RADIUS_M ** 2
        disc = b * b - 4.0 * a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            t_side = np.where((disc >= 0) & (a > 1e-12), (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a), np.inf)
            z_side = cd + t_side * wd
            t_side = np.where((t_side > 0) & (z_side <= 0.0) & (z_side >= top), t_side, np.inf)
            t_cap = np.where(np.abs(wd) > 1e-12, (top - cd) / wd, np.inf)
            n_cap, e_cap = on + t_cap * wn, oe + t_cap * we
            t_cap = np.where((t_cap > 0) & (n_cap * n_cap + e_cap * e_cap <= BODY_RADIUS_M ** 2), t_cap, np.inf)
        t_body = np.minimum(t_side, t_cap)
        nearer = t_body < w_dist
        w_dist[nearer] = t_body[nearer]
        w_surface[nearer] = body_c
        w_emissivity[nearer] = EMISSIVITY_CLOTHING
        # head: sphere
        hd = -(person.height_m - HEAD_CENTRE_BELOW_TOP_M)
        oz = cd - hd
        b = 2.0 * (on * wn + oe * we + oz * wd)
        c = on * on + oe * oe + oz * oz - HEAD_RADIUS_M ** 2
        disc = b * b - 4.0 * c
        t_head = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0.0))) / 2.0, np.inf)
        t_head = np.where(t_head > 0, t_head, np.inf)
        nearer = t_head < w_dist
        w_dist[nearer] = t_head[nearer]
        w_surface[nearer] = person.skin_temp_c
        w_emissivity[nearer] = EMISSIVITY_SKIN
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
