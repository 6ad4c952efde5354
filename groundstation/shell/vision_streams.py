"""The station's vision adapter (shell): one spawned vision worker per configured camera, poses fed from
telemetry, and a reader thread that turns worker records into core events.

Threads and policies:
- link threads call `on_state` with every StateUpdated: the vehicle's pose (wall-clock time stamped, the
  capture clock the workers use for live sources and real-time replays) is sent to each of its streams'
  workers, at most every `POSE_INTERVAL_S`; a full pose inbox drops the pose (newer ones follow); never blocks;
- one reader thread polls every worker: frame results and crowd observations go to the core inbox keyed by
  stream with keep-latest (`put_latest`: a newer frame replaces one the core has not handled yet; crowd
  observations are merged, never replaced, up to `MAX_PENDING_CROWDS`); stream status changes and worker
  stats go through `put_event` (never dropped);
- a worker that fails (or whose process dies) is restarted after a backoff (`restart_backoff_s`, doubling up
  to `MAX_BACKOFF_S`) at most `max_restarts` times, each restart reported as a `restarting` status; a stream
  that ended (a file played to its end) is not restarted. A worker never stops the station or the links.
- `stop()` stops every worker (their last records are still delivered) and the reader thread.

Each stream has its own `vision.worker.VisionWorkers` (one process): restarting one never touches the others.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from groundstation.config import CameraConfig, StationConfig
from groundstation.core.crowds import VisionObserved
from telemetry.records import StateUpdated, VehicleState

log = logging.getLogger("groundstation.vision")

POSE_INTERVAL_S = 0.05
MAX_BACKOFF_S = 60.0
MAX_PENDING_CROWDS = 500
IDLE_POLL_S = 0.005


def camera_pose_at(state: VehicleState, camera: CameraConfig, time_s: float):
    """The pose a vision worker needs for one frame: the vehicle's position and heading, and the gimbal angles
    it reports (MOUNT_STATUS) when the camera follows telemetry, else the camera's fixed mount angles."""
    from vision.pose import VehiclePose

    pitch, yaw, roll = camera.mount_pitch_deg, camera.mount_yaw_deg, 0.0
    if camera.gimbal == "telemetry" and state.gimbal_pitch_deg is not None:
        pitch, yaw, roll = state.gimbal_pitch_deg, state.gimbal_yaw_deg or 0.0, state.gimbal_roll_deg or 0.0
    return VehiclePose(time_s, state.lat_deg, state.lon_deg, state.alt_rel_m, state.heading_deg,
                       gimbal_pitch_deg=pitch, gimbal_yaw_deg=yaw, gimbal_roll_deg=roll)


def merge_observed(old: VisionObserved, new: VisionObserved) -> VisionObserved:
    """Keep-latest for frames, keep-all (bounded) for crowd observations."""
    crowds = (old.crowds + new.crowds)[-MAX_PENDING_CROWDS:]
    replaced = 1 if old.frame is not None and new.frame is not None else 0
    return VisionObserved(new.stream_id, new.frame if new.frame is not None else old.frame, crowds,
                          old.frames_coalesced + new.frames_coalesced + replaced)


def stream_spec(camera: CameraConfig, config: StationConfig, cache_dir: Any = None):
    """The vision worker's StreamSpec for one [[cameras]] entry."""
    from vision.camera import CameraModel
    from vision.pipeline import GeoConfig
    from vision.worker import StreamSpec

    detector = camera.detector_config(cache_dir)
    geo = GeoConfig(CameraModel.from_hfov(camera.width_px, camera.height_px, camera.hfov_deg),
                    crowd_radius_m=config.counting.crowd_radius_m, crowd_min_people=camera.crowd_min_people)
    # a file that cannot be opened will not get better by retrying inside the worker (the worker restarts do that)
    is_file = "://" not in camera.source and not camera.source.startswith("device:")
    return StreamSpec(camera.id, camera.source, camera.vehicle_id, detector=detector, geo=geo, tiles=camera.tiles,
                      realtime=camera.realtime, analyses_per_s=camera.analyses_per_s,
                      max_failures=1 if is_file else 5, density=camera.density_config())


