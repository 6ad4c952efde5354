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
    GET /<token>/snapshot.jpg  the latest analysed frame as evidence: every person of that frame's detections blurred
                               and the whole frame reduced (vision/privacy.py: `evidence_jpeg`), never the frame as
                               analysed and never with boxes drawn; the same headers plus
                                   X-People-Blurred: <the detections blurred>
                                   X-Privacy: people-blurred
                               503 (text/plain, saying so) before the first analysed frame
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
from vision.privacy import evidence_jpeg
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
    people_blurred: int | None = None  # an evidence snapshot: the people of its frame's detections, blurred


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
        self._snapshot: _Encoded | None = None
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
                elif path == f"/{server._token}/snapshot.jpg":
                    server._snapshot_jpg(self)
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

    def _latest_snapshot(self) -> _Encoded | None:
        """The offered frame as an evidence snapshot: its people blurred (once per frame, whoever asks first)."""
        with self._cond:
            offered = self._offered
        if offered is None:
            return None
        image, result = offered
        with self._encode_lock:
            if self._snapshot is None or self._snapshot.index != result.frame_index:
                boxes = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in result.detections]
                jpeg, _, _ = evidence_jpeg(image, boxes)
                self._snapshot = _Encoded(jpeg, result.frame_index, result.capture_time_s, len(boxes))
            return self._snapshot

    @staticmethod
    def _part_headers(frame: _Encoded) -> list[tuple[str, str]]:
        return [("Content-Type", "image/jpeg"), ("Content-Length", str(len(frame.jpeg))),
                ("X-Timestamp", f"{frame.capture_time_s:.6f}"), ("X-Frame-Index", str(frame.index))]

    def _latest(self, handler: BaseHTTPRequestHandler) -> None:
        self._send_one(handler, self._latest_encoded())

    def _snapshot_jpg(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            frame = self._latest_snapshot()
        except Exception as exc:  # a frame that cannot be blurred is never served some other way
            log.warning("stream %s: no snapshot: %s", self.stream_id, exc)
            self._send_text(handler, 500, f"cannot make a snapshot: {type(exc).__name__}")
            return
        self._send_one(handler, frame, (("X-People-Blurred", str(frame.people_blurred)),
                                        ("X-Privacy", "people-blurred")) if frame is not None else ())

    def _send_one(self, handler: BaseHTTPRequestHandler, frame: _Encoded | None,
                  extra: tuple[tuple[str, str], ...] = ()) -> None:
        if frame is None:
            self._send_text(handler, 503, f"stream {self.stream_id}: no frame analysed yet")
            return
        handler.send_response(200)
        for k, v in [*self._part_headers(frame), *extra]:
            handler.send_header(k, v)
        handler.send_header("Cache-Control", "no-cache, no-store")
        handler.end_headers()
        handler.wfile.write(frame.jpeg)

    @staticmethod
    def _send_text(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
        body = (text + "\n").encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-cache, no-store")
        handler.end_headers()
        handler.wfile.write(body)

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


def jpeg_size_px(jpeg: bytes) -> tuple[int, int]:
    """(width, height) of JPEG bytes, decoded in full (ValueError when they are not a whole JPEG image)."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG image")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG image that can be decoded")
    return int(image.shape[1]), int(image.shape[0])


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


def snapshot_url(stream_url: str) -> str:
    """The evidence snapshot's address beside a stream's address (`AnnotatedVideo.url`, token included)."""
    base, _, name = stream_url.rpartition("/")
    if name != "stream.mjpeg" or not base:
        raise ValueError(f"not a vision worker's stream address: {stream_url!r}")
    return f"{base}/snapshot.jpg"


def start_video(stream_id: str, clock) -> tuple[AnnotatedVideo | None, VideoServing | None]:
    """A worker's video server and the record announcing it, or (None, None) when it cannot listen (logged: the
    analysis goes on without video)."""
    try:
        video = AnnotatedVideo(stream_id)
    except OSError as exc:
        log.warning("stream %s: no video server: %s", stream_id, exc)
        return None, None
    return video, VideoServing(stream_id, video.url, clock())
