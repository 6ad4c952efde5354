"""The crowd response's data: its policy, the events it takes from the shell, the actions it asks of the shell,
the rows it records, and its state. The state machine itself is response.py."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from groundstation.core.commands import VehicleCommand
from telemetry.records import CapturedImage

SCREENING_NOTICE = ("a drone's skin-temperature reading is a screening hint to be confirmed on the ground, "
                    "never a diagnosis")


# --- policy (from the config's [response] and each counting zone's response settings) -----------------------


@dataclass(frozen=True)
class ZonePolicy:
    """How one zone's gatherings are answered."""

    mode: str = "auto"  # auto | approve (operators approve or deny first) | watch-only (alert, no flight)
    approval_timeout_s: float = 60.0
    on_approval_timeout: str = "drop"  # drop | proceed
    messages: tuple[tuple[str, str], ...] = ()  # (language, text already rendered for this zone)
    cooldown_s: float | None = None  # None: ResponsePolicy.cooldown_s


@dataclass(frozen=True)
class ResponsePolicy:
    """Settings of the crowd response (config [response])."""

    zones: Mapping[str, ZonePolicy] = field(default_factory=dict)  # zone_id -> policy; others use `default`
    default: ZonePolicy = field(default_factory=ZonePolicy)
    approach_alt_m: float = 20.0  # above home, over the crowd
    min_alt_over_people_m: float = 15.0  # never lower over people
    arrive_m: float = 6.0  # horizontal distance that counts as "over the crowd"
    arrive_alt_m: float = 3.0  # and this close to the approach altitude
    transit_timeout_s: float = 300.0
    thermal_component_id: int = 101  # the thermal camera's MAVLink component (MAV_COMP_ID_CAMERA2)
    thermal_frames: int = 3
    thermal_timeout_s: float = 60.0  # for all the frames together
    fever_threshold_c: float = 37.3  # a measured skin temperature at or above this is a fever hint
    min_measured_fraction: float = 0.5  # fewer measured people than this: screening inconclusive
    fever_watch_s: float = 120.0  # a fever found: hold and watch this long, then resume
    broadcast: str = "speaker"  # speaker (the companion computer's HTTP endpoint) | relay (a pre-loaded clip)
    broadcast_repeat: int = 3
    relay_number: int = 0
    relay_clip_s: float = 6.0  # the pre-loaded clip's length (relay delivery)
    max_broadcasts: int = 3  # broadcasts without dispersal before escalation
    verify_window_s: float = 45.0  # after each broadcast, this long to see the crowd disperse
    clear_s: float = 10.0  # at or below the re-arm level this long = dispersed
    rearm_fraction: float = 0.8  # the re-arm level: this fraction of the zone's capacity
    escalated_hold_s: float = 300.0  # after an escalation, hold for an operator this long, then resume
    cooldown_s: float = 300.0
    max_response_s: float = 1200.0
    planned_hover_s: float = 300.0  # the hover the battery check plans for
    hover_pct_per_min: float = 2.0  # battery a hover costs
    queue_timeout_s: float = 600.0  # a confirmed crowd waits this long for a free drone

    def zone(self, zone_id: str) -> ZonePolicy:
        return self.zones.get(zone_id, self.default)


# --- events in (from the shell) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonTemperature:
    """One person's reading in one thermal frame (the shell's vision.thermal result, normalised)."""

    person_id: int
    lat_deg: float
    lon_deg: float
    status: str  # measured | unmeasured
    temp_c: float | None = None
    uncertainty_c: float | None = None
    reason: str = ""  # why unmeasured


@dataclass(frozen=True)
class ThermalScreened:
    """The shell screened one thermal image of a response (ScreenThermal)."""

    response_id: str
    shot: int
    readings: tuple[PersonTemperature, ...] = ()
    problem: str | None = None  # the frame could not be used (missing, unreadable, misaligned...)
    image_url: str = ""


@dataclass(frozen=True)
class BroadcastFinished:
    """The shell delivered (or failed to deliver) a message to the drone's loudspeaker (Broadcast)."""

    response_id: str
    broadcast_id: str
    ok: bool
    reason: str = ""
    duration_s: float = 0.0  # one play
    repeat: int = 1
    ends_at_s: float | None = None  # station time at which the last repeat ends
    engines: tuple[str, ...] = ()  # the speech engine of each language
    fallback: str | None = None  # why an engine was not used


# --- actions out (for the shell) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonToScreen:
    person_id: int
    lat_deg: float
    lon_deg: float
    uncertainty_m: float = 0.0  # the position's uncertainty: the thermal screening searches that far for the head


