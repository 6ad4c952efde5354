"""Automatic patrols, flown: schedules fire, a vehicle is assigned, the launch goes through the checked command
path, the run is followed (progress, completion, interruption), resumed later, and relieved (rotation).

The decisions themselves are pure functions in patrols.py; here they become checked commands (requests.py,
requested by "patrol:<schedule name>") and recorded rows. The launch, step by step, each one a command that
must succeed before the next: upload the mission -> make item 1 current (ArduPilot keeps its current item across
an upload) -> GUIDED -> arm -> MISSION_START (ArduCopter starts an AUTO takeoff without RC throttle only this way).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from groundstation.core import patrols as pt
from groundstation.core.commands import Arm, SetMissionCurrent, SetMode, StartMission, UploadMission, VehicleCommand
from groundstation.core.patrols import PatrolRun, PatrolRunRow, ResumePoint, ScheduleFiredRow, SchedulesLoaded, Tick
from groundstation.core.records import (
    Action,
    CommandFinished,
    CommandRequest,
    EventRow,
    Record,
    Reply,
)
from groundstation.core.requests import accepted, on_request, refuse
from groundstation.core.state import StationState
from missions.errors import MissionError
from telemetry.records import LinkChanged, MissionProgress, StateUpdated


def _patrol_state(state: StationState, **changes: Any) -> StationState:
    return replace(state, patrols=replace(state.patrols, **changes))


def _run_row(run: PatrolRun, now_s: float, **kw: Any) -> Record:
    base = dict(run_id=run.run_id, schedule_id=run.schedule_id, at_s=now_s, status=run.status,
                vehicle_id=run.vehicle_id, scheduled_for_s=run.scheduled_for_s, last_reached_item=run.last_reached_item,
                resume_from_item=run.resume_from_item, resumed_from_run=run.resumed_from_run,
                mission_run_id=run.mission_run_id, relieves_run=run.relieves_run)
    base.update(kw)
    return Record(PatrolRunRow(**base))


def _schedule_name(state: StationState, schedule_id: str) -> str:
    s = state.patrols.schedules.get(schedule_id)
    return s.name if s is not None else schedule_id


def on_schedules(state: StationState, ev: SchedulesLoaded, now_s: float):
    first = not state.patrols.loaded
    state = _patrol_state(state, **{"loaded": True})
    p = pt.load(state.patrols, ev)
    state = replace(state, patrols=p)
    actions: list[Action] = []
    if first:
        actions.append(Record(EventRow(None, now_s, "patrol", "info",
                                       f"{len(ev.schedules)} patrol schedule(s) loaded "
                                       f"({sum(1 for s in ev.schedules if s.enabled)} enabled)")))
        resume = dict(p.resume)
        for stale in ev.stale_runs:  # in the air (or launching) when the station stopped: ended as aborted
            actions.append(Record(PatrolRunRow(stale.run_id, stale.schedule_id, now_s, "aborted",
                                               "the station stopped while the run was in progress",
                                               ended_at_s=now_s, resume_item=stale.resume_item)))
            if stale.resume_item is not None:
                resume[stale.schedule_id] = ResumePoint(stale.run_id, stale.resume_item)
        state = _patrol_state(state, resume=resume)
    else:
        actions.append(Record(EventRow(None, now_s, "patrol", "info",
                                       f"patrol schedules reloaded: {len(ev.schedules)} schedule(s)")))
    return state, actions


def on_tick(state: StationState, ev: Tick, now_s: float):
    if not state.patrols.loaded:
        return state, []
    actions: list[Action] = []
    for sid in sorted(state.patrols.schedules):
        sched = state.patrols.schedules[sid]
        since = state.patrols.checked_until_s.get(sid, now_s)
        try:
            due = pt.due(pt.risk_scaled(sched, state.patrols.interval_factors.get(sid, 1.0)), since, now_s)
        except MissionError as exc:
            due = []
            actions.append(Record(EventRow(None, now_s, "patrol", "error", f"schedule {sched.name}: {exc}")))
        checked = dict(state.patrols.checked_until_s)
        checked[sid] = max(since, now_s)
        state = _patrol_state(state, checked_until_s=checked)
        for d in due:
            t = d.scheduled_utc.timestamp()
            run_id = f"{sid}@{int(t)}"
            if not d.fire:
                actions.append(Record(PatrolRunRow(run_id, sid, now_s, "missed", d.reason, scheduled_for_s=t,
                                                   ended_at_s=now_s)))
                continue
            actions.append(Record(ScheduleFiredRow(sid, t, now_s)))
            state, more = _patrol_fire(state, sched, run_id, t, now_s, d.reason)
            actions.extend(more)
    for run in list(state.patrols.runs.values()):
        state, more = _patrol_rotation(state, run, now_s)
        actions.extend(more)
    return state, actions


def _candidates(state: StationState, exclude: str | None = None) -> dict[str, tuple[Any, bool, str]]:
    out: dict[str, tuple[Any, bool, str]] = {}
    for vid, view in state.vehicles.items():
        busy = ""
        run = state.patrols.run_on(vid)
        response = state.responses.on_vehicle(vid)
        if run is not None:
            busy = f"flying patrol run {run.run_id}"
        elif response is not None:
            busy = f"flying crowd response {response.response_id}"
        elif vid == exclude:
            busy = "the vehicle being relieved"
        out[vid] = (view.state, view.link_up, busy)
    return out


def _patrol_fire(state: StationState, sched: pt.PatrolSchedule, run_id: str, t: float, now_s: float, why: str):
    active = state.patrols.runs_of(sched.schedule_id)
    if active:
        reason = f"missed: the previous run {active[0].run_id} is still in progress on {active[0].vehicle_id}"
        return state, [Record(PatrolRunRow(run_id, sched.schedule_id, now_s, "missed", reason, scheduled_for_s=t,
                                           ended_at_s=now_s)),
                       Record(EventRow(None, now_s, "patrol", "warning", f"patrol {sched.name}: {reason}"))]
    policy = state.patrol_policy
    vid, detail = pt.choose_vehicle(sched, _candidates(state), policy.profile,
                                    state.policy.min_battery_to_launch_pct, policy.speed_m_s)
    if vid is None:
        reason = f"missed: no vehicle available: {detail}"
        return state, [Record(PatrolRunRow(run_id, sched.schedule_id, now_s, "missed", reason, scheduled_for_s=t,
                                           ended_at_s=now_s)),
                       Record(EventRow(None, now_s, "patrol", "warning", f"patrol {sched.name}: {reason}"))]
    resume = state.patrols.resume.get(sched.schedule_id)
    cover_until = t + sched.cover_s if sched.cover_s is not None else None
    return _patrol_start(state, sched, run_id, vid, t, now_s, f"{why}; assigned {detail}",
                         resume.from_item if resume else None, resume.run_id if resume else None, cover_until, None)


def _patrol_start(state: StationState, sched: pt.PatrolSchedule, run_id: str, vid: str, t: float, now_s: float,
                  reason: str, resume_from: int | None, resumed_from_run: str | None, cover_until: float | None,
                  relieves: str | None):
    items, index_map = pt.launch_items(sched, resume_from, loop=sched.cover_s is not None)
    run = PatrolRun(run_id, sched.schedule_id, vid, t, now_s, items, index_map,
                    resume_from_item=resume_from if resume_from else None,
                    resumed_from_run=resumed_from_run if resume_from else None,
                    cover_until_s=cover_until, relieves_run=relieves)
    runs = dict(state.patrols.runs)
    runs[run_id] = run
    resume = dict(state.patrols.resume)
    if relieves is None:
        resume.pop(sched.schedule_id, None)  # consumed; put back if the launch fails
    state = _patrol_state(state, runs=runs, resume=resume, runs_started=state.patrols.runs_started + 1)
    text = f"patrol {sched.name}: run {run_id} planned on {vid}"
    if run.resume_from_item is not None:
        text += f", resuming {resumed_from_run} at item {run.resume_from_item}"
    if relieves is not None:
        text += f", relieving {relieves}"
    actions: list[Action] = [_run_row(run, now_s, status="planned", reason=reason),
                             Record(EventRow(vid, now_s, "patrol", "info", text, {"run_id": run_id}))]
    state, more = _patrol_step(state, run, "upload", now_s)
    return state, actions + more


_STEP_COMMANDS: Mapping[str, VehicleCommand] = MappingProxyType({
    # ArduPilot keeps its current mission item across an upload (AUTO resumes there): start from item 1
    "first_item": SetMissionCurrent(1),
    "guided": SetMode("GUIDED"),
    "arm": Arm(),
    "start": StartMission(),
})
_NEXT_STEP: Mapping[str, str] = MappingProxyType({"upload": "first_item", "first_item": "guided", "guided": "arm",
                                                  "arm": "start", "start": "flying"})


def _patrol_step(state: StationState, run: PatrolRun, step: str, now_s: float):
    """Ask for one launch step through the ordinary checked path (_on_request)."""
    command = UploadMission(run.items) if step == "upload" else _STEP_COMMANDS[step]
    rid = f"{run.run_id}:{step}"
    run = replace(run, step=step, request_id=rid)
    runs = dict(state.patrols.runs)
    runs[run.run_id] = run
    requests = dict(state.patrols.requests)
    requests[rid] = run.run_id
    state = _patrol_state(state, runs=runs, requests=requests)
    request = CommandRequest(run.vehicle_id, command.action, command.args(),
                             requested_by=f"patrol:{_schedule_name(state, run.schedule_id)}", request_id=rid)
    state, actions = on_request(state, request, now_s)
    refusal = next((a.outcome for a in actions if isinstance(a, Reply) and a.outcome.status == "refused_by_station"),
                   None)
    if refusal is not None:
        requests = dict(state.patrols.requests)
        requests.pop(rid, None)
        state = _patrol_state(state, requests=requests)
        state, more = _patrol_end(state, run, "aborted", f"refused by the station at {step}: {refusal.reason}", now_s)
        actions = actions + more
    return state, actions


def _patrol_end(state: StationState, run: PatrolRun, status: str, reason: str, now_s: float, *,
                send_home: str | None = None):
    """Record the end of an active run; leave a resume point when it was interrupted; optionally send the
    vehicle home (RTL, requested by `send_home`)."""
    runs = dict(state.patrols.runs)
    runs.pop(run.run_id, None)
    sched = state.patrols.schedules.get(run.schedule_id)
    resume = dict(state.patrols.resume)
    resume_item = None
    relief_pending = run.relieves_run is not None and run.relieves_run in runs
    if status == "aborted" and not relief_pending:
        if run.launched_at_s is None:
            if run.resume_from_item is not None and run.resumed_from_run is not None:  # not flown: keep it
                resume[run.schedule_id] = ResumePoint(run.resumed_from_run, run.resume_from_item)
                resume_item = run.resume_from_item
        else:
            resume_item = (pt.resume_point(sched, run.last_reached_item) if sched is not None and
                           run.last_reached_item is not None else run.resume_from_item)
            if resume_item is not None:
                resume[run.schedule_id] = ResumePoint(run.run_id, resume_item)
    if relief_pending and status == "aborted":  # a failed relief: the drone on station tries again
        runs[run.relieves_run] = replace(runs[run.relieves_run], relief_run=None, relief_problem=reason)
    state = _patrol_state(state, runs=runs, resume=resume)
    severity = "info" if status == "completed" else "warning"
    text = f"patrol run {run.run_id} {status}: {reason}"
    if resume_item is not None and status == "aborted":
        text += f" (the next launch resumes at item {resume_item})"
    ended = replace(run, status=status)
    actions: list[Action] = [_run_row(ended, now_s, reason=reason, ended_at_s=now_s, resume_item=resume_item),
                             Record(EventRow(run.vehicle_id, now_s, "patrol", severity, text, {"run_id": run.run_id}))]
    view = state.vehicles.get(run.vehicle_id)
    if send_home is not None:
        state, more = on_request(state, CommandRequest(run.vehicle_id, "rtl", {}, requested_by=send_home,
                                                        request_id=f"{run.run_id}:rtl"), now_s)
        actions.extend(more)
    elif (status == "aborted" and run.step == "start" and view is not None and view.state is not None
          and view.state.armed and (view.state.alt_rel_m or 0.0) < 1.0):
        state, more = on_request(state, CommandRequest(run.vehicle_id, "disarm", {}, requested_by="patrol:launch",
                                                        request_id=f"{run.run_id}:disarm"), now_s)
        actions.extend(more)
    return state, actions


def on_finished(state: StationState, ev: CommandFinished, now_s: float):
    run_id = state.patrols.requests.get(ev.request_id)
    if run_id is None:
        return state, []
    requests = dict(state.patrols.requests)
    requests.pop(ev.request_id)
    state = _patrol_state(state, requests=requests)
    run = state.patrols.runs.get(run_id)
    if run is None or run.request_id != ev.request_id:
        # the run ended meanwhile (operator abort, link lost): an arm that still went through is undone
        if ev.ok and ev.action == "arm":
            return on_request(state, CommandRequest(ev.vehicle_id, "disarm", {}, requested_by="patrol:launch",
                                                     request_id=f"{ev.request_id}:undo"), now_s)
        return state, []
    step = run.step
    if not ev.ok:
        who = "the vehicle" if ev.error_kind in ("refused", "mission") else None
        detail = ev.error or ev.result_name or ev.error_kind or "failed"
        reason = f"refused by {who} at {step}: {detail}" if who else f"{step} failed ({ev.error_kind}): {detail}"
        return _patrol_end(state, run, "aborted", reason, now_s)
    if step == "upload":
        run = replace(run, mission_run_id=ev.request_id)
    nxt = _NEXT_STEP[step]
    if nxt == "flying":
        run = replace(run, status="launched", step="flying", request_id=None, launched_at_s=now_s)
        runs = dict(state.patrols.runs)
        runs[run.run_id] = run
        state = _patrol_state(state, runs=runs)
        return state, [_run_row(run, now_s, reason="launched: mission started in AUTO", launched_at_s=now_s),
                       Record(EventRow(run.vehicle_id, now_s, "patrol", "info",
                                       f"patrol run {run.run_id} launched: mission started in AUTO", {"run_id": run.run_id}))]
    return _patrol_step(state, run, nxt, now_s)


def on_state(state: StationState, ev: StateUpdated, now_s: float):
    vid = ev.state.vehicle_id
    run = state.patrols.run_on(vid)
    if run is None or run.status != "launched":
        return state, []
    view = state.vehicles[vid]
    s = view.state
    if s is None:
        return state, []
    if s.armed and s.mode == "AUTO":
        if not run.seen_auto:
            runs = dict(state.patrols.runs)
            runs[run.run_id] = replace(run, seen_auto=True)
            state = _patrol_state(state, runs=runs)
        return state, []
    if not s.armed:
        if run.seen_auto and pt.completed_by(run, s):
            return _patrol_end(state, run, "completed", "landed and disarmed after the last item", now_s)
        at = f" (last item reached: {run.last_reached_item})" if run.last_reached_item is not None else ""
        return _patrol_end(state, run, "aborted", f"the vehicle disarmed before the patrol ended{at}", now_s)
    if not run.seen_auto:
        return state, []
    mode = s.mode
    if run.paused_by is not None and mode in ("GUIDED", "LOITER", "BRAKE") and view.battery_level != "reserve":
        return state, []  # a crowd response flies the drone; the patrol resumes after it
    if view.battery_level == "reserve" or (mode in ("RTL", "LAND", "SMART_RTL") and view.battery_level != "ok"):
        reason = f"battery RTL: battery {s.battery_pct:.0f}%, vehicle in {mode}" if s.battery_pct is not None \
            else f"battery RTL, vehicle in {mode}"
    elif mode in ("RTL", "LAND", "SMART_RTL"):
        reason = f"the vehicle left AUTO for {mode} (its failsafe or another operator)"
    else:
        reason = f"the vehicle left AUTO for {mode} (another operator?)"
    return _patrol_end(state, run, "aborted", reason, now_s)


def on_link(state: StationState, ev: LinkChanged, now_s: float):
    run = state.patrols.run_on(ev.vehicle_id)
    if ev.up or run is None:
        return state, []
    return _patrol_end(state, run, "aborted", f"link lost ({ev.reason}); the vehicle's own failsafe applies", now_s)


def on_progress(state: StationState, ev: MissionProgress, now_s: float):
    run = state.patrols.run_on(ev.vehicle_id)
    if run is None or run.status != "launched" or ev.reached_seq is None:
        return state, []
    if run.last_reached_seq is not None and ev.reached_seq == run.last_reached_seq:
        return state, []
    item = pt.item_of_seq(run, ev.reached_seq)
    run = replace(run, last_reached_seq=ev.reached_seq,
                  last_reached_item=item if item is not None else run.last_reached_item)
    runs = dict(state.patrols.runs)
    runs[run.run_id] = run
    state = _patrol_state(state, runs=runs)
    actions: list[Action] = [_run_row(run, now_s)]
    view = state.vehicles.get(ev.vehicle_id)
    if ev.reached_seq >= run.last_seq and view is not None and view.state is not None and not view.state.armed:
        state, more = _patrol_end(state, run, "completed", "landed and disarmed after the last item", now_s)
        return state, actions + more
    relieved = state.patrols.runs.get(run.relieves_run) if run.relieves_run else None
    reached_cmd = run.items[ev.reached_seq - 1].command if 1 <= ev.reached_seq <= len(run.items) else None
    if relieved is not None and reached_cmd == 16:  # the relief is on its first waypoint: the other goes home
        state, more = _patrol_end(state, relieved, "completed", f"relieved by run {run.run_id} on {run.vehicle_id}",
                                  now_s, send_home="patrol:rotation")
        actions.extend(more)
    return state, actions


def _patrol_rotation(state: StationState, run: PatrolRun, now_s: float):
    """Rotation for runs of schedules with a coverage window: relief before the drone must return; home at the end."""
    sched = state.patrols.schedules.get(run.schedule_id)
    if run.cover_until_s is None or run.status != "launched" or not run.seen_auto or run.paused_by is not None:
        return state, []
    view = state.vehicles.get(run.vehicle_id)
    if now_s < run.cover_until_s and (sched is None or view is None or view.state is None):
        return state, []
    policy = state.patrol_policy
    left = pt.time_left_on_station_s(view.state, policy.profile, policy.speed_m_s) if view and view.state else None
    home = view.state.home if view and view.state else None
    base = pt.GeoPoint(home.lat_deg, home.lon_deg) if home is not None else None
    lead = pt.relief_lead_s(sched, base, policy) if sched is not None else 0.0
    todo = pt.rotation_action(left, lead, now_s, run.cover_until_s, run.relief_run is not None)
    if todo == "end":
        return _patrol_end(state, run, "completed", "the coverage window ended", now_s, send_home="patrol:rotation")
    if todo == "return":
        why = (f"relief {run.relief_run} not on station yet" if run.relief_run is not None
               else f"no relief available: {run.relief_problem or 'none launched'}")
        return _patrol_end(state, run, "aborted", f"no flying time left on station ({left:.0f} s): sent home; {why}",
                           now_s, send_home="patrol:rotation")
    if todo != "relief":
        return state, []
    vid, detail = pt.choose_vehicle(sched, _candidates(state, exclude=run.vehicle_id), policy.profile,
                                    state.policy.min_battery_to_launch_pct, policy.speed_m_s)
    if vid is None:
        if run.relief_problem == detail:
            return state, []
        runs = dict(state.patrols.runs)
        runs[run.run_id] = replace(run, relief_problem=detail)
        state = _patrol_state(state, runs=runs)
        return state, [Record(EventRow(run.vehicle_id, now_s, "patrol", "warning",
                                       f"patrol run {run.run_id}: {left:.0f} s left on station and no relief "
                                       f"available: {detail}", {"run_id": run.run_id}))]
    relief_id = f"{run.schedule_id}@{int(run.scheduled_for_s)}#relief-{int(now_s * 1000)}"
    runs = dict(state.patrols.runs)
    runs[run.run_id] = replace(run, relief_run=relief_id)
    state = _patrol_state(state, runs=runs)
    from_item = pt.resume_point(sched, run.last_reached_item)
    return _patrol_start(state, sched, relief_id, vid, run.scheduled_for_s, now_s,
                         f"rotation: {run.vehicle_id} has {left:.0f} s left on station (lead {lead:.0f} s); "
                         f"assigned {detail}", from_item, run.run_id if from_item else None, run.cover_until_s,
                         run.run_id)


def on_start(state: StationState, request: CommandRequest, now_s: float):
    """An operator starts a schedule's patrol now (args: schedule = its id or name): fired like a scheduled time
    (a ready drone assigned, or the one named by vehicle_id; the resume point kept), launched through the checks."""
    args = request.args if isinstance(request.args, Mapping) else {}
    if not request.request_id or request.request_id in state.pending:
        return refuse(state, request, now_s, "request without a request id or a duplicate one")
    unexpected = set(args) - {"schedule"}
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for start_patrol: {', '.join(sorted(unexpected))}")
    key = str(args.get("schedule") or "")
    sched = state.patrols.schedules.get(key) or next(
        (s for s in state.patrols.schedules.values() if s.name == key), None)
    if sched is None:
        return refuse(state, request, now_s, f"no patrol schedule with id or name {key!r}")
    active = state.patrols.runs_of(sched.schedule_id)
    if active:
        return refuse(state, request, now_s, f"patrol {sched.name} is already flying (run {active[0].run_id} on "
                                             f"{active[0].vehicle_id})")
    candidates = _candidates(state)
    if request.vehicle_id:
        if request.vehicle_id not in candidates:
            return refuse(state, request, now_s, f"unknown vehicle {request.vehicle_id!r}")
        candidates = {request.vehicle_id: candidates[request.vehicle_id]}
    policy = state.patrol_policy
    vid, detail = pt.choose_vehicle(sched, candidates, policy.profile, state.policy.min_battery_to_launch_pct,
                                    policy.speed_m_s)
    if vid is None:
        return refuse(state, request, now_s, f"no vehicle can fly patrol {sched.name} now: {detail}")
    run_id = f"{sched.schedule_id}@{int(now_s)}#by-operator"
    resume = state.patrols.resume.get(sched.schedule_id)
    cover_until = now_s + sched.cover_s if sched.cover_s is not None else None
    state, actions = _patrol_start(state, sched, run_id, vid, now_s, now_s,
                                   f"started now by {request.requested_by}; assigned {detail}",
                                   resume.from_item if resume else None, resume.run_id if resume else None,
                                   cover_until, None)
    return state, actions + accepted(request, now_s, f"patrol {sched.name}: run {run_id} launching on {vid}", vid)


def on_abort(state: StationState, request: CommandRequest, now_s: float):
    """An operator aborts the automatic patrol of a vehicle: the run is recorded aborted (who, why), then RTL."""
    run = state.patrols.run_on(request.vehicle_id)
    args = request.args if isinstance(request.args, Mapping) else {}
    if not request.request_id or request.request_id in state.pending:
        return refuse(state, request, now_s, "request without a request id or a duplicate one")
    unexpected = set(args) - {"reason"}
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for abort_patrol: {', '.join(sorted(unexpected))}")
    if run is None:
        return refuse(state, request, now_s, f"no automatic patrol is running on {request.vehicle_id}")
    why = str(args.get("reason") or "no reason given")
    state, actions = _patrol_end(state, run, "aborted", f"operator abort by {request.requested_by}: {why}", now_s)
    state, more = on_request(state, replace(request, action="rtl", args={}), now_s)
    return state, actions + more


def pause(state: StationState, run_id: str, by: str, now_s: float) -> tuple[StationState, list[Action]]:
    """A crowd response takes the drone flying this run: leaving AUTO for GUIDED no longer ends the run."""
    run = state.patrols.runs.get(run_id)
    if run is None:
        return state, []
    runs = dict(state.patrols.runs)
    runs[run_id] = replace(run, paused_by=by)
    state = _patrol_state(state, runs=runs)
    return state, [Record(EventRow(run.vehicle_id, now_s, "patrol", "info",
                                   f"patrol run {run_id} paused by {by} (last item reached: {run.last_reached_item})",
                                   {"run_id": run_id, "paused_by": by}))]


def unpause(state: StationState, run_id: str, by: str, now_s: float) -> tuple[StationState, list[Action]]:
    """The response gave the drone back: resumed in AUTO, the run goes on; otherwise it ends aborted (with a
    resume point for the next launch of its schedule)."""
    run = state.patrols.runs.get(run_id)
    if run is None or run.paused_by != by:
        return state, []
    runs = dict(state.patrols.runs)
    runs[run_id] = run = replace(run, paused_by=None)
    state = _patrol_state(state, runs=runs)
    view = state.vehicles.get(run.vehicle_id)
    s = view.state if view is not None else None
    if s is not None and s.armed and s.mode == "AUTO" and view.link_up:
        return state, [Record(EventRow(run.vehicle_id, now_s, "patrol", "info",
                                       f"patrol run {run_id} resumed after {by} (mission item {s.mission_seq})",
                                       {"run_id": run_id}))]
    return _patrol_end(state, run, "aborted", f"the crowd response {by} ended without resuming the patrol", now_s)
