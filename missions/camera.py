"""Camera ground footprint: where a pinhole camera at a given height and gimbal pitch sees the ground.

Body frame: x forward (along the heading), y to the left, in metres on flat ground.
Gimbal pitch in degrees: -90 looks straight down (nadir), 0 at the horizon.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from missions.errors import PlanError


@dataclass(frozen=True)
class Camera:
    """Field of view of the patrol camera (defaults: a typical 4:3 drone camera, 84 x 66 degrees)."""

    hfov_deg: float = 84.0
    vfov_deg: float = 66.0

    def __post_init__(self) -> None:
        for name, v in (("hfov_deg", self.hfov_deg), ("vfov_deg", self.vfov_deg)):
            if not (math.isfinite(v) and 0.0 < v < 180.0):
                raise PlanError(f"camera {name} must be between 0 and 180 degrees, got {v}")


@dataclass(frozen=True)
class Footprint:
    """The ground trapezoid of one image. Distances are along the heading (negative = behind)."""

    near_m: float  # along-track distance of the image's bottom edge
    far_m: float  # along-track distance of the image's top edge
    near_width_m: float  # cross-track width at the bottom edge (the narrowest row)
    centre_width_m: float  # cross-track width at the image centre row
    far_width_m: float  # cross-track width at the top edge

    @property
    def swath_width_m(self) -> float:
        """The width used for line spacing: the narrowest row, so every row covers it."""
        return min(self.near_width_m, self.far_width_m)

    @property
    def length_m(self) -> float:
        return self.far_m - self.near_m

    def corners(self) -> tuple[tuple[float, float], ...]:
        """The trapezoid's corners in the body frame (x forward, y left), counter-clockwise."""
        return (
            (self.near_m, -self.near_width_m / 2), (self.far_m, -self.far_width_m / 2),
            (self.far_m, self.far_width_m / 2), (self.near_m, self.near_width_m / 2),
        )


def footprint(camera: Camera, alt_m: float, gimbal_pitch_deg: float = -90.0) -> Footprint:
    """The ground footprint at height `alt_m` above flat ground.

    A ray through the image point (tan of horizontal angle u, tan of vertical angle v, v > 0 down)
    meets the ground after t = H / (sin d + v cos d), where d is the optical axis' depression; it lands
    t (cos d - v sin d) ahead and t u to the side. The top image edge must stay below the horizon.
    """
    if not (math.isfinite(alt_m) and alt_m > 0):
        raise PlanError(f"altitude must be above the ground, got {alt_m} m")
    if not (math.isfinite(gimbal_pitch_deg) and -90.0 <= gimbal_pitch_deg <= 0.0):
        raise PlanError(f"gimbal pitch must be between -90 (nadir) and 0 (horizon) degrees, got {gimbal_pitch_deg}")
    d = math.radians(-gimbal_pitch_deg)
    tu = math.tan(math.radians(camera.hfov_deg) / 2)
    tv = math.tan(math.radians(camera.vfov_deg) / 2)
    sd, cd = math.sin(d), math.cos(d)
    far_den = sd - tv * cd
    if far_den <= 1e-6:
        top = math.degrees(d) - camera.vfov_deg / 2
        raise PlanError(
            f"gimbal pitch {gimbal_pitch_deg} deg with a {camera.vfov_deg} deg vertical field of view sees the horizon "
            f"(top edge {top:.1f} deg below it): tilt the camera further down"
        )

    def row(v: float) -> tuple[float, float]:
        t = alt_m / (sd + v * cd)
        return t * (cd - v * sd), 2 * t * tu

    near_m, near_w = row(tv)
    far_m, far_w = row(-tv)
    _, centre_w = row(0.0)
    return Footprint(near_m=near_m, far_m=far_m, near_width_m=near_w, centre_width_m=centre_w, far_width_m=far_w)


def line_spacing_m(camera: Camera, alt_m: float, gimbal_pitch_deg: float, side_overlap: float) -> float:
    """Distance between lawnmower lines for the requested side overlap (0 <= overlap < 1)."""
    if not (math.isfinite(side_overlap) and 0.0 <= side_overlap < 1.0):
        raise PlanError(f"side overlap must be a fraction in [0, 1), got {side_overlap}")
    return footprint(camera, alt_m, gimbal_pitch_deg).swath_width_m * (1.0 - side_overlap)
