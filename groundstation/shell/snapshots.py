"""Alerts' evidence snapshots (issue 13, privacy): when the core records an alert of a kind in `SNAPSHOT_KINDS`, one
frame of the vehicle's camera is kept as evidence, with every person in it blurred.

Where the frame comes from: the vision worker of a camera on the alert's vehicle (`alert_vehicle`: the alert's
vehicle_id, else, for a crowd alert before any drone is chosen, its data's `seen_by`; [[cameras]] vehicle_id maps the
cameras) serves `snapshot.jpg` beside its MJPEG stream (vision/mjpeg.py): its latest analysed frame with that frame's
detected people blurred and the whole frame reduced (vision/privacy.py). The station never sees the frame as
analysed and never blurs anything itself: it keeps only what the worker declares blurred (`X-Privacy:
people-blurred`), checks it is a whole JPEG no wider than the privacy rule allows, writes it to
`<folder of [station] storage_path>/snapshots/<alert id>.jpg` (the folder and the files readable by the station's user
only; written to a temporary name, then renamed) and records a `snapshots` row (storage.SnapshotRow: the path relative
to the database's folder, the people blurred, the size).

Threads: `on_alert` is called on the core thread and never blocks: the fetch runs on this module's own small pool, at
most `MAX_PENDING` at a time (more are skipped, with a warning). An alert never waits for its snapshot and never
fails because of it: no camera on the vehicle, no worker serving, a timeout or a bad answer log a warning and record
nothing. `path(alert_id)` answers the web map (through Station.snapshot_path). The retention purge
(shell/housekeeping.py, storage.RETENTION "snapshots") deletes the files, then their rows.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from hashlib import sha1
from pathlib import Path

from groundstation.config import StationConfig
from groundstation.core.response_data import AlertRow
from groundstation.shell import storage

log = logging.getLogger("groundstation.snapshots")

SNAPSHOT_KINDS = frozenset({"crowd", "fever_hint", "escalation"})  # alerts about people seen by a drone's camera
FOLDER = "snapshots"
FETCH_TIMEOUT_S = 5.0
MAX_PENDING = 8
MAX_SNAPSHOT_BYTES = 5_000_000


def snapshot_folder(storage_path: Path) -> Path:
    """Where the evidence snapshots of a station's database are kept."""
    return Path(storage_path).parent / FOLDER


def file_name(alert_id: str) -> str:
    """`<alert id>.jpg`, with any character other than letters, digits and . _ : - replaced (and then a short hash of
    the id, so that two ids never share a file)."""
    safe = re.sub(r"[^A-Za-z0-9._:-]", "_", alert_id).lstrip(".") or "_"
    if safe != alert_id:
        safe = f"{safe[:80]}-{sha1(alert_id.encode('utf-8')).hexdigest()[:10]}"
    return f"{safe}.jpg"


def alert_vehicle(alert: AlertRow) -> str | None:
    """The vehicle whose camera shows what an alert is about: its drone, else the vehicle that saw the crowd."""
    seen_by = alert.data.get("seen_by") if isinstance(alert.data, Mapping) else None
    return alert.vehicle_id or (seen_by if isinstance(seen_by, str) and seen_by else None)


def inside(folder: Path, relative: str) -> Path | None:
    """`relative` (a row's path, relative to the database's folder) resolved, when it lies in `folder`; else None."""
    path = (folder.parent / relative).resolve()
    return path if folder.resolve() in path.parents else None


class SnapshotRefused(Exception):
    """A worker's answer that is not kept (said why)."""


