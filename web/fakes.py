"""In-memory implementations of web/port.py's Protocols, for web's own tests and the fan-out benchmark: a station
with a numbered feed, a few vehicles and zones, an audit list of the commands it was asked for, and users.

They keep the contracts the real bridge keeps (numbered feed, since() None when too old, NotFound / InvalidInput /
Conflict), never the station's behaviour: what the real station does is tested against it
(tests/web/test_with_station.py)."""
from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from missions.zone import ZONE_POLICIES
from web.errors import Conflict, InvalidInput, NotFound
from web.port import START_PATROL, Acknowledgement, FeedItem, Outcome, ScheduleRequest, User


class FakeStation:
    def __init__(self, vehicles: tuple[str, ...] = ("v1", "v2"), capacity: int = 1000,
                 clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._items: collections.deque[FeedItem] = collections.deque(maxlen=capacity)
        self._subscribers: list[Callable[[FeedItem], None]] = []
        self.vehicles: dict[str, dict[str, Any]] = {
            v: {"vehicle_id": v, "link_up": True, "lat_deg": 23.0469 + 0.001 * i, "lon_deg": 112.4651,
                "alt_rel_m": 0.0, "heading_deg": 0.0, "groundspeed_m_s": 0.0, "battery_pct": 95.0, "mode": "GUIDED",
                "armed": False} for i, v in enumerate(vehicles)}
        self.zones = [{"zone_id": "plaza", "name": "plaza", "capacity_persons": 5, "count": 0, "gathering_id": None}]
        self.responses: dict[str, dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []  # what was asked, most recent last
        self.stored: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.acks: dict[str, Acknowledgement] = {}
        self.schedule_rows: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.refusal: str | None = None  # set: every command is refused by the "station" with this reason
        self.command_delay_s = 0.0  # a command takes this long to be answered (blocking, like the real one)
        self.video: list[dict[str, Any]] = []  # video_sources(): {"stream_id", "vehicle_id", "url"}
        self.zone_features: list[dict[str, Any]] = [{
            "type": "Feature", "id": "plaza", "properties": {"name": "plaza", "capacity": 5},
            "geometry": {"type": "Polygon", "coordinates": [[[112.4654, 23.0472], [112.4662, 23.0472],
                                                             [112.4662, 23.0477], [112.4654, 23.0472]]]}}]
        self.zones_editable = True
        self.tile_set: dict[tuple[int, int, int], bytes] = {}  # tiles(): offered when not empty (png)
        self.notice_links: dict[tuple[str, str], str] = {}  # (notice id, officer id) -> the link's token
        self.notices_acked: dict[str, str] = {}  # notice id -> by whom
        # the risk map now (view()["risk"]["areas"]) and the venues; a published "risk_level" row is recorded and
        # becomes the area's level, as the station does (its history is stored["risk_levels"])
        self.risk_areas: dict[str, dict[str, Any]] = {"plaza": {
            "area_id": "plaza", "kind": "zone", "name": "plaza", "community_id": None, "level": "green",
            "since_s": 0.0, "reasons": [], "values": {}}}
        self.venues: list[dict[str, Any]] = []
        self.risk_layout: dict[str, Any] = {"type": "FeatureCollection", "features": []}
        self.tracks: dict[str, list[list[Any]]] = {}  # replay(): each vehicle's [t_s, lat, lon, alt_rel_m, heading]
        self.grid_file: list[dict[str, Any]] | None = None  # grid_document()'s features; None: no grid file
        self.snapshots: dict[str, bytes] = {}  # snapshot(): alert id -> JPEG

    # --- the feed -------------------------------------------------------------------------------------------

    def publish(self, kind: str, data: dict[str, Any]) -> FeedItem:
        with self._lock:
            self._seq += 1
            item = {"seq": self._seq, "kind": kind, "at_s": self._clock(), "data": data}
            self._items.append(item)
            if kind == "vehicle":
                self.vehicles[data["vehicle_id"]] = data
            elif kind == "alert":
                self.stored["alerts"].append(data)
            elif kind == "risk_level":
                self.stored["risk_levels"].append(data)
                self.risk_areas[data["area_id"]] = {**self.risk_areas.get(data["area_id"], {}), **data,
                                                    "since_s": data["at_s"]}
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(item)
        return item

    def subscribe(self, callback: Callable[[FeedItem], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def since(self, seq: int) -> list[FeedItem] | None:
        with self._lock:
            if seq >= self._seq:
                return []
            if not self._items or self._items[0]["seq"] > seq + 1:
                return None
            return [i for i in self._items if i["seq"] > seq]

    # --- state and records ----------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {"seq": self._seq, "at_s": self._clock(), "vehicles": {k: dict(v) for k, v in self.vehicles.items()},
                    "zones": [dict(z) for z in self.zones], "cells": [], "crowds": [], "people": 0,
                    "responses": [dict(r) for r in self.responses.values()], "patrol_runs": [],
                    "risk": {"computed_at_s": None, "trigger": None, "areas": [dict(a) for a in self.risk_areas.values()],
                             "levels": ["green", "blue", "yellow", "orange", "red"], "lockdowns": []},
                    "venues": [dict(v) for v in self.venues]}

    def layout(self) -> dict[str, Any]:
        with self._lock:
            zones = [{"type": "Feature", "id": f["id"], "geometry": f["geometry"],
                      "properties": {"zone_id": f["id"], "name": f["properties"].get("name", f["id"]),
                                     "capacity_persons": f["properties"].get("capacity")}} for f in self.zone_features]
        return {"zones": {"type": "FeatureCollection", "features": zones}, "geofence": None, "grid": None,
                "centre": [23.0469, 112.4651], "vehicles": sorted(self.vehicles), "risk_areas": self.risk_layout}

    def replay(self, from_s: float, to_s: float) -> dict[str, Any]:
        """stored[kind] rows with at_s in the period; tracks from self.tracks ({vehicle: [[t, lat, lon, alt, hdg]]})."""
        kinds = ("zone_counts", "crowds", "gatherings", "responses", "response_steps", "alerts", "thermal_readings",
                 "risk_levels", "venue_counts")
        with self._lock:
            out: dict[str, Any] = {k: [r for r in self.stored.get(k, [])
                                       if from_s <= r.get("at_s", r.get("started_at_s", from_s)) < to_s] for k in kinds}
            out["tracks"] = {v: [p for p in pts if from_s <= p[0] < to_s] for v, pts in self.tracks.items()}
        out["tracks_note"] = None
        return out

    def risk_at(self, at_s: float) -> dict[str, Any]:
        with self._lock:
            rows = list(self.stored["risk_levels"])
        last: dict[str, dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: r["at_s"]):
            if r["at_s"] <= at_s:
                last[r["area_id"]] = r
        times = [r["at_s"] for r in rows]
        return {"areas": list(last.values()), "first_change_s": min(times, default=None),
                "last_change_s": max(times, default=None)}

    def missions(self) -> list[dict[str, Any]]:
        return []

    def records(self, kind: str, filters: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(self.commands[::-1]) if kind == "commands" else list(self.stored.get(kind, []))
        rows = [r for r in rows if all(r.get(k) == v for k, v in filters.items())]
        return rows[:limit] if kind == "commands" else rows[-limit:]

    def command(self, vehicle_id: str, action: str, args: Mapping[str, Any], requested_by: str,
                timeout_s: float) -> Outcome:
        request_id = f"r{next(self._ids)}"
        status, reason = "accepted", "sent"
        if self.command_delay_s:
            time.sleep(self.command_delay_s)
        if self.refusal is not None:
            status, reason = "refused_by_station", self.refusal
        elif action.endswith("_response"):
            if args.get("response_id") not in self.responses:
                status, reason = "refused_by_station", f"no active crowd response {args.get('response_id')!r}"
        elif action == START_PATROL and not any(args.get("schedule") in (r["schedule_id"], r["name"])
                                                for r in self.schedule_rows.values()):
            status, reason = "refused_by_station", f"no patrol schedule with id or name {args.get('schedule')!r}"
        elif vehicle_id not in self.vehicles and not (action == START_PATROL and vehicle_id == ""):
            status, reason = "refused_by_station", f"unknown vehicle {vehicle_id!r}"
        with self._lock:
            self.commands.append({"request_id": request_id, "vehicle_id": vehicle_id, "action": action,
                                  "params": dict(args), "requested_by": requested_by,
                                  "decision": "sent" if status == "accepted" else "refused", "reason": reason})
        return Outcome(request_id, vehicle_id, action, status, reason)

    def acknowledge_notice(self, notice_id: str, officer_id: str, token: str, note: str, timeout_s: float) -> Outcome:
        """Like the station's: the link's token must be the one sent to that officer; a notice is acknowledged once."""
        request_id = f"r{next(self._ids)}"
        with self._lock:
            if self.notice_links.get((notice_id, officer_id)) != token:
                status, reason = "refused_by_station", f"notice {notice_id!r}: the acknowledgement link is not valid"
            elif notice_id in self.notices_acked:
                status, reason = "refused_by_station", f"notice {notice_id!r}: already acknowledged by " \
                                                       f"{self.notices_acked[notice_id]}"
            else:
                self.notices_acked[notice_id] = f"officer:{officer_id}"
                status, reason = "accepted", f"acknowledged notice {notice_id!r}" + (f": {note}" if note else "")
            self.commands.append({"request_id": request_id, "vehicle_id": "", "action": "acknowledge_notice",
                                  "params": {"notice_id": notice_id, "note": note}, "requested_by": f"officer:{officer_id}",
                                  "decision": "sent" if status == "accepted" else "refused", "reason": reason})
        return Outcome(request_id, "", "acknowledge_notice", status, reason)

    def acknowledgements(self) -> list[Acknowledgement]:
        with self._lock:
            return sorted(self.acks.values(), key=lambda a: a.at_s)

    def acknowledge(self, ack: Acknowledgement) -> Acknowledgement:
        with self._lock:
            if not any(a["alert_id"] == ack.alert_id for a in self.stored["alerts"]):
                raise NotFound(f"no alert {ack.alert_id!r}")
            return self.acks.setdefault(ack.alert_id, ack)

    def schedules(self, now_s: float) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.schedule_rows.values())

    def add_schedule(self, request: ScheduleRequest, now_s: float) -> dict[str, Any]:
        if request.zone_geojson.get("type") not in ("FeatureCollection", "Feature"):
            raise InvalidInput("the zone must be a GeoJSON FeatureCollection or Feature")
        with self._lock:
            if any(r["name"] == request.name for r in self.schedule_rows.values()):
                raise Conflict(f"a schedule named {request.name!r} already exists")
            sid = f"s{next(self._ids)}"
            row = {"schedule_id": sid, "name": request.name, "pattern": request.pattern,
                   "interval_s": request.interval_s, "cron": request.cron, "created_at_s": now_s}
            self.schedule_rows[sid] = row
            return row

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        with self._lock:
            if schedule_id not in self.schedule_rows:
                raise NotFound(f"no schedule {schedule_id!r}")
            return self.schedule_rows.pop(schedule_id)


    # --- video, counting zones, tiles -------------------------------------------------------------------------

    def video_sources(self) -> list[dict[str, Any]]:
        return [dict(v) for v in self.video]

    def zones_document(self) -> dict[str, Any]:
        with self._lock:
            doc: dict[str, Any] = {"type": "FeatureCollection", "features": [dict(f) for f in self.zone_features],
                                   "editable": self.zones_editable}
        if not self.zones_editable:
            doc["why"] = "the zones file is KML"
        return doc

    def record_change(self, action: str, args: Mapping[str, Any], requested_by: str) -> None:
        with self._lock:
            self.commands.append({"request_id": f"change-{len(self.commands)}", "vehicle_id": "", "action": action,
                                  "params": dict(args), "requested_by": requested_by, "decision": "sent",
                                  "reason": action})

    def snapshot(self, alert_id: str) -> bytes | None:
        return self.snapshots.get(alert_id)

    def grid_document(self) -> dict[str, Any]:
        with self._lock:
            if self.grid_file is None:
                return {"type": "FeatureCollection", "features": [], "editable": False, "why": "no [grid] file"}
            return {"type": "FeatureCollection", "features": [dict(f) for f in self.grid_file], "editable": True,
                    "stored": "memory"}

    def save_grid(self, text: str, filename: str, requested_by: str) -> dict[str, Any]:
        """Checked with the station's grid parser, like the station's."""
        import json

        from missions.grid import GridError, grid_from_text

        if self.grid_file is None:
            raise Conflict("no [grid] file")
        try:
            grid = grid_from_text(text, filename)
        except GridError as exc:
            raise InvalidInput("; ".join(exc.problems)) from None
        with self._lock:
            self.grid_file = json.loads(text)["features"]
            self.commands.append({"request_id": f"grid-{len(self.commands)}", "vehicle_id": "", "action": "load_zones",
                                  "params": {"grid": filename}, "requested_by": requested_by, "decision": "sent",
                                  "reason": f"{len(grid.units)} grid unit(s)"})
        return {"stored": "memory", "units": len(grid.units), "applied": True, "message": "grid in force"}

    def save_zones(self, document: Mapping[str, Any], requested_by: str) -> dict[str, Any]:
        features = list(document.get("features") or [])
        for f in features:
            props = f.get("properties") or {}
            if f.get("geometry", {}).get("type") not in ("Polygon", "MultiPolygon"):
                raise InvalidInput(f"{props.get('name')}: not a polygon")
            if not isinstance(props.get("capacity"), int) or props.get("policy", "auto") not in ZONE_POLICIES:
                raise InvalidInput(f"{props.get('name')}: capacity must be a whole number, policy one of "
                                   f"{', '.join(ZONE_POLICIES)}")
        with self._lock:
            self.zone_features = features
            self.commands.append({"request_id": f"zones-{len(self.commands)}", "vehicle_id": "", "action": "load_zones",
                                  "params": {"zones": [f.get("id") for f in features]}, "requested_by": requested_by,
                                  "decision": "sent", "reason": f"{len(features)} counting zone(s)"})
        return {"stored": "memory", "zones": len(features), "applied": True, "message": "stored; counted now"}

    def parse_zones(self, text: str, filename: str) -> dict[str, Any]:
        import json

        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"{filename}: not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise InvalidInput(f"{filename}: not a GeoJSON FeatureCollection")
        return {"type": "FeatureCollection", "features": doc.get("features", [])}

    def tiles(self) -> dict[str, Any] | None:
        if not self.tile_set:
            return None
        return {"format": "png", "media_type": "image/png", "min_zoom": 0, "max_zoom": 18, "attribution": "fake",
                "bounds": None}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        return self.tile_set.get((z, x, y))


class MemoryUsers:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> User | None:
        with self._lock:
            return self._users.get(name)

    def all(self) -> list[User]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.name)

    def add(self, name: str, role: str, password_hash: str, now_s: float) -> User:
        with self._lock:
            if name in self._users:
                raise Conflict(f"a user named {name!r} already exists")
            user = User(name, role, password_hash, now_s, now_s)
            self._users[name] = user
            return user

    def remove(self, name: str) -> None:
        with self._lock:
            if self._users.pop(name, None) is None:
                raise NotFound(f"no user {name!r}")
