"""The risk tests' world: the grid of tests/grid/city.py (district duanzhou > street chengdong > communities plaza-c
(cells cell-a, cell-b) and market-c (cell-e)), a counting zone "plaza" over cells a and b, a venue in cell-e, and a
patrol schedule flying over cell-a; the pure core driven with an explicit clock."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from groundstation.core import risk
from groundstation.core.crowds import CountingPolicy
from groundstation.core.dispatch import handle
from groundstation.core.notice_data import NoticePolicy
from groundstation.core.patrols import PatrolSchedule
from groundstation.core.policy import Policy
from groundstation.core.records import CommandRequest, Record, Reply
from groundstation.core.risk_data import RiskPolicy
from groundstation.core.state import StationState, initial_state
from groundstation.core.venue_data import Venue, VenuePolicy
from missions.areas import counting_zones_from_text
from missions.grid import grid_from_text
from telemetry.records import MissionItem
from tests.grid.city import at, geojson, ring, units

GRID = grid_from_text(geojson(units()))
T0 = 1_700_000_000.0
HOUR = 3600.0


def plaza_zone(capacity: int = 20):
    """A counting zone over cells a and b (0..200 x 50..150 m)."""
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "id": "plaza", "properties": {
        "name": "Plaza", "capacity": capacity}, "geometry": {"type": "Polygon", "coordinates": [ring(10, 50, 190, 150)]}}]}
    return counting_zones_from_text(json.dumps(doc), "plaza.geojson")


def patrol(sid: str = "over-a", east_m: float = 50.0, interval_s: float | None = 600.0, cron: str | None = None,
           created_at_s: float = T0 - 1.0) -> PatrolSchedule:
    """A schedule whose waypoints lie in the cell at `east_m` (cell-a by default), created a second before T0."""
    lat, lon = at(east_m, 100)
    items = (MissionItem(22, frame=3, alt_m=20.0), MissionItem(16, frame=3, lat_deg=lat, lon_deg=lon, alt_m=20.0),
             MissionItem(20))
    return PatrolSchedule(sid, sid, items, lat, lon, 5.0, cron=cron, interval_s=interval_s, created_at_s=created_at_s)


def world_state(policy: RiskPolicy | None = None, grid: bool = True, venue_limit: int = 10) -> StationState:
    zones = plaza_zone() + (GRID.counting_zones(None) if grid else ())
    notice = NoticePolicy(GRID, MappingProxyType({"plaza": ("cell-a", "cell-b")})) if grid else NoticePolicy()
    venue = Venue("hall", "Market hall", venue_limit, *at(300, 100), ("hall-door",))
    state = initial_state(Policy(), counting_policy=CountingPolicy(zones=zones), notice_policy=notice,
                          venue_policy=VenuePolicy((venue,)))
    return risk.install(state, policy or RiskPolicy())


@dataclass
class Desk:
    """The core with a clock; every action kept."""

    state: StationState = field(default_factory=world_state)
    now_s: float = T0
    actions: list = field(default_factory=list)

    def __call__(self, event: Any) -> list:
        self.state, actions = handle(self.state, event, self.now_s)
        self.actions.extend(actions)
        return actions

    def request(self, action: str, by: str = "health:dr-wu", **args: Any):
        actions = self(CommandRequest("", action, args, requested_by=by, request_id=f"r{len(self.actions)}"))
        (reply,) = [a for a in actions if isinstance(a, Reply)]
        return reply.outcome

    def rows(self, kind: type) -> list:
        return [a.row for a in self.actions if isinstance(a, Record) and isinstance(a.row, kind)]

    def levels(self) -> dict[str, str]:
        return {k: a.level for k, a in self.state.risk.assessments.items()}
