"""Frame sources: a video or image file (every frame, in order), a live network stream or camera device
(only the latest frame is kept; a dead stream is reported and reopened with backoff), a file replayed
in real time as if live, and a push source that another component (e.g. the simulator) feeds.

Live sources read frames on their own thread, so decoding runs in parallel with inference; a slow
model never builds up latency because older frames are overwritten, not queued.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.errors import NotAnImageError, SourceOpenError
from vision.records import StreamStatus

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

StatusCallback = Callable[[StreamStatus], None]


@dataclass(frozen=True)
class Frame:
    """A decoded BGR image; ``capture_time_s`` is wall-clock time (live) or media time (files)."""

    image: np.ndarray
    index: int
    capture_time_s: float
    decode_ms: float = 0.0


def is_image_path(path: str | Path) -> bool:
    return Path(str(path)).suffix.lower() in IMAGE_SUFFIXES


def is_live_target(target: str) -> bool:
    return target.startswith(("rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://", "http://", "https://", "srt://")) or (
        target.startswith("device:")
    )


def _open_capture(target: str, timeout_ms: int = 5000) -> cv2.VideoCapture:
    if target.startswith("device:"):
        return cv2.VideoCapture(int(target.split(":", 1)[1]))
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)


class FileSource:
    """Every frame of a video file, or the one frame of a still image, in order."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceOpenError(f"no such file: {self.path}")
        self.is_image = is_image_path(self.path)
        self.fps = 0.0
        self.declared_frames = 1
        self.width_px = self.height_px = 0
        self.frames_read = 0
        self._image = None
        self._cap = None
        if self.is_image:
            data = np.fromfile(str(self.path), dtype=np.uint8)
            self._image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if self._image is None:
                raise NotAnImageError(f"{self.path} is not a readable image")
            return
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise SourceOpenError(f"cannot open video {self.path}: not a video or corrupt")
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.declared_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width_px = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)  # as the header declares (0: unknown)
        self.height_px = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)

    @property
    def ended_early(self) -> bool:
        """True when the video stopped before the frame count its header declares (truncated or damaged)."""
        return not self.is_image and self.declared_frames > 0 and self.frames_read < self.declared_frames

    def frames(self) -> Iterator[Frame]:
        if self._image is not None:
            self.frames_read = 1
            yield Frame(self._image, 0, 0.0)
            return
        fps = self.fps if self.fps > 0 else 30.0
        index = 0
        while True:
            t0 = time.perf_counter()
            ok, image = self._cap.read()
            if not ok or image is None:
                break
            self.frames_read = index + 1
            yield Frame(image, index, index / fps, (time.perf_counter() - t0) * 1000.0)
            index += 1
        if index == 0:
            raise SourceOpenError(f"{self.path} holds no decodable frame (corrupt or truncated video)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


class LatestFrameSlot:
    """Holds only the newest frame; ``take`` waits for one newer than the last taken."""

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken_index = -1
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None and self._frame.index > self._taken_index:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def take(self, timeout_s: float) -> Frame | None:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None and self._frame.index > self._taken_index, timeout_s)
            frame = self._frame
            if frame is None or frame.index <= self._taken_index:
                return None
            self._taken_index = frame.index
            return frame


class PushSource:
    """A live source fed by someone else (the simulator, a test): ``push`` a BGR image, ``latest`` reads it."""

    def __init__(self):
        self._slot = LatestFrameSlot()
        self._index = 0
        self._lock = threading.Lock()
        self.closed = False

    def push(self, image: np.ndarray, capture_time_s: float) -> None:
        with self._lock:
            frame = Frame(image, self._index, capture_time_s)
            self._index += 1
        self._slot.put(frame)

    def latest(self, timeout_s: float) -> Frame | None:
        return self._slot.take(timeout_s)

    def close(self) -> None:
        self.closed = True

    @property
    def finished(self) -> bool:
        return self.closed


class LiveSource:
    """A network stream, camera device or real-time file replay, read on its own thread.

    Keeps only the latest frame. When reads fail (or no frame comes for ``stale_after_s``) the stream
    is reported dead and reopened with exponential backoff; after ``max_failures`` consecutive failed
    opens it is reported failed and the thread stops. ``realtime_file=True`` replays a file at its own
    frame rate and reports ``ended`` at its end (used to simulate a camera from recorded footage).
    """

    def __init__(
        self,
        target: str,
        stream_id: str = "stream",
        on_status: StatusCallback | None = None,
        stale_after_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        max_failures: int | None = None,
        realtime_file: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.target = target
        self.stream_id = stream_id
        self._on_status = on_status
        self._stale_after_s = stale_after_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._max_failures = max_failures
        self._realtime_file = realtime_file
        self._clock = clock
        self._slot = LatestFrameSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "idle"
        self.reconnects = 0

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    @property
    def finished(self) -> bool:
        """No more frames will come (ended, failed or stopped)."""
        return self.state in ("ended", "failed", "stopped")

    def _status(self, state: str, message: str) -> None:
        self.state = state
        if self._on_status is not None:
            self._on_status(StreamStatus(self.stream_id, state, message, self._clock()))

    def start(self) -> "LiveSource":
        self._thread = threading.Thread(target=self._run, name=f"grab-{self.stream_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        if not self.finished:
            self.state = "stopped"

    def latest(self, timeout_s: float) -> Frame | None:
        return self._slot.take(timeout_s)

    def _run(self) -> None:
        backoff = self._backoff_initial_s
        failures = 0
        index = 0
        self._status("opening", f"opening {self.target}")
        while not self._stop.is_set():
            cap = _open_capture(self.target, int(self._stale_after_s * 1000))
            first_ok = cap.isOpened()
            got_frames = 0
            if first_ok:
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
                start_wall = time.monotonic()
                last_frame_wall = time.monotonic()
                while not self._stop.is_set():
                    t0 = time.perf_counter()
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    if self._realtime_file:
                        due = start_wall + got_frames / fps
                        delay = due - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            break
                    if got_frames == 0:
                        self._status("live", f"receiving {self.target}")
                        failures, backoff = 0, self._backoff_initial_s
                    got_frames += 1
                    now = time.monotonic()
                    if now - last_frame_wall > self._stale_after_s:
                        break  # the stream stalled without an error: treat as dead
                    last_frame_wall = now
                    self._slot.put(Frame(image, index, self._clock(), (time.perf_counter() - t0) * 1000.0))
                    index += 1
            cap.release()
            if self._stop.is_set():
                break
            if self._realtime_file and got_frames > 0:
                self._status("ended", f"end of {self.target}")
                return
            failures += 1 if got_frames == 0 else 0
            if self._max_failures is not None and failures >= self._max_failures:
                self._status("failed", f"{self.target}: gave up after {failures} failed attempts")
                return
            self._status("dead", f"{self.target}: no frames ({'open failed' if not first_ok else 'stream stopped'})")
            self.reconnects += 1
            self._status("reconnecting", f"retrying {self.target} in {backoff:.1f} s")
            if self._stop.wait(backoff):
                break
            backoff = min(self._backoff_max_s, backoff * 2.0)
        self.state = "stopped"
