"""The REST API: one table of endpoints (method, path, role, body model, summary) from which both the routes and
the OpenAPI document (/api/openapi.json) are made, so they cannot drift apart, and the handlers.

Every /api/... endpoint answers 401 without a login, except logging in and the OpenAPI document. Roles are checked
on the server: viewer (reads, video), operator (commands, approvals, acknowledgements, patrols and broadcasts now),
admin (users, schedules, counting zones).
A state-changing request needs the session's CSRF token (header X-CSRFToken) and a JSON body; what is refused
(4xx) changes nothing. Operator actions go through the station's checked, audited command path with
requested_by = "web:<user>", and answer 200 with the station's outcome (accepted, refused with the station's
reason, or the vehicle's result).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from web.errors import Conflict, InvalidInput, NotFound
from web.port import (
    BROADCAST,
    RECORD_KINDS,
    RESPONSE_ACTIONS,
    ROLES,
    START_PATROL,
    Acknowledgement,
    ScheduleRequest,
    role_allows,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LoginBody(_Body):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class VehicleCommandBody(_Body):
    action: Literal["rtl", "land", "abort_patrol"]
    reason: str = Field(default="", max_length=500)


class DecisionBody(_Body):
    action: Literal["approve", "deny", "abort"]
    then: Literal["resume", "rtl"] | None = None  # abort only: what the drone does next
    reason: str = Field(default="", max_length=500)  # deny and abort


class StartPatrolBody(_Body):
    vehicle_id: str | None = Field(default=None, min_length=1, max_length=64)  # None: the station picks a drone


Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[a-z]{2,4})?$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class BroadcastBody(_Body):
    zone: str | None = Field(default=None, min_length=1, max_length=128)  # a zone whose message to play ...
    messages: dict[Language, Text] | None = Field(default=None, min_length=1, max_length=8)  # ... or these texts
    repeat: int | None = Field(default=None, ge=1, le=100)  # None: the station's broadcast_repeat


class ZoneBody(_Body):
    """One counting zone: its outline (GeoJSON Polygon or MultiPolygon, lon/lat), name, safe capacity, policy."""

    name: str = Field(min_length=1, max_length=128)
    capacity: int = Field(ge=0, le=1_000_000)
    policy: Literal["auto", "approve", "watch-only"] | None = None  # None: the station's [response] mode
    dwell_s: float | None = Field(default=None, ge=0.0, le=3600.0)
    geometry: dict[str, Any]
    model_config = ConfigDict(extra="forbid", strict=False)  # numbers may come as ints


class ZoneImportBody(_Body):
    filename: str = Field(pattern=r"(?i)^[^/\\]{1,200}\.(geojson|json|kml)$")  # the extension says the format
    text: str = Field(min_length=1, max_length=3_000_000)
    replace: bool = False  # True: the file's zones replace all; False: added, same ids replaced


class GridBody(_Body):
    """A whole grid file (districts, streets, communities, cells and their officers; missions/grid.py's format)."""

    filename: str = Field(pattern=r"(?i)^[^/\\]{1,200}\.(geojson|json|kml)$")  # the extension says the format
    text: str = Field(min_length=1, max_length=10_000_000)


class OfficerBody(_Body):
    """A grid unit's responsible officer and how to reach them (at least one channel; checked by the grid parser)."""

    officer: str = Field(min_length=1, max_length=128)
    officer_id: str | None = Field(default=None, min_length=1, max_length=128)
    webhook: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=254)
    sms: str | None = Field(default=None, max_length=20)


class AckBody(_Body):
    note: str = Field(default="", max_length=500)


class NewUserBody(_Body):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["viewer", "operator", "admin"]
    password: str = Field(min_length=1, max_length=1024)


