"""Frozen records that leave the vision package: detections, per-frame results, people on the ground,
crowd observations, stream status and worker statistics. Units are in the field names.

These are the only things a vision worker sends to the station (small, picklable, no frames).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Detection:
    """One person box in full-frame pixel coordinates (x right, y down)."""

    x1_px: float
    y1_px: float
    x2_px: float
    y2_px: float
    confidence: float
    track_id: int | None = None

    @property
    def height_px(self) -> float:
        return self.y2_px - self.y1_px

    @property
    def foot_px(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands."""
        return ((self.x1_px + self.x2_px) / 2.0, self.y2_px)


@dataclass(frozen=True)
class PersonOnGround:
    """A detected person's feet placed on the ground."""

    lat_deg: float
    lon_deg: float
    uncertainty_m: float
    confidence: float
    drone_id: str
    time_s: float
    track_id: int | None = None


@dataclass(frozen=True)
class FrameTimings:
    """Where one frame's time went, in milliseconds of wall clock."""

    decode_ms: float = 0.0
    detect_ms: float = 0.0
    track_ms: float = 0.0
    geo_ms: float = 0.0


@dataclass(frozen=True)
class FrameResult:
    """What one analysed frame produced. ``pose_missing`` flags a frame that could not be geo-registered."""

    stream_id: str
    frame_index: int
    capture_time_s: float
    detections: tuple[Detection, ...]
    count_in_view: int
    unique_seen: int
    model_version: str
    tiles: tuple[int, int] = (1, 1)
    people: tuple[PersonOnGround, ...] = ()
    pose_missing: bool = False
    timings: FrameTimings = field(default_factory=FrameTimings)
    # how many people are really in view: ``count_estimate`` (detections weighted by how likely each is a
    # person, plus the people a detector of this recall misses; or a density model's integral) with a
    # one-sigma ``count_sigma``; ``count_method`` says which: "detections" or "density"
    count_estimate: float | None = None  # None: not estimated (read count_in_view, sigma 0)
    count_sigma: float = 0.0
    count_method: str = "detections"
    # the ground where this frame would have seen a person (vision.camera.seen_area: (lat, lon) vertices), so that
    # the station knows whom it should have seen; () when unknown (no pose, no camera model)
    seen_area: tuple[tuple[float, float], ...] = ()

    def count_bounds(self, z: float = 1.645) -> tuple[float, float]:
        """(low, high) of the estimate at ``z`` sigmas (1.645: a one-sided 95 % bound each way)."""
        mid = float(self.count_in_view if self.count_estimate is None else self.count_estimate)
        return max(0.0, mid - z * self.count_sigma), mid + z * self.count_sigma


@dataclass(frozen=True)
class CrowdObservation:
    """A cluster of people within ``r`` metres of one another, as seen by one drone at one time."""

    centroid_lat_deg: float
    centroid_lon_deg: float
    count: int
    radius_m: float
    density_per_m2: float
    confidence: float
    drone_id: str
    time_s: float
    # as FrameResult: the estimated number of people in the cluster with a one-sigma uncertainty, and how
    # it was obtained ("detections" or "density"); None: not estimated (read count, sigma 0)
    count_estimate: float | None = None
    count_sigma: float = 0.0
    count_method: str = "detections"

    def count_bounds(self, z: float = 1.645) -> tuple[float, float]:
        """(low, high) of the estimate at ``z`` sigmas (1.645: a one-sided 95 % bound each way)."""
        mid = float(self.count if self.count_estimate is None else self.count_estimate)
        return max(0.0, mid - z * self.count_sigma), mid + z * self.count_sigma


@dataclass(frozen=True)
class StreamStatus:
    """A change in a stream's health: ``state`` is one of opening, live, dead, reconnecting, ended, failed."""

    stream_id: str
    state: str
    message: str
    time_s: float


@dataclass(frozen=True)
class WorkerStats:
    """A worker's closing summary: frames analysed, their rate, frames a live source overwrote, peak memory."""

    stream_id: str
    frames_analysed: int
    elapsed_s: float
    analysed_fps: float
    dropped_frames: int
    peak_rss_mb: float
    model_version: str
    # mean ms per analysed frame in each stage (decode is on its own thread, in parallel with the rest;
    # infer_wait is the analysis thread blocked on inference; decode_wait blocked on the decoder)
    stage_ms: tuple[tuple[str, float], ...] = ()
    cpu_ms_per_frame: float = 0.0  # the worker process's CPU time (all threads, user + system) per frame
    note: str = ""  # e.g. why INT8 fell back to a float precision
