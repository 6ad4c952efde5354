"""Frame sources: a video or image file (every frame, in order), a live network stream or camera device
(only the latest frame is kept; a dead stream is reported and reopened with backoff), a file replayed
in real time as if live, and a push source that another component (e.g. the simulator) feeds.

Live sources read frames on their own thread, so decoding runs in parallel with inference; a slow
model never builds up latency because older frames are overwritten, not queued.

MJPEG over HTTP (what IP cameras, mjpg-streamer and the simulator serve: `multipart/x-mixed-replace`, one JPEG
per part) is read here part by part (MjpegStream), because OpenCV's capture cannot see each part's headers: a
part's `X-Timestamp` (wall-clock seconds since the epoch, mjpg-streamer's convention) becomes the frame's capture
time, so the frame meets the telemetry pose of the instant it shows; a part without one is stamped on arrival.
An http(s) URL that answers anything but a multipart stream is handed to OpenCV (FFmpeg) as before.
"""
from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
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


class MjpegStream:
    """The parts of one open multipart/x-mixed-replace response, decoded one by one.

    `read()` returns (BGR image, capture time in wall-clock seconds or None) for the next part that decodes, or
    None when the stream ended (the connection closed, or a read timed out: the socket's timeout is the caller's
    stale limit). Parts that are not JPEG images are skipped and counted (`bad_parts`)."""

    MAX_PART_BYTES = 32 * 1024 * 1024
    MAX_HEADER_LINES = 64

    def __init__(self, response: http.client.HTTPResponse, boundary: str):
        self._response = response
        self._boundary = b"--" + boundary.encode("latin-1")
        self.bad_parts = 0
        self.parts = 0
        self._after_boundary = False   # the last part's body ended on the next boundary line (no Content-Length)
        self._ended = False

    def _line(self) -> bytes | None:
        line = self._response.readline(65537)
        return line if line else None

    def _body_until_boundary(self) -> bytes | None:
        """A part without Content-Length: everything up to the next boundary line."""
        chunks = []
        size = 0
        while True:
            line = self._line()
            if line is None:
                return None
            if line.startswith(self._boundary):
                self._after_boundary = True
                self._ended = line.strip().endswith(b"--")
                data = b"".join(chunks)
                return data[:-2] if data.endswith(b"\r\n") else data
            chunks.append(line)
            size += len(line)
            if size > self.MAX_PART_BYTES:
                return None

    def read(self) -> tuple[np.ndarray, float | None] | None:
        try:
            while True:
                if self._ended:
                    return None
                if self._after_boundary:
                    self._after_boundary = False
                else:
                    line = self._line()
                    if line is None:
                        return None
                    if not line.startswith(self._boundary):
                        continue   # preamble, or the CRLF that ends a part
                    if line.strip().endswith(b"--"):
                        return None   # the closing boundary
                headers: dict[str, str] = {}
                for _ in range(self.MAX_HEADER_LINES):
                    h = self._line()
                    if h is None:
                        return None
                    h = h.strip()
                    if not h:
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = headers.get("content-length")
                if length is not None and length.isdigit() and int(length) <= self.MAX_PART_BYTES:
                    data = self._response.read(int(length))
                    if len(data) < int(length):
                        return None   # cut off mid-part
                else:
                    data = self._body_until_boundary()
                    if data is None:
                        return None
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
                if image is None:
                    self.bad_parts += 1
                    continue
                self.parts += 1
                return image, _timestamp(headers.get("x-timestamp"))
        except (OSError, http.client.HTTPException, ValueError):
            return None   # a reset, a timeout (the stream stalled) or a broken chunk: the stream is dead

    def close(self) -> None:
        try:
            self._response.close()
        except OSError:
            pass


def _timestamp(value: str | None) -> float | None:
    try:
        t = float(value) if value is not None else None
    except ValueError:
        return None
    return t if t is not None and t > 0 and t == t and t != float("inf") else None


def open_mjpeg(url: str, timeout_s: float) -> MjpegStream | None:
    """The MJPEG stream at an http(s) URL, or None when the URL answers something else (then it is closed);
    raises OSError (urllib.error.URLError included) when it cannot be reached or answers an HTTP error."""
    request = urllib.request.Request(url, headers={"Accept": "multipart/x-mixed-replace, image/jpeg, */*"})
    response = urllib.request.urlopen(request, timeout=timeout_s)
    content_type = response.headers.get("Content-Type", "")
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() not in ("multipart/x-mixed-replace", "multipart/mixed"):
        response.close()
        return None
    boundary = ""
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        response.close()
        raise OSError(f"{url}: a multipart stream without a boundary")
    if boundary.startswith("--"):
        boundary = boundary[2:]   # some servers put the dashes in the header too
    return MjpegStream(response, boundary)


class _MjpegCapture:
    """An MjpegStream behind the small part of cv2.VideoCapture's interface LiveSource uses."""

    def __init__(self, stream: MjpegStream):
        self.stream = stream
        self.capture_time_s: float | None = None

    def isOpened(self) -> bool:   # noqa: N802 (OpenCV's naming)
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        got = self.stream.read()
        if got is None:
            return False, None
        image, self.capture_time_s = got
        return True, image

    def release(self) -> None:
        self.stream.close()


class _Unreachable:
    """A capture that never opened (the http URL could not be reached or answered an error)."""

    def __init__(self, reason: str):
        self.reason = reason

    def isOpened(self) -> bool:   # noqa: N802
        return False

    def release(self) -> None:
        pass


def _open_live(target: str, timeout_s: float):
    """An MJPEG stream when an http(s) URL serves one, else OpenCV's capture of the target."""
    if target.startswith(("http://", "https://")):
        try:
            stream = open_mjpeg(target, timeout_s)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return _Unreachable(f"{type(exc).__name__}: {exc}")
        if stream is not None:
            return _MjpegCapture(stream)
    return _open_capture(target, int(timeout_s * 1000))


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
        self._realtime_file = realtime_file and not is_live_target(target)   # a URL is live: never "replayed"
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
            cap = _open_capture(self.target, int(self._stale_after_s * 1000)) if self._realtime_file \
                else _open_live(self.target, self._stale_after_s)
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
                    stamped = getattr(cap, "capture_time_s", None)   # an MJPEG part's X-Timestamp
                    self._slot.put(Frame(image, index, stamped if stamped is not None else self._clock(),
                                         (time.perf_counter() - t0) * 1000.0))
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
