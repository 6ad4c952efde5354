"""A simulated companion-computer loudspeaker: a real HTTP server on loopback that 'plays' WAV clips.

Each simulated vehicle serves one; it records what it played and when, in the simulator's clock (which runs
at the speed-up), so tests can check what the station broadcast. Protocol (JSON answers):

    POST /speaker/play?clip_id=ID&repeat=K   body: the WAV bytes (Content-Type audio/wav)
         200 {"clip_id", "accepted": true, "duration_s" (one play, from the WAV header), "repeat",
              "started_at_s", "ends_at_s"}
         400 {"error"} not a PCM WAV, empty, truncated, or a bad repeat/clip_id;  413 body over the limit
         A new clip replaces the one playing (latest wins, as a PA does); the replaced one is recorded as
         interrupted, ending when it was replaced.
    POST /speaker/stop      200 {"stopped": clip_id or null}
    GET  /speaker/status    200 {"playing": {...} or null, "played": [{clip_id, source, started_at_s,
                            duration_s, repeat, ends_at_s, interrupted}, ...]}

In-process: played(), playing(), play_preloaded(n) (what a MAVLink relay would trigger: a clip loaded on
the drone beforehand, source "relay"). Never imports speech/ or telemetry/.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
import wave
from collections import deque
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 20 * 1024 * 1024
_DRAIN_LIMIT_BYTES = 4 * MAX_BODY_BYTES      # a larger body is not read: the connection is closed instead
_CHUNK = 1 << 16


@dataclass(frozen=True)
class PlayedClip:
    clip_id: str
    source: str                 # "http" or "relay"
    started_at_s: float         # the speaker's clock
    duration_s: float           # of one play
    repeat: int
    ends_at_s: float            # when it ended or will end (the time it was replaced or stopped, if it was)
    interrupted: bool = False
    sha256: str | None = None   # of the WAV received (None for a pre-loaded clip)

    def json(self) -> dict:
        return asdict(self)


class BadClip(ValueError):
    """A request the speaker refuses (answered 400/413 with this message)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def wav_duration_s(data: bytes) -> float:
    """Duration of one play of a PCM WAV, from its header; BadClip if it is not one or is cut short."""
    if not data:
        raise BadClip("empty body: send the clip's WAV bytes")
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            frames, rate = w.getnframes(), w.getframerate()
            need = frames * w.getsampwidth() * w.getnchannels()
            got = len(w.readframes(frames))
    except (wave.Error, EOFError) as e:
        raise BadClip(f"not a PCM WAV file: {e}") from None
    if rate <= 0 or frames <= 0:
        raise BadClip("the WAV holds no audio")
    if got < need:
        raise BadClip(f"truncated WAV: the header promises {need} bytes of audio, {got} are there")
    return frames / rate


