"""The station's domain state: one immutable value, owned by the core thread, replaced by every event.

`StationState` holds what the station knows of each vehicle (`VehicleView`), the commands in flight, and the
state of each concern (patrols, crowds, crowd responses, notices to grid officers, the risk map, venues). Only `dispatch.handle`
produces new ones.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from groundstation.core import crowds as cr
from groundstation.core.commands import VehicleCommand
from groundstation.core.notice_data import NoticePolicy, NoticeState
from groundstation.core.patrols import PatrolPolicy, PatrolState
from groundstation.core.policy import Policy
from groundstation.core.records import CommandRequest
from groundstation.core.response_data import ResponsePolicy, ResponseState
from groundstation.core.risk_data import RiskState
from groundstation.core.venue_data import VenuePolicy, VenueState
from groundstation.core.venue_data import initial as initial_venues
from telemetry.records import VehicleState


@dataclass(frozen=True)
class MissionRun:
    run_id: str
    item_count: int  # the items as requested: seq 1..item_count (seq 0 is ArduPilot's home slot)
    mission_type: str
    status: str  # uploaded | running | interrupted | completed | ended
    last_reached_seq: int | None = None


@dataclass(frozen=True)
class VehicleView:
    """What the station knows about one vehicle."""

    vehicle_id: str
    url: str = ""
    state: VehicleState | None = None
    link_up: bool = False
    link_changes: int = 0
    identified: tuple[int | None, bool | None] = (None, None)  # (system_id, is_simulator) last recorded
    battery_level: str = "ok"  # ok | low | reserve
    mission_run: MissionRun | None = None
    last_link_error_record_s: float | None = None
    suppressed_link_errors: int = 0
    auto_rtl_at_s: float | None = None
    last_seen_recorded_s: float | None = None  # when vehicles.last_seen_s was last written

    @property
    def home(self) -> tuple[float, float] | None:
        s = self.state
        return None if s is None or s.home is None else (s.home.lat_deg, s.home.lon_deg)

    @property
    def position(self) -> tuple[float, float] | None:
        """(lat, lon), or None while unknown (0,0 while a vehicle starts up is not a position)."""
        s = self.state
        if s is None or not s.position_known:
            return None
        return (s.lat_deg, s.lon_deg)

    @property
    def has_mission(self) -> bool:
        """A flight mission uploaded (and checked) by this station."""
        return self.mission_run is not None and self.mission_run.mission_type == "MISSION"


@dataclass(frozen=True)
class Pending:
    """A command sent to a vehicle, awaiting its CommandFinished."""

    request: CommandRequest
    command: VehicleCommand


@dataclass(frozen=True)
class StationState:
    policy: Policy = field(default_factory=Policy)
    vehicles: Mapping[str, VehicleView] = field(default_factory=dict)
    pending: Mapping[str, Pending] = field(default_factory=dict)  # by request id
    events_handled: int = 0
    patrols: PatrolState = field(default_factory=PatrolState)
    patrol_policy: PatrolPolicy = field(default_factory=PatrolPolicy)
    crowds: cr.CrowdState = field(default_factory=cr.CrowdState)
    responses: ResponseState = field(default_factory=ResponseState)
    response_policy: ResponsePolicy = field(default_factory=ResponsePolicy)
    notices: NoticeState = field(default_factory=NoticeState)  # alerts to grid officers (notices.py)
    risk: RiskState = field(default_factory=RiskState)  # the five-colour risk map (risk.py; risk.install sets it up)
    venues: VenueState = field(default_factory=VenueState)  # venue occupancy (venues.py)


def initial_state(policy: Policy, patrol_policy: PatrolPolicy | None = None,
                  counting_policy: cr.CountingPolicy | None = None,
                  response_policy: ResponsePolicy | None = None,
                  notice_policy: NoticePolicy | None = None, venue_policy: VenuePolicy | None = None) -> StationState:
    """The state at start (the risk map's areas come from the grid: risk.install, once the grid is in)."""
    return StationState(policy=policy, patrol_policy=patrol_policy or PatrolPolicy(),
                        crowds=cr.initial(counting_policy or cr.CountingPolicy()),
                        response_policy=response_policy or ResponsePolicy(),
                        notices=NoticeState(policy=notice_policy or NoticePolicy()),
                        venues=initial_venues(venue_policy or VenuePolicy()))


def with_vehicle(state: StationState, view: VehicleView) -> StationState:
    vehicles = dict(state.vehicles)
    vehicles[view.vehicle_id] = view
    return replace(state, vehicles=vehicles)


def view_of(state: StationState, vehicle_id: str) -> VehicleView:
    return state.vehicles.get(vehicle_id) or VehicleView(vehicle_id=vehicle_id)
