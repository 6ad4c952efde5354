"""The vehicle's pose at a frame's capture time, interpolated from timestamped telemetry samples.

Pure logic: samples and query times come from the caller (no clock is read). A time outside the
samples (beyond ``max_extrapolation_s``) or inside a gap longer than ``max_gap_s`` has no pose: the
frame is then flagged, not geo-registered from a stale guess.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from vision.camera import CameraPose


@dataclass(frozen=True)
class VehiclePose:
    """Vehicle position, heading and gimbal angles at ``time_s`` (the station's clock, seconds)."""

    time_s: float
    lat_deg: float
    lon_deg: float
    alt_m: float  # above the ground datum (e.g. relative to home for flat ground)
    heading_deg: float
    gimbal_pitch_deg: float = -90.0
    gimbal_yaw_deg: float = 0.0  # relative to the vehicle's heading
    gimbal_roll_deg: float = 0.0

    def camera_pose(self) -> CameraPose:
        return CameraPose(
            lat_deg=self.lat_deg,
            lon_deg=self.lon_deg,
            alt_m=self.alt_m,
            yaw_deg=(self.heading_deg + self.gimbal_yaw_deg) % 360.0,
            pitch_deg=self.gimbal_pitch_deg,
            roll_deg=self.gimbal_roll_deg,
        )


def _lerp(a: float, b: float, f: float) -> float:
    return a + (b - a) * f


def _lerp_angle_deg(a: float, b: float, f: float) -> float:
    diff = (b - a + 180.0) % 360.0 - 180.0
    return (a + diff * f) % 360.0


def interpolate(a: VehiclePose, b: VehiclePose, time_s: float) -> VehiclePose:
    """Pose at ``time_s`` between two samples (linear; headings the short way round)."""
    span = b.time_s - a.time_s
    f = 0.0 if span <= 0 else (time_s - a.time_s) / span
    return VehiclePose(
        time_s=time_s,
        lat_deg=_lerp(a.lat_deg, b.lat_deg, f),
        lon_deg=_lerp(a.lon_deg, b.lon_deg, f),
        alt_m=_lerp(a.alt_m, b.alt_m, f),
        heading_deg=_lerp_angle_deg(a.heading_deg, b.heading_deg, f),
        gimbal_pitch_deg=_lerp(a.gimbal_pitch_deg, b.gimbal_pitch_deg, f),
        gimbal_yaw_deg=_lerp_angle_deg(a.gimbal_yaw_deg, b.gimbal_yaw_deg, f),
        gimbal_roll_deg=_lerp(a.gimbal_roll_deg, b.gimbal_roll_deg, f),
    )


class PoseHistory:
    """A bounded, time-ordered buffer of pose samples from one vehicle (owned by one worker)."""

    def __init__(self, max_samples: int = 2000, max_gap_s: float = 2.0, max_extrapolation_s: float = 0.5):
        self._times: list[float] = []
        self._samples: list[VehiclePose] = []
        self._max_samples = max_samples
        self._max_gap_s = max_gap_s
        self._max_extrapolation_s = max_extrapolation_s

    def add(self, sample: VehiclePose) -> None:
        if not all(math.isfinite(v) for v in (sample.time_s, sample.lat_deg, sample.lon_deg, sample.alt_m)):
            return  # a broken sample must not poison the history
        i = bisect.bisect_right(self._times, sample.time_s)
        self._times.insert(i, sample.time_s)
        self._samples.insert(i, sample)
        if len(self._samples) > self._max_samples:
            del self._times[0], self._samples[0]

    def __len__(self) -> int:
        return len(self._samples)

    def at(self, time_s: float) -> VehiclePose | None:
        """The pose at ``time_s``, or None when no trustworthy pose exists for that instant."""
        if not self._samples:
            return None
        i = bisect.bisect_left(self._times, time_s)
        if i < len(self._times) and self._times[i] == time_s:
            return self._samples[i]
        if i == 0:
            first = self._samples[0]
            return _shifted(first, time_s) if first.time_s - time_s <= self._max_extrapolation_s else None
        if i == len(self._samples):
            last = self._samples[-1]
            return _shifted(last, time_s) if time_s - last.time_s <= self._max_extrapolation_s else None
        a, b = self._samples[i - 1], self._samples[i]
        if b.time_s - a.time_s > self._max_gap_s:
            return None
        return interpolate(a, b, time_s)


def _shifted(sample: VehiclePose, time_s: float) -> VehiclePose:
    return interpolate(sample, sample, time_s)
