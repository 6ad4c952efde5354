"""The radiometric frame record: temperatures in °C on the thermal camera's pixel grid, with its camera model,
pose at capture, capture time and source, checked when made.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.camera import CameraModel, CameraPose
from vision.thermal.errors import ThermalFrameError

# Physically plausible surface temperatures for an outdoor radiometric camera: colder than the coldest
# air ever measured on Earth (-89 °C) or hotter than the top of a drone camera's low-gain range (550 °C)
# means the file is not in the unit we think (e.g. deci-kelvin read as centi-kelvin) or holds no data.
PLAUSIBLE_MIN_C = -90.0
PLAUSIBLE_MAX_C = 600.0


@dataclass(frozen=True)
class Radiometry:
    """What a frame's values already correct for.

    The default, emissivity 1 at distance 0, means apparent (blackbody-equivalent) temperatures as the
    sensor sees them through the air: what radiometric TIFF exports of raw frames and the simulator
    deliver, and what person screening expects (it applies its own distance and skin-emissivity
    correction). Other values describe object temperatures already corrected by the camera settings
    stored in the file (e.g. a FLIR JPEG read with ``corrections="file"``).
    """

    emissivity: float = 1.0
    distance_m: float = 0.0
    reflected_c: float | None = None
    atmospheric_c: float | None = None

    @property
    def apparent(self) -> bool:
        return self.emissivity == 1.0 and self.distance_m == 0.0


@dataclass(frozen=True, eq=False)
class ThermalFrame:
    """One radiometric frame. ``temps_c`` is a read-only height x width float32 array of °C.

    ``pose`` is None when the camera's pose at capture is unknown (the frame can then be shown but not
    used to measure people); ``capture_time_s`` is None when the source does not say when it was taken.
    """

    temps_c: np.ndarray
    camera: CameraModel
    pose: CameraPose | None
    capture_time_s: float | None
    source: str
    radiometry: Radiometry = Radiometry()

    def __post_init__(self) -> None:
        temps = np.asarray(self.temps_c)
        if temps.ndim != 2:
            raise ThermalFrameError(f"{self.source}: a thermal frame is a 2-D array of °C, got shape {temps.shape}")
        if not (np.issubdtype(temps.dtype, np.floating) or np.issubdtype(temps.dtype, np.integer)):
            raise ThermalFrameError(f"{self.source}: temperatures must be numbers, got dtype {temps.dtype}")
        expected = (self.camera.height_px, self.camera.width_px)
        if temps.shape != expected:
            raise ThermalFrameError(
                f"{self.source}: frame is {temps.shape[1]}x{temps.shape[0]} px but the camera model is "
                f"{expected[1]}x{expected[0]} px: misaligned with the camera model (wrong camera or a resized frame)"
            )
        temps = temps.astype(np.float32, copy=True)
        bad = ~np.isfinite(temps)
        if bad.any():
            raise ThermalFrameError(f"{self.source}: {int(bad.sum())} of {temps.size} temperatures are not finite")
        low, high = float(temps.min()), float(temps.max())
        if low < PLAUSIBLE_MIN_C or high > PLAUSIBLE_MAX_C:
            raise ThermalFrameError(
                f"{self.source}: temperatures span {low:.2f}..{high:.2f} °C, outside the plausible "
                f"{PLAUSIBLE_MIN_C:g}..{PLAUSIBLE_MAX_C:g} °C (wrong unit or scale, or no-data pixels?)"
            )
        if self.capture_time_s is not None and not math.isfinite(self.capture_time_s):
            raise ThermalFrameError(f"{self.source}: capture time {self.capture_time_s} is not finite")
        temps.setflags(write=False)
        object.__setattr__(self, "temps_c", temps)

    @property
    def shape(self) -> tuple[int, int]:
        return self.temps_c.shape
