"""A loopback HTTP server that serves a video clip, optionally cut short (a stream that dies mid-run)."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path


class ClipServer:
    """Serves ``clip`` at http://127.0.0.1:PORT/clip; the first ``cut_requests`` responses stop after ``cut_bytes``."""

    def __init__(self, clip: Path, cut_bytes: int | None = None, cut_requests: int = 1 << 30):
        data = Path(clip).read_bytes()
        state = {"requests": 0}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                state["requests"] += 1
                body = data
                if cut_bytes is not None and state["requests"] <= cut_requests:
                    body = data[:cut_bytes]
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.state = state
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/clip.avi"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
