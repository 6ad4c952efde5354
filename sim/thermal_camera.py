"""One vehicle's radiometric thermal camera: takes a frame of the scene from a pose and files it for download.

The MAVLink side (component 101, CAMERA_INFORMATION, IMAGE_START_CAPTURE -> CAMERA_IMAGE_CAPTURED) lives in
sim/server.py; the image model in sim/thermal.py. Frames are kept in memory and served by the fleet's
FileServer at /thermal/<sysid>/<image_index>.tiff (sim/fleet.py says which port).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from sim import geodesy
from sim import thermal as th
from sim.file_server import FileServer

COMPONENT_ID = 101            # MAV_COMP_ID_CAMERA2
VENDOR = "SkyGuard Sim"
MODEL = "Thermal640"
TIFF_TYPE = "image/tiff"


@dataclass(frozen=True)
class Shot:
    """Where the camera was when a frame was taken (the vehicle's position, the camera's direction)."""
    time_s: float
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float
    origin_lat_deg: float
    origin_lon_deg: float
    pose: th.CameraPose


@dataclass(frozen=True)
class Capture:
    image_index: int          # 0-based, as CAMERA_IMAGE_CAPTURED counts
    url: str
    shot: Shot


def place_people(scene: th.ThermalScene, origin_lat_deg: float, origin_lon_deg: float) -> tuple[th.PlacedPerson, ...]:
    out = []
    for p in scene.people:
        n, e = geodesy.offset_m(origin_lat_deg, origin_lon_deg, p.lat_deg, p.lon_deg)
        out.append(th.PlacedPerson(n, e, p.skin_temp_c, p.height_m))
    return tuple(out)


class ThermalCamera:
    """Renders and stores frames; safe to call `take` from a worker thread (one frame at a time)."""

    def __init__(self, sysid: int, files: FileServer) -> None:
        self.sysid = sysid
        self.files = files
        self._rng = np.random.default_rng(sysid)     # seeded per vehicle: a run is deterministic
        self._lock = threading.Lock()
        self._next_index = 0

    def path(self, image_index: int) -> str:
        return f"/thermal/{self.sysid}/{image_index}.tiff"

    def reserve_index(self) -> int:
        with self._lock:
            index = self._next_index
            self._next_index += 1
            return index

    def take(self, image_index: int, shot: Shot, scene: th.ThermalScene) -> Capture:
        people = place_people(scene, shot.origin_lat_deg, shot.origin_lon_deg)
        ground_origin = (0.0, 0.0) if scene.ground is None else geodesy.offset_m(
            shot.origin_lat_deg, shot.origin_lon_deg, scene.ground.lat_deg, scene.ground.lon_deg)
        with self._lock:   # one frame at a time: the noise sequence stays in capture order
            frame = th.render(scene, people, shot.pose, self._rng, ground_origin_ne=ground_origin)
        path = self.path(image_index)
        self.files.put(path, th.tiff_bytes(frame), TIFF_TYPE)
        return Capture(image_index, self.files.url(path), shot)