class NewScheduleBody(_Body):
    name: str = Field(min_length=1, max_length=64)
    zone: dict[str, Any]  # a GeoJSON FeatureCollection (or Feature) with the patrol zone
    zone_name: str | None = Field(default=None, max_length=128)
    pattern: Literal["lawnmower", "perimeter", "orbit"]
    alt_m: float = Field(gt=0.0, le=500.0)
    interval_s: float | None = Field(default=None, ge=60.0, le=7 * 86_400.0)
    cron: str | None = Field(default=None, max_length=100)
    tz_name: str = Field(default="UTC", max_length=64)
    model_config = ConfigDict(extra="forbid", strict=False)  # numbers may come as ints


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # Flask rule, e.g. /api/vehicles/<vehicle_id>
    handler: str  # Api method name
    role: str | None  # None: no login needed
    summary: str
    body: type[BaseModel] | None = None
    query: tuple[str, ...] = ()
    csrf: bool = True  # state-changing requests only; login cannot have a token yet

    @property
    def changes_state(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/openapi.json", "openapi", None, "this document"),
    Endpoint("POST", "/api/session", "login", None, "log in (name, password): sets the session cookie; answers the "
             "user, role and CSRF token", LoginBody, csrf=False),
    Endpoint("GET", "/api/session", "me", "viewer", "the logged-in user, role and CSRF token"),
    Endpoint("DELETE", "/api/session", "logout", "viewer", "log out"),
    Endpoint("GET", "/api/state", "state", "viewer", "everything the map shows, numbered (seq): the station's view, "
             "recent alerts with acknowledgements, thermal readings and broadcasts; then join the live updates"),
    Endpoint("GET", "/api/layout", "layout", "viewer", "counting zones (GeoJSON), geofence, grid, home, tiles"),
    Endpoint("GET", "/api/vehicles", "vehicles", "viewer", "the fleet: every vehicle's latest state"),
    Endpoint("GET", "/api/vehicles/<vehicle_id>", "vehicle", "viewer", "one vehicle's latest state"),
    Endpoint("POST", "/api/vehicles/<vehicle_id>/commands", "vehicle_command", "operator",
             "rtl, land or abort_patrol, through the station's checks; answers the station's outcome",
             VehicleCommandBody),
    Endpoint("POST", "/api/vehicles/<vehicle_id>/broadcast", "broadcast", "operator",
             "play a zone's message (zone) or texts per language (messages) on the drone's loudspeaker now, repeat "
             "times, through the station's checks; answers the station's outcome", BroadcastBody),
    Endpoint("GET", "/api/zones", "zones", "viewer", "counting zones with count, capacity and gathering"),
    Endpoint("GET", "/api/zone-file", "zone_file", "viewer", "the counting zones file as GeoJSON (name, capacity, "
             "policy, dwell_s per zone) and whether it can be edited"),
    Endpoint("PUT", "/api/zones/<zone_id>", "put_zone", "admin", "add or replace one counting zone (outline, "
             "capacity, policy); checked and stored by the station", ZoneBody),
    Endpoint("DELETE", "/api/zones/<zone_id>", "remove_zone", "admin", "remove one counting zone"),
    Endpoint("POST", "/api/zones/import", "import_zones", "admin", "add (or, with replace, set) counting zones from a "
             "GeoJSON or KML file's text", ZoneImportBody),
    Endpoint("GET", "/api/cells", "cells", "viewer", "occupied grid cells with their count and bounds"),
    Endpoint("GET", "/api/crowds", "crowds", "viewer", "crowds seen recently (count, radius, confidence)"),
    Endpoint("GET", "/api/responses", "responses", "viewer", "crowd responses, active ones (with their step) and "
             "recorded ones", query=("zone_id",)),
    Endpoint("GET", "/api/responses/<response_id>", "response", "viewer",
             "one crowd response with its steps, thermal readings (screening hints) and broadcasts"),
    Endpoint("POST", "/api/responses/<response_id>/decision", "decision", "operator",
             "approve or deny a response awaiting approval, or abort one (then resume | rtl)", DecisionBody),
    Endpoint("GET", "/api/alerts", "alerts", "viewer", "alerts (oldest first) with their acknowledgement",
             query=("kind", "limit")),
    Endpoint("POST", "/api/alerts/<alert_id>/ack", "acknowledge", "operator", "acknowledge an alert", AckBody),
    Endpoint("GET", "/api/missions", "missions", "viewer", "active patrol runs with their mission path"),
    Endpoint("GET", "/api/patrol-runs", "patrol_runs", "viewer", "recorded patrol runs",
             query=("schedule_id", "status")),
    Endpoint("GET", "/api/schedules", "schedules", "viewer", "patrol schedules with next fire time and last run"),
    Endpoint("POST", "/api/schedules/<schedule_id>/start", "start_patrol", "operator",
             "start this schedule's patrol now (on the drone the station assigns, or vehicle_id), through the "
             "station's checks; answers the station's outcome", StartPatrolBody),
    Endpoint("POST", "/api/schedules", "add_schedule", "admin", "plan, check and store a patrol schedule",
             NewScheduleBody),
    Endpoint("DELETE", "/api/schedules/<schedule_id>", "remove_schedule", "admin", "remove a patrol schedule"),
    Endpoint("GET", "/api/video", "video", "viewer", "the cameras whose analysed video (detections drawn) can be "
             "watched: stream_id, vehicle_id and the page's MJPEG address"),
    Endpoint("GET", "/api/audit", "audit", "viewer", "the audit trail: every command, who asked, the station's "
             "decision and the vehicle's result (most recent first)", query=("vehicle_id", "limit")),
    Endpoint("GET", "/api/records/<kind>", "records", "viewer", "stored rows of one kind: "
             + ", ".join(RECORD_KINDS), query=("limit", "vehicle_id", "zone_id", "response_id", "kind", "status",
                                               "schedule_id", "stream_id", "area_id", "venue_id")),
    Endpoint("GET", "/api/risk", "risk", "viewer", "the five-colour risk map: each area's level, since when and why; "
             "now, or as recorded at a time of its history (at: seconds since the epoch), with the history's span",
             query=("at",)),
    Endpoint("GET", "/api/venues", "venues", "viewer", "venues with their occupancy, limit in force and position"),
    Endpoint("GET", "/api/replay", "replay", "viewer", "what happened in a period (from, to: seconds since the epoch; "
             "at most a day; unset: the last hour): drones' tracks flown (from the tlogs), counts, crowds, gatherings, responses and their "
             "steps, alerts, thermal readings, risk levels, venue counts", query=("from", "to")),
    Endpoint("GET", "/api/grid", "grid", "viewer", "the grid file's units (district, street, community, cell) with "
             "their officer (contacts for admins only), and whether it can be edited here"),
    Endpoint("PUT", "/api/grid", "put_grid", "admin", "replace the whole grid (GeoJSON or KML, checked by the "
             "station's grid parser; in force at once)", GridBody),
    Endpoint("PUT", "/api/grid/units/<unit_id>/officer", "put_officer", "admin", "change a grid unit's responsible "
             "officer and contacts (in force at once)", OfficerBody),
    Endpoint("GET", "/api/users", "users", "admin", "users and their roles"),
    Endpoint("POST", "/api/users", "add_user", "admin", "add a user (name, role, password)", NewUserBody),
    Endpoint("DELETE", "/api/users/<name>", "remove_user", "admin", "remove a user"),
)

