"""The web map's side of the composition root: adapts the running Station, its database and the patrol schedules
to web/port.py's Protocols (`StationBridge`, `DatabaseUsers`), and starts the web server next to the station
(`start_web`).

web/ never imports the station; this module is the only place that knows both. Reads of stored rows use a
StorageReader per thread (query-only); the web's own writes (users, alert acknowledgements, schedules) are short
transactions on their own connections, like the `schedule` and `user` CLIs (the station's writer thread keeps the
station's rows; SQLite WAL lets them share the file).
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from pathlib import Path
from typing import Any

from groundstation.config import StationConfig, WebSettings
from groundstation.core.records import CommandRequest
from groundstation.shell import schedules, storage
from groundstation.shell.storage import StorageReader
from missions.geo import enu_to_latlon
from missions.zone import multipolygon_geojson
from web.errors import Conflict, InvalidInput, NotFound, StationUnavailable
from web.port import RECORD_KINDS, Acknowledgement, FeedItem, Outcome, ScheduleRequest, User
from web.server import WebServer
from web.settings import ServerSettings

log = logging.getLogger("groundstation.web")

_NAV_WITH_POSITION = frozenset({16, 17, 18, 19, 21, 31, 82})  # waypoint, loiters, land, spline waypoint


class _Connections:
    """One connection per thread (read-write, migrated by open_database), all closed by close()."""

    def __init__(self, path: Path):
        self._path = path
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = storage.open_database(self._path, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def reader(self) -> StorageReader:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = StorageReader(self._path)
            self._local.reader = reader
            with self._lock:
                self._all.append(reader)
        return reader

    def close(self) -> None:
        with self._lock:
            items, self._all = self._all, []
        for item in items:
            try:
                item.close()
            except Exception:  # a connection of a thread that is gone
                pass


ZONES_TIMEOUT_S = 10.0  # the station's answer to new zones (read and applied by its core thread)
CHANGE_TIMEOUT_S = 10.0  # the station's record of an admin's change
REPLAY_TRACK_INTERVAL_S = 1.0  # a replayed track: about one point a second
REPLAY_KINDS = ("zone_counts", "crowd_observations", "gatherings", "responses", "response_steps", "alerts",
                "thermal_readings", "risk_levels", "venue_counts")


def _outcome(future: Any, timeout_s: float) -> Outcome:
    """The station's answer to a request, as web.port's Outcome (StationUnavailable after timeout_s)."""
    try:
        o = future.result(timeout_s)
    except FutureTimeout:
        raise StationUnavailable(f"no answer from the station within {timeout_s:g} s; the command may still "
                                 "be carried out (see the audit trail)") from None
    return Outcome(o.request_id, o.vehicle_id, o.action, o.status, o.reason, o.result_name)


class StationBridge:
    """web.port.StationPort over a running Station. `mbtiles`: an MBTiles file of map tiles to offer (default: the
    config's [web] tiles_mbtiles)."""

    def __init__(self, station: Any, config: StationConfig, mbtiles: str | Path | None = None):
        self._station = station
        self._config = config
        self._db = Path(config.station.storage_path)
        self._conns = _Connections(self._db)
        self._layout = _layout(config)
        self._zones_lock = threading.Lock()
        grid = config.counting
        self._grid = None if grid.grid_origin is None else (grid.grid_origin[0], grid.grid_origin[1], grid.grid_cell_m)
        path = mbtiles if mbtiles is not None else config.web.tiles_mbtiles
        self._tiles = None if path is None else MbtilesTiles(Path(path))

    def close(self) -> None:
        self._conns.close()
        if self._tiles is not None:
            self._tiles.close()

    def view(self) -> dict[str, Any]:
        view = self._station.view()
        if self._grid is not None:
            lat0, lon0, size = self._grid
            for cell in view["cells"]:
                e, n = cell["cell_east"], cell["cell_north"]
                lat, lon = enu_to_latlon(lat0, lon0, [e * size, (e + 1) * size], [n * size, (n + 1) * size])
                cell["bounds"] = [[float(lat[0]), float(lon[0])], [float(lat[1]), float(lon[1])]]
        return view

    def layout(self) -> dict[str, Any]:
        return self._layout

    def subscribe(self, callback: Callable[[FeedItem], None]) -> Callable[[], None]:
        return self._station.feed.subscribe(callback)

    def since(self, seq: int) -> list[FeedItem] | None:
        return self._station.feed.since(seq)

    def command(self, vehicle_id: str, action: str, args: Mapping[str, Any], requested_by: str,
                timeout_s: float) -> Outcome:
        return _outcome(self._station.request(CommandRequest(vehicle_id, action, dict(args), requested_by=requested_by)),
                        timeout_s)

    def record_change(self, action: str, args: Mapping[str, Any], requested_by: str) -> None:
        outcome = _outcome(self._station.request(CommandRequest("", action, dict(args), requested_by=requested_by)),
                           CHANGE_TIMEOUT_S)
        if outcome.status != "accepted":
            log.error("%s by %s done but not recorded: %s", action, requested_by, outcome.reason)

    def acknowledge_notice(self, notice_id: str, officer_id: str, token: str, note: str, timeout_s: float) -> Outcome:
        # the station checks the token and records the request as made by "officer:<officer_id>"
        return _outcome(self._station.acknowledge_notice(notice_id, officer_id=officer_id, token=token, note=note),
                        timeout_s)

    def missions(self) -> list[dict[str, Any]]:
        out = []
        for run in self._station.patrol_state().runs.values():
            path = [[it.lat_deg, it.lon_deg] for it in run.items
                    if it.command in _NAV_WITH_POSITION and (it.lat_deg or it.lon_deg)]
            out.append({"run_id": run.run_id, "schedule_id": run.schedule_id, "vehicle_id": run.vehicle_id,
                        "status": run.status, "step": run.step, "item_count": len(run.items),
                        "last_reached_seq": run.last_reached_seq, "paused_by": run.paused_by, "path": path})
        return out

    def records(self, kind: str, filters: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        if kind not in RECORD_KINDS:
            raise NotFound(f"no records of kind {kind!r}")
        if kind == "risk_levels":
            return storage.risk_level_rows(self._conns.get(), filters.get("area_id"))[-limit:]
        if kind == "venue_counts":
            return storage.venue_count_rows(self._conns.get(), filters.get("venue_id"))[-limit:]
        method = getattr(self._conns.reader(), kind)
        kwargs = {k: v for k, v in filters.items() if k in RECORD_KINDS[kind]}
        if "limit" in inspect.signature(method).parameters:
            return method(**kwargs, limit=limit)
        rows = method(**kwargs)
        return rows[-limit:]

    def replay(self, from_s: float, to_s: float) -> dict[str, Any]:
        from telemetry.tlog import read_tracks

        recorded = storage.day_records(self._conns.get(), from_s, to_s)
        out: dict[str, Any] = {k: recorded[k] for k in REPLAY_KINDS}
        out["crowds"] = out.pop("crowd_observations")
        folder = self._config.station.tlog_dir
        note = None
        if folder is None:
            tracks, note = {}, "the station records no tlogs ([station] tlog_dir is off)"
        else:
            try:
                tracks = read_tracks(Path(folder), from_s, to_s, REPLAY_TRACK_INTERVAL_S)
            except OSError as exc:
                tracks, note = {}, f"cannot read the tlogs in {folder}: {exc}"
        out["tracks"] = {vid: [[p.t_s, p.lat_deg, p.lon_deg, p.alt_rel_m, p.heading_deg] for p in points]
                         for vid, points in tracks.items()}
        out["tracks_note"] = note
        return out

    def risk_at(self, at_s: float) -> dict[str, Any]:
        conn = self._conns.get()
        first, last = storage.risk_level_span(conn)
        return {"areas": list(storage.risk_levels_at(conn, at_s).values()), "first_change_s": first,
                "last_change_s": last}

    def acknowledgements(self) -> list[Acknowledgement]:
        return [Acknowledgement(r["alert_id"], r["acked_by"], r["acked_at_s"], r["note"])
                for r in storage.alert_ack_rows(self._conns.get())]

    def acknowledge(self, ack: Acknowledgement) -> Acknowledgement:
        conn = self._conns.get()
        if not storage.alert_exists(conn, ack.alert_id):
            raise NotFound(f"no alert {ack.alert_id!r}")
        r = storage.insert_alert_ack(conn, ack.alert_id, ack.by, ack.at_s, ack.note)
        first = Acknowledgement(r["alert_id"], r["acked_by"], r["acked_at_s"], r["note"])
        if first == ack and self._config.grid.file is not None:
            # the grid officers' notices of this alert stop climbing: asked of the station, checked and recorded
            # like every request (refused, and recorded so, when no officer was sent it)
            self._station.acknowledge_notice(alert_id=ack.alert_id, requested_by=f"web:{ack.by}", note=ack.note)
        return first

    def schedules(self, now_s: float) -> list[dict[str, Any]]:
        return schedules.list_schedules(self._db, now_s)

    def add_schedule(self, request: ScheduleRequest, now_s: float) -> dict[str, Any]:
        """The zone is written to <database folder>/web-zones/ (the schedule keeps its path and text)."""
        folder = self._db.parent / "web-zones"
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", request.name)[:40]
        zone_path = folder / f"{safe}-{uuid.uuid4().hex[:8]}.geojson"
        zone_path.write_text(json.dumps(dict(request.zone_geojson)), encoding="utf-8")
        new = schedules.NewSchedule(name=request.name, zone_path=str(zone_path), pattern=request.pattern,
                                    alt_m=request.alt_m, cron=request.cron, interval_s=request.interval_s,
                                    tz_name=request.tz_name, grace_s=self._config.patrols.grace_s,
                                    zone_name=request.zone_name)
        try:
            return schedules.add_schedule(self._db, new, now_s, self._config)
        except schedules.ScheduleInputError as exc:
            zone_path.unlink(missing_ok=True)
            if "already exists" in str(exc):
                raise Conflict(str(exc)) from None
            raise InvalidInput(str(exc)) from None

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        try:
            return schedules.remove_schedule(self._db, schedule_id)
        except schedules.ScheduleInputError as exc:
            raise NotFound(str(exc)) from None


    # --- video, counting zones, tiles -------------------------------------------------------------------------

    def video_sources(self) -> list[dict[str, Any]]:
        """The vision workers' own MJPEG addresses, as the station learnt them from their VideoServing records
        (Station.video_sources; a station without it has no video to offer)."""
        sources = getattr(self._station, "video_sources", None)
        if sources is None:
            return []
        cameras = {c.id: c.vehicle_id for c in self._config.cameras}
        return [{"stream_id": sid, "vehicle_id": cameras.get(sid, ""), "url": url}
                for sid, url in sorted(sources().items()) if url]

    def zones_document(self) -> dict[str, Any]:
        path = self._config.counting.zones_file
        if path is None:
            return {"type": "FeatureCollection", "features": [], "editable": False,
                    "why": "the station has no [counting] zones_file to store zones in"}
        with self._zones_lock:
            text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".kml":
            doc = self.parse_zones(text, path.name)
            return {**doc, "editable": False, "stored": str(path),
                    "why": f"the counting zones file {path.name} is KML: edit it with a GIS tool, or make the station "
                           "read a GeoJSON file ([counting] zones_file) to edit zones on the map"}
        return {"type": "FeatureCollection", "features": zone_features(json.loads(text)), "editable": True,
                "stored": str(path)}

    def parse_zones(self, text: str, filename: str) -> dict[str, Any]:
        """GeoJSON: its features, each with its id; KML: its counting zones as GeoJSON features."""
        from missions.areas import counting_zones_from_text
        from missions.errors import ZoneError

        try:
            zones = counting_zones_from_text(text, filename)
        except ZoneError as exc:
            raise InvalidInput(f"{filename}: {exc}") from None
        if filename.lower().endswith(".kml"):
            return {"type": "FeatureCollection", "features": [_zone_feature(z) for z in zones]}
        return {"type": "FeatureCollection", "features": zone_features(json.loads(text))}

    def save_zones(self, document: Mapping[str, Any], requested_by: str = "web") -> dict[str, Any]:
        """Checked with the station's own parser (every polygon a counting zone with its capacity; policy one of
        missions.zone.ZONE_POLICIES), written over [counting] zones_file (the previous file kept as .bak), then
        loaded by the station at once (Station.reload_zones: checked and recorded with who asked). A refusal (a
        removed zone still in use) puts the previous file back and is answered 409 with the station's reason."""
        from missions.areas import counting_zones_from_text
        from missions.errors import ZoneError

        path = self._config.counting.zones_file
        if path is None or path.suffix.lower() == ".kml":
            raise Conflict(self.zones_document()["why"])
        features = list(document.get("features") or []) if isinstance(document, Mapping) else []
        text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1)
        try:
            zones = counting_zones_from_text(text, path.name)
        except ZoneError as exc:
            raise InvalidInput(str(exc)) from None
        outcome = self._replace_and_reload(path, text + "\n", requested_by, "zones")
        log.info("web map: %d counting zone(s) stored in %s by %s", len(zones), path, requested_by)
        return {"stored": str(path), "zones": len(zones), "applied": True, "outcome": asdict(outcome),
                "message": f"{len(zones)} zone(s) stored in {path.name}; the station counts them now ({outcome.reason})"}

    def _replace_and_reload(self, path: Path, text: str, requested_by: str, what: str) -> Outcome:
        """Write `text` over `path`, then have the station load it (Station.reload_zones reads the zones and the grid
        file); refused: the previous file is put back (Conflict with the station's reason); accepted: it is kept as
        .bak."""
        with self._zones_lock:
            previous = path.read_text(encoding="utf-8") if path.exists() else None
            _write_atomically(path, text)
            outcome = _outcome(self._station.reload_zones(requested_by), ZONES_TIMEOUT_S)
            if outcome.status != "accepted":
                if previous is not None:
                    _write_atomically(path, previous)
                raise Conflict(f"the station refused the {what}: {outcome.reason}")
            if previous is not None:
                _write_atomically(path.with_name(path.name + ".bak"), previous)
            self._layout = _layout(self._config)
        return outcome

    # --- the grid (districts, streets, communities, cells and their officers) ---------------------------------

    def snapshot(self, alert_id: str) -> bytes | None:
        path = self._station.snapshot_path(alert_id)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:  # purged since
            return None

    def grid_document(self) -> dict[str, Any]:
        path = self._config.grid.file
        if path is None:
            return {"type": "FeatureCollection", "features": [], "editable": False,
                    "why": "the station has no [grid] file (set one, with its secrets and channels, in the config)"}
        with self._zones_lock:
            text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".kml":
            return {"type": "FeatureCollection", "features": grid_features(self.parse_grid(text, path.name)),
                    "editable": False, "stored": str(path),
                    "why": f"the grid file {path.name} is KML: upload a GeoJSON grid to edit it on the map"}
        return {"type": "FeatureCollection", "features": json.loads(text).get("features", []), "editable": True,
                "stored": str(path)}

    def parse_grid(self, text: str, filename: str) -> Any:
        """A grid file's text checked with the station's own parser (InvalidInput listing every problem)."""
        from missions.grid import GridError, grid_from_text

        try:
            return grid_from_text(text, filename)
        except GridError as exc:
            raise InvalidInput("; ".join(exc.problems)) from None
        except ValueError as exc:
            raise InvalidInput(f"{filename}: {exc}") from None

    def save_grid(self, text: str, filename: str, requested_by: str) -> dict[str, Any]:
        """A whole new grid (GeoJSON or KML, by the file name), checked, stored over [grid] file as GeoJSON and loaded
        by the station at once (refused: the previous grid stays)."""
        path = self._config.grid.file
        if path is None or path.suffix.lower() == ".kml":
            raise Conflict(self.grid_document()["why"])
        grid = self.parse_grid(text, filename)
        doc = None if filename.lower().endswith(".kml") else json.loads(text)
        # a GeoJSON FeatureCollection is kept as written (its other properties too); anything else as parsed
        features = doc["features"] if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" \
            else grid_features(grid)
        stored = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1) + "\n"
        outcome = self._replace_and_reload(path, stored, requested_by, "grid")
        log.info("web map: a grid of %d unit(s) stored in %s by %s", len(grid.units), path, requested_by)
        return {"stored": str(path), "units": len(grid.units), "applied": True, "outcome": asdict(outcome),
                "message": f"{len(grid.units)} grid unit(s) stored in {path.name}; in force now ({outcome.reason})"}

    def tiles(self) -> dict[str, Any] | None:
        return None if self._tiles is None else self._tiles.info

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        return None if self._tiles is None else self._tiles.tile(z, x, y)


