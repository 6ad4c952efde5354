"""Reading: `StorageReader`, a query-only connection of its own (tests, tools, the web map; one per thread), and
`_dicts`, the cursor-to-dicts helper of the query functions on any connection (grid, risk, retention, records).
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from groundstation.shell.storage.migrations import MIGRATIONS, TABLES
from groundstation.shell.storage.schema import SchemaTooNew, StorageError, schema_version


class StorageReader:
    """Queries for tests, the CLI and (later) the web map; one per thread, query-only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise StorageError(f"{self.path}: no such database")
        self._conn = sqlite3.connect(self.path, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        version = schema_version(self._conn)
        if version > len(MIGRATIONS):
            self._conn.close()
            raise SchemaTooNew(str(self.path), version, len(MIGRATIONS))
        if version < len(MIGRATIONS):
            self._conn.close()
            raise StorageError(f"{self.path}: schema version {version}, not yet migrated to {len(MIGRATIONS)} "
                               "(open it with the station, or open_database(), first)")
        self._conn.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "StorageReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        out = []
        for r in self._conn.execute(sql, params):
            d = dict(r)
            for key in ("params_json", "data_json"):
                if key in d:
                    d[key[:-5]] = json.loads(d.pop(key))
            out.append(d)
        return out

    @staticmethod
    def _where(vehicle_id: str | None, extra: dict[str, Any] | None = None) -> tuple[str, tuple[Any, ...]]:
        clauses, params = [], []
        if vehicle_id is not None:
            clauses.append("vehicle_id = ?")
            params.append(vehicle_id)
        for column, value in (extra or {}).items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    def vehicles(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM vehicles ORDER BY vehicle_id")

    def commands(self, vehicle_id: str | None = None, *, decision: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """Most recent first."""
        where, params = self._where(vehicle_id, {"decision": decision})
        return self._rows(f"SELECT * FROM commands{where} ORDER BY id DESC LIMIT ?", params + (limit,))

    def command(self, request_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM commands WHERE request_id = ? ORDER BY id DESC LIMIT 1", (request_id,))
        return rows[0] if rows else None

    def events(self, vehicle_id: str | None = None, *, kind: str | None = None,
               limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(vehicle_id, {"kind": kind})
        rows = self._rows(f"SELECT * FROM events{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        return rows[::-1]

    def link_changes(self, vehicle_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(vehicle_id)
        return self._rows(f"SELECT * FROM link_changes{where} ORDER BY id", params)

    def mission_runs(self, vehicle_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(vehicle_id)
        return self._rows(f"SELECT * FROM mission_runs{where} ORDER BY created_at_s", params)

    def schedules(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM schedules ORDER BY created_at_s, name")

    def patrol_runs(self, schedule_id: str | None = None, *, status: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"schedule_id": schedule_id, "status": status})
        return self._rows(f"SELECT * FROM patrol_runs{where} ORDER BY planned_at_s, rowid", params)

    def crowd_observations(self, vehicle_id: str | None = None, *, stream_id: str | None = None,
                           since_s: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`), optionally only those handled at or after `since_s`."""
        where, params = self._where(vehicle_id, {"stream_id": stream_id})
        if since_s is not None:
            where, params = (where + " AND" if where else " WHERE") + " at_s >= ?", params + (since_s,)
        rows = self._rows(f"SELECT * FROM crowd_observations{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        return rows[::-1]

    def zone_counts(self, zone_id: str | None = None, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(None, {"zone_id": zone_id})
        rows = self._rows(f"SELECT * FROM zone_counts{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        for r in rows:
            r["over_capacity"] = bool(r["over_capacity"])
        return rows[::-1]

    def latest_zone_counts(self) -> dict[str, dict[str, Any]]:
        """The last recorded count of every zone."""
        rows = self._rows("SELECT * FROM zone_counts WHERE id IN (SELECT max(id) FROM zone_counts GROUP BY zone_id)"
                          " ORDER BY zone_id")
        return {r["zone_id"]: {**r, "over_capacity": bool(r["over_capacity"])} for r in rows}

    def gatherings(self, zone_id: str | None = None, *, status: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"zone_id": zone_id, "status": status})
        return self._rows(f"SELECT * FROM gatherings{where} ORDER BY started_at_s, rowid", params)

    def view_counts(self, stream_id: str | None = None, *, pose_missing: bool | None = None,
                    limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(None, {"stream_id": stream_id,
                                           "pose_missing": None if pose_missing is None else int(pose_missing)})
        rows = self._rows(f"SELECT * FROM view_counts{where} ORDER BY id DESC LIMIT ?", params + (limit,))
        for r in rows:
            r["pose_missing"] = bool(r["pose_missing"])
        return rows[::-1]

    def stream_status(self, stream_id: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"stream_id": stream_id})
        return self._rows(f"SELECT * FROM stream_status{where} ORDER BY id", params)

    def responses(self, zone_id: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"zone_id": zone_id})
        return self._rows(f"SELECT * FROM responses{where} ORDER BY started_at_s, rowid", params)

    def response_steps(self, response_id: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, params = self._where(None, {"response_id": response_id})
        return self._rows(f"SELECT * FROM response_steps{where} ORDER BY id", params)

    def alerts(self, kind: str | None = None, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (the last `limit`)."""
        where, params = self._where(None, {"kind": kind})
        return self._rows(f"SELECT * FROM alerts{where} ORDER BY at_s DESC, rowid DESC LIMIT ?",
                          params + (limit,))[::-1]

    def thermal_readings(self, response_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(None, {"response_id": response_id})
        rows = self._rows(f"SELECT * FROM thermal_readings{where} ORDER BY id", params)
        for r in rows:
            r["fever"] = None if r["fever"] is None else bool(r["fever"])
        return rows

    def broadcasts(self, response_id: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where(None, {"response_id": response_id})
        return self._rows(f"SELECT * FROM broadcasts{where} ORDER BY requested_at_s, rowid", params)

    def snapshots(self, alert_id: str | None = None) -> list[dict[str, Any]]:
        """Alerts' evidence snapshots, oldest first."""
        where, params = self._where(None, {"alert_id": alert_id})
        return self._rows(f"SELECT * FROM snapshots{where} ORDER BY at_s, rowid", params)

    def counts(self) -> dict[str, int]:
        return {t: int(self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}

    def integrity(self) -> str:
        """'ok' when SQLite finds the file consistent."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
