"""One simulated camera's video stream: MJPEG over HTTP on loopback, as IP cameras and mjpg-streamer serve it.

    GET /video          200 multipart/x-mixed-replace; boundary=skyguardframe - one JPEG part per frame, newest first
                        in line (a slow client skips frames, never lags), each part with the headers
                            Content-Type: image/jpeg
                            Content-Length: <bytes>
                            X-Timestamp: <capture time, wall-clock seconds since the epoch, 6 decimals>
                            X-Frame-Index: <0-based frame counter>
                            X-Sim-Time: <capture time in the simulator's clock, seconds>
                        X-Timestamp is the simulator's clock mapped to wall time: the wall-clock instant at which the
                        simulation was in the state the frame shows (the station pairs frames with the telemetry
                        poses it received at that instant).
    GET /snapshot.jpg   the latest frame alone (same headers), 503 before the first one
    anything else       404

The server runs on its own threads (http.server's ThreadingHTTPServer); `publish` hands it a frame from the renderer
thread. Fault injection for tests: `drop_viewers()` closes every open stream (a link that drops: the port keeps
accepting), `paused = True` stops sending frames while connections stay open (a stream that stalls).
"""
from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

BOUNDARY = "skyguardframe"
_WAIT_S = 0.5


@dataclass(frozen=True)
class VideoFrame:
    jpeg: bytes
    index: int
    capture_wall_s: float
    sim_time_s: float


class VideoServer:
    """Serves one camera's frames at http://HOST:PORT/video."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, name: str = "camera") -> None:
        self._cond = threading.Condition()
        self._frame: VideoFrame | None = None
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self.paused = False
        self.name = name
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:   # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/video":
                    server._stream(self)
                elif path == "/snapshot.jpg":
                    server._snapshot(self)
                else:
                    self.send_error(404, "no such path (try /video or /snapshot.jpg)")

            def log_message(self, format: str, *args) -> None:   # quiet: the simulator logs through logging
                pass

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[0], self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sim-video-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/video"

    @property
    def viewers(self) -> int:
        with self._cond:
            return len(self._sockets)

    def latest(self) -> VideoFrame | None:
        with self._cond:
            return self._frame

    def publish(self, frame: VideoFrame) -> None:
        with self._cond:
            self._frame = frame
            self._cond.notify_all()

    def drop_viewers(self) -> int:
        """Close every open stream (the clients see the connection end); returns how many."""
        with self._cond:
            sockets = list(self._sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(sockets)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.drop_viewers()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)

    # --- handlers (on the server's threads) -----------------------------------------------------------------------

    @staticmethod
    def _part_headers(frame: VideoFrame) -> list[tuple[str, str]]:
        return [("Content-Type", "image/jpeg"), ("Content-Length", str(len(frame.jpeg))),
                ("X-Timestamp", f"{frame.capture_wall_s:.6f}"), ("X-Frame-Index", str(frame.index)),
                ("X-Sim-Time", f"{frame.sim_time_s:.3f}")]

    def _snapshot(self, handler: BaseHTTPRequestHandler) -> None:
        frame = self.latest()
        if frame is None:
            handler.send_error(503, "no frame yet")
            return
        handler.send_response(200)
        for k, v in self._part_headers(frame):
            handler.send_header(k, v)
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
            self._sockets.add(sock)
        sent = -1
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closed or (not self.paused and self._frame is not None
                                                                 and self._frame.index != sent), _WAIT_S)
                    if self._closed:
                        return
                    frame = self._frame
                if frame is None or frame.index == sent or self.paused:
                    continue
                head = f"--{BOUNDARY}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self._part_headers(frame)) + "\r\n"
                handler.wfile.write(head.encode("ascii") + frame.jpeg + b"\r\n")
                handler.wfile.flush()
                sent = frame.index
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            pass   # the viewer went away (or was dropped)
        finally:
            with self._cond:
                self._sockets.discard(sock)
            handler.close_connection = True