def grid_features(grid: Any) -> list[dict[str, Any]]:
    """A parsed grid (missions.grid.Grid) as the GeoJSON features of a grid file (the fields missions.grid reads)."""
    out = []
    for u in grid.units:
        props: dict[str, Any] = {"level": u.level, "name": u.name, "officer": u.officer.name,
                                 "officer_id": u.officer.officer_id}
        if u.parent_id:
            props["parent"] = u.parent_id
        for key, value in (("webhook", u.officer.webhook_url), ("email", u.officer.email), ("sms", u.officer.sms_number),
                           ("capacity", u.capacity_persons), ("dwell_s", u.dwell_s)):
            if value is not None:
                props[key] = value
        out.append({"type": "Feature", "id": u.unit_id, "properties": props,
                    "geometry": multipolygon_geojson(u.parts)})
    return out


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def zone_features(doc: Any) -> list[dict[str, Any]]:
    """The features of a GeoJSON zone document, each with the id the station's parser gives it (its own, else
    "zone-<index>", as missions.zone does), so that edits keep zones' ids."""
    if not isinstance(doc, dict):
        raise InvalidInput("not a GeoJSON object")
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
    elif doc.get("type") == "Feature":
        features = [doc]
    else:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    out = []
    for i, f in enumerate(features):
        if not isinstance(f, dict):
            raise InvalidInput(f"feature {i}: not a GeoJSON Feature")
        props = f.get("properties") or {}
        given = f.get("id", props.get("id") if isinstance(props, dict) else None)
        out.append({**f, "id": f"zone-{i}" if given is None or str(given).strip() == "" else str(given)})
    return out


