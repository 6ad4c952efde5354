"""The simulator's ground truth over HTTP on loopback, for the demo's summary and for people watching a run:

    GET /world   200 application/json: the world now (the fleet's `truth()`: simulated time, wall time, every
                 person with position and state, the true count per zone, the broadcasts heard, the drones)

A simulator-only endpoint (a real city has no such thing): the station never reads it; only the demo's summary
compares what the station saw with it. Runs on its own thread; the snapshot function is called per request.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TruthServer:
    def __init__(self, snapshot: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 0) -> None:
        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:   # noqa: N802 (http.server's naming)
                if self.path.split("?", 1)[0] != "/world":
                    self.send_error(404, "no such path (try /world)")
                    return
                body = json.dumps(snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[0], self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sim-truth-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/world"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)
