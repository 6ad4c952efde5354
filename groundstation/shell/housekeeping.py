"""The station's housekeeping: the retention purge ([retention]) and the daily report ([reports] dir), each on its own
schedule, each run on a background thread so that the patrol tick never waits for it.

`Housekeeping.tick()` is called by the station's tick (shell/station.py); `purge_due` and `report_due` decide, from the
injected clock, whether something is due. A purge runs on the storage writer's thread (StorageWriter.call: one
writer) and records what it deleted in the purges table (storage.purge) and the event log. Alerts' evidence snapshots
(shell/snapshots.py) are purged by their rule like the other records, their files first: the files of the rows past
the rule, and any file in the snapshots folder without a row (a crash between the file and its row) last modified
before the rule's cutoff; then the rows. A report is written for
the previous local day once [reports] `at` has passed, to `<dir>/report-YYYY-MM-DD.<format>`, unless that file exists;
a day with no records gets an event saying so instead of a file.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from groundstation.config import StationConfig
from groundstation.core.records import EventRow
from groundstation.shell import storage
from groundstation.shell.snapshots import inside, snapshot_folder

log = logging.getLogger("groundstation.housekeeping")


def purge_due(last_purge_s: float | None, now_s: float, every_s: float) -> bool:
    """The first tick after a start, then every `every_s`."""
    return last_purge_s is None or now_s - last_purge_s >= every_s


def report_due(now_s: float, tz_name: str, at: str, done: set[date]) -> date | None:
    """The previous local day, once today's `at` (HH:MM, local) has passed and that day is not done yet; else None."""
    now = datetime.fromtimestamp(now_s, ZoneInfo(tz_name))
    hour, minute = (int(x) for x in at.split(":"))
    if (now.hour, now.minute) < (hour, minute):
        return None
    day = now.date() - timedelta(days=1)
    return None if day in done else day


def report_path(directory: Path, day: date, fmt: str) -> Path:
    return directory / f"report-{day.isoformat()}.{fmt}"


class Housekeeping:
    """See the module docstring. `tick()` from the station's tick; `close()` waits for a job in progress."""

    def __init__(self, config: StationConfig, writer: storage.StorageWriter, clock: Callable[[], float] = time.time):
        self._config = config
        self._writer = writer
        self._clock = clock
        self._last_purge_s: float | None = None
        self._reports_done: set[date] = set()
        self._job: threading.Thread | None = None
        self._lock = threading.Lock()

    def tick(self) -> None:
        now = self._clock()
        with self._lock:
            if self._job is not None and self._job.is_alive():
                return
            work: Callable[[], None] | None = None
            if purge_due(self._last_purge_s, now, self._config.retention.purge_every_h * 3600.0):
                self._last_purge_s = now
                work = lambda: self.purge(now)  # noqa: E731
            elif self._config.reports.dir is not None:
                settings = self._config.reports
                day = report_due(now, settings.tz_name, settings.at, self._reports_done)
                if day is not None:
                    self._reports_done.add(day)
                    work = lambda: self.report(day, now)  # noqa: E731
            if work is not None:
                self._job = threading.Thread(target=self._run, args=(work,), name="station-housekeeping", daemon=True)
                self._job.start()

    def close(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            job = self._job
        if job is not None:
            job.join(timeout_s)

    @staticmethod
    def _run(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # never let housekeeping take the station down
            log.exception("housekeeping failed")

    def purge(self, now_s: float) -> list[dict]:
        """Delete what the retention rules no longer keep; record it."""
        rules = self._config.retention.rules()
        files = self.purge_snapshot_files(rules.get("snapshots", 0.0), now_s)  # before their rows
        done = self._writer.call(lambda conn: storage.purge(conn, rules, now_s))
        if done or files:
            parts = [f"{d['rows_deleted']} {d['table_name']} (older than {d['days']:g} days)" for d in done]
            if files:
                parts.append(f"{files} snapshot file(s)")
            text = "retention purge: " + ", ".join(parts)
            self._writer.submit([EventRow(None, now_s, "retention", "info", text,
                                          {"purged": done, "snapshot_files_deleted": files})])
            log.info("%s", text)
        return done

    def purge_snapshot_files(self, days: float, now_s: float) -> int:
        """Delete the snapshot files past `days` (0: none): those of the rows taken before the cutoff, and files without
        a row last modified before it. Returns how many files were deleted."""
        if days <= 0:
            return 0
        cutoff_s = now_s - days * 86_400.0
        folder = snapshot_folder(self._config.station.storage_path)
        if not folder.is_dir():
            return 0
        expired, kept = self._writer.call(lambda conn: (storage.snapshot_paths_before(conn, cutoff_s),
                                                        storage.snapshot_paths_before(conn, float("inf"))))
        doomed = {p for p in (inside(folder, rel) for rel in expired) if p is not None}
        known = {p for p in (inside(folder, rel) for rel in kept) if p is not None}
        for path in folder.iterdir():
            try:
                if path.is_file() and path.resolve() not in known and path.stat().st_mtime < cutoff_s:
                    doomed.add(path.resolve())
            except OSError:
                continue
        deleted = 0
        for path in sorted(doomed):
            try:
                path.unlink()
                deleted += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("retention purge: cannot delete %s: %s", path, exc)
        return deleted

    def report(self, day: date, now_s: float) -> Path | None:
        """Write the report of `day` unless its file exists; None when there was nothing to write."""
        from groundstation.shell.report import NoData, write_report

        settings = self._config.reports
        assert settings.dir is not None
        out = report_path(settings.dir, day, settings.format)
        if out.exists():
            return out
        try:
            write_report(self._config, day, out)
        except NoData as exc:
            self._writer.submit([EventRow(None, now_s, "report", "info", f"daily report of {day}: {exc}")])
            return None
        self._writer.submit([EventRow(None, now_s, "report", "info", f"daily report of {day} written to {out}",
                                      {"path": str(out), "day": day.isoformat()})])
        log.info("daily report of %s written to %s", day, out)
        return out