MAX_LIMIT = 5000
MAX_REPLAY_S = 86_400.0  # a replayed period: at most a day
ZONE_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_zone_id(zone_id: str) -> str:
    if not ZONE_ID_RE.match(zone_id):
        raise InvalidInput("a zone id is 1-64 letters, digits, '_', '.' or '-'")
    return zone_id


def parse_body(model: type[BaseModel], raw: Any) -> BaseModel:
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from None


def limit_of(query: Mapping[str, str], default: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,6}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number 1..{MAX_LIMIT}, got {raw!r}")
    return int(raw)


def openapi_document(title: str = "SkyGuard web map API", version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ENDPOINTS."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    error = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for ep in ENDPOINTS:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.path)
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", path)]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in ep.query]
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {}}}}
        if ep.role is not None:
            responses["401"] = {**error, "description": "no login"}
            responses["403"] = {**error, "description": f"needs the {ep.role} role"
                                + (" and the CSRF token" if ep.changes_state else "")}
        if params and any(p["in"] == "path" for p in params):
            responses["404"] = {**error, "description": "no such resource"}
        op: dict[str, Any] = {"operationId": ep.handler, "summary": ep.summary, "parameters": params,
                              "responses": responses}
        if ep.role is not None:
            op["security"] = [{"session": []}]
            op["x-role"] = ep.role
        if ep.body is not None:
            schemas[ep.body.__name__] = ep.body.model_json_schema()
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{ep.body.__name__}"}}}}
            responses["400"] = {**error, "description": "malformed body (nothing changed)"}
            responses["415"] = {**error, "description": "the body is not JSON"}
        if ep.handler == "login":
            responses["401"] = {**error, "description": "wrong name or password"}
            responses["429"] = {**error, "description": "too many failed logins; Retry-After says when to try again"}
        paths.setdefault(path, {})[ep.method.lower()] = op
    schemas["Error"] = {"type": "object", "required": ["error", "message"],
                        "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Log in with POST /api/session; send the CSRF token it answers as the X-CSRFToken "
                                "header on every state-changing request. Live updates: Socket.IO, event 'join' "
                                "{seq} after GET /api/state, then 'batch' events {from, to, items}. Roles: "
                                + " < ".join(ROLES) + "."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "skyguard_session"}}},
    }