def _zone_feature(zone: Any) -> dict[str, Any]:
    """A missions.areas.CountingZone as a GeoJSON feature (MultiPolygon of its parts, holes kept)."""
    props: dict[str, Any] = {"name": zone.name, "capacity": zone.capacity_persons}
    if zone.dwell_s is not None:
        props["dwell_s"] = zone.dwell_s
    if zone.policy is not None:
        props["policy"] = zone.policy
    return {"type": "Feature", "id": zone.zone_id, "properties": props, "geometry": multipolygon_geojson(zone.parts)}


class MbtilesTiles:
    """Raster map tiles from an MBTiles file (the SQL is storage/mbtiles.py's); one read-only connection, shared."""

    MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._conn = None
        self.info: dict[str, Any] | None = None
        try:
            self._conn = storage.open_mbtiles(path)
            meta = storage.mbtiles_metadata(self._conn)
        except sqlite3.Error as exc:
            log.error("web map: cannot read the MBTiles file %s: %s; no local tiles", path, exc)
            return
        fmt = meta.get("format", "png").lower()
        if fmt not in self.MEDIA_TYPES:
            log.error("web map: MBTiles %s holds %s tiles; the map takes raster png, jpg or webp tiles", path, fmt)
            return
        bounds = None
        try:
            west, south, east, north = (float(v) for v in meta["bounds"].split(","))
            bounds = [[south, west], [north, east]]
        except (KeyError, ValueError):
            pass
        self.info = {"format": fmt, "media_type": self.MEDIA_TYPES[fmt], "min_zoom": _int(meta.get("minzoom"), 0),
                     "max_zoom": _int(meta.get("maxzoom"), 19), "attribution": meta.get("attribution", ""),
                     "bounds": bounds, "name": meta.get("name", path.stem)}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if self.info is None or self._conn is None:
            return None
        with self._lock:
            return storage.mbtiles_tile(self._conn, z, x, y)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


