"""The station core's one entry point: `handle(state, event, now_s) -> (new_state, actions)`.

It reads no clock, opens no socket, starts no thread and touches no database (import-linter enforces it for every
module of groundstation.core): the shell (shell/station.py) supplies `now_s` (wall time, seconds) and carries out
the actions (records.Record / SendCommand / Reply). Each event type goes to the handlers of the concerns that
care about it, in order: vehicles.py (what the vehicles say), requests.py (the command lifecycle), patrol_runs.py
(automatic patrols), crowds.py (ground counting), response.py (the crowd response), notices.py (alerts to grid
officers: every alert an event raised is routed after its handlers ran), risk.py (the risk map: every gathering and
fever hint an event recorded is taken as evidence after its handlers ran), venues.py (venue occupancy), zones.py
(counting zones replaced while running).

A handler that raises (a bug) never takes the station down or loses a request: the event is answered from the
state before it (unchanged), a CommandRequest is refused with the error and recorded, and the error is logged
in the event log.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from groundstation.core import crowds as cr
from groundstation.core import notices, patrol_runs, requests, response, risk, vehicles, venues, zones
from groundstation.core.notice_data import DeliveryFinished, GridLoaded
from groundstation.core.patrols import SchedulesLoaded, Tick
from groundstation.core.response_data import BroadcastFinished, ThermalScreened
from groundstation.core.risk_data import RiskLoaded
from groundstation.core.venue_data import VenueCrossed
from groundstation.core.records import (
    Action,
    CommandFinished,
    CommandRequest,
    EventRow,
    Record,
    VehicleConfigured,
    VehicleUnavailable,
)
from groundstation.core.state import StationState
from telemetry.records import LinkChanged, LinkError, MissionProgress, StateUpdated, StatusText

Handler = Callable[[StationState, Any, float], tuple[StationState, list[Action]]]

Event = (
    LinkChanged | StateUpdated | StatusText | MissionProgress | LinkError
    | VehicleConfigured | VehicleUnavailable | CommandRequest | CommandFinished | Tick | SchedulesLoaded
    | cr.StreamConfigured | cr.VisionObserved | cr.StreamStatus | cr.WorkerStats | ThermalScreened | BroadcastFinished
    | DeliveryFinished | GridLoaded | RiskLoaded | VenueCrossed
)

# Requests that are not vehicle commands: decisions of the station's own automation, taken by an operator.
STATION_ACTIONS: Mapping[str, Handler] = MappingProxyType({
    "abort_patrol": patrol_runs.on_abort,
    "start_patrol": patrol_runs.on_start,
    "acknowledge_notice": notices.on_acknowledge,
    "risk_input": risk.on_input,
    "recompute_risk": risk.on_recompute,
    "set_venue_occupancy": venues.on_set,
    "load_zones": zones.on_load,
    **{change: requests.on_admin_change for change in requests.ADMIN_CHANGES},
    **response.STATION_ACTIONS,
})


def handle(state: StationState, event: Event, now_s: float) -> tuple[StationState, list[Action]]:
    """Apply one event; return the new state and the actions for the shell to carry out."""
    handlers = _HANDLERS.get(type(event))
    if isinstance(event, StateUpdated) and _older(state, event):
        return replace(state, events_handled=state.events_handled + 1), []
    if handlers is None:
        return replace(state, events_handled=state.events_handled + 1), [
            Record(EventRow(None, now_s, "internal", "error", f"unknown event type {type(event).__name__}"))
        ]
    try:
        new_state, actions = state, []
        for handler in handlers:
            new_state, more = handler(new_state, event, now_s)
            actions = actions + more
    except Exception as exc:  # a bug: keep the state before the event, answer and record it
        return replace(state, events_handled=state.events_handled + 1), _failure(state, event, exc, now_s)
    try:  # every alert the event raised goes to its grid officers (notices.py)
        new_state, more = notices.on_actions(new_state, actions, now_s)
        actions = actions + more
    except Exception as exc:  # a bug in routing must not undo the event: the alerts stay with the operators
        actions = actions + [Record(EventRow(None, now_s, "internal", "error", f"internal error while routing "
                                             f"alerts to officers: {type(exc).__name__}: {exc}"))]
    try:  # every gathering and fever hint the event recorded weighs on the risk map (risk.py)
        new_state, more = risk.on_actions(new_state, actions, now_s)
        actions = actions + more
    except Exception as exc:  # a bug there must not undo the event either
        actions = actions + [Record(EventRow(None, now_s, "internal", "error", f"internal error while taking "
                                             f"evidence for the risk map: {type(exc).__name__}: {exc}"))]
    return replace(new_state, events_handled=new_state.events_handled + 1), actions


def _failure(state: StationState, event: Any, exc: Exception, now_s: float) -> list[Action]:
    what = f"internal error while handling {type(event).__name__}: {type(exc).__name__}: {exc}"
    if isinstance(event, CommandRequest):
        return requests.refuse(state, event, now_s, what)[1]
    return [Record(EventRow(getattr(event, "vehicle_id", None), now_s, "internal", "error", what))]


def _on_request(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    station_action = STATION_ACTIONS.get(str(request.action))
    if station_action is not None:
        return station_action(state, request, now_s)
    return requests.on_request(state, request, now_s)


def _older(state: StationState, event: StateUpdated) -> bool:
    """A vehicle state older than the one the core has (fewer of the vehicle's messages in it): the shell passes on
    the state a command left the vehicle in as well as the link's own, and either may come second."""
    known = state.vehicles.get(event.state.vehicle_id)
    return known is not None and known.state is not None and \
        event.state.messages_received < known.state.messages_received


def _crowds(step: Callable[[cr.CrowdState, Any, float], tuple[cr.CrowdState, list[Any]]]) -> Handler:
    """Run a ground-counting step (crowds.py) on the crowd part of the state; its notes go to the event log."""
    def handler(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
        crowd_state, rows = step(state.crowds, event, now_s)
        return replace(state, crowds=crowd_state), [
            Record(EventRow(r.vehicle_id, now_s, "vision", r.severity, r.text, r.data) if isinstance(r, cr.Note) else r)
            for r in rows]
    return handler


_HANDLERS: Mapping[type, tuple[Handler, ...]] = MappingProxyType({
    VehicleConfigured: (vehicles.on_configured,),
    VehicleUnavailable: (vehicles.on_unavailable,),
    LinkChanged: (vehicles.on_link, patrol_runs.on_link, response.on_link),
    StateUpdated: (vehicles.on_state, patrol_runs.on_state, response.on_state),
    StatusText: (vehicles.on_statustext,),
    MissionProgress: (vehicles.on_progress, patrol_runs.on_progress),
    LinkError: (vehicles.on_link_error,),
    CommandRequest: (_on_request,),
    CommandFinished: (requests.on_finished, patrol_runs.on_finished, response.on_finished),
    Tick: (risk.on_tick, patrol_runs.on_tick, _crowds(lambda crowds, _tick, now_s: cr.on_tick(crowds, now_s)),
           response.on_crowds, response.on_tick, notices.on_tick),
    SchedulesLoaded: (patrol_runs.on_schedules, risk.on_schedules),
    cr.StreamConfigured: (_crowds(cr.on_configured),),
    cr.VisionObserved: (_crowds(cr.on_observed), response.on_crowds),
    cr.StreamStatus: (_crowds(cr.on_status),),
    cr.WorkerStats: (_crowds(cr.on_stats),),
    ThermalScreened: (response.on_screened,),
    BroadcastFinished: (response.on_broadcast,),
    DeliveryFinished: (notices.on_delivered,),
    GridLoaded: (notices.on_grid_loaded,),
    RiskLoaded: (risk.on_loaded,),
    VenueCrossed: (venues.on_venue_crossed,),
})
