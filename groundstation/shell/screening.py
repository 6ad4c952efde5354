"""Thermal screening for the crowd response, the shell's half: fetch the thermal image a drone captured, place it
with the capture's pose and the thermal camera's model, and measure each person the core asked about
(vision.thermal does the measuring). Answers the core's ScreenThermal with a ThermalScreened event; a frame that
cannot be used (missing, unreadable, misaligned, no camera model) comes back with the problem, never as "normal".
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from groundstation.core.response_data import PersonTemperature, ScreenThermal, ThermalScreened
from telemetry.records import CameraInformation
from vision.camera import CameraModel, CameraPose
from vision.thermal import (THERMAL_ONLY, PersonToScreen, ScreeningConfig, ThermalError, Verdict, read_thermal,
                            screen_people)

log = logging.getLogger("groundstation.screening")


def camera_model(info: CameraInformation) -> CameraModel:
    """A pinhole model from a MAVLink camera's CAMERA_INFORMATION (focal length and sensor size in mm)."""
    if not (info.focal_length_mm and info.sensor_width_mm and info.sensor_height_mm and info.width_px and
            info.height_px):
        raise ValueError(f"camera {info.vendor} {info.model} (component {info.component_id}) does not give its "
                         "focal length, sensor size and resolution")
    fx = info.focal_length_mm / info.sensor_width_mm * info.width_px
    fy = info.focal_length_mm / info.sensor_height_mm * info.height_px
    return CameraModel(info.width_px, info.height_px, fx, fy, info.width_px / 2.0, info.height_px / 2.0)


class ThermalScreener:
    """`screen(ScreenThermal) -> ThermalScreened`, blocking (a worker thread of the station calls it).

    camera_info(vehicle_id, component_id) gives the thermal camera's CAMERA_INFORMATION (asked once per vehicle and
    remembered); config holds the ambient temperature, the fever threshold and the measurement's parameters.
    """

    def __init__(self, camera_info: Callable[[str, int], CameraInformation], config: ScreeningConfig,
                 fetch_timeout_s: float = 10.0):
        self._camera_info = camera_info
        self._models: dict[tuple[str, int], CameraModel] = {}
        self.config = config
        self.fetch_timeout_s = fetch_timeout_s

    def _model(self, vehicle_id: str, component_id: int) -> CameraModel:
        key = (vehicle_id, component_id)
        if key not in self._models:
            self._models[key] = camera_model(self._camera_info(vehicle_id, component_id))
        return self._models[key]

    def screen(self, job: ScreenThermal) -> ThermalScreened:
        image = job.image
        try:
            camera = self._model(job.vehicle_id, image.component_id)
        except Exception as exc:  # no answer, or an answer without optics: the frame cannot be placed
            return ThermalScreened(job.response_id, job.shot, (), f"thermal camera model unknown: {exc}",
                                   image.file_url)
        pose = None
        if image.yaw_deg is not None and image.pitch_deg is not None:
            pose = CameraPose(image.lat_deg, image.lon_deg, image.alt_rel_m, image.yaw_deg, image.pitch_deg,
                              image.roll_deg or 0.0)
        try:
            frame = read_thermal(image.file_url, camera=camera, pose=pose, capture_time_s=image.time_utc_s,
                                 timeout_s=self.fetch_timeout_s)
            people = tuple(PersonToScreen(str(p.person_id), p.lat_deg, p.lon_deg, uncertainty_m=p.uncertainty_m)
                           for p in job.people)
            result = screen_people(frame, people, self.config)
        except ThermalError as exc:
            log.warning("%s: thermal frame %d of %s not usable: %s", job.vehicle_id, job.shot, job.response_id, exc)
            return ThermalScreened(job.response_id, job.shot, (), str(exc), image.file_url)
        readings = tuple(
            PersonTemperature(_person_id(r), r.lat_deg if r.lat_deg is not None else 0.0,
                              r.lon_deg if r.lon_deg is not None else 0.0,
                              "unmeasured" if r.verdict is Verdict.UNMEASURED else "measured",
                              r.skin_temp_c, r.uncertainty_c,
                              "" if r.reason is None else f"{r.reason.value}: {r.detail}".rstrip(": "))
            for r in result.readings)
        return ThermalScreened(job.response_id, job.shot, readings, result.frame_problem, image.file_url)


def _person_id(reading: Any) -> int:
    """The core's person id of a reading: the station's own (the people it placed), or, for a head found in the
    thermal frame only (vision.thermal's "thermal:<n>"), a negative id from its position to about a metre, the same in
    every frame of the response, so that one person seen in two frames counts once."""
    if not str(reading.person_id).startswith(THERMAL_ONLY):
        return int(reading.person_id)
    return -(round(reading.lat_deg * 1e5) % 100_000 * 100_000 + round(reading.lon_deg * 1e5) % 100_000 + 1)
