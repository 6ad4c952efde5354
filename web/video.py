"""The video panel's proxy: a vision worker's MJPEG stream (served by the worker itself on loopback, see
vision/mjpeg.py) passed on, bytes as they come, to a logged-in page; the frames never pass through the station.

The worker's address reaches the map through the station port (`StationPort.video_sources`) and is never given to
a browser. Each part keeps the worker's headers (``X-Timestamp``: the frame's capture time, wall-clock seconds), so
the latency from capture to the browser can be measured at the browser (benchmarks/web_video.py). The stream ends
cleanly (the HTTP response is finished) when the worker's stream ends or its process dies, when it sends nothing
for `idle_timeout_s`, or when the page goes away.

Connections are made with the `connect` function the server gives: gevent's cooperative
`gevent.socket.create_connection` under the gevent server (no monkey-patching: a blocking read would stall every
page), the standard one under the threading server.
"""
from __future__ import annotations

import http.client
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from web.errors import VideoUnavailable

log = logging.getLogger("web.video")

Connect = Callable[..., Any]  # (address, timeout) -> a connected socket, like socket.create_connection
CHUNK_BYTES = 64 * 1024


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, timeout: float, connect: Connect):
        super().__init__(host, port, timeout=timeout)
        self._connect_with = connect

    def connect(self) -> None:
        self.sock = self._connect_with((self.host, self.port), self.timeout)


@dataclass(frozen=True)
class VideoStream:
    """An open upstream stream: its Content-Type (multipart/x-mixed-replace with the worker's boundary) and the
    bytes, which end when the upstream ends (closing the iterator closes the upstream connection)."""

    content_type: str
    chunks: Iterator[bytes]


def open_stream(url: str, connect: Connect = socket.create_connection, connect_timeout_s: float = 5.0,
                idle_timeout_s: float = 10.0) -> VideoStream:
    """Open a loopback MJPEG stream; VideoUnavailable when it cannot be reached or does not answer with one."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise VideoUnavailable(f"not an http stream address: {parts.scheme}://...")
    conn = _Connection(parts.hostname, parts.port, connect_timeout_s, connect)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("GET", path or "/", headers={"Accept": "multipart/x-mixed-replace"})
        response = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise VideoUnavailable(f"the camera's video is not being served: {type(exc).__name__}") from None
    content_type = response.getheader("Content-Type", "")
    if response.status != 200 or not content_type.startswith("multipart/x-mixed-replace"):
        conn.close()
        raise VideoUnavailable(f"the camera's video server answered {response.status} {content_type!r}")
    if conn.sock is not None:
        conn.sock.settimeout(idle_timeout_s)

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                try:
                    data = response.read1(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:  # died, reset, or silent for idle_timeout_s
                    log.info("a video stream ended: %s", type(exc).__name__)
                    return
                if not data:
                    return
                yield data
        finally:
            conn.close()

    return VideoStream(content_type, chunks())
