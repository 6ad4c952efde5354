"""A vision worker's own video server: its latest analysed frame with the detections drawn, as MJPEG over HTTP on
loopback. The frames never travel through a queue: the worker tells the station its address in a small record
(`VideoServing`) and the web map proxies the stream to its logged-in pages.

    GET /<token>/stream.mjpeg  200 multipart/x-mixed-replace; boundary=skyguardvision: one JPEG part per analysed
                               frame, the newest first in line (a slow viewer skips frames, never lags), each with
                                   Content-Type: image/jpeg
                                   Content-Length: <bytes>
                                   X-Timestamp: <the frame's capture time, seconds, 6 decimals>
                                   X-Frame-Index: <the stream's frame index>
                               X-Timestamp follows mjpg-streamer's convention: wall-clock seconds since the epoch for
                               live sources and real-time replays (so capture -> browser latency can be measured),
                               media time for a file analysed as fast as possible.
    GET /<token>/latest.jpg    the latest analysed frame alone (same headers), 503 before the first one
    anything else              404

The random token in the address keeps other local users out (the address is only handed to the station). Frames
are drawn and encoded lazily: `offer(image, result)` only keeps a reference (nothing on the analysis loop); a
viewer's thread draws and encodes each frame once, and only while someone watches. The server runs on its own
threads (http.server's ThreadingHTTPServer); `close()` ends every open stream cleanly, and a worker process that dies
takes its sockets with it, so a viewer always sees its stream end.
"""
from __future__ import annotations

import logging
import secrets
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from vision.annotation import annotate
from vision.records import FrameResult

log = logging.getLogger(__name__)

BOUNDARY = "skyguardvision"
_WAIT_S = 0.5


@dataclass(frozen=True)
class VideoServing:
    """A worker's video server is up: its stream's address (loopback, with the access token in it)."""

    stream_id: str
    url: str
    time_s: float


@dataclass(frozen=True)
class _Encoded:
    jpeg: bytes
    index: int
    capture_time_s: float


class AnnotatedVideo:
    """Serves one stream's analysed frames (see the module docstring) at `url`."""

    def __init__(self, stream_id: str, host: str = "127.0.0.1", port: int = 0, quality: int = 80,
                 max_width_px: int = 1280):
        self.stream_id = stream_id
        self._quality = quality
        self._max_width_px = max_width_px
        self._token = secrets.token_urlsafe(16)
        self._cond = threading.Condition()
        self._offered: tuple[np.ndarray, FrameResult] | None = None
        self._encoded: _Encoded | None = None
        self._encode_lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self.frames_encoded = 0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == f"/{server._token}/stream.mjpeg":
                    server._stream(self)
                elif path == f"/{server._token}/latest.jpg":
                    server._latest(self)
                else:
                    self.send_error(404)

            def log_message(self, format: str, *args: object) -> None:  # the worker logs through logging
                pass

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[0], self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"video-{stream_id}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/{self._token}/stream.mjpeg"

    @property
    def viewers(self) -> int:
        with self._cond:
            return len(self._sockets)

    def offer(self, image: np.ndarray, result: FrameResult) -> None:
        """The analysis loop's latest frame and its result (kept by reference: the image must not change)."""
        with self._cond:
            self._offered = (image, result)
            self._cond.notify_all()

    def close(self) -> None:
        """End every open stream (cleanly: the viewers see the connection end) and stop serving."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            sockets = list(self._sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)

    # --- on the server's threads ------------------------------------------------------------------------------

    def _latest_encoded(self) -> _Encoded | None:
        """The offered frame drawn and encoded (once, whoever asks first)."""
        with self._cond:
            offered = self._offered
        if offered is None:
            return None
        image, result = offered
        with self._encode_lock:
            if self._encoded is None or self._encoded.index != result.frame_index:
                self._encoded = _Encoded(encode_jpeg(annotate(image, result), self._quality, self._max_width_px),
                                         result.frame_index, result.capture_time_s)
                self.frames_encoded += 1
            return self._encoded

    @staticmethod
    def _part_headers(frame: _Encoded) -> list[tuple[str, str]]:
        return [("Content-Type", "image/jpeg"), ("Content-Length", str(len(frame.jpeg))),
                ("X-Timestamp", f"{frame.capture_time_s:.6f}"), ("X-Frame-Index", str(frame.index))]

    def _latest(self, handler: BaseHTTPRequestHandler) -> None:
        frame = self._latest_encoded()
        if frame is None:
            handler.send_error(503, "no frame analysed yet")
            return
        handler.send_response(200)
        for k, v in self._part_headers(frame):
            handler.send_header(k, v)
        handler.send_header("Cache-Control", "no-cache, no-store")
        handler.end_headers()
        handler.wfile.write(frame.jpeg)

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        sock = handler.connection
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-cache, no-store")
        handler.send_header("Connection", "close")
        handler.end_headers()
        with self._cond:
            if self._closed:
                return
            self._sockets.add(sock)
        sent = None
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closed or (self._offered is not None
                                                                 and self._offered[1].frame_index != sent), _WAIT_S)
                    if self._closed:
                        return
                frame = self._latest_encoded()
                if frame is None or frame.index == sent:
                    continue
                head = f"--{BOUNDARY}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self._part_headers(frame)) + "\r\n"
                handler.wfile.write(head.encode("ascii") + frame.jpeg + b"\r\n")
                handler.wfile.flush()
                sent = frame.index
        except OSError:  # the viewer went away (BrokenPipe, ConnectionReset, ...) or close() shut the socket
            pass
        finally:
            with self._cond:
                self._sockets.discard(sock)
            handler.close_connection = True


def encode_jpeg(image: np.ndarray, quality: int = 80, max_width_px: int | None = None) -> bytes:
    """A BGR image as JPEG bytes, scaled down to `max_width_px` when wider."""
    h, w = image.shape[:2]
    if max_width_px is not None and w > max_width_px:
        image = cv2.resize(image, (max_width_px, round(h * max_width_px / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode a {w}x{h} frame as JPEG")
    return buf.tobytes()


def read_parts(stream, boundary: str = BOUNDARY, max_part_bytes: int = 20_000_000):
    """The parts of a multipart MJPEG stream read from a binary file object, as (headers with lower-case names,
    body bytes); each part needs its Content-Length (as this server and mjpg-streamer send). Ends with the stream."""
    marker = b"--" + boundary.encode("ascii")
    while True:
        line = stream.readline()
        if not line:
            return
        if line.rstrip(b"\r\n") not in (marker, marker + b"--"):
            continue
        if line.rstrip(b"\r\n") == marker + b"--":
            return
        headers: dict[str, str] = {}
        while True:
            line = stream.readline()
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "-1"))
        if not 0 <= length <= max_part_bytes:
            raise ValueError(f"a part without a usable Content-Length: {headers.get('content-length')!r}")
        body = stream.read(length)
        if len(body) < length:
            return
        yield headers, body


def start_video(stream_id: str, clock) -> tuple[AnnotatedVideo | None, VideoServing | None]:
    """A worker's video server and the record announcing it, or (None, None) when it cannot listen (logged: the
    analysis goes on without video)."""
    try:
        video = AnnotatedVideo(stream_id)
    except OSError as exc:
        log.warning("stream %s: no video server: %s", stream_id, exc)
        return None, None
    return video, VideoServing(stream_id, video.url, clock())
