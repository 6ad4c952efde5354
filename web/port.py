"""The narrow interface the web map needs, as Protocols: `StationPort` (the station's state, live feed, checked
command path, records and schedules) and `UserStore` (the web's users). The composition root implements them
(groundstation/shell/web_bridge.py); web/fakes.py has in-memory versions for web's own tests and benchmark.

web/ never imports the station: everything crosses as the frozen records below or as JSON-able dicts (the
station's view, feed items and stored rows, passed on to the browser as they are).

Feed items: ``{"seq": int, "kind": str, "at_s": float, "data": {...}}``, numbered without gaps. `view()` carries
``seq``, the number of the last item it includes: a client that loads it and then applies the items numbered
above it has missed nothing and seen nothing twice.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

FeedItem = dict[str, Any]

ROLES = ("viewer", "operator", "admin")  # each may do what the ones before it may

# the station actions an operator may ask for from the map (every one goes through the station's checks)
VEHICLE_ACTIONS = ("rtl", "land", "abort_patrol")
RESPONSE_ACTIONS = {"approve": "approve_response", "deny": "deny_response", "abort": "abort_response"}
START_PATROL = "start_patrol"  # args {"schedule": id or name}; vehicle_id "" lets the station pick a ready drone
BROADCAST = "broadcast"  # args {"zone": id or name} or {"messages": {language: text}}, optional "repeat"

# records the map can read (StationPort.records kinds), with the filters each takes
RECORD_KINDS: Mapping[str, tuple[str, ...]] = {
    "commands": ("vehicle_id",),  # the audit trail, most recent first
    "events": ("vehicle_id", "kind"),
    "link_changes": ("vehicle_id",),
    "mission_runs": ("vehicle_id",),
    "patrol_runs": ("schedule_id", "status"),
    "gatherings": ("zone_id", "status"),
    "zone_counts": ("zone_id",),
    "crowd_observations": ("vehicle_id",),
    "responses": ("zone_id",),
    "response_steps": ("response_id",),
    "alerts": ("kind",),
    "thermal_readings": ("response_id",),
    "broadcasts": ("response_id",),
    "view_counts": ("stream_id",),
    "stream_status": ("stream_id",),
    "risk_levels": ("area_id",),  # the risk map's history: every level change with its reasons, oldest first
    "venue_counts": ("venue_id",),
    "snapshots": ("alert_id",),  # alerts' evidence snapshots (people blurred): the image at /snapshots/<alert id>.jpg
}


def role_allows(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may (viewer < operator < admin); unknown roles may nothing."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class User:
    name: str
    role: str  # viewer | operator | admin
    password_hash: str  # argon2 (PHC string)
    created_at_s: float
    updated_at_s: float


@dataclass(frozen=True)
class Outcome:
    """The station's answer to a command (accepted, refused by the station with why, or the vehicle's result)."""

    request_id: str
    vehicle_id: str
    action: str
    status: str  # accepted | refused_by_station | refused_by_vehicle | failed
    reason: str
    result_name: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    alert_id: str
    by: str  # the user's name
    at_s: float
    note: str = ""


@dataclass(frozen=True)
class ScheduleRequest:
    """A new patrol schedule from the map: the zone as GeoJSON, the pattern, and cron or interval."""

    name: str
    zone_geojson: Mapping[str, Any]
    pattern: str
    alt_m: float
    zone_name: str | None = None
    interval_s: float | None = None
    cron: str | None = None
    tz_name: str = "UTC"
    extra: Mapping[str, Any] = field(default_factory=dict)


class StationPort(Protocol):
    """What the web map needs of the station. Calls may block (commands wait for the station's answer): the
    server runs them off its event loop."""

    def view(self) -> dict[str, Any]:
        """A JSON-able snapshot with ``seq`` (see the module docstring): vehicles, zones, cells, crowds,
        responses, patrol runs."""

    def layout(self) -> dict[str, Any]:
        """What does not change while the station runs: counting zones (GeoJSON), geofence, grid, home."""

    def subscribe(self, callback: Callable[[FeedItem], None]) -> Callable[[], None]:
        """Call `callback(item)` for every new feed item (on the station's thread: it must only enqueue);
        returns the unsubscribe function."""

    def since(self, seq: int) -> list[FeedItem] | None:
        """The items after `seq`, or None when some are no longer kept (reload the view)."""

    def command(self, vehicle_id: str, action: str, args: Mapping[str, Any], requested_by: str,
                timeout_s: float) -> Outcome:
        """Ask through the station's checked, audited command path; StationUnavailable after timeout_s."""

    def acknowledge_notice(self, notice_id: str, officer_id: str, token: str, note: str, timeout_s: float) -> Outcome:
        """A grid officer's acknowledgement link followed (the notice, the officer and the link's token, which the
        station checks) through the station's checked, audited command path; StationUnavailable after timeout_s."""

    def missions(self) -> list[dict[str, Any]]:
        """The active patrol runs with their mission path (``path``: [[lat, lon], ...])."""

    def records(self, kind: str, filters: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        """Stored rows of one RECORD_KINDS kind."""

    def acknowledgements(self) -> list[Acknowledgement]:
        """Every alert acknowledgement, oldest first."""

    def acknowledge(self, ack: Acknowledgement) -> Acknowledgement:
        """Record an acknowledgement (NotFound: no such alert); an alert acknowledged before keeps its first one,
        which is returned."""

    def schedules(self, now_s: float) -> list[dict[str, Any]]:
        """Every patrol schedule with its next fire time and latest run."""

    def add_schedule(self, request: ScheduleRequest, now_s: float) -> dict[str, Any]:
        """Plan, check and store a schedule (InvalidInput saying what is wrong; nothing stored then)."""

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Remove a schedule (NotFound)."""

    def video_sources(self) -> list[dict[str, Any]]:
        """The cameras whose analysed video can be watched: ``{"stream_id", "vehicle_id", "url"}`` each, `url` being
        the vision worker's own MJPEG stream on loopback (the frames never pass through the station). The map
        proxies it to logged-in users and never hands the address to a browser."""

    def zones_document(self) -> dict[str, Any]:
        """The counting zones file as a GeoJSON FeatureCollection (properties: name, capacity, policy, dwell_s),
        with ``"editable"`` (False with ``"why"`` when the station cannot store edits)."""

    def record_change(self, action: str, args: Mapping[str, Any], requested_by: str) -> None:
        """Put an admin's change made through this port (add_schedule, remove_schedule, add_user, remove_user; args:
        what changed, never a password) in the station's audit trail with who made it."""

    def replay(self, from_s: float, to_s: float) -> dict[str, Any]:
        """What happened in [from_s, to_s), for the map's replay, each list oldest first: ``tracks`` ({vehicle:
        [[t_s, lat, lon, alt_rel_m, heading_deg], ...]} from the flight tlogs, about one point a second),
        ``zone_counts``, ``crowds``, ``gatherings``, ``responses``, ``response_steps``, ``alerts``,
        ``thermal_readings``, ``risk_levels``, ``venue_counts``; ``tracks_note`` says why tracks are missing."""

    def risk_at(self, at_s: float) -> dict[str, Any]:
        """The risk map as recorded at `at_s`: ``{"areas": [each area's last level change before then, with its
        reasons], "first_change_s", "last_change_s"}`` (the history's span, None when nothing was recorded)."""

    def snapshot(self, alert_id: str) -> bytes | None:
        """An alert's evidence snapshot (JPEG, every person blurred), or None when none is kept."""

    def grid_document(self) -> dict[str, Any]:
        """The grid file as GeoJSON features (properties as missions/grid.py names them), with ``"editable"`` (False
        with ``"why"`` when the station has no grid file or it is KML)."""

    def save_grid(self, text: str, filename: str, requested_by: str) -> dict[str, Any]:
        """Check a whole grid file (GeoJSON or KML by `filename`; InvalidInput listing every problem), store it as the
        station's grid and have the station use it at once, recorded as asked by `requested_by` (Conflict when the
        grid cannot be edited or the station refuses, the previous grid kept). Answers ``{"stored", "units",
        "applied", "outcome", "message"}``."""

    def save_zones(self, document: Mapping[str, Any], requested_by: str) -> dict[str, Any]:
        """Check (the station's own zone parser), store a whole new counting zones document and have the station
        count by it at once, recorded as asked by `requested_by` (InvalidInput saying what is wrong, nothing stored;
        Conflict when the zones cannot be edited or the station refuses them, the previous zones kept). Answers
        ``{"stored": where, "zones": count, "applied": True, "outcome": the station's answer, "message": str}``."""

    def parse_zones(self, text: str, filename: str) -> dict[str, Any]:
        """A GeoJSON or KML zone file (by its name's extension) read with the station's parser, as the GeoJSON
        FeatureCollection `save_zones` takes (InvalidInput saying what is wrong). Stores nothing."""

    def tiles(self) -> dict[str, Any] | None:
        """The local map tiles the station offers (an MBTiles file): ``{"format", "media_type", "min_zoom",
        "max_zoom", "attribution", "bounds"}``, or None."""

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """One map tile (XYZ numbering, as Leaflet asks), or None when the tiles have none there."""


class UserStore(Protocol):
    """The web's users (the station database's users table)."""

    def get(self, name: str) -> User | None: ...

    def all(self) -> list[User]: ...

    def add(self, name: str, role: str, password_hash: str, now_s: float) -> User:
        """Conflict if the name is taken."""

    def remove(self, name: str) -> None:
        """NotFound if there is no such user."""
