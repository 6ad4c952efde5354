"""A small HTTP server that serves stored files (the simulated cameras' frames) from memory on loopback.

It runs on its own thread (http.server's ThreadingHTTPServer) and only reads a dict of bytes under a lock,
so serving never waits on, or blocks, the simulation loop. GET of a stored path -> 200 with its bytes;
anything else -> 404. Lives as long as its owner calls `close()`.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves `put(path, data, content_type)` files at http://HOST:PORT/path."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        store = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:   # noqa: N802 (http.server's naming)
                found = store.get(self.path.split("?", 1)[0])
                if found is None:
                    self.send_error(404, "no such file")
                    return
                data, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:   # quiet: the simulator logs through logging
                pass

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[0], self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sim-files-{self.port}", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def put(self, path: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self._files[path] = (data, content_type)

    def get(self, path: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._files.get(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
