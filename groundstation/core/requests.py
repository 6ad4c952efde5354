"""The command lifecycle: a request is parsed and checked, then recorded as sent (and sent) or refused;
the vehicle's answer is recorded and replied. Every vehicle command of every kind of requester (operator,
patrol, crowd response, battery reserve, flight test) takes this one path: nothing else emits SendCommand.

Audit: the CommandRow (who, when, what, the decision and why) is recorded before the SendCommand action, and the
shell commits it before the command leaves (write-ahead audit); the result is recorded as a CommandResultRow.
"""
from __future__ import annotations

from dataclasses import replace

from groundstation.core.commands import Refusal, UploadMission, parse
from groundstation.core.records import (
    Action,
    CommandFinished,
    CommandOutcome,
    CommandRequest,
    CommandResultRow,
    CommandRow,
    EventRow,
    MissionRunRow,
    Record,
    Reply,
    SendCommand,
    plain,
)
from groundstation.core import safety
from groundstation.core.state import MissionRun, Pending, StationState, view_of, with_vehicle
from telemetry.records import MissionItem, MissionType


def refuse(state: StationState, request: CommandRequest, now_s: float, reason: str) -> tuple[StationState, list[Action]]:
    """Record and answer a refusal: the command is never sent."""
    vid, action = request.vehicle_id, str(request.action)
    return state, [
        Record(CommandRow(request.request_id, vid, action, plain(request.args), request.requested_by,
                          now_s, "refused", reason)),
        Record(EventRow(vid, now_s, "decision", "warning",
                        f"refused {action} requested by {request.requested_by}: {reason}",
                        {"request_id": request.request_id, "action": action, "decision": "refused"})),
        Reply(CommandOutcome(request.request_id, vid, action, "refused_by_station", reason)),
    ]


def accepted(request: CommandRequest, now_s: float, summary: str, vehicle_id: str | None = None) -> list[Action]:
    """Record and answer a station action an operator asked for (approve, deny or abort a response...), done at once:
    audited like a vehicle command, in the same table (decision "sent", result "accepted")."""
    vid, action = vehicle_id if vehicle_id is not None else request.vehicle_id, str(request.action)
    return [
        Record(CommandRow(request.request_id, vid, action, plain(request.args), request.requested_by, now_s, "sent",
                          summary)),
        Record(CommandResultRow(request.request_id, now_s, "accepted", None, None, None, None, 0.0, None)),
        Record(EventRow(vid or None, now_s, "decision", "info", f"{action} by {request.requested_by}: {summary}",
                        {"request_id": request.request_id, "action": action, "decision": "sent"})),
        Reply(CommandOutcome(request.request_id, vid, action, "accepted", summary)),
    ]


def on_request(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """A vehicle command request: parse, check, then record and send it, or record and answer the refusal."""
    if not request.request_id:
        return refuse(state, request, now_s, "request without a request id")
    if request.request_id in state.pending:
        return refuse(state, request, now_s, f"duplicate request id {request.request_id!r}")
    view = state.vehicles.get(request.vehicle_id)
    if view is None:
        return refuse(state, request, now_s, f"unknown vehicle {request.vehicle_id!r}")
    try:
        command = parse(str(request.action), request.args)
        summary = safety.check(state.policy, view, command)
    except Refusal as refusal:
        return refuse(state, request, now_s, str(refusal))
    if isinstance(command, UploadMission) and command.mission_type is MissionType.MISSION:
        # ArduPilot's mission item 0 is home (the vehicle overwrites it): the requested items follow it
        home = view.state.home
        home_slot = MissionItem(16, frame=0, lat_deg=home.lat_deg, lon_deg=home.lon_deg, alt_m=home.alt_amsl_m or 0.0)
        command = replace(command, items=(home_slot,) + command.items)
    pending = dict(state.pending)
    pending[request.request_id] = Pending(request, command)
    vid = request.vehicle_id
    return replace(state, pending=pending), [
        Record(CommandRow(request.request_id, vid, command.action, plain(command.args()), request.requested_by, now_s,
                          "sent", summary)),
        Record(EventRow(vid, now_s, "decision", "info",
                        f"sending {command.action} requested by {request.requested_by}: {summary}",
                        {"request_id": request.request_id, "action": command.action, "decision": "sent"})),
        SendCommand(request.request_id, vid, command),
    ]


def on_finished(state: StationState, ev: CommandFinished, now_s: float) -> tuple[StationState, list[Action]]:
    """The vehicle's answer to a sent command: recorded and replied; a completed upload becomes the mission run."""
    pending = dict(state.pending)
    sent = pending.pop(ev.request_id, None)
    state = replace(state, pending=pending)
    if ev.ok:
        status, reason = "accepted", ev.result_name or "done"
    elif ev.error_kind == "refused":
        status, reason = "refused_by_vehicle", ev.error or f"refused: {ev.result_name}"
    else:
        status, reason = "failed", ev.error or ev.error_kind or "failed"
    actions: list[Action] = [
        Record(CommandResultRow(ev.request_id, now_s, status, ev.command, ev.result, ev.result_name, ev.attempts,
                                ev.round_trip_s, None if ev.ok else reason)),
        Record(EventRow(ev.vehicle_id, now_s, "command", "info" if ev.ok else "warning",
                        f"{ev.action} {status}" + ("" if ev.ok else f": {reason}") +
                        (f" ({ev.round_trip_s * 1000:.0f} ms)" if ev.round_trip_s is not None else ""),
                        {"request_id": ev.request_id, "status": status, "result_name": ev.result_name})),
        Reply(CommandOutcome(ev.request_id, ev.vehicle_id, ev.action, status, reason, ev.result, ev.result_name,
                             ev.round_trip_s)),
    ]
    command = sent.command if sent is not None else None
    if ev.ok and isinstance(command, UploadMission) and command.mission_type is MissionType.MISSION:
        run = MissionRun(ev.request_id, len(command.items) - 1, "MISSION", "uploaded")  # without the home slot
        state = with_vehicle(state, replace(view_of(state, ev.vehicle_id), mission_run=run))
        actions.append(Record(MissionRunRow(run.run_id, ev.vehicle_id, now_s, run.status, run.item_count, "MISSION")))
    return state, actions


# Admins' changes the shell makes (patrol schedules, users; web/api.py): recorded here with who made them, so that the
# audit trail holds every action of every user. Counting zones are not among them: the core loads those (zones.py).
ADMIN_CHANGES = frozenset({"add_schedule", "remove_schedule", "add_user", "remove_user"})


def on_admin_change(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """Record an admin's change (already made by the shell): who, what, and on which schedule or user."""
    what = request.args.get("name") or request.args.get("schedule_id") or "?"
    return state, accepted(request, now_s, f"{str(request.action).replace('_', ' ')} {what}")