class Api:
    """The handlers: each takes the path parameters and returns a JSON-able value; the app does auth, CSRF, body
    parsing and errors. `call(fn, *args)` runs a blocking port call off the server's event loop."""

    def __init__(self, port: Any, users: Any, passwords: Any, fanout: Any, settings: Any,
                 clock: Callable[[], float], call: Callable[..., Any], on_user_removed: Callable[[str], None]):
        self.port, self.user_store, self.passwords, self.fanout = port, users, passwords, fanout
        self.settings, self.clock, self.call = settings, clock, call
        self._on_user_removed = on_user_removed

    # --- reads --------------------------------------------------------------------------------------------------

    def state(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        view = self.call(self.port.view)
        seq = view["seq"]
        alerts = _merge(self.call(self.port.records, "alerts", {}, 200), self.fanout.recent("alert", seq), "alert_id")
        readings = _merge(self.call(self.port.records, "thermal_readings", {}, 500),
                          self.fanout.recent("thermal_reading", seq), None)
        broadcasts = _merge(self.call(self.port.records, "broadcasts", {}, 100), self.fanout.recent("broadcast", seq),
                            "broadcast_id")
        acks = {a.alert_id: asdict(a) for a in self.call(self.port.acknowledgements)}
        snapshots = _merge(self.call(self.port.records, "snapshots", {}, 200), self.fanout.recent("snapshot", seq),
                           "alert_id")
        missions = self.call(self.port.missions)
        return {**view, "alerts": alerts, "acks": acks, "snapshots": snapshots[-200:], "thermal_readings": readings[-500:],
                "broadcasts": broadcasts[-100:], "missions": missions}

    def layout(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        s = self.settings
        tiles: dict[str, Any] = {"kind": "none"}
        mbtiles = None if s.tiles_dir is not None else self.call(self.port.tiles)
        if s.tiles_dir is not None:
            tiles = {"kind": "local", "url": f"/tiles/{{z}}/{{x}}/{{y}}.{s.tiles_ext}", "max_zoom": s.tiles_max_zoom,
                     "attribution": s.tiles_attribution}
        elif mbtiles is not None:  # the station's MBTiles file, served by /tiles/ through the port
            tiles = {"kind": "mbtiles", "url": f"/tiles/{{z}}/{{x}}/{{y}}.{mbtiles['format']}",
                     "min_zoom": mbtiles["min_zoom"], "max_zoom": mbtiles["max_zoom"],
                     "max_native_zoom": mbtiles["max_zoom"], "bounds": mbtiles["bounds"],
                     "attribution": mbtiles["attribution"] or s.tiles_attribution}
        elif s.tiles_url and s.allow_online_tiles:
            tiles = {"kind": "online", "url": s.tiles_url, "max_zoom": s.tiles_max_zoom,
                     "attribution": s.tiles_attribution}
        return {**self.call(self.port.layout), "tiles": tiles}

    def vehicles(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        return self.call(self.port.view)["vehicles"]

    def vehicle(self, user: Any, query: Mapping[str, str], vehicle_id: str) -> dict[str, Any]:
        vehicles = self.call(self.port.view)["vehicles"]
        if vehicle_id not in vehicles:
            raise NotFound(f"no vehicle {vehicle_id!r}")
        return vehicles[vehicle_id]

    def zones(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.call(self.port.view)["zones"]

    def cells(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.call(self.port.view)["cells"]

    def risk(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        """Live: the station's map now (its areas with level, since, reasons). With `at`: the recorded map then."""
        raw = query.get("at")
        if raw is None:
            live = self.call(self.port.view)["risk"]
            span = self.call(self.port.risk_at, self.clock())
            return {**live, "at_s": None, "first_change_s": span["first_change_s"],
                    "last_change_s": span["last_change_s"]}
        try:
            at_s = float(raw)
        except ValueError:
            raise InvalidInput(f"at must be a time in seconds since the epoch, got {raw!r}") from None
        if not 0.0 <= at_s < 1e11:
            raise InvalidInput(f"at must be a time in seconds since the epoch, got {raw!r}")
        return {**self.call(self.port.risk_at, at_s), "at_s": at_s}

    def replay(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        period = []
        for name in ("to", "from"):  # unset: the last hour
            raw = query.get(name)
            if raw is None:
                period.append(self.clock() if name == "to" else period[0] - 3600.0)
                continue
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not 0.0 <= value < 1e11:
                raise InvalidInput(f"{name} must be a time in seconds since the epoch, got {raw!r}")
            period.append(value)
        to_s, from_s = period
        if not from_s < to_s <= from_s + MAX_REPLAY_S:
            raise InvalidInput(f"the period must end after it starts and last at most {MAX_REPLAY_S / 3600:g} h "
                               f"(from {from_s:g} to {to_s:g})")
        return {"from_s": from_s, "to_s": to_s, **self.call(self.port.replay, from_s, to_s)}

    def grid(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        doc = self.call(self.port.grid_document)
        if role_allows(user.role, "admin"):
            return doc
        private = {"webhook", "email", "sms"}
        return {**doc, "features": [{**f, "properties": {k: v for k, v in (f.get("properties") or {}).items()
                                                         if k not in private}} for f in doc["features"]]}

    def put_grid(self, user: Any, body: GridBody) -> dict[str, Any]:
        return self.call(self.port.save_grid, body.text, body.filename, f"web:{user.name}")

    def put_officer(self, user: Any, body: OfficerBody, unit_id: str) -> dict[str, Any]:
        doc = self.call(self.port.grid_document)
        if not doc.get("editable"):
            raise Conflict(f"the grid cannot be edited from the map: {doc.get('why') or 'not editable'}")
        features = list(doc["features"])
        at = next((i for i, f in enumerate(features)
                   if str(f.get("id", (f.get("properties") or {}).get("id"))) == unit_id), None)
        if at is None:
            raise NotFound(f"no grid unit {unit_id!r}")
        props = {k: v for k, v in (features[at].get("properties") or {}).items()
                 if k not in ("officer", "officer_id", "webhook", "email", "sms")}
        props.update({k: v for k, v in (("officer", body.officer.strip()), ("officer_id", body.officer_id),
                                        ("webhook", body.webhook), ("email", body.email), ("sms", body.sms)) if v})
        features[at] = {**features[at], "properties": props}
        text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
        return self.call(self.port.save_grid, text, "grid.geojson", f"web:{user.name}")

    def venues(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.call(self.port.view)["venues"]

    def crowds(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.call(self.port.view)["crowds"]

    def responses(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        filters = {"zone_id": query["zone_id"]} if "zone_id" in query else {}
        return {"active": self.call(self.port.view)["responses"],
                "recorded": self.call(self.port.records, "responses", filters, 1000)}

    def response(self, user: Any, query: Mapping[str, str], response_id: str) -> dict[str, Any]:
        active = {r["response_id"]: r for r in self.call(self.port.view)["responses"]}
        recorded = [r for r in self.call(self.port.records, "responses", {}, MAX_LIMIT)
                    if r["response_id"] == response_id]
        if response_id not in active and not recorded:
            raise NotFound(f"no crowd response {response_id!r}")
        f = {"response_id": response_id}
        return {"active": active.get(response_id), "recorded": recorded[0] if recorded else None,
                "steps": self.call(self.port.records, "response_steps", f, MAX_LIMIT),
                "thermal_readings": self.call(self.port.records, "thermal_readings", f, MAX_LIMIT),
                "broadcasts": self.call(self.port.records, "broadcasts", f, MAX_LIMIT)}

    def alerts(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        filters = {"kind": query["kind"]} if "kind" in query else {}
        rows = self.call(self.port.records, "alerts", filters, limit_of(query, 1000))
        acks = {a.alert_id: asdict(a) for a in self.call(self.port.acknowledgements)}
        return {"alerts": [{**r, "ack": acks.get(r["alert_id"])} for r in rows]}

    def missions(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.call(self.port.missions)

    def patrol_runs(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        filters = {k: query[k] for k in ("schedule_id", "status") if k in query}
        return self.call(self.port.records, "patrol_runs", filters, MAX_LIMIT)

    def schedules(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.call(self.port.schedules, self.clock())

    def zone_file(self, user: Any, query: Mapping[str, str]) -> dict[str, Any]:
        return self.call(self.port.zones_document)

    def video(self, user: Any, query: Mapping[str, str]) -> list[dict[str, Any]]:
        return [{"stream_id": s["stream_id"], "vehicle_id": s["vehicle_id"],
                 "url": f"/video/{quote(s['stream_id'], safe='')}.mjpeg"} for s in self.call(self.port.video_sources)]

    def audit(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        filters = {"vehicle_id": query["vehicle_id"]} if "vehicle_id" in query else {}
        return self.call(self.port.records, "commands", filters, limit_of(query, 100))

    def records(self, user: Any, query: Mapping[str, str], kind: str) -> list[Any]:
        if kind not in RECORD_KINDS:
            raise NotFound(f"no records of kind {kind!r}; kinds: {', '.join(RECORD_KINDS)}")
        unknown = set(query) - set(RECORD_KINDS[kind]) - {"limit"}
        if unknown:
            raise InvalidInput(f"{kind} cannot be filtered by {', '.join(sorted(unknown))}; "
                               f"filters: {', '.join(RECORD_KINDS[kind]) or 'none'}")
        filters = {k: query[k] for k in RECORD_KINDS[kind] if k in query}
        return self.call(self.port.records, kind, filters, limit_of(query, 1000))

    def users_list(self) -> list[dict[str, Any]]:
        return [{"name": u.name, "role": u.role, "created_at_s": u.created_at_s} for u in self.call(self.user_store.all)]

    def users(self, user: Any, query: Mapping[str, str]) -> list[Any]:
        return self.users_list()

    # --- changes ------------------------------------------------------------------------------------------------

    def _outcome(self, vehicle_id: str, action: str, args: Mapping[str, Any], user: Any) -> dict[str, Any]:
        outcome = self.call(self.port.command, vehicle_id, action, args, f"web:{user.name}",
                            self.settings.command_timeout_s)
        return {"outcome": asdict(outcome)}

    def vehicle_command(self, user: Any, body: VehicleCommandBody, vehicle_id: str) -> dict[str, Any]:
        if vehicle_id not in self.call(self.port.view)["vehicles"]:
            raise NotFound(f"no vehicle {vehicle_id!r}")
        args = {"reason": body.reason} if body.action == "abort_patrol" and body.reason else {}
        if body.reason and body.action != "abort_patrol":
            raise InvalidInput(f"{body.action} takes no reason")
        return self._outcome(vehicle_id, body.action, args, user)

    def decision(self, user: Any, body: DecisionBody, response_id: str) -> dict[str, Any]:
        if response_id not in {r["response_id"] for r in self.call(self.port.view)["responses"]}:
            raise NotFound(f"no active crowd response {response_id!r}")
        args: dict[str, Any] = {"response_id": response_id}
        if body.then is not None:
            if body.action != "abort":
                raise InvalidInput("then is for abort only")
            args["then"] = body.then
        if body.reason:
            if body.action == "approve":
                raise InvalidInput("approve takes no reason")
            args["reason"] = body.reason
        return self._outcome("", RESPONSE_ACTIONS[body.action], args, user)

    def start_patrol(self, user: Any, body: StartPatrolBody, schedule_id: str) -> dict[str, Any]:
        if body.vehicle_id is not None and body.vehicle_id not in self.call(self.port.view)["vehicles"]:
            raise NotFound(f"no vehicle {body.vehicle_id!r}")
        return self._outcome(body.vehicle_id or "", START_PATROL, {"schedule": schedule_id}, user)

    def broadcast(self, user: Any, body: BroadcastBody, vehicle_id: str) -> dict[str, Any]:
        if vehicle_id not in self.call(self.port.view)["vehicles"]:
            raise NotFound(f"no vehicle {vehicle_id!r}")
        if (body.zone is None) == (body.messages is None):
            raise InvalidInput("give exactly one of zone (play its message) and messages ({language: text})")
        args: dict[str, Any] = {"zone": body.zone} if body.zone is not None else {"messages": dict(body.messages or {})}
        if body.repeat is not None:
            args["repeat"] = body.repeat
        return self._outcome(vehicle_id, BROADCAST, args, user)

    # --- counting zones (admins) ---------------------------------------------------------------------------------

    def _editable_zones(self) -> list[dict[str, Any]]:
        doc = self.call(self.port.zones_document)
        if not doc.get("editable"):
            raise Conflict(f"the counting zones cannot be edited from the map: {doc.get('why') or 'not editable'}")
        return list(doc["features"])

    def _save_zones(self, features: list[dict[str, Any]], user: Any) -> dict[str, Any]:
        return self.call(self.port.save_zones, {"type": "FeatureCollection", "features": features},
                         f"web:{user.name}")

    def put_zone(self, user: Any, body: ZoneBody, zone_id: str) -> dict[str, Any]:
        check_zone_id(zone_id)
        if body.geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise InvalidInput("geometry must be a GeoJSON Polygon or MultiPolygon (longitude, latitude)")
        properties: dict[str, Any] = {"name": body.name.strip(), "capacity": body.capacity}
        if body.policy is not None:
            properties["policy"] = body.policy
        if body.dwell_s is not None:
            properties["dwell_s"] = body.dwell_s
        feature = {"type": "Feature", "id": zone_id, "properties": properties, "geometry": body.geometry}
        features = self._editable_zones()
        at = next((i for i, f in enumerate(features) if f.get("id") == zone_id), None)
        if at is None:
            features.append(feature)
        else:
            features[at] = {**feature, "properties": {**features[at].get("properties", {}), **properties}}
            if body.policy is None:
                features[at]["properties"].pop("policy", None)
            if body.dwell_s is None:
                features[at]["properties"].pop("dwell_s", None)
        return self._save_zones(features, user)

    def remove_zone(self, user: Any, body: None, zone_id: str) -> dict[str, Any]:
        features = self._editable_zones()
        kept = [f for f in features if f.get("id") != zone_id]
        if len(kept) == len(features):
            raise NotFound(f"no counting zone {zone_id!r} in the zones file")
        return self._save_zones(kept, user)

    def import_zones(self, user: Any, body: ZoneImportBody) -> dict[str, Any]:
        features = self._editable_zones()
        new = self.call(self.port.parse_zones, body.text, body.filename)["features"]
        if body.replace:
            return self._save_zones(new, user)
        ids = {f.get("id") for f in new}
        return self._save_zones([f for f in features if f.get("id") not in ids] + new, user)

    def acknowledge(self, user: Any, body: AckBody, alert_id: str) -> dict[str, Any]:
        ack = self.call(self.port.acknowledge, Acknowledgement(alert_id, user.name, self.clock(), body.note))
        out = asdict(ack)
        self.fanout.broadcast_ack(out)
        return {"ack": out}

    def add_schedule(self, user: Any, body: NewScheduleBody) -> dict[str, Any]:
        if (body.interval_s is None) == (body.cron is None):
            raise InvalidInput("give exactly one of interval_s and cron")
        request = ScheduleRequest(body.name.strip(), body.zone, body.pattern, body.alt_m, body.zone_name,
                                  body.interval_s, body.cron, body.tz_name)
        schedule = self.call(self.port.add_schedule, request, self.clock())
        self._record(user, "add_schedule", {"schedule_id": schedule.get("schedule_id"), "name": request.name,
                                            "pattern": request.pattern, "interval_s": request.interval_s,
                                            "cron": request.cron})
        return {"schedule": schedule}

    def remove_schedule(self, user: Any, body: None, schedule_id: str) -> dict[str, Any]:
        removed = self.call(self.port.remove_schedule, schedule_id)
        self._record(user, "remove_schedule", {"schedule_id": schedule_id, "name": removed.get("name")})
        return {"removed": removed}

    def _record(self, user: Any, action: str, args: Mapping[str, Any]) -> None:
        """An admin's change, into the station's audit trail with the admin's name (after it was made)."""
        self.call(self.port.record_change, action, dict(args), f"web:{user.name}")

    def add_user(self, user: Any, body: NewUserBody) -> dict[str, Any]:
        from web.auth import check_name

        name = check_name(body.name)
        password_hash = self.call(self.passwords.hash, body.password)
        added = self.call(self.user_store.add, name, body.role, password_hash, self.clock())
        self._record(user, "add_user", {"name": added.name, "role": added.role})
        return {"user": {"name": added.name, "role": added.role, "created_at_s": added.created_at_s}}

    def remove_user(self, user: Any, body: None, name: str) -> dict[str, Any]:
        if name == user.name:
            raise InvalidInput("you cannot remove yourself")
        self.call(self.user_store.remove, name)
        self._on_user_removed(name)
        self._record(user, "remove_user", {"name": name})
        return {"removed": name}


def _merge(stored: list[dict[str, Any]], recent: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Stored rows plus the recent feed rows the database has not committed yet (same key), oldest first."""
    if key is None:
        seen = {(r.get("response_id"), r.get("shot"), r.get("person_id")) for r in stored}
        extra = [r for r in recent if (r.get("response_id"), r.get("shot"), r.get("person_id")) not in seen]
    else:
        known = {r[key] for r in stored}
        latest: dict[Any, dict[str, Any]] = {}
        for r in recent:
            if r[key] not in known:
                latest[r[key]] = r  # a row updated several times (a broadcast) keeps its latest version
        extra = list(latest.values())
    return sorted(stored + extra, key=lambda r: r.get("at_s") or r.get("requested_at_s") or 0.0)
