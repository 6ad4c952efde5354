"""Telemetry logs (.tlog) of one vehicle: a session file for the whole connection, one file per flight.

Format: the standard MAVLink telemetry log that MAVProxy, Mission Planner and pymavlink read — each record is
an 8-byte big-endian timestamp (microseconds since the Unix epoch) followed by the raw MAVLink frame.
Both directions are recorded (what the vehicle sent and what the station sent).

Files, in `tlog_dir`:
  `<vehicle>-<UTC start>-session.tlog`   everything from start() to close(), across reconnects
  `<vehicle>-<UTC arm time>-flight.tlog` one per flight: from the HEARTBEAT that shows the vehicle armed
                                          (included) up to the one that shows it disarmed
Files are flushed about once a second, so a killed station loses at most the last second.
"""
from __future__ import annotations

import calendar
import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

_STAMP = struct.Struct(">Q")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "vehicle"


def _utc_stamp(wall_s: float) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(wall_s)) + f"{int(wall_s * 1000) % 1000:03d}Z"


class TlogRecorder:
    """Thread-safe writer; `record()` is called for every frame in and out.

    It never raises: the first I/O error (disk full, directory not writable) is passed to `on_error` once
    and logging stops, because losing the log must not take the link down."""

    def __init__(self, directory: Path, vehicle_id: str, on_error: Callable[[str], None] = lambda msg: None):
        self._dir = Path(directory)
        self._name = _safe(vehicle_id)
        self._lock = threading.Lock()
        self._session: BinaryIO | None = None
        self._flight: BinaryIO | None = None
        self._on_error = on_error
        self.failed: str | None = None
        self.session_path: Path | None = None
        self.flight_paths: list[Path] = []

    def _fail(self, exc: OSError) -> None:
        if self.failed is None:
            self.failed = f"tlog writing stopped: {exc}"
            self._on_error(self.failed)

    def _open(self, kind: str, wall_s: float) -> tuple[BinaryIO, Path]:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{self._name}-{_utc_stamp(wall_s)}-{kind}.tlog"
        n = 1
        while path.exists():
            n += 1
            path = self._dir / f"{self._name}-{_utc_stamp(wall_s)}-{kind}-{n}.tlog"
        return open(path, "ab"), path

    def record(self, frame: bytes | bytearray, wall_s: float) -> None:
        if self.failed is not None:
            return
        data = _STAMP.pack(int(wall_s * 1e6)) + bytes(frame)
        with self._lock:
            try:
                if self._session is None:
                    self._session, self.session_path = self._open("session", wall_s)
                self._session.write(data)
                if self._flight is not None:
                    self._flight.write(data)
            except OSError as exc:
                self._fail(exc)

    def start_flight(self, wall_s: float) -> None:
        if self.failed is not None:
            return
        with self._lock:
            if self._flight is None:
                try:
                    self._flight, path = self._open("flight", wall_s)
                except OSError as exc:
                    self._fail(exc)
                    return
                self.flight_paths.append(path)

    def end_flight(self) -> None:
        with self._lock:
            if self._flight is not None:
                try:
                    self._flight.close()
                except OSError as exc:
                    self._fail(exc)
                self._flight = None

    def flush(self) -> None:
        with self._lock:
            for f in (self._session, self._flight):
                if f is not None:
                    try:
                        f.flush()
                    except OSError as exc:
                        self._fail(exc)

    def close(self) -> None:
        with self._lock:
            for f in (self._session, self._flight):
                if f is not None:
                    try:
                        f.close()
                    except OSError as exc:
                        self._fail(exc)
            self._session = self._flight = None


# --- reading: the tracks flown ------------------------------------------------------------------------------------

_FLIGHT_NAME = re.compile(r"^(?P<vehicle>.+)-(?P<stamp>\d{8}T\d{9}Z)-flight(?:-\d+)?\.tlog$")


@dataclass(frozen=True)
class TrackPoint:
    """Where a vehicle was (GLOBAL_POSITION_INT as recorded in its flight tlog)."""

    t_s: float  # the tlog's time stamp: when the station received it (seconds since the epoch)
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    heading_deg: float | None


def flight_tlogs(directory: Path, from_s: float, to_s: float) -> dict[str, list[Path]]:
    """The flight tlogs in `directory` that may hold positions in [from_s, to_s), by vehicle (as named in the file:
    the vehicle id with unsafe characters replaced), oldest first: started before to_s, last written after from_s."""
    out: dict[str, list[Path]] = {}
    if not Path(directory).is_dir():
        return out
    for path in sorted(Path(directory).glob("*-flight*.tlog")):
        m = _FLIGHT_NAME.match(path.name)
        if m is None:
            continue
        started_s = calendar.timegm(time.strptime(m["stamp"][:15], "%Y%m%dT%H%M%S")) + int(m["stamp"][15:18]) / 1000
        try:
            ended_s = path.stat().st_mtime
        except OSError:
            continue
        if started_s < to_s and ended_s >= from_s - 2.0:  # written about once a second
            out.setdefault(m["vehicle"], []).append(path)
    return out


def read_track(path: Path, from_s: float, to_s: float, min_interval_s: float = 1.0) -> list[TrackPoint]:
    """The vehicle's positions in one tlog within [from_s, to_s), at most one per min_interval_s; a truncated or
    damaged file gives what could be read before the damage (never raises for its content; OSError if unreadable)."""
    from pymavlink import mavutil

    log = mavutil.mavlink_connection(str(path), dialect="ardupilotmega", robust_parsing=True)
    points: list[TrackPoint] = []
    try:
        while True:
            try:
                msg = log.recv_match(type="GLOBAL_POSITION_INT", blocking=False)
            except Exception:  # a damaged record: keep what came before it
                break
            if msg is None:
                break
            t_s = float(getattr(msg, "_timestamp", 0.0))
            if t_s < from_s or (points and t_s - points[-1].t_s < min_interval_s) or (msg.lat == 0 and msg.lon == 0):
                continue
            if t_s >= to_s:
                break
            points.append(TrackPoint(t_s, msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1000.0,
                                     None if msg.hdg == 65535 else msg.hdg / 100.0))
    finally:
        log.close()
    return points


def read_tracks(directory: Path, from_s: float, to_s: float, min_interval_s: float = 1.0
                ) -> dict[str, list[TrackPoint]]:
    """Every vehicle's track flown in [from_s, to_s), from the flight tlogs in `directory` (see read_track)."""
    tracks: dict[str, list[TrackPoint]] = {}
    for vehicle, paths in flight_tlogs(directory, from_s, to_s).items():
        points = [p for path in paths for p in read_track(path, from_s, to_s, min_interval_s)]
        if points:
            tracks[vehicle] = sorted(points, key=lambda p: p.t_s)
    return tracks
