"""How the web server runs: address, TLS, map tiles, session and live-update settings (a frozen record; the
station's config file section [web] is turned into one by the composition root)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASYNC_MODES = ("gevent", "threading")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServerSettings:
    secret_key: bytes  # signs the session cookies (keep it across restarts: sessions survive them)
    host: str = "127.0.0.1"
    port: int = 8080  # 0: a free port the OS picks (tests)
    async_mode: str = "gevent"  # gevent (measured best, see web/server.py) | threading
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tiles_dir: Path | None = None  # a local z/x/y tile folder ({z}/{x}/{y}.{tiles_ext})
    tiles_ext: str = "png"
    tiles_url: str | None = None  # an online tile URL template, only used when allow_online_tiles
    allow_online_tiles: bool = False
    tiles_max_zoom: int = 19
    tiles_attribution: str = ""
    session_hours: float = 12.0
    batch_interval_s: float = 0.01  # live updates are sent in batches at most this often (benchmarks/web_fanout.py)
    command_timeout_s: float = 30.0
    vendor_dir: Path = PACKAGE_ROOT / "node_modules"  # npm packages (Leaflet), installed by `make install`
    max_login_failures: int = 5
    login_window_s: float = 300.0

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"
