"""Skin temperature of people seen in a thermal frame: a screening hint to be confirmed on the ground, never a
diagnosis. Pure numpy and geometry (no I/O, no clock); people come as ground positions, or as RGB detections
placed on the ground with the RGB camera's model and pose.

Per person, with the frame's camera model and pose (vision.camera, the one camera model):

1. Head: a sphere of radius ``head_radius_m`` (0.11 m) centred ``head_centre_below_top_m`` (0.12 m) below
   the top of a person ``height_m`` tall (1.7 m) standing on the ground point. It is drawn as the ellipse
   of semi-axes fx·r/z and fy·r/z px around the projected centre (z: depth along the optical axis), exact
   on the optical axis and a few per cent small at the edge of a normal field of view.
2. Head pixels: those whose centres fall inside that ellipse and inside the frame. Pixels covered by a
   nearer person (camera-to-head distance) are dropped; a person's silhouette is the convex hull of a
   vertical cylinder of radius ``body_radius_m`` (0.25 m) from the ground to the top of the head.
3. T_obs: the ``percentile`` (90th) of the head pixels: high enough to ignore hair, hats over part of
   the head and edge pixels mixed with a cooler background, low enough that one hot pixel does not
   decide. It assumes the face is the warmest thing in its region; sun-baked pavement hotter than skin
   behind a head is a known limit (the reading then comes out implausible or high, never low).
4. Distance and emissivity: the frame holds apparent temperatures; this model (the simulator renders
   with it) is inverted for the skin temperature T_s at camera-to-head-centre distance d:

       T_obs = tau(d) * (eps * T_s + (1 - eps) * T_atm) + (1 - tau(d)) * T_atm,   tau(d) = exp(-alpha * d)
       =>  T_s = T_atm + (T_obs - T_atm) / (tau * eps)

   alpha = 0.0015 per metre, eps = 0.98 (skin), T_atm the ambient temperature (given by the caller).
5. Uncertainty (same kind of bound as the sensor's "±2 °C", terms combined in quadrature):

       u_s² = (u_sensor / (tau·eps))²                       sensor accuracy, amplified by the correction
            + (u_atm · (1 - tau·eps) / (tau·eps))²           ambient temperature uncertainty
            + (u_eps · (T_s - T_atm) / eps)²                 skin emissivity uncertainty
            + (u_d · alpha · (T_s - T_atm))²                 distance uncertainty

   with u_sensor = 2 °C, u_atm = 1 °C, u_eps = 0.01, u_d = 1 m by default.
6. Verdict: a fever hint when T_s is at or above ``fever_threshold_c`` (37.3 °C), no fever below it.

7. Heads nobody placed: the frame is also searched for fever-hot heads that are not where a listed person was read
   as a fever hint (the RGB detector missed them, or placed them further off than the search). A candidate is the
   hottest pixel left; its head (the ``k`` pixels a head covers at its distance, the ray met at head height) must be
   hot enough to be a fever hint after the correction above, within living skin's range, ``min_contrast_c`` warmer
   than its surroundings, and isolated: at most ``max_hot_ring_fraction`` of the ring from 2 to 4 head radii around
   it as hot (a sunlit pavement's edge or corner is not a head). Each is reported as a fever hint of a person seen
   in the thermal frame only (``person_id`` "thermal:<n>", its position where the ray meets head height), at most
   ``max_extra_heads`` per frame. Only within ``near_people_m`` of a person listed (the crowd being screened: a warm
   machine or lamp elsewhere in view is not a person), and not in a frame misaligned with the people listed (its
   pose is wrong).

A person who cannot be measured is reported as unmeasured with the reason, never as normal: no pose for
the frame, no ground position for the detection, head out of frame, fewer than ``min_head_pixels`` (9:
a 3x3 spot, the smallest a radiometric camera measures reliably) head pixels, occluded by a nearer
person, or an estimate outside the range of living skin (28..45 °C: a hat, hair, background or a
misaligned frame rather than a face).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import shapely

from vision.camera import CameraModel, CameraPose, Terrain, enu_to_pixels, pixels_to_ground, rotation_camera_to_enu
from missions.geo import latlon_to_enu
from vision.records import Detection
from vision.thermal.errors import ThermalFrameError
from vision.thermal.frame import ThermalFrame

SCREENING_NOTICE = (
    "Screening hint from a drone thermal camera (±2 °C class sensor): confirm with a measurement on the ground. "
    "Not a diagnosis."
)


class Verdict(StrEnum):
    FEVER_HINT = "fever_hint"
    NO_FEVER = "no_fever"
    UNMEASURED = "unmeasured"


class UnmeasuredReason(StrEnum):
    NO_POSE = "no_pose"  # the thermal frame's pose is unknown
    NO_GROUND_POSITION = "no_ground_position"  # the detection could not be placed on the ground
    OUT_OF_FRAME = "out_of_frame"  # the head projects outside the thermal frame (or behind the camera)
    TOO_FEW_PIXELS = "too_few_pixels"  # the head spans fewer than min_head_pixels
    OCCLUDED = "occluded"  # a nearer person covers the head
    NOT_SKIN = "not_skin"  # the estimate is outside the range of living skin


@dataclass(frozen=True)
class PersonToScreen:
    """A person standing at a ground position (``ground_alt_m``: ground height in the pose's vertical datum);
    ``uncertainty_m``: how far the true position may be from it (0: exact; > 0: the head is searched for)."""

    person_id: str
    lat_deg: float
    lon_deg: float
    height_m: float = 1.7
    ground_alt_m: float = 0.0
    uncertainty_m: float = 0.0


@dataclass(frozen=True)
class ScreeningConfig:
    """Parameters of the measurement; the defaults are the documented ones (see the module docstring)."""

    ambient_c: float
    fever_threshold_c: float = 37.3
    skin_emissivity: float = 0.98
    alpha_per_m: float = 0.0015
    percentile: float = 90.0
    min_head_pixels: int = 9
    head_radius_m: float = 0.11
    head_centre_below_top_m: float = 0.12
    body_radius_m: float = 0.25
    sensor_sigma_c: float = 2.0
    ambient_sigma_c: float = 1.0
    emissivity_sigma: float = 0.01
    distance_sigma_m: float = 1.0
    skin_min_c: float = 28.0
    skin_max_c: float = 45.0
    max_search_m: float = 2.5  # a position's uncertainty is searched up to this far for the head
    min_contrast_c: float = 0.8  # a searched head must be this much warmer than its surroundings (observed °C)
    max_hot_ring_fraction: float = 0.15  # a head nobody placed: at most this much of the ring around it as hot
    max_extra_heads: int = 20  # heads nobody placed, reported per frame at most
    same_person_m: float = 1.0  # a hot head this near a fever hint already read (plus its search) is that person
    near_people_m: float = 3.0  # heads nobody placed are looked for this near the people listed (the crowd), only

    def __post_init__(self) -> None:
        problems = []
        if not math.isfinite(self.ambient_c) or not -60.0 < self.ambient_c < 70.0:
            problems.append(f"ambient_c {self.ambient_c} is not an outdoor air temperature")
        if not 0.0 < self.skin_emissivity <= 1.0:
            problems.append(f"skin_emissivity {self.skin_emissivity} is not in (0, 1]")
        if not self.alpha_per_m >= 0.0:
            problems.append(f"alpha_per_m {self.alpha_per_m} is negative")
        if not 0.0 < self.percentile <= 100.0:
            problems.append(f"percentile {self.percentile} is not in (0, 100]")
        if self.min_head_pixels < 1:
            problems.append(f"min_head_pixels {self.min_head_pixels} is below 1")
        if not (self.head_radius_m > 0 and self.body_radius_m > 0 and self.head_centre_below_top_m >= 0):
            problems.append("head and body sizes must be positive")
        if not self.skin_min_c < self.skin_max_c:
            problems.append(f"skin range {self.skin_min_c}..{self.skin_max_c} °C is empty")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class PersonReading:
    """One person's result. Temperatures, distance and pixel counts are None/0 when not measured."""

    person_id: str
    verdict: Verdict
    lat_deg: float | None
    lon_deg: float | None
    skin_temp_c: float | None = None
    uncertainty_c: float | None = None
    observed_temp_c: float | None = None  # the percentile of the head pixels, before correction
    distance_m: float | None = None
    head_pixels: int = 0  # pixels measured (after removing occluded ones)
    occluded_pixels: int = 0
    reason: UnmeasuredReason | None = None
    detail: str = ""

    @property
    def measured(self) -> bool:
        return self.verdict is not Verdict.UNMEASURED


@dataclass(frozen=True)
class ScreeningResult:
    """Every person's reading from one thermal frame; ``frame_problem`` says why a whole frame is unusable."""

    readings: tuple[PersonReading, ...]
    source: str
    capture_time_s: float | None
    fever_threshold_c: float
    frame_problem: str | None = None
    notice: str = SCREENING_NOTICE

    @property
    def fever_hints(self) -> tuple[PersonReading, ...]:
        return tuple(r for r in self.readings if r.verdict is Verdict.FEVER_HINT)

    @property
    def unmeasured(self) -> tuple[PersonReading, ...]:
        return tuple(r for r in self.readings if r.verdict is Verdict.UNMEASURED)


@dataclass(frozen=True)
class PlacedPeople:
    """RGB detections placed on the ground; ``unplaced_ids`` are those whose foot point misses the ground."""

    people: tuple[PersonToScreen, ...]
    unplaced_ids: tuple[str, ...]
    problem: str | None = None


# ------------------------------------------------------------------------------------------- the model


def skin_temperature_c(observed_c: float, distance_m: float, config: ScreeningConfig) -> tuple[float, float]:
    """Invert the documented atmosphere + emissivity model: (T_s, its uncertainty) in °C."""
    tau = math.exp(-config.alpha_per_m * distance_m)
    gain = tau * config.skin_emissivity
    t_atm = config.ambient_c
    t_s = t_atm + (observed_c - t_atm) / gain
    contrast = t_s - t_atm
    u = math.sqrt(
        (config.sensor_sigma_c / gain) ** 2
        + (config.ambient_sigma_c * (1.0 - gain) / gain) ** 2
        + (config.emissivity_sigma * contrast / config.skin_emissivity) ** 2
        + (config.distance_sigma_m * config.alpha_per_m * contrast) ** 2
    )
    return t_s, u


# ---------------------------------------------------------------------------------------------- people


def detection_id(detection: Detection, index: int) -> str:
    """A detection's person id: its track when tracked, else its index in the frame."""
    return f"track-{detection.track_id}" if detection.track_id is not None else f"detection-{index}"


def people_from_detections(
    detections: tuple[Detection, ...] | list[Detection],
    camera: CameraModel,
    pose: CameraPose | None,
    *,
    height_m: float = 1.7,
    terrain: Terrain | None = None,
) -> PlacedPeople:
    """Place RGB detections on the ground (the foot point of each box, vision.camera.pixels_to_ground)."""
    ids = tuple(detection_id(d, i) for i, d in enumerate(detections))
    if pose is None:
        return PlacedPeople((), ids, "the RGB frame has no pose: its detections cannot be placed on the ground")
    if not ids:
        return PlacedPeople((), ())
    ground = pixels_to_ground(camera, pose, [d.foot_px for d in detections], terrain=terrain)
    placed, unplaced = [], []
    for i, person_id in enumerate(ids):
        if ground.valid[i]:
            ground_alt = 0.0
            if terrain is not None:
                ground_alt = float(np.asarray(terrain(ground.lat_deg[i : i + 1], ground.lon_deg[i : i + 1]))[0])
            placed.append(
                PersonToScreen(person_id, float(ground.lat_deg[i]), float(ground.lon_deg[i]), height_m, ground_alt)
            )
        else:
            unplaced.append(person_id)
    return PlacedPeople(tuple(placed), tuple(unplaced))


# ------------------------------------------------------------------------------------------- screening


@dataclass(frozen=True)
class _Projected:
    person: PersonToScreen
    u: float
    v: float
    depth_m: float
    distance_m: float
    silhouette: shapely.Geometry | None


def _project(
    people: tuple[PersonToScreen, ...], camera: CameraModel, pose: CameraPose, config: ScreeningConfig
) -> list[_Projected]:
    rotation = rotation_camera_to_enu(pose)
    optical_axis = rotation[:, 2]
    camera_enu = np.array([0.0, 0.0, pose.alt_m])
    angles = np.linspace(0.0, 2.0 * math.pi, 16, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1) * config.body_radius_m
    out = []
    for person in people:
        east, north = latlon_to_enu(pose.lat_deg, pose.lon_deg, person.lat_deg, person.lon_deg)
        top = person.ground_alt_m + person.height_m
        head = np.array([float(east), float(north), top - config.head_centre_below_top_m])
        (u, v), = enu_to_pixels(camera, pose, head[None, :])
        offset = head - camera_enu
        body = np.concatenate(
            [
                np.column_stack([ring[:, 0] + head[0], ring[:, 1] + head[1], np.full(len(ring), z)])
                for z in (person.ground_alt_m, top)
            ]
        )
        outline = enu_to_pixels(camera, pose, body)
        outline = outline[np.isfinite(outline).all(axis=1)]
        silhouette = shapely.MultiPoint(outline).convex_hull if len(outline) >= 3 else None
        depth, distance = float(offset @ optical_axis), float(np.linalg.norm(offset))
        out.append(_Projected(person, float(u), float(v), depth, distance, silhouette))
    return out


def _measure(
    target: _Projected, everyone: list[_Projected], frame: ThermalFrame, config: ScreeningConfig
) -> PersonReading:
    person, camera = target.person, frame.camera
    base = dict(
        person_id=person.person_id, lat_deg=person.lat_deg, lon_deg=person.lon_deg, distance_m=target.distance_m
    )

    def unmeasured(reason: UnmeasuredReason, detail: str, **more) -> PersonReading:
        return PersonReading(verdict=Verdict.UNMEASURED, reason=reason, detail=detail, **{**base, **more})

    width, height = camera.width_px, camera.height_px
    if not (target.depth_m > 0 and math.isfinite(target.u) and math.isfinite(target.v)):
        return unmeasured(UnmeasuredReason.OUT_OF_FRAME, "head is behind the thermal camera")
    if not (0.0 <= target.u < width and 0.0 <= target.v < height):
        return unmeasured(
            UnmeasuredReason.OUT_OF_FRAME,
            f"head projects to ({target.u:.0f}, {target.v:.0f}) px, outside the {width}x{height} frame",
        )
    rx = camera.fx_px * config.head_radius_m / target.depth_m
    ry = camera.fy_px * config.head_radius_m / target.depth_m
    cols = np.arange(max(0, math.ceil(target.u - rx - 0.5)), min(width - 1, math.floor(target.u + rx - 0.5)) + 1)
    rows = np.arange(max(0, math.ceil(target.v - ry - 0.5)), min(height - 1, math.floor(target.v + ry - 0.5)) + 1)
    xs, ys = np.meshgrid(cols + 0.5, rows + 0.5)
    inside = ((xs - target.u) / rx) ** 2 + ((ys - target.v) / ry) ** 2 <= 1.0
    xs, ys = xs[inside], ys[inside]
    if len(xs) < config.min_head_pixels:
        clipped = target.u - rx < 0 or target.v - ry < 0 or target.u + rx > width or target.v + ry > height
        return unmeasured(
            UnmeasuredReason.TOO_FEW_PIXELS,
            f"head spans {len(xs)} px (radius {rx:.1f} px at {target.distance_m:.0f} m"
            + (", cut by the frame edge" if clipped else "")
            + f"), fewer than the {config.min_head_pixels} needed",
            head_pixels=len(xs),
        )
    covered = np.zeros(len(xs), dtype=bool)
    occluders = []
    for other in everyone:
        if other is target or other.silhouette is None or not other.distance_m < target.distance_m:
            continue
        hit = shapely.contains_xy(other.silhouette, xs, ys)
        if hit.any():
            covered |= hit
            occluders.append(other.person.person_id)
    visible = int((~covered).sum())
    if visible < config.min_head_pixels:
        return unmeasured(
            UnmeasuredReason.OCCLUDED,
            f"{', '.join(occluders)} nearer the camera cover{'s' if len(occluders) == 1 else ''} "
            f"{int(covered.sum())} of the head's {len(xs)} px",
            head_pixels=visible,
            occluded_pixels=int(covered.sum()),
        )
    if person.uncertainty_m > 0.0:
        found = _search_head(target, everyone, frame, config, rx, ry)
        if isinstance(found, PersonReading):
            return found
        observed, visible, at = found
        covered = np.zeros(0, dtype=bool)
        if at is not None:  # the reading is where the head was seen, not where the person was placed
            base.update(lat_deg=at[0], lon_deg=at[1])
    else:
        values = frame.temps_c[ys[~covered].astype(int), xs[~covered].astype(int)]
        observed = float(np.percentile(values, config.percentile))
    skin, uncertainty = skin_temperature_c(observed, target.distance_m, config)
    measured = dict(
        skin_temp_c=skin,
        uncertainty_c=uncertainty,
        observed_temp_c=observed,
        head_pixels=visible,
        occluded_pixels=int(covered.sum()),
    )
    if not config.skin_min_c <= skin <= config.skin_max_c:
        return unmeasured(
            UnmeasuredReason.NOT_SKIN,
            f"estimate {skin:.1f} °C is outside living skin's {config.skin_min_c:g}..{config.skin_max_c:g} °C "
            "(hat, hair, background or a misaligned frame)",
            **measured,
        )
    verdict = Verdict.FEVER_HINT if skin >= config.fever_threshold_c else Verdict.NO_FEVER
    detail = f"{skin:.1f} ± {uncertainty:.1f} °C from {visible} px at {target.distance_m:.0f} m"
    return PersonReading(verdict=verdict, detail=detail, **base, **measured)


def _search_head(target: _Projected, everyone: list[_Projected], frame: ThermalFrame, config: ScreeningConfig,
                 rx: float, ry: float) -> tuple[float, int, tuple[float, float] | None] | PersonReading:
    """The head of a person whose position is uncertain: the warmest head-sized set of pixels within the
    uncertainty (up to max_search_m) around where it projects, among the pixels nearer this person's projected head
    than any other's and not covered by a nearer person. T_obs is the median of the hottest k pixels (k: the head's
    expected pixel count); it must stand out from the window's median by min_contrast_c, or there is no head to
    read there (pavement, a wall: never reported as a normal reading). Returns T_obs, k and where the head is
    (lat, lon of the hottest pixels' centre, the ray met at head height; None when the ray misses)."""
    person, camera = target.person, frame.camera
    search_m = min(person.uncertainty_m, config.max_search_m)
    sx = rx + camera.fx_px * search_m / target.depth_m
    sy = ry + camera.fy_px * search_m / target.depth_m
    width, height = camera.width_px, camera.height_px
    cols = np.arange(max(0, math.ceil(target.u - sx - 0.5)), min(width - 1, math.floor(target.u + sx - 0.5)) + 1)
    rows = np.arange(max(0, math.ceil(target.v - sy - 0.5)), min(height - 1, math.floor(target.v + sy - 0.5)) + 1)
    xs, ys = np.meshgrid(cols + 0.5, rows + 0.5)
    keep = ((xs - target.u) / sx) ** 2 + ((ys - target.v) / sy) ** 2 <= 1.0
    mine = (xs - target.u) ** 2 + (ys - target.v) ** 2
    for other in everyone:
        if other is target or not (other.depth_m > 0 and math.isfinite(other.u) and math.isfinite(other.v)):
            continue
        keep &= mine <= (xs - other.u) ** 2 + (ys - other.v) ** 2  # nearer this head than the other's
        if other.silhouette is not None and other.distance_m < target.distance_m:
            keep &= ~shapely.contains_xy(other.silhouette, xs, ys)
    xs, ys = xs[keep], ys[keep]
    base = dict(person_id=person.person_id, lat_deg=person.lat_deg, lon_deg=person.lon_deg,
                distance_m=target.distance_m)
    k = max(config.min_head_pixels, int(round(math.pi * rx * ry)))
    if len(xs) < 2 * k:
        return PersonReading(verdict=Verdict.UNMEASURED, reason=UnmeasuredReason.TOO_FEW_PIXELS,
                             detail=f"{len(xs)} px to search around the head's position, {2 * k} needed",
                             head_pixels=len(xs), **base)
    values = frame.temps_c[ys.astype(int), xs.astype(int)]
    order = np.argpartition(values, len(values) - k)[-k:]
    observed = float(np.median(values[order]))
    background = float(np.median(values))
    if observed - background < config.min_contrast_c:
        return PersonReading(verdict=Verdict.UNMEASURED, reason=UnmeasuredReason.NOT_SKIN,
                             detail=f"no head warmer than its surroundings within {search_m:.1f} m of the position "
                                    f"({observed:.1f} vs {background:.1f} °C observed)",
                             observed_temp_c=observed, head_pixels=k, **base)
    return observed, k, _head_position(frame, float(np.mean(xs[order])), float(np.mean(ys[order])), config)


def _head_ray(frame: ThermalFrame, u: float, v: float, config: ScreeningConfig):
    """The ray of pixel (u, v) met at the head height of a person 1.7 m tall (vision.camera's ground points)."""
    assert frame.pose is not None
    head_pose = replace(frame.pose, alt_m=frame.pose.alt_m - (1.7 - config.head_centre_below_top_m))
    return pixels_to_ground(frame.camera, head_pose, np.array([[u, v]]))


def _head_position(frame: ThermalFrame, u: float, v: float, config: ScreeningConfig) -> tuple[float, float] | None:
    """Where a head seen at pixel (u, v) of the frame is (lat, lon); None: its ray misses."""
    ground = _head_ray(frame, u, v, config)
    return (float(ground.lat_deg[0]), float(ground.lon_deg[0])) if bool(ground.valid[0]) else None


THERMAL_ONLY = "thermal:"  # the person_id prefix of a head found in the thermal frame only


def _hot_heads(frame: ThermalFrame, people: tuple[PersonToScreen, ...], readings: tuple[PersonReading, ...],
               config: ScreeningConfig) -> tuple[PersonReading, ...]:
    """Fever-hot heads in the frame that no listed person's fever hint accounts for (step 7 of the docstring)."""
    camera, pose, temps = frame.camera, frame.pose, frame.temps_c
    assert pose is not None
    t_atm, gain_max = config.ambient_c, config.skin_emissivity  # tau <= 1: the loosest observed threshold
    floor = t_atm + (config.fever_threshold_c - t_atm) * gain_max * math.exp(-config.alpha_per_m * 200.0)
    hot = np.asarray(temps) >= floor
    if not hot.any():
        return ()
    head_above_ground_m = 1.7 - config.head_centre_below_top_m
    rotation = rotation_camera_to_enu(pose)
    optical_axis = rotation[:, 2]
    # a fever hint already read accounts for the heads within its search (its position's uncertainty) and then some
    hinted = [(r.lat_deg, r.lon_deg, config.same_person_m + min(p.uncertainty_m, config.max_search_m))
              for p, r in zip(people, readings) if r.verdict is Verdict.FEVER_HINT and r.lat_deg is not None]
    crowd = [(r.lat_deg, r.lon_deg) for r in readings if r.lat_deg is not None and r.lon_deg is not None]
    if not crowd:
        return ()
    height, width = temps.shape
    found: list[PersonReading] = []
    for _ in range(4 * config.max_extra_heads):
        if len(found) >= config.max_extra_heads or not hot.any():
            break
        flat = int(np.argmax(np.where(hot, temps, -np.inf)))
        v, u = divmod(flat, width)
        ground = _head_ray(frame, u + 0.5, v + 0.5, config)
        if not bool(ground.valid[0]):
            hot[v, u] = False
            continue
        east, north = float(ground.east_m[0]), float(ground.north_m[0])
        offset = np.array([east, north, head_above_ground_m - pose.alt_m])
        depth, distance = float(offset @ optical_axis), float(np.linalg.norm(offset))
        if not depth > 0:
            hot[v, u] = False
            continue
        rx = max(0.5, camera.fx_px * config.head_radius_m / depth)
        ry = max(0.5, camera.fy_px * config.head_radius_m / depth)
        y0, y1 = max(0, int(v - 4 * ry) - 1), min(height, int(v + 4 * ry) + 2)
        x0, x1 = max(0, int(u - 4 * rx) - 1), min(width, int(u + 4 * rx) + 2)
        ys, xs = np.mgrid[y0:y1, x0:x1]
        r2 = ((xs + 0.5 - (u + 0.5)) / rx) ** 2 + ((ys + 0.5 - (v + 0.5)) / ry) ** 2
        window = temps[y0:y1, x0:x1]
        hot[y0:y1, x0:x1] &= r2 > 16.0  # this spot is decided either way
        k = max(config.min_head_pixels, int(round(math.pi * rx * ry)))
        near = window[r2 <= 4.0]
        ring = window[(r2 > 4.0) & (r2 <= 16.0)]
        if len(near) < k or len(ring) < 8:
            continue
        observed = float(np.median(np.partition(near, len(near) - k)[-k:]))
        background = float(np.median(ring))
        if observed - background < config.min_contrast_c:
            continue
        if float(np.mean(ring >= observed - config.min_contrast_c)) > config.max_hot_ring_fraction:
            continue  # part of something larger than a head
        skin, uncertainty = skin_temperature_c(observed, distance, config)
        if not (config.fever_threshold_c <= skin <= config.skin_max_c):
            continue
        lat, lon = float(ground.lat_deg[0]), float(ground.lon_deg[0])
        if not any(_ground_m(lat, lon, a, b) <= config.near_people_m for a, b in crowd):
            continue  # not in the crowd being screened
        if any(_ground_m(lat, lon, a, b) < within for a, b, within in hinted):
            continue
        hinted.append((lat, lon, config.same_person_m))
        found.append(PersonReading(
            f"{THERMAL_ONLY}{len(found) + 1}", Verdict.FEVER_HINT, lat, lon, skin_temp_c=skin, uncertainty_c=uncertainty,
            observed_temp_c=observed, distance_m=distance, head_pixels=k,
            detail=f"{skin:.1f} ± {uncertainty:.1f} °C: a head seen in the thermal frame only (not where anyone was "
                   f"placed and read as a fever hint), {distance:.0f} m away"))
    return tuple(found)


def _ground_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    east, north = latlon_to_enu(lat1, lon1, lat2, lon2)
    return float(math.hypot(float(east), float(north)))


def screen_people(
    frame: ThermalFrame, people: tuple[PersonToScreen, ...] | list[PersonToScreen], config: ScreeningConfig
) -> ScreeningResult:
    """Each person's skin temperature in ``frame`` as a fever hint, no fever, or unmeasured with the reason."""
    if not frame.radiometry.apparent:
        raise ThermalFrameError(
            f"{frame.source}: values are already corrected for emissivity {frame.radiometry.emissivity:g} at "
            f"{frame.radiometry.distance_m:g} m; screening needs apparent temperatures (e.g. read FLIR JPEGs "
            "with corrections='apparent')"
        )
    people = tuple(people)
    result = dict(source=frame.source, capture_time_s=frame.capture_time_s, fever_threshold_c=config.fever_threshold_c)
    if frame.pose is None:
        readings = tuple(
            PersonReading(
                p.person_id, Verdict.UNMEASURED, p.lat_deg, p.lon_deg, reason=UnmeasuredReason.NO_POSE,
                detail="the thermal frame's pose is unknown",
            )
            for p in people
        )
        problem = "the thermal frame has no pose: people cannot be placed in it"
        return ScreeningResult(readings, frame_problem=problem, **result)
    projected = _project(people, frame.camera, frame.pose, config)
    readings = tuple(_measure(p, projected, frame, config) for p in projected)
    if readings and all(r.reason is UnmeasuredReason.OUT_OF_FRAME for r in readings):
        problem = (
            f"none of the {len(readings)} people projects into the thermal frame: the frame and the people "
            "are misaligned (wrong pose, wrong capture time, or the camera pointed elsewhere)"
        )
        return ScreeningResult(readings, frame_problem=problem, **result)  # its heads could not be placed either
    return ScreeningResult(readings + _hot_heads(frame, people, readings, config), **result)


def screen_detections(
    frame: ThermalFrame,
    detections: tuple[Detection, ...] | list[Detection],
    rgb_camera: CameraModel,
    rgb_pose: CameraPose | None,
    config: ScreeningConfig,
    *,
    height_m: float = 1.7,
    terrain: Terrain | None = None,
) -> ScreeningResult:
    """RGB detections (with the RGB camera's model and pose) screened in a thermal frame, in one call.

    Readings come in the detections' order; a detection that cannot be placed on the ground is
    unmeasured (``no_ground_position``).
    """
    placed = people_from_detections(detections, rgb_camera, rgb_pose, height_m=height_m, terrain=terrain)
    screened = screen_people(frame, placed.people, config)
    by_id = {r.person_id: r for r in screened.readings}
    detail = placed.problem or "the foot point of the box does not meet the ground (above the horizon)"
    for person_id in placed.unplaced_ids:
        by_id[person_id] = PersonReading(
            person_id, Verdict.UNMEASURED, None, None, reason=UnmeasuredReason.NO_GROUND_POSITION, detail=detail
        )
    ordered = tuple(by_id[detection_id(d, i)] for i, d in enumerate(detections))
    problems = [p for p in (placed.problem, screened.frame_problem) if p]
    return replace(screened, readings=ordered, frame_problem="; ".join(problems) or None)