@dataclass
class _Stream:
    camera: CameraConfig
    spec: Any
    workers: Any = None  # vision.worker.VisionWorkers, or None while waiting to restart / finished
    restarts: int = 0
    restart_at: float | None = None  # monotonic
    finished: bool = False
    last_pose_s: float = field(default=float("-inf"))
    video_url: str | None = None  # the worker's MJPEG of its analysed frames (vision/mjpeg.py), while it serves


class VisionStreams:
    """Supervises the vision workers of a station (see the module docstring)."""

    def __init__(self, config: StationConfig, put_event: Callable[[Any], None],
                 put_latest: Callable[[str, VisionObserved, Callable], None], *,
                 clock: Callable[[], float] = time.time, workers_factory: Callable[[], Any] | None = None,
                 cache_dir: Any = None):
        self._config = config
        self._put_event = put_event
        self._put_latest = put_latest
        self._clock = clock
        self._workers_factory = workers_factory
        self._lock = threading.Lock()
        self._streams = {c.id: _Stream(c, stream_spec(c, config, cache_dir)) for c in config.cameras}
        self._by_vehicle: dict[str, list[_Stream]] = {}
        for s in self._streams.values():
            self._by_vehicle.setdefault(s.camera.vehicle_id, []).append(s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.poses_sent = 0
        self.poses_dropped = 0

    def _new_workers(self):
        if self._workers_factory is not None:
            return self._workers_factory()
        from vision.worker import VisionWorkers

        return VisionWorkers()

    def _status(self, stream_id: str, state: str, message: str) -> None:
        from vision.records import StreamStatus

        self._put_event(StreamStatus(stream_id, state, message, self._clock()))

    def _launch(self, s: _Stream) -> None:
        try:
            workers = self._new_workers()
            workers.start(s.spec)
        except Exception as exc:  # e.g. cannot spawn: treated as a failed worker
            log.exception("vision stream %s: cannot start a worker", s.camera.id)
            self._status(s.camera.id, "failed", f"cannot start worker: {type(exc).__name__}: {exc}")
            self._schedule_restart(s)
            return
        with self._lock:
            s.workers, s.restart_at = workers, None

    def start(self) -> "VisionStreams":
        for s in self._streams.values():
            self._launch(s)
        self._thread = threading.Thread(target=self._run, name="vision-reader", daemon=True)
        self._thread.start()
        return self

    # --- poses (link threads) ---------------------------------------------------------------------------

    def on_state(self, event: StateUpdated) -> None:
        """Send the vehicle's pose to its streams' workers. Called on link threads: never blocks or raises."""
        streams = self._by_vehicle.get(event.state.vehicle_id)
        if not streams:
            return
        st = event.state
        if not st.position_known or st.alt_rel_m is None or st.heading_deg is None:
            return
        # the event is stamped with the monotonic clock: move it to the workers' wall clock
        time_s = self._clock() - max(0.0, time.monotonic() - event.at_s)
        for s in streams:
            with self._lock:
                workers = s.workers
                if workers is None or time_s - s.last_pose_s < POSE_INTERVAL_S:
                    continue
                s.last_pose_s = time_s
            pose = camera_pose_at(st, s.camera, time_s)
            try:
                sent = workers.send_pose(s.camera.id, pose)
            except Exception:  # a worker being replaced; the next pose goes to the new one
                sent = False
            if sent:
                self.poses_sent += 1
            else:
                self.poses_dropped += 1

    # --- the reader thread ------------------------------------------------------------------------------

    def _schedule_restart(self, s: _Stream) -> None:
        camera = s.camera
        if s.restarts >= camera.max_restarts:
            s.finished = True
            self._status(camera.id, "gave_up", f"worker failed; not restarted after {s.restarts} restart(s)")
            return
        delay = min(MAX_BACKOFF_S, camera.restart_backoff_s * 2.0 ** s.restarts)
        s.restarts += 1
        s.restart_at = time.monotonic() + delay
        self._status(camera.id, "restarting", f"restart {s.restarts}/{camera.max_restarts} in {delay:.1f} s")

    def _retire(self, s: _Stream) -> None:
        with self._lock:
            workers, s.workers, s.video_url = s.workers, None, None
        if workers is not None:
            try:
                workers.stop(timeout_s=2.0)
            except Exception:
                log.exception("vision stream %s: stopping its worker failed", s.camera.id)

    def _handle(self, s: _Stream, record: Any) -> None:
        from vision.mjpeg import VideoServing
        from vision.records import CrowdObservation, FrameResult, StreamStatus, WorkerStats

        sid = s.camera.id
        if isinstance(record, VideoServing):
            with self._lock:
                s.video_url = record.url
        elif isinstance(record, FrameResult):
            self._put_latest(sid, VisionObserved(sid, record), merge_observed)
        elif isinstance(record, CrowdObservation):
            self._put_latest(sid, VisionObserved(sid, None, (record,)), merge_observed)
        elif isinstance(record, StreamStatus):
            self._put_event(record)
            if record.state == "failed" and not self._stop.is_set():
                self._retire(s)
                self._schedule_restart(s)
            elif record.state == "ended":
                s.finished = True
                with self._lock:
                    s.video_url = None
        elif isinstance(record, WorkerStats):
            self._put_event(record)

    def _run(self) -> None:
        while not self._stop.is_set():
            got = False
            for s in list(self._streams.values()):
                with self._lock:
                    workers = s.workers
                if workers is not None:
                    try:
                        records = workers.poll(0.0)
                    except Exception:
                        log.exception("vision stream %s: reading its worker failed", s.camera.id)
                        records = []
                    for record in records:
                        got = True
                        if s.workers is not workers:
                            break  # that worker failed and was retired: the rest of its records are stale
                        try:
                            self._handle(s, record)
                        except Exception:  # never let the reader die
                            log.exception("vision stream %s: cannot handle %r", s.camera.id, type(record).__name__)
                elif s.restart_at is not None and not s.finished and time.monotonic() >= s.restart_at:
                    self._status(s.camera.id, "opening", f"restarting worker (attempt {s.restarts})")
                    self._launch(s)
            if not got:
                self._stop.wait(IDLE_POLL_S)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the workers (delivering their last records), then the reader thread."""
        if self._thread is None:
            return
        with self._lock:
            running = [(s, s.workers) for s in self._streams.values() if s.workers is not None]
        self._stop.set()
        self._thread.join(timeout_s)
        self._thread = None
        for s, workers in running:
            try:
                records = workers.poll(0.0)
                workers.stop(timeout_s=timeout_s)  # records that arrive while it winds down are not delivered
            except Exception:
                log.exception("vision stream %s: stopping its worker failed", s.camera.id)
                records = []
            for record in records:
                try:
                    self._handle(s, record)
                except Exception:
                    log.exception("vision stream %s: cannot handle %r", s.camera.id, type(record).__name__)
            self._status(s.camera.id, "stopped", "station stopping")
            with self._lock:
                s.workers, s.video_url = None, None

    def video_urls(self) -> dict[str, str]:
        """Per stream whose worker serves its analysed frames now, the MJPEG address (loopback, with its token)."""
        with self._lock:
            return {sid: s.video_url for sid, s in self._streams.items() if s.video_url}

    def alive(self) -> dict[str, bool]:
        out = {}
        with self._lock:
            items = [(sid, s.workers) for sid, s in self._streams.items()]
        for sid, workers in items:
            out[sid] = bool(workers is not None and workers.alive().get(sid, False))
        return out