class SpeakerServer:
    """The speaker: start() serves on its own thread; url is "http://HOST:PORT" (paths under /speaker/)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time,
                 preloaded: Mapping[int, float] | None = None, max_body_bytes: int = MAX_BODY_BYTES,
                 max_repeat: int = 100, history: int = 1000) -> None:
        self.host, self._port = host, port
        self.clock = clock
        self.preloaded: dict[int, float] = dict(preloaded) if preloaded is not None else {1: 4.0}
        self.max_body_bytes = max_body_bytes
        self.max_repeat = max_repeat
        self._lock = threading.Lock()
        self._played: deque[PlayedClip] = deque(maxlen=history)
        self._count = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "SpeakerServer":
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer((self.host, self._port), _Handler)
        httpd.daemon_threads = True
        httpd.speaker = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._bound_port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sim-speaker:{self.port}", daemon=True)
        self._thread.start()
        log.info("simulated speaker listening on %s", self.url)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SpeakerServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on (the one it listened on, once stopped)."""
        if self._bound_port is None:
            raise RuntimeError("the speaker has not been started")
        return self._bound_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- what it plays ----------------------------------------------------------------------------------
    def played(self) -> list[PlayedClip]:
        with self._lock:
            return list(self._played)

    def playing(self) -> PlayedClip | None:
        with self._lock:
            return self._current(self.clock())

    def _current(self, now: float) -> PlayedClip | None:
        last = self._played[-1] if self._played else None
        if last is None or last.interrupted or now >= last.ends_at_s:
            return None
        return last

    def _cut(self, now: float) -> PlayedClip | None:
        """Interrupt the clip playing now (lock held); returns it as it was."""
        current = self._current(now)
        if current is not None:
            self._played[-1] = replace(current, ends_at_s=now, interrupted=True)
        return current

    def _start(self, clip_id: str | None, source: str, duration_s: float, repeat: int,
               sha256: str | None) -> PlayedClip:
        with self._lock:
            now = self.clock()
            self._count += 1
            record = PlayedClip(clip_id or f"clip-{self._count}", source, now, duration_s, repeat,
                                now + duration_s * repeat, sha256=sha256)
            old = self._cut(now)
            self._played.append(record)
        if old is not None:
            log.info("speaker: %s interrupted by %s", old.clip_id, record.clip_id)
        log.info("speaker: playing %s (%s, %.2f s x %d)", record.clip_id, source, duration_s, repeat)
        return record

    def play_wav(self, data: bytes, clip_id: str | None = None, repeat: int = 1) -> PlayedClip:
        """Play WAV bytes (what POST /speaker/play does); BadClip if they are not playable."""
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= self.max_repeat:
            raise BadClip(f"repeat must be a whole number from 1 to {self.max_repeat}, got {repeat!r}")
        if clip_id is not None and not (0 < len(clip_id) <= 200 and clip_id.isprintable()):
            raise BadClip("clip_id must be 1 to 200 printable characters")
        duration_s = wav_duration_s(data)
        return self._start(clip_id, "http", duration_s, repeat, hashlib.sha256(data).hexdigest())

    def play_preloaded(self, clip_number: int) -> PlayedClip:
        """Play a clip loaded on the drone beforehand (a relay trigger); KeyError for an unknown number."""
        if clip_number not in self.preloaded:
            raise KeyError(f"no pre-loaded clip number {clip_number}; loaded: {sorted(self.preloaded)}")
        return self._start(f"preloaded-{clip_number}", "relay", self.preloaded[clip_number], 1, None)

    def stop_clip(self) -> PlayedClip | None:
        """Stop what is playing (POST /speaker/stop); returns it, or None if nothing was."""
        with self._lock:
            stopped = self._cut(self.clock())
        if stopped is not None:
            log.info("speaker: %s stopped", stopped.clip_id)
        return stopped

    def status(self) -> dict:
        with self._lock:
            current = self._current(self.clock())
            return {"playing": current.json() if current else None, "played": [p.json() for p in self._played]}


class _Handler(BaseHTTPRequestHandler):
    server_version = "SkyGuardSimSpeaker/1"

    @property
    def speaker(self) -> SpeakerServer:
        return self.server.speaker  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("speaker %s: " + format, self.address_string(), *args)

    def _answer(self, status: int, body: dict, close: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return parts.path.rstrip("/"), parse_qs(parts.query, keep_blank_values=True)

    def do_GET(self) -> None:
        path, _ = self._route()
        if path == "/speaker/status":
            self._answer(200, self.speaker.status())
        elif path in ("/speaker/play", "/speaker/stop"):
            self._answer(405, {"error": f"{path} takes POST"})
        else:
            self._answer(404, {"error": f"no such endpoint: {path}"})

    def do_POST(self) -> None:
        path, query = self._route()
        if path == "/speaker/play":
            self._play(query)
        elif path == "/speaker/stop":
            self._drain(self._length())
            stopped = self.speaker.stop_clip()
            self._answer(200, {"stopped": stopped.clip_id if stopped else None})
        elif path == "/speaker/status":
            self._answer(405, {"error": f"{path} takes GET"})
        else:
            self._answer(404, {"error": f"no such endpoint: {path}"})

    def _length(self) -> int:
        try:
            return max(0, int(self.headers.get("Content-Length", "0")))
        except ValueError:
            return -1

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)

    def _play(self, query: dict[str, list[str]]) -> None:
        length = self._length()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer(411, {"error": "send the clip with a Content-Length (chunked bodies are not taken)"},
                         close=True)
            return
        if length < 0:
            self._answer(400, {"error": "bad Content-Length"}, close=True)
            return
        limit = self.speaker.max_body_bytes
        if length > limit:
            close = length > _DRAIN_LIMIT_BYTES
            if not close:
                self._drain(length)      # read it so the client, still sending, can see the answer
            self._answer(413, {"error": f"clip of {length} bytes is over the limit of {limit} bytes"}, close=close)
            return
        data = self.rfile.read(length) if length else b""
        try:
            repeat_text = query.get("repeat", ["1"])[-1]
            try:
                repeat: object = int(repeat_text)
            except ValueError:
                repeat = repeat_text
            record = self.speaker.play_wav(data, query.get("clip_id", [None])[-1], repeat)  # type: ignore[arg-type]
        except BadClip as e:
            self._answer(e.status, {"error": str(e)})
            return
        self._answer(200, {"clip_id": record.clip_id, "accepted": True, "duration_s": record.duration_s,
                           "repeat": record.repeat, "started_at_s": record.started_at_s,
                           "ends_at_s": record.ends_at_s})
