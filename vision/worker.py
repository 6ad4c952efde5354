"""Vision worker processes: one process per stream (multiprocessing ``spawn``), each running the full
pipeline and sending only small records back through a queue (never frames). Each worker also serves its own
latest analysed frame, detections drawn, as MJPEG on a loopback port the OS picks (vision/mjpeg.py; only while
someone watches does it draw and encode); a ``VideoServing`` record says where.

Queue policies: results to the station keep flowing and are dropped (and counted) only if the
station stops reading; poses to a worker are dropped when the worker's inbox is full (newer ones
follow). A worker that fails reports a ``failed`` StreamStatus and exits; the others keep serving.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import resource
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field, replace

from vision.detector import DetectorConfig
from vision.pipeline import GeoConfig
from vision.pose import VehiclePose
from vision.records import StreamStatus, WorkerStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    """What one worker analyses and how. ``source``: a file path, a URL, or ``device:N``."""

    stream_id: str
    source: str
    drone_id: str = ""
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    geo: GeoConfig | None = None
    tiles: str | tuple[int, int] = "auto"
    track: bool = True
    realtime: bool = False  # replay a file at its frame rate, latest frame only, as if it were a camera
    analyses_per_s: float | None = None  # live sources: analyse at most this often (None: as fast as possible)
    max_frames: int | None = None
    stale_after_s: float = 5.0
    max_failures: int | None = 5
    density: object | None = None  # a vision.density.DensityConfig: packed views counted by a density model
    loop: bool = False  # a file read as fast as possible starts again at its end (benchmarks on short clips)
    video: bool = True  # serve the analysed frames, detections drawn, as MJPEG on loopback (vision/mjpeg.py)


class StopSignal:
    """The parent's "stop" to one worker process, set once: `set()`, `is_set()`, `wait(timeout_s)`.

    A pipe, not a multiprocessing.Event: Event.set() waits for every process sleeping in Event.wait() to wake, and
    waits forever for one that was killed there (a crashed worker would hang the station's stop)."""

    def __init__(self, ctx) -> None:
        self._reader, self._writer = ctx.Pipe(duplex=False)

    def set(self) -> None:
        try:
            self._writer.send_bytes(b"stop")  # never blocks: the pipe's buffer holds it, and nothing else is sent
        except OSError:
            pass

    def is_set(self) -> bool:
        return self._reader.poll(0)

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._reader.poll(timeout_s)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _put(results, record) -> None:
    try:
        results.put(record, timeout=1.0)
    except queue.Full:
        pass  # the station is not reading; dropping is better than blocking the analysis


def _file_frames(source, stop, depth: int = 4):
    """Decode a file on a helper thread (in parallel with inference), handing frames over a small queue."""
    frames: queue.Queue = queue.Queue(maxsize=depth)
    end = object()
    errors: list[BaseException] = []

    def reader():
        try:
            for frame in source.frames():
                while not stop.is_set():
                    try:
                        frames.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer below
            errors.append(exc)
        finally:
            frames.put(end)

    thread = threading.Thread(target=reader, name="decode", daemon=True)
    thread.start()
    while True:
        item = frames.get()
        if item is end:
            break
        yield item
    thread.join(timeout=5.0)
    if errors:
        raise errors[0]


class _Looped:
    """A file source read again from the start each time it ends, frame indices and media times running on."""

    def __init__(self, path: str, first):
        self._path, self._first = path, first

    def frames(self):
        from vision.sources import FileSource

        source, offset_n, offset_s = self._first, 0, 0.0
        while True:
            n = 0
            last_s = 0.0
            for frame in source.frames():
                n += 1
                last_s = frame.capture_time_s
                yield replace(frame, index=frame.index + offset_n, capture_time_s=frame.capture_time_s + offset_s)
            if n == 0:
                return
            offset_n += n
            offset_s += last_s + 1.0 / (source.fps or 30.0)
            if source is not self._first:
                source.close()
            source = FileSource(self._path)


def worker_main(spec: StreamSpec, results, poses, stop) -> None:
    """Process entry point: analyse ``spec``'s stream until it ends, fails or ``stop`` is set."""
    # Ctrl-C in a terminal reaches the whole process group: the station stops its workers itself (``stop``)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    status = lambda state, msg: _put(results, StreamStatus(spec.stream_id, state, msg, time.time()))  # noqa: E731
    source = None
    video = None
    try:
        from vision.detector import PersonDetector, prepare_ultralytics, default_cache_dir
        from vision.pipeline import StreamPipeline
        from vision.sources import FileSource, LiveSource, is_live_target
        from vision.tracker import PersonTracker

        status("opening", f"loading model {spec.detector.model_path}")
        live = spec.realtime or is_live_target(spec.source)
        # recorded video: every frame, as fast as possible (throughput); live: the newest frame, soonest (latency)
        detector = PersonDetector(replace(spec.detector, mode="latency" if live else "throughput"))
        tracker = None
        fps_hint = 30.0
        if live:
            source = LiveSource(
                spec.source,
                spec.stream_id,
                on_status=lambda s: _put(results, s),
                stale_after_s=spec.stale_after_s,
                max_failures=spec.max_failures,
                realtime_file=spec.realtime,
            ).start()
            frames = None
        else:
            source = FileSource(spec.source)
            fps_hint = source.fps or fps_hint
            # compile the model for this frame size now, with the rest of model loading (not on frame 0)
            detector.prepare(source.width_px, source.height_px)
            frames = _file_frames(_Looped(spec.source, source) if spec.loop else source, stop)
            status("live", f"reading {spec.source}")
        if spec.track:
            prepare_ultralytics(spec.detector.cache_dir or default_cache_dir())
            tracker = PersonTracker(
                frame_rate_hz=spec.analyses_per_s or fps_hint,
                min_confidence=min(spec.detector.conf, spec.detector.tile_conf),
            )
        density = None
        if spec.density is not None:
            from vision.density import DensityEstimator

            density = DensityEstimator(spec.density)
        pipeline = StreamPipeline(spec.stream_id, spec.drone_id, detector, tracker, spec.geo, spec.tiles, density)
        if spec.video:
            from vision.mjpeg import start_video

            video, serving = start_video(spec.stream_id, time.time)
            if serving is not None:
                _put(results, serving)
        in_flight: dict[int, object] = {}  # file mode with video: the images of frames being analysed, by index

        def take_poses() -> None:
            while poses is not None:
                try:
                    pose = poses.get_nowait()
                except queue.Empty:
                    return
                if isinstance(pose, VehiclePose):
                    pipeline.add_pose(pose)

        waits = {"decode": 0.0, "decode_wait": 0.0}

        def file_frames():
            n = 0
            while True:
                t0 = time.perf_counter()
                frame = next(frames, None)
                waits["decode_wait"] += (time.perf_counter() - t0) * 1e3
                if frame is None or stop.is_set() or (spec.max_frames is not None and n >= spec.max_frames):
                    return
                waits["decode"] += frame.decode_ms
                n += 1
                take_poses()
                if video is not None:
                    in_flight[frame.index] = frame.image
                    while len(in_flight) > 8:  # results come in order; at most a few frames are in flight
                        in_flight.pop(next(iter(in_flight)))
                yield frame

        def live_frames():
            next_due = time.monotonic()
            while not stop.is_set():
                take_poses()
                if spec.analyses_per_s:
                    wait = next_due - time.monotonic()
                    if wait > 0 and stop.wait(wait):
                        return
                    next_due = max(next_due + 1.0 / spec.analyses_per_s, time.monotonic())
                frame = source.latest(timeout_s=0.5)
                if frame is None:
                    if source.finished:
                        return
                    continue
                take_poses()  # the poses that came while waiting: a frame meets the poses up to its capture time
                yield frame

        analysed = 0
        track_ms = geo_ms = 0.0
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        outputs = (
            ((frame.image, *pipeline.process(frame)) for frame in live_frames()) if live
            else ((in_flight.pop(r.frame_index, None), r, c) for r, c in pipeline.process_stream(file_frames()))
        )
        for image, result, crowds in outputs:
            if video is not None and image is not None:
                video.offer(image, result)
            _put(results, result)
            for crowd in crowds:
                _put(results, crowd)
            analysed += 1
            track_ms += result.timings.track_ms
            geo_ms += result.timings.geo_ms
            if spec.max_frames is not None and analysed >= spec.max_frames:
                break
        elapsed = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        n = max(analysed, 1)
        stages = {} if live else {"decode": waits["decode"] / n, "decode_wait": waits["decode_wait"] / n}
        if not live:
            stages.update(detector.stage_means_ms())
        stages.update({"track": track_ms / n, "geo": geo_ms / n})
        dropped = source.dropped if live else 0
        if live and source.state == "failed":
            raise RuntimeError(f"stream {spec.source} failed")
        if not live and source.ended_early and (spec.max_frames is None or analysed < spec.max_frames):
            status("ended", f"{spec.source}: video ended early after {source.frames_read} of {source.declared_frames} frames (truncated?)")
        else:
            status("ended", f"{spec.source}: {analysed} frames analysed")
        _put(
            results,
            WorkerStats(
                spec.stream_id, analysed, elapsed, analysed / elapsed if elapsed > 0 else 0.0, dropped, _peak_rss_mb(),
                detector.version, tuple(stages.items()), cpu_s * 1e3 / n, detector.fallback_reason or "",
            ),
        )
    except Exception as exc:  # reported, then the process exits; the other workers are unaffected
        status("failed", f"{type(exc).__name__}: {exc}")
        log.debug("worker %s failed:\n%s", spec.stream_id, traceback.format_exc())
    finally:
        if video is not None:
            video.close()  # its viewers see the stream end
        if source is not None:
            (source.stop if hasattr(source, "stop") else source.close)()
        # make sure buffered records reach the pipe before the process exits
        if hasattr(results, "close"):
            results.close()
            results.join_thread()


class VisionWorkers:
    """Starts and watches one spawned worker process per stream; collects their records.

    Each worker has its own result queue: a worker killed while writing can only break its own
    queue (a shared queue's lock would be left held and block every other worker).
    """

    def __init__(self, results_size: int = 10_000, pose_inbox_size: int = 200):
        self._ctx = mp.get_context("spawn")
        self._results_size = results_size
        self._pose_inbox_size = pose_inbox_size
        self._procs: dict[str, mp.process.BaseProcess] = {}
        self._results: dict[str, object] = {}
        self._poses: dict[str, object] = {}
        self._stops: dict[str, object] = {}
        self._reported: set[str] = set()

    def start(self, spec: StreamSpec) -> None:
        if spec.stream_id in self._procs:
            raise ValueError(f"stream {spec.stream_id} already has a worker")
        results = self._ctx.Queue(self._results_size)
        poses = self._ctx.Queue(self._pose_inbox_size)
        stop = StopSignal(self._ctx)
        proc = self._ctx.Process(
            target=worker_main, args=(spec, results, poses, stop), name=f"vision-{spec.stream_id}", daemon=True
        )
        proc.start()
        sid = spec.stream_id
        self._procs[sid], self._results[sid], self._poses[sid], self._stops[sid] = proc, results, poses, stop

    def send_pose(self, stream_id: str, pose: VehiclePose) -> bool:
        """Forward a telemetry pose to a stream's worker; False when its inbox is full (the pose is dropped)."""
        try:
            self._poses[stream_id].put_nowait(pose)
            return True
        except queue.Full:
            return False

    def alive(self) -> dict[str, bool]:
        return {sid: p.is_alive() for sid, p in self._procs.items()}

    def _drain(self) -> list:
        out = []
        for results in self._results.values():
            while True:
                try:
                    out.append(results.get_nowait())
                except queue.Empty:
                    break
                except (EOFError, OSError):  # the writer died mid-record
                    break
        return out

    def poll(self, timeout_s: float = 0.1) -> list:
        """Records that arrived (waits up to ``timeout_s`` for the first), plus a ``failed`` status for any
        worker process that died without saying so (e.g. killed)."""
        deadline = time.monotonic() + timeout_s
        out = self._drain()
        while not out and time.monotonic() < deadline:
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
            out = self._drain()
        for sid, proc in self._procs.items():
            if proc.exitcode is not None and proc.exitcode != 0 and sid not in self._reported:
                self._reported.add(sid)
                out.append(StreamStatus(sid, "failed", f"worker process exited with code {proc.exitcode}", time.time()))
        return out

    def stop(self, stream_id: str | None = None, timeout_s: float = 10.0) -> None:
        sids = [stream_id] if stream_id else list(self._procs)
        for sid in sids:
            self._stops[sid].set()
        for sid in sids:
            proc = self._procs[sid]
            deadline = time.monotonic() + timeout_s
            while proc.is_alive() and time.monotonic() < deadline:
                self._drain()  # a worker cannot exit while its queue's feeder still holds records
                proc.join(0.05)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