class DatabaseUsers:
    """web.port.UserStore in the station database (migration 6's users table)."""

    def __init__(self, db_path: str | Path):
        self._conns = _Connections(Path(db_path))

    def close(self) -> None:
        self._conns.close()

    @staticmethod
    def _user(row: dict[str, Any]) -> User:
        return User(row["name"], row["role"], row["password_hash"], row["created_at_s"], row["updated_at_s"])

    def get(self, name: str) -> User | None:
        row = storage.user_row(self._conns.get(), name)
        return None if row is None else self._user(row)

    def all(self) -> list[User]:
        return [self._user(r) for r in storage.user_rows(self._conns.get())]

    def add(self, name: str, role: str, password_hash: str, now_s: float) -> User:
        try:
            return self._user(storage.insert_user(self._conns.get(), name, role, password_hash, now_s))
        except storage.DuplicateUser as exc:
            raise Conflict(str(exc)) from None

    def remove(self, name: str) -> None:
        if not storage.delete_user(self._conns.get(), name):
            raise NotFound(f"no user {name!r}")


def secret_key(config: StationConfig) -> bytes:
    """The key that signs session cookies: [web] secret_key_file, or web-secret.key beside the database; made (32
    random bytes, mode 0600) when missing, so sessions survive restarts of the web server and the station."""
    path = config.web.secret_key_file or Path(config.station.storage_path).parent / "web-secret.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def server_settings(config: StationConfig, port: int | None = None, **overrides: Any) -> ServerSettings:
    """web's ServerSettings from the config's [web] (port: --web-port)."""
    w: WebSettings = config.web
    return ServerSettings(secret_key=secret_key(config), host=w.host, port=w.port if port is None else port,
                          async_mode=w.async_mode, tls_cert=w.tls_cert, tls_key=w.tls_key, tiles_dir=w.tiles_dir,
                          tiles_ext=w.tiles_ext, tiles_url=w.tiles_url, allow_online_tiles=w.allow_online_tiles,
                          tiles_max_zoom=w.tiles_max_zoom, tiles_attribution=w.tiles_attribution,
                          session_hours=w.session_hours, command_timeout_s=w.command_timeout_s, **overrides)


