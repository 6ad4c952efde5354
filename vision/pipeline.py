"""One stream's analysis chain: detect -> track -> geo-register -> crowd clusters, frame by frame; each
count carries an estimate with an uncertainty (vision.counting), taken from a density model instead when one
is given and the view is packed (vision.density).

Owned by one thread (a worker process's main loop, or a CLI command). Geo-registration needs a
camera model and the vehicle's pose at the frame's capture time; a frame without a pose is flagged
(``pose_missing``) and still counted in view, never placed on the map from a guess.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from vision.camera import (CameraModel, PoseErrors, expected_person_height_px, person_size_by_row, pixels_to_ground,
                           seen_area)
from vision.counting import CountModel, crowd_clusters, estimate_count
from vision.density import is_packed
from vision.detector import PersonDetector
from vision.pose import PoseHistory, VehiclePose
from vision.records import CrowdObservation, FrameResult, FrameTimings, PersonOnGround
from vision.sources import Frame
from vision.tracker import PersonTracker


@dataclass(frozen=True)
class GeoConfig:
    camera: CameraModel
    errors: PoseErrors = PoseErrors()
    crowd_radius_m: float = 2.0
    crowd_min_people: int = 3
    # a frame's seen area: where a person would be at least this tall. The drone preset finds 78 % of the people
    # 32-48 px tall in the real drone frames of ../shared/data (and 76-79 % above), but only 58-63 % at 16-32 px:
    # people that small are missed too often for a miss to take anyone off the map
    seen_min_person_px: float = 32.0


class StreamPipeline:
    def __init__(
        self,
        stream_id: str,
        drone_id: str,
        detector: PersonDetector,
        tracker: PersonTracker | None,
        geo: GeoConfig | None = None,
        tiles: str | tuple[int, int] = "auto",
        density=None,
    ):
        """``density``: a vision.density.DensityEstimator that takes over the count of packed views (None: the
        detector's count always, with its uncertainty)."""
        self.stream_id = stream_id
        self.drone_id = drone_id
        self.detector = detector
        self.tracker = tracker
        self.geo = geo
        self.tiles = tiles
        self.density = density
        self.poses = PoseHistory()
        self._count_model = getattr(detector.config, "count_model", None) or CountModel()

    def add_pose(self, pose: VehiclePose) -> None:
        self.poses.add(pose)

    def _geometry(self, frame: Frame):
        """(camera scaled to the frame, pose at capture time or None, expected person height px or None,
        expected person size on each row or None: the band planner's input and the seen area's)."""
        if self.geo is None:
            return None, None, None, None
        h, w = frame.image.shape[:2]
        camera = self.geo.camera
        if (camera.width_px, camera.height_px) != (w, h):
            camera = camera.scaled_to(w, h)
        pose = self.poses.at(frame.capture_time_s)
        if pose is None:
            return camera, None, None, None
        expected = expected_person_height_px(camera, pose.camera_pose())
        return camera, pose, expected, person_size_by_row(camera, pose.camera_pose())

    def process(self, frame: Frame) -> tuple[FrameResult, tuple[CrowdObservation, ...]]:
        """Analyse one frame (latency mode: live sources)."""
        camera, pose, expected_px, profile = self._geometry(frame)
        t0 = time.perf_counter()
        found = self.detector.detect(frame.image, self.tiles, expected_px, profile)
        return self._after_detection(frame, found, camera, pose, (time.perf_counter() - t0) * 1e3, profile)

    def process_stream(self, frames):
        """Analyse every frame of a sequence in order, with the detector's pipelined inference
        (throughput mode keeps a frame per core in flight). Yields what ``process`` returns.
        ``detect_ms`` is then the time between consecutive results, not one frame's latency."""
        geometry: dict[int, tuple] = {}

        def geometry_of(frame: Frame):
            if frame.index not in geometry:
                geometry[frame.index] = self._geometry(frame)
            return geometry[frame.index]

        last = time.perf_counter()
        for frame, found in self.detector.detect_stream(
            frames, lambda f: f.image, self.tiles, lambda f: geometry_of(f)[2], lambda f: geometry_of(f)[3]
        ):
            camera, pose, _, profile = geometry.pop(frame.index)
            now = time.perf_counter()
            yield self._after_detection(frame, found, camera, pose, (now - last) * 1e3, profile)
            last = time.perf_counter()

    def _after_detection(self, frame: Frame, found, camera, pose, detect_ms: float, sizes_px=None):
        h, w = frame.image.shape[:2]
        t1 = time.perf_counter()
        detections = found.detections
        unique = 0
        if self.tracker is not None:
            detections = self.tracker.update(detections, (h, w), frame.capture_time_s)
            unique = self.tracker.unique_seen()
        t2 = time.perf_counter()
        people: tuple[PersonOnGround, ...] = ()
        crowds: tuple[CrowdObservation, ...] = ()
        if camera is not None and pose is not None and detections:
            feet = np.array([d.foot_px for d in detections], dtype=float)
            ground = pixels_to_ground(camera, pose.camera_pose(), feet, self.geo.errors)
            people = tuple(
                PersonOnGround(
                    float(ground.lat_deg[i]),
                    float(ground.lon_deg[i]),
                    float(ground.uncertainty_m[i]),
                    d.confidence,
                    self.drone_id,
                    frame.capture_time_s,
                    d.track_id,
                )
                for i, d in enumerate(detections)
                if ground.valid[i]
            )
            crowds = crowd_clusters(
                people, self.geo.crowd_radius_m, self.geo.crowd_min_people, self.drone_id, frame.capture_time_s,
                self._count_model,
            )
        seen = ()
        if camera is not None and pose is not None:
            seen = seen_area(camera, pose.camera_pose(), self.geo.seen_min_person_px, sizes_px=sizes_px)
        estimate, sigma = estimate_count((d.confidence for d in detections), self._count_model)
        method = "detections"
        if self.density is not None and is_packed(detections, self.density.config.min_people,
                                                  self.density.config.packed_fraction):
            dens = self.density.estimate(frame.image)
            estimate, sigma, method = dens.count, dens.sigma, "density"
            if camera is not None and pose is not None:
                crowds = self._density_crowds(dens, camera, pose, frame.capture_time_s)
        t3 = time.perf_counter()
        result = FrameResult(
            stream_id=self.stream_id,
            frame_index=frame.index,
            capture_time_s=frame.capture_time_s,
            detections=detections,
            count_in_view=len(detections),
            unique_seen=unique,
            model_version=self.detector.version,
            tiles=found.grid,
            people=people,
            pose_missing=self.geo is not None and pose is None,
            timings=FrameTimings(frame.decode_ms, detect_ms, (t2 - t1) * 1e3, (t3 - t2) * 1e3),
            count_estimate=estimate,
            count_sigma=sigma,
            count_method=method,
            seen_area=seen,
        )
        return result, crowds

    def _density_crowds(self, dens, camera, pose, time_s: float) -> tuple[CrowdObservation, ...]:
        """Crowd observations from a density map's blobs: centre on the ground, radius from the blob's area."""
        out = []
        for blob in dens.blobs:
            if blob.count < self.geo.crowd_min_people:
                continue
            px = [(blob.x_px, blob.y_px), (blob.x_px + 1.0, blob.y_px), (blob.x_px, blob.y_px + 1.0)]
            g = pixels_to_ground(camera, pose.camera_pose(), px, self.geo.errors)
            if not g.valid.all():
                continue
            m_per_px = math.sqrt(
                math.hypot(g.east_m[1] - g.east_m[0], g.north_m[1] - g.north_m[0])
                * math.hypot(g.east_m[2] - g.east_m[0], g.north_m[2] - g.north_m[0])
            )
            radius = max(self.geo.crowd_radius_m / 2.0, math.sqrt(blob.area_px / math.pi) * m_per_px)
            out.append(CrowdObservation(
                float(g.lat_deg[0]), float(g.lon_deg[0]), int(round(blob.count)), radius,
                blob.count / (math.pi * radius**2), 1.0, self.drone_id, time_s, blob.count, blob.sigma, "density",
            ))
        return tuple(out)