class Snapshots:
    """See the module docstring. `on_alert(row)` from the core thread; `path(alert_id)`; `close()`."""

    def __init__(self, config: StationConfig, writer: storage.StorageWriter,
                 video_sources: Callable[[], Mapping[str, str]], clock: Callable[[], float] = time.time, *,
                 timeout_s: float = FETCH_TIMEOUT_S, kinds: frozenset[str] = SNAPSHOT_KINDS,
                 on_stored: Callable[[storage.SnapshotRow], None] = lambda row: None):
        """on_stored(row): told of each snapshot kept, once its row is submitted (the station's live feed)."""
        self._writer = writer
        self._on_stored = on_stored
        self._video_sources = video_sources
        self._clock = clock
        self._timeout_s = timeout_s
        self._kinds = kinds
        self.folder = snapshot_folder(config.station.storage_path)
        self._cameras: dict[str, list[str]] = {}
        for camera in config.cameras:
            self._cameras.setdefault(camera.vehicle_id, []).append(camera.id)
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._pool: ThreadPoolExecutor | None = None
        # loopback only: no proxy from the environment may see (or intercept) a snapshot
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.taken = 0
        self.skipped = 0

    # --- the core thread ----------------------------------------------------------------------------------------

    def on_alert(self, alert: AlertRow) -> bool:
        """Take the alert's snapshot in the background when its kind has one; True when one was asked for."""
        if alert.kind not in self._kinds:
            return False
        with self._lock:
            if self._closed:
                return False
            if self._pending >= MAX_PENDING:
                self.skipped += 1
                log.warning("alert %s: no snapshot: %d snapshots already being taken", alert.alert_id, self._pending)
                return False
            if self._pool is None:
                self._pool = ThreadPoolExecutor(2, thread_name_prefix="station-snapshot")
            self._pending += 1
            self._pool.submit(self._run, alert)  # never blocks (the pool's queue is bounded by MAX_PENDING above)
        return True

    # --- the snapshot threads -----------------------------------------------------------------------------------

    def _run(self, alert: AlertRow) -> None:
        try:
            self.take(alert)
        except Exception:  # never let a bug here reach the alert
            log.exception("alert %s: taking its snapshot failed", alert.alert_id)
        finally:
            with self._lock:
                self._pending -= 1

    def take(self, alert: AlertRow) -> storage.SnapshotRow | None:
        """Fetch, check, write and record the snapshot of `alert` (blocking); None, with a warning logged, when there is
        none to take."""
        vehicle_id = alert_vehicle(alert)
        if vehicle_id is None:
            return self._skip(alert, "the alert names no vehicle")
        cameras = self._cameras.get(vehicle_id)
        if not cameras:
            return self._skip(alert, f"vehicle {vehicle_id} has no camera")
        sources = self._video_sources()
        reasons = []
        for stream_id in cameras:
            url = sources.get(stream_id)
            if not url:
                reasons.append(f"camera {stream_id}: its vision worker serves no video now")
                continue
            try:
                jpeg, headers = self._fetch(url)
                width_px, height_px = self._check(jpeg, headers)
            except SnapshotRefused as exc:
                reasons.append(f"camera {stream_id}: {exc}")
                continue
            return self._keep(alert, stream_id, jpeg, headers, width_px, height_px)
        return self._skip(alert, "; ".join(reasons))

    def _skip(self, alert: AlertRow, why: str) -> None:
        with self._lock:
            self.skipped += 1
        log.warning("alert %s (%s): no snapshot: %s", alert.alert_id, alert.kind, why)
        return None

    def _fetch(self, stream_url: str) -> tuple[bytes, Mapping[str, str]]:
        from vision.mjpeg import snapshot_url

        try:
            url = snapshot_url(stream_url)
        except ValueError as exc:
            raise SnapshotRefused(str(exc)) from None
        try:
            with self._opener.open(url, timeout=self._timeout_s) as answer:
                body = answer.read(MAX_SNAPSHOT_BYTES + 1)
                headers = {k.lower(): v for k, v in answer.headers.items()}
        except urllib.error.HTTPError as exc:
            text = exc.read(300).decode("utf-8", "replace").strip()
            raise SnapshotRefused(f"the worker answered {exc.code}: {text or exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, reset, timed out
            raise SnapshotRefused(f"cannot reach its vision worker: {getattr(exc, 'reason', exc)}") from None
        if len(body) > MAX_SNAPSHOT_BYTES:
            raise SnapshotRefused(f"a snapshot over {MAX_SNAPSHOT_BYTES} bytes")
        return body, headers

    @staticmethod
    def _check(jpeg: bytes, headers: Mapping[str, str]) -> tuple[int, int]:
        from vision.mjpeg import jpeg_size_px
        from vision.privacy import MAX_WIDTH_PX

        if headers.get("x-privacy") != "people-blurred" or not headers.get("x-people-blurred", "").isdigit():
            raise SnapshotRefused("the worker does not say that the people in it are blurred; not kept")
        if not headers.get("content-type", "").startswith("image/jpeg"):
            raise SnapshotRefused(f"not a JPEG ({headers.get('content-type')!r})")
        try:
            width_px, height_px = jpeg_size_px(jpeg)
        except ValueError as exc:
            raise SnapshotRefused(str(exc)) from None
        if width_px > MAX_WIDTH_PX:
            raise SnapshotRefused(f"{width_px} px wide, over the privacy rule's {MAX_WIDTH_PX} px; not kept")
        return width_px, height_px

    def _keep(self, alert: AlertRow, stream_id: str, jpeg: bytes, headers: Mapping[str, str], width_px: int,
              height_px: int) -> storage.SnapshotRow | None:
        name = file_name(alert.alert_id)
        path = self.folder / name
        temp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.part"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(jpeg)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            return self._skip(alert, f"cannot write {path}: {exc}")
        row = storage.SnapshotRow(alert.alert_id, self._clock(), stream_id, f"{FOLDER}/{name}",
                                  int(headers["x-people-blurred"]), width_px, height_px,
                                  _number(headers.get("x-timestamp"), float), _number(headers.get("x-frame-index"), int))
        self._writer.submit([row])
        self._on_stored(row)
        with self._lock:
            self.taken += 1
        log.info("alert %s (%s): snapshot of camera %s kept in %s (%d people blurred)", alert.alert_id, alert.kind,
                 stream_id, path, row.people_blurred)
        return row

    # --- readers ------------------------------------------------------------------------------------------------

    def path(self, alert_id: str) -> Path | None:
        """The file of an alert's snapshot, when one was recorded and its file is still there; else None."""
        try:
            row = self._writer.call(lambda conn: storage.snapshot_row(conn, alert_id), timeout_s=10.0)
        except storage.StorageError as exc:
            log.warning("alert %s: cannot look up its snapshot: %s", alert_id, exc)
            return None
        if row is None:
            return None
        path = inside(self.folder, row["path"])
        return path if path is not None and path.is_file() else None

    def close(self, timeout_s: float = 10.0) -> None:
        """Take no more snapshots; wait for those being taken (each has its timeout)."""
        with self._lock:
            self._closed, pool = True, self._pool
        if pool is not None:
            waiter = threading.Thread(target=pool.shutdown, kwargs={"wait": True}, daemon=True)
            waiter.start()
            waiter.join(timeout_s)


def _number(text: str | None, kind: type) -> float | int | None:
    try:
        return kind(text) if text is not None else None
    except ValueError:
        return None