@dataclass(frozen=True)
class ScreenThermal:
    """Fetch a thermal image and measure the people in it; answer with ThermalScreened."""

    response_id: str
    shot: int
    vehicle_id: str
    image: CapturedImage
    people: tuple[PersonToScreen, ...]


@dataclass(frozen=True)
class Broadcast:
    """Synthesise these utterances and play them `repeat` times on the vehicle's loudspeaker; answer with
    BroadcastFinished."""

    response_id: str
    broadcast_id: str
    vehicle_id: str
    utterances: tuple[tuple[str, str], ...]  # (language, text)
    repeat: int


@dataclass(frozen=True)
class StopBroadcast:
    """Stop whatever the vehicle's loudspeaker is playing (an abort)."""

    response_id: str
    vehicle_id: str


# --- rows out ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseRow:
    """Insert-or-update of one response (keyed by response_id)."""

    response_id: str
    zone_id: str
    at_s: float
    state: str
    gathering_id: str = ""
    vehicle_id: str | None = None
    started_at_s: float | None = None
    ended_at_s: float | None = None
    outcome: str | None = None
    reason: str = ""
    count: int | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None


@dataclass(frozen=True)
class ResponseStepRow:
    """A transition: the state entered, why, and who caused it."""

    response_id: str
    at_s: float
    state: str
    cause: str
    by: str = "station"
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRow:
    """Something an operator (and the zone's responsible officer) must see; the web map and notification adapters
    pick these up."""

    alert_id: str
    at_s: float
    kind: str  # crowd | fever_hint | escalation | screening_failed | response_stopped
    severity: str  # info | warning | critical
    text: str
    zone_id: str | None = None
    vehicle_id: str | None = None  # the response's drone (none yet for a crowd alert: its data's seen_by names the
    # vehicle whose camera saw the crowd most)
    response_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ThermalReadingRow:
    response_id: str
    at_s: float
    shot: int
    person_id: int
    lat_deg: float
    lon_deg: float
    status: str
    temp_c: float | None
    uncertainty_c: float | None
    fever: bool | None
    reason: str


@dataclass(frozen=True)
class BroadcastRow:
    """Insert-or-update of one broadcast (keyed by broadcast_id)."""

    broadcast_id: str
    response_id: str
    vehicle_id: str
    at_s: float
    method: str  # speaker | relay
    status: str  # requested | delivered | failed
    text: str
    repeat: int
    duration_s: float | None = None
    reason: str = ""


# --- state ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    response_id: str
    zone_id: str
    zone_name: str
    gathering_id: str
    started_at_s: float
    state: str
    entered_at_s: float
    count: int
    capacity_persons: int
    lat_deg: float  # the crowd's centroid
    lon_deg: float
    seen_by: str | None = None  # the vehicle whose camera saw it most
    crowd: tuple[PersonToScreen, ...] = ()  # the people last seen in the zone (screened when none is in view now)
    steps: tuple[str, ...] = ()  # states entered, in order
    vehicle_id: str | None = None
    launched_from_ground: bool = False
    airborne_seen: bool = False  # the drone was seen flying during this response (guards apply from then on)
    patrol_run_id: str | None = None  # the patrol paused for this response
    resume_seq: int | None = None  # the mission item the patrol was flying to
    chain: tuple[VehicleCommand, ...] = ()  # commands still to send, in order
    request_id: str | None = None  # the command in flight
    requests_sent: int = 0
    waiting_for: str = ""  # "altitude" | "arrival" while no command is in flight
    shots_requested: int = 0
    screenings: tuple[ThermalScreened, ...] = ()
    broadcasts: int = 0
    broadcast_id: str | None = None
    broadcast_ends_at_s: float | None = None
    verify_until_s: float | None = None
    below_since_s: float | None = None
    hold_until_s: float | None = None
    then: str = "resume"  # after the response: resume (the patrol, if one was paused) | rtl
    outcome: str | None = None


@dataclass(frozen=True)
class ResponseState:
    responses: Mapping[str, Response] = field(default_factory=dict)  # active ones, by id
    handled_gatherings: frozenset[str] = frozenset()
    cooldown_until_s: Mapping[str, float] = field(default_factory=dict)  # zone_id -> time
    requests: Mapping[str, str] = field(default_factory=dict)  # command request id -> response id
    started: int = 0

    def on_vehicle(self, vehicle_id: str) -> Response | None:
        return next((r for r in self.responses.values() if r.vehicle_id == vehicle_id), None)