class BridgeServer:
    """A server in front of a running station's StationBridge and DatabaseUsers (the web map here, the station port
    in remote_port): `start()` closes both when the server cannot start; `stop()` stops the server and closes both,
    never touching the station. Subclasses set ``server`` (anything with start(), stop() and url)."""

    server: Any

    def __init__(self, station: Any, config: StationConfig, mbtiles: str | Path | None = None):
        self.bridge = StationBridge(station, config, mbtiles)
        self.users = DatabaseUsers(config.station.storage_path)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self):
        try:
            self.server.start()
        except Exception:
            self._close()
            raise
        return self

    def stop(self) -> None:
        self.server.stop()
        self._close()

    def _close(self) -> None:
        self.bridge.close()
        self.users.close()


class StationWeb(BridgeServer):
    """The web server of a running station and what it holds open; `stop()` never touches the station."""

    def __init__(self, station: Any, config: StationConfig, port: int | None = None, *,
                 mbtiles: str | Path | None = None, **kwargs: Any):
        super().__init__(station, config, mbtiles)
        self.server = WebServer(self.bridge, self.users, server_settings(config, port), **kwargs)


def _layout(config: StationConfig) -> dict[str, Any]:
    """Counting zones as GeoJSON, the geofence, the grid and a centre for the map."""
    features = []
    try:
        zones = config.counting.zones()
    except Exception as exc:  # the config check reported it already; the map shows what it can
        log.warning("web map: no counting zones: %s", exc)
        zones = ()
    for z in zones:
        features.append({"type": "Feature", "id": z.zone_id,
                         "properties": {"zone_id": z.zone_id, "name": z.name, "capacity_persons": z.capacity_persons},
                         "geometry": multipolygon_geojson(z.parts)})
    fence = config.geofence
    geofence = None if fence is None else {"inclusion": fence.inclusion, "exclusions": fence.exclusions,
                                           "radius_m": fence.radius_m}
    c = config.counting
    points = [(lat, lon) for lat, lon in (fence.inclusion or [])] if fence is not None else []
    if not points:
        points = [(p.lat_deg, p.lon_deg) for z in zones for part in z.parts for p in part.exterior]
    grid = None
    if c.grid_origin is not None:
        grid = {"origin": list(c.grid_origin), "cell_m": c.grid_cell_m,
                "cell_capacity_persons": c.cell_capacity_persons, "lines": _grid_lines(c, points)}
    centre = [sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)] if points else None
    return {"zones": {"type": "FeatureCollection", "features": features}, "geofence": geofence, "grid": grid,
            "centre": centre, "vehicles": [v.id for v in config.vehicles], "risk_areas": _risk_areas(config)}


