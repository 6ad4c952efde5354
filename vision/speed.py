"""Speed measurement: the naive Ultralytics baseline against our pipeline on the same video frames, a
worker's memory, and capture-to-observation latency of a live-like stream.

What each figure means:
- baseline fps: frames decoded with OpenCV and passed one by one to ``YOLO(PATH).predict(frame,
  imgsz=N)`` with Ultralytics' defaults (``verbose=False`` only silences its per-frame log line), in
  this process, after one warm-up frame.
- pipeline fps: the same first frames analysed by a spawned vision worker (decode on a helper
  thread, detection with OpenVINO at the product's default precision (INT8), two requests in
  flight on a static-shape model compiled for the frame size, each frame letterboxed straight into
  a request's input tensor; ByteTrack, geo-registration with an assumed camera pose, crowd
  clustering), every frame analysed (none skipped), model loading (and a first-time export or
  INT8 quantisation) excluded. The worker also reports where its time went per frame
  (``WorkerStats.stage_ms``, ``cpu_ms_per_frame``).
- latency: a file replayed in real time as a live camera (latest frame only), analysed at a fixed
  rate; capture time (when the frame was decoded) to the moment the record is read from the
  worker's queue in the parent process.
Footage without telemetry gets an assumed camera pose (``AssumedPose``), the same for every frame; a
clip shorter than the frames asked for is looped (both the baseline and the worker see the same frames).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.camera import CameraModel
from vision.detector import DetectorConfig, default_cache_dir, prepare_ultralytics
from vision.pipeline import GeoConfig
from vision.pose import VehiclePose
from vision.records import FrameResult, StreamStatus, WorkerStats
from vision.worker import StreamSpec, VisionWorkers

@dataclass(frozen=True)
class AssumedPose:
    """The camera assumed for footage without telemetry."""

    alt_m: float = 10.0
    pitch_deg: float = -30.0
    hfov_deg: float = 84.0


# the street clip's camera (an elevated street view): 10 m up, looking 30 degrees down, 84 degree lens
ASSUMED_POSE = AssumedPose()
ASSUMED_HFOV_DEG = ASSUMED_POSE.hfov_deg
# ../shared/data/uav_unicamp_seq.mp4 (DJI Phantom 4, 84 degree lens): the horizon about a quarter down the
# frame and people about 45 px tall mid-frame and 90 px at the bottom, which a camera about 10 m up at
# -14 degrees gives (vision.camera.person_size_by_row); the clip has no telemetry
UNICAMP_POSE = AssumedPose(alt_m=10.0, pitch_deg=-14.0, hfov_deg=84.0)


def assumed_poses(duration_s: float, start_s: float = 0.0, alt_m: float = 10.0, pitch_deg: float = -30.0):
    return [
        VehiclePose(start_s + t, 22.0471, 112.4650, alt_m, 0.0, gimbal_pitch_deg=pitch_deg)
        for t in np.arange(-1.0, duration_s + 2.0, 0.5)
    ]


@dataclass(frozen=True)
class PipelineRun:
    stats: WorkerStats
    latencies_ms: tuple[float, ...]
    statuses: tuple[StreamStatus, ...]
    results: int


def baseline_fps(video: Path, model: Path, imgsz: int, frames: int) -> tuple[float, int]:
    """(fps, frames timed) of decode + ``YOLO(model).predict(frame, imgsz=imgsz)``; a short video is looped."""
    import cv2

    prepare_ultralytics(default_cache_dir())
    from ultralytics import YOLO

    yolo = YOLO(str(model))
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    if not ok:
        raise RuntimeError(f"cannot read {video}")
    yolo.predict(frame, imgsz=imgsz, verbose=False)  # warm-up: model fuse and setup
    cap.release()
    cap = cv2.VideoCapture(str(video))
    n = 0
    start = time.perf_counter()
    while n < frames:
        ok, frame = cap.read()
        if not ok and n > 0:  # looped: reopen and go on (decode time counts, as in the worker)
            cap.release()
            cap = cv2.VideoCapture(str(video))
            ok, frame = cap.read()
        if not ok:
            break
        yolo.predict(frame, imgsz=imgsz, verbose=False)
        n += 1
    elapsed = time.perf_counter() - start
    cap.release()
    return (n / elapsed if elapsed > 0 else 0.0), n


def run_pipeline(
    video: Path,
    detector: DetectorConfig,
    frames: int | None,
    realtime: bool = False,
    analyses_per_s: float | None = None,
    tiles: str | tuple[int, int] = "auto",
    timeout_s: float = 600.0,
    pose: AssumedPose = ASSUMED_POSE,
) -> PipelineRun:
    """Run one worker on ``video`` (looped up to ``frames``, when it is a file read as fast as possible) and
    collect its stats (and latencies, meaningful when ``realtime``)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    workers = VisionWorkers()
    spec = StreamSpec(
        stream_id="bench",
        source=str(video),
        drone_id="bench",
        detector=detector,
        geo=GeoConfig(CameraModel.from_hfov(w, h, pose.hfov_deg)),
        tiles=tiles,
        realtime=realtime,
        analyses_per_s=analyses_per_s,
        max_frames=frames,
        loop=not realtime and frames is not None,
    )
    workers.start(spec)
    duration = (count / fps) if count else 60.0
    if frames is not None and not realtime:
        duration = max(duration, frames / fps)  # looped
    now = time.time()
    # files carry media time (0 .. duration), a real-time replay carries wall-clock capture times
    for sample in assumed_poses(duration + 30.0, now if realtime else 0.0, pose.alt_m, pose.pitch_deg):
        workers.send_pose("bench", sample)
    stats, latencies, statuses, n = None, [], [], 0
    deadline = time.monotonic() + timeout_s
    try:
        while stats is None and time.monotonic() < deadline:
            for record in workers.poll(0.5):
                if isinstance(record, FrameResult):
                    latencies.append((time.time() - record.capture_time_s) * 1000.0)
                    n += 1
                elif isinstance(record, WorkerStats):
                    stats = record
                elif isinstance(record, StreamStatus):
                    statuses.append(record)
                    if record.state == "failed":
                        raise RuntimeError(f"pipeline worker failed: {record.message}")
    finally:
        workers.stop()
    if stats is None:
        raise RuntimeError("pipeline worker gave no stats in time")
    return PipelineRun(stats, tuple(latencies), tuple(statuses), n)