def _risk_areas(config: StationConfig) -> dict[str, Any]:
    """The risk map's areas as GeoJSON: the [grid] file's cells and communities (id = the risk area's id); without a
    grid file the areas are the counting zones (the map colours those), and this is empty."""
    features: list[dict[str, Any]] = []
    if config.grid.file is None:
        return {"type": "FeatureCollection", "features": features}
    try:
        grid = config.grid.grid()
    except Exception as exc:  # the config check reported it already; the map shows what it can
        log.warning("web map: no risk areas: %s", exc)
        return {"type": "FeatureCollection", "features": features}
    for unit in grid.units:
        if unit.level not in ("cell", "community") or not unit.parts:
            continue
        features.append({"type": "Feature", "id": unit.unit_id,
                         "properties": {"area_id": unit.unit_id, "kind": unit.level, "name": unit.name,
                                        "parent_id": unit.parent_id},
                         "geometry": multipolygon_geojson(unit.parts)})
    return {"type": "FeatureCollection", "features": features}


def _grid_lines(counting: Any, points: list[tuple[float, float]], max_lines: int = 400) -> list[list[list[float]]]:
    """The city grid's cell edges over the area the map shows (the geofence or the zones), at most max_lines."""
    from missions.geo import latlon_to_enu

    if not points or counting.grid_origin is None:
        return []
    lat0, lon0 = counting.grid_origin
    size = counting.grid_cell_m
    east, north = latlon_to_enu(lat0, lon0, [p[0] for p in points], [p[1] for p in points])
    e0, e1 = int(min(east) // size), int(max(east) // size) + 1
    n0, n1 = int(min(north) // size), int(max(north) // size) + 1
    if (e1 - e0 + 1) + (n1 - n0 + 1) > max_lines:
        return []
    lines = []
    for e in range(e0, e1 + 1):
        lat, lon = enu_to_latlon(lat0, lon0, [e * size, e * size], [n0 * size, n1 * size])
        lines.append([[float(lat[0]), float(lon[0])], [float(lat[1]), float(lon[1])]])
    for n in range(n0, n1 + 1):
        lat, lon = enu_to_latlon(lat0, lon0, [e0 * size, e1 * size], [n * size, n * size])
        lines.append([[float(lat[0]), float(lon[0])], [float(lat[1]), float(lon[1])]])
    return lines
