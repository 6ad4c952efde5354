"""The crowd response, pure: a confirmed gathering sends a drone over the crowd, screens skin temperatures, and
either raises a fever alert or broadcasts the zone's message until the crowd disperses; then the patrol resumes.

    confirmed ─► [awaiting_approval] ─► [waiting_for_drone] ─► approaching ─► thermal_sampling
        ─► fever_found (alert, no broadcast, hold and watch) ─► resuming ─► ended
        └► broadcasting ─► verifying ─► dispersed? ─► resuming ─► ended
                                 └ no: broadcasting again, up to max_broadcasts ─► escalated (alert; hold) ─► resuming

Driven by events with the time injected (`now_s`), like the rest of the core: crowd counts (crowds.py's zones:
a zone over its safe capacity for its dwell time is a confirmed gathering), vehicle states, the results of the
commands it asked for, thermal frames screened by the shell, broadcasts delivered by the shell, operator decisions
(approve_response / deny_response / abort_response requests) and Ticks (timeouts). Every transition is recorded
(ResponseStepRow) with its cause; every vehicle command goes through the ordinary checked, audited path
(requests.on_request, requested by the response id); the shell is asked for the two things the core cannot do
itself: screen a thermal image (ScreenThermal -> ThermalScreened) and play a message on the drone's loudspeaker
(Broadcast -> BroadcastFinished).

Guards, checked at every step, each ending the response with a recorded reason: the link (lost -> the vehicle's
own failsafe applies), battery (the reserve for the way home, with the planned hover), the geofence, no-fly zones
and altitude limit (the Goto's own checks), a minimum altitude over people, the vehicle refusing a command, the
vehicle taken out of GUIDED by someone else, and the maximum time per response. An operator can abort at any step
(then the patrol resumes, or the drone returns home). One drone per crowd; a drone already responding is never
re-tasked; a zone in response or in its cooldown is not re-triggered; a crowd waits (waiting_for_drone) while no
drone can go.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from groundstation.core import crowds as cr
from groundstation.core import patrol_runs
from groundstation.core import patrols as pt
from groundstation.core.commands import (
    Arm,
    CaptureImage,
    ClearRoi,
    Goto,
    Refusal,
    Rtl,
    SetMissionCurrent,
    SetMode,
    SetRelay,
    SetRoi,
    StartMission,
    Takeoff,
    VehicleCommand,
)
from groundstation.core.records import (
    Action,
    CommandFinished,
    CommandRequest,
    EventRow,
    Record,
    Reply,
)
from groundstation.core.requests import accepted, on_request, refuse
from groundstation.core.response_data import (
    SCREENING_NOTICE,
    AlertRow,
    Broadcast,
    BroadcastFinished,
    BroadcastRow,
    PersonTemperature,
    PersonToScreen,
    Response,
    ResponsePolicy,
    ResponseRow,
    ResponseStepRow,
    ScreenThermal,
    StopBroadcast,
    ThermalReadingRow,
    ThermalScreened,
)
from groundstation.core import safety
from groundstation.core.state import StationState
from missions.geo import distance_m
from telemetry.records import CapturedImage, LinkChanged, StateUpdated

FLYING_STATES = ("approaching", "thermal_sampling", "fever_found", "broadcasting", "verifying", "escalated")
AIRBORNE_M = 2.0


# --- helpers ---------------------------------------------------------------------------------------------------


def _with(state: StationState, response: Response | None = None, *, drop: str | None = None,
          **changes: Any) -> StationState:
    rs = state.responses
    responses = dict(rs.responses)
    if response is not None:
        responses[response.response_id] = response
    if drop is not None:
        responses.pop(drop, None)
    return replace(state, responses=replace(rs, responses=MappingProxyType(responses), **changes))


def _row(r: Response, now_s: float, **kw: Any) -> Record:
    base = dict(response_id=r.response_id, zone_id=r.zone_id, at_s=now_s, state=r.state, gathering_id=r.gathering_id,
                vehicle_id=r.vehicle_id, count=r.count, lat_deg=r.lat_deg, lon_deg=r.lon_deg)
    base.update(kw)
    return Record(ResponseRow(**base))


def _enter(state: StationState, r: Response, new_state: str, cause: str, now_s: float, by: str = "station",
           data: Mapping[str, Any] | None = None, **changes: Any) -> tuple[StationState, Response, list[Action]]:
    """Move a response to `new_state`, recording the transition and its cause."""
    r = replace(r, state=new_state, entered_at_s=now_s, steps=r.steps + (new_state,), **changes)
    state = _with(state, r)
    actions: list[Action] = [
        Record(ResponseStepRow(r.response_id, now_s, new_state, cause, by, data or {})),
        _row(r, now_s),
        Record(EventRow(r.vehicle_id, now_s, "response", "info",
                        f"response {r.response_id} ({r.zone_name}): {new_state}: {cause}",
                        {"response_id": r.response_id, "state": new_state})),
    ]
    return state, r, actions


def _alert(r: Response, now_s: float, kind: str, severity: str, text: str, **data: Any) -> Record:
    return Record(AlertRow(f"{r.response_id}:{kind}:{int(now_s * 1000)}", now_s, kind, severity, text, r.zone_id,
                           r.vehicle_id, r.response_id, data))


def _rearm_level(policy: ResponsePolicy, capacity: int) -> int:
    return int(math.floor(capacity * policy.rearm_fraction))


# --- triggering: a confirmed gathering becomes a response ----------------------------------------------------------


def on_crowds(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
    """After every crowd update: start a response for each newly confirmed gathering (crowds.py's zones), and let
    the active ones see the new counts."""
    actions: list[Action] = []
    rs = state.responses
    for zone in state.crowds.zones.values():
        gid = zone.gathering_id
        if gid is None or gid in rs.handled_gatherings:
            continue
        state, more = _confirm(state, zone, gid, now_s)
        actions.extend(more)
        rs = state.responses
    going_on = rs.handled_gatherings & {z.gathering_id for z in state.crowds.zones.values() if z.gathering_id}
    if going_on != rs.handled_gatherings:  # a gathering's id never comes back once it is over: forget it
        state = replace(state, responses=replace(rs, handled_gatherings=going_on))
    for r in list(state.responses.responses.values()):
        if r.state in ("confirmed", "awaiting_approval", "waiting_for_drone", "approaching", "thermal_sampling"):
            crowd = _with_remembered(state, _crowd(state, r.zone_id), r.crowd)
            if crowd != r.crowd:
                r = replace(r, crowd=crowd)
                state = _with(state, r)
        state, more = _verify(state, r, now_s)
        actions.extend(more)
    return state, actions


def _crowd(state: StationState, zone_id: str) -> tuple[PersonToScreen, ...]:
    return tuple(PersonToScreen(p.person_id, p.lat_deg, p.lon_deg, p.uncertainty_m)
                 for p in cr.members(state.crowds, zone_id))


def _with_remembered(state: StationState, seen: tuple[PersonToScreen, ...], crowd: tuple[PersonToScreen, ...]
                     ) -> tuple[PersonToScreen, ...]:
    """The people to screen: those in the zone now, and those of the crowd seen before that nobody seen now
    accounts for (not the same person, none within the merge radius). On its way over the crowd the drone's camera
    looks elsewhere for a while, and people it has not seen for the counting window leave the map; they are still
    standing there, and the fevered one may be among them."""
    radius_m = state.crowds.policy.merge_radius_m
    ids = {p.person_id for p in seen}
    kept = tuple(p for p in crowd if p.person_id not in ids and
                 all(distance_m(p.lat_deg, p.lon_deg, q.lat_deg, q.lon_deg) > radius_m for q in seen))
    return seen + kept


def _confirm(state: StationState, zone: cr.ZoneView, gid: str, now_s: float) -> tuple[StationState, list[Action]]:
    rs = state.responses
    state = replace(state, responses=replace(rs, handled_gatherings=rs.handled_gatherings | {gid}))
    zp = state.response_policy.zone(zone.zone_id)
    people = cr.members(state.crowds, zone.zone_id)
    busy = next((r for r in rs.responses.values() if r.zone_id == zone.zone_id), None)
    if busy is not None:
        return state, [Record(EventRow(None, now_s, "response", "info",
                                       f"zone {zone.name}: gathering {gid} while response {busy.response_id} is "
                                       "active; not re-triggered", {"zone_id": zone.zone_id}))]
    cooldown = rs.cooldown_until_s.get(zone.zone_id)
    if cooldown is not None and now_s < cooldown:
        return state, [Record(EventRow(None, now_s, "response", "info",
                                       f"zone {zone.name}: gathering {gid} during its cooldown "
                                       f"({cooldown - now_s:.0f} s left); not re-triggered",
                                       {"zone_id": zone.zone_id}))]
    if not people:
        return state, [Record(EventRow(None, now_s, "response", "warning",
                                       f"zone {zone.name}: gathering {gid} without people on the map; no response",
                                       {"zone_id": zone.zone_id}))]
    lat = sum(p.lat_deg for p in people) / len(people)
    lon = sum(p.lon_deg for p in people) / len(people)
    seen = [p.drone_id for p in people if p.drone_id]
    seen_by = max(sorted(set(seen)), key=seen.count) if seen else None  # most seen; a tie: the first by id
    rid = f"resp-{zone.zone_id}-{int(now_s * 1000)}"
    r = Response(rid, zone.zone_id, zone.name, gid, now_s, "confirmed", now_s, zone.count, zone.capacity_persons,
                 lat, lon, seen_by, crowd=_crowd(state, zone.zone_id), steps=("confirmed",))
    state = _with(state, r, started=state.responses.started + 1)
    bounds = "" if zone.count_low == zone.count_high == zone.count else \
        f" (credibly {zone.count_low:.1f} to {zone.count_high:.1f})"
    cause = (f"{zone.count} people{bounds} in zone {zone.name} over its safe capacity of {zone.capacity_persons} "
             f"(gathering {gid})")
    actions: list[Action] = [
        Record(ResponseRow(rid, zone.zone_id, now_s, "confirmed", gid, None, now_s, count=zone.count, lat_deg=lat,
                           lon_deg=lon, reason=cause)),
        Record(ResponseStepRow(rid, now_s, "confirmed", cause, "station", {"policy": zp.mode, "seen_by": seen_by})),
        _alert(r, now_s, "crowd", "warning", f"crowd over capacity in {zone.name}: {cause}", count=zone.count,
               capacity_persons=zone.capacity_persons, lat_deg=lat, lon_deg=lon, policy=zp.mode, seen_by=seen_by),
    ]
    if zp.mode == "watch-only":
        state, more = _end(state, r, "watched", "the zone's policy is watch-only: alert, no flight", now_s)
        return state, actions + more
    if zp.mode == "approve":
        state, r, more = _enter(state, r, "awaiting_approval",
                                f"the zone's policy asks an operator to approve within {zp.approval_timeout_s:g} s "
                                f"(on timeout: {zp.on_approval_timeout})", now_s)
        return state, actions + more
    state, more = _dispatch(state, r, "the zone's policy is auto", now_s)
    return state, actions + more


# --- choosing and tasking a drone ---------------------------------------------------------------------------------


def _candidates(state: StationState, r: Response) -> tuple[list[tuple[float, str, bool]], list[str]]:
    """(distance to the crowd, vehicle id, airborne) of each drone that can go, and why each other one cannot."""
    ok, why = [], []
    policy, rp = state.policy, state.response_policy
    for vid in sorted(state.vehicles):
        view = state.vehicles[vid]
        s = view.state
        busy = state.responses.on_vehicle(vid)
        run = state.patrols.run_on(vid)
        if busy is not None:
            why.append(f"{vid}: responding to {busy.response_id}")
            continue
        if not view.link_up or s is None:
            why.append(f"{vid}: link down")
            continue
        if run is not None and run.status != "launched":
            why.append(f"{vid}: launching patrol run {run.run_id}")
            continue
        airborne = s.armed and (s.alt_rel_m or 0.0) > AIRBORNE_M
        if airborne and s.mode not in ("AUTO", "GUIDED", "LOITER"):
            why.append(f"{vid}: in {s.mode}")
            continue
        if not airborne:
            ready, reason = pt.available(s, view.link_up)
            if not ready:
                why.append(f"{vid}: {reason}")
                continue
            try:
                safety.battery_to_launch(policy, view)
            except Refusal as refusal:
                why.append(f"{vid}: {refusal}")
                continue
        try:
            safety.reachable(policy, view, r.lat_deg, r.lon_deg, rp.planned_hover_s, rp.hover_pct_per_min)
        except Refusal as refusal:
            why.append(f"{vid}: {refusal}")
            continue
        pos = view.position
        ok.append((distance_m(pos[0], pos[1], r.lat_deg, r.lon_deg), vid, airborne))
    return sorted(ok), why


def _dispatch(state: StationState, r: Response, why: str, now_s: float) -> tuple[StationState, list[Action]]:
    """Choose the drone (the one that saw the crowd if it can go, else the nearest that can) and send it."""
    rp = state.response_policy
    if rp.approach_alt_m < rp.min_alt_over_people_m:
        return _end(state, r, "stopped", f"the approach altitude {rp.approach_alt_m:g} m is below the minimum "
                                          f"altitude over people ({rp.min_alt_over_people_m:g} m)", now_s)
    able, reasons = _candidates(state, r)
    if not able:
        if r.state == "waiting_for_drone":
            return state, []
        state, r, actions = _enter(state, r, "waiting_for_drone", f"{why}; no drone can go now: " + "; ".join(
            reasons or ["no vehicles"]), now_s)
        return state, actions
    chosen = next((c for c in able if c[1] == r.seen_by), able[0])
    dist, vid, airborne = chosen
    view = state.vehicles[vid]
    how = "the drone that saw it" if vid == r.seen_by else f"the nearest drone that can go ({dist:.0f} m away)"
    run = state.patrols.run_on(vid)
    chain: list[VehicleCommand] = []
    if not airborne:
        chain += [SetMode("GUIDED"), Arm(), Takeoff(rp.approach_alt_m)]
    elif view.state.mode != "GUIDED":
        chain.append(SetMode("GUIDED"))  # pauses an AUTO patrol at its current item
    chain += [Goto(r.lat_deg, r.lon_deg, rp.approach_alt_m), SetRoi(r.lat_deg, r.lon_deg, 0.0)]
    resume_seq = view.state.mission_seq if run is not None else None
    state, r, actions = _enter(
        state, r, "approaching", f"{why}; {vid} chosen: {how}", now_s,
        data={"vehicle_id": vid, "distance_m": round(dist, 1), "airborne": airborne,
              "patrol_run": run.run_id if run else None, "resume_seq": resume_seq},
        vehicle_id=vid, launched_from_ground=not airborne, patrol_run_id=run.run_id if run else None,
        resume_seq=resume_seq, chain=tuple(chain))
    if run is not None:
        state, more = patrol_runs.pause(state, run.run_id, r.response_id, now_s)
        actions.extend(more)
    state, more = _next_command(state, r, now_s)
    return state, actions + more


def _next_command(state: StationState, r: Response, now_s: float) -> tuple[StationState, list[Action]]:
    """Send the next command of the response's chain through the checked path; a refusal ends the response."""
    if not r.chain:
        return state, []
    command, rest = r.chain[0], r.chain[1:]
    rid = f"{r.response_id}:{r.requests_sent + 1}:{command.action}"
    r = replace(r, chain=rest, request_id=rid, requests_sent=r.requests_sent + 1, waiting_for="")
    rs = state.responses
    requests = dict(rs.requests)
    requests[rid] = r.response_id
    state = _with(state, r, requests=MappingProxyType(requests))
    request = CommandRequest(r.vehicle_id or "", command.action, command.args(), requested_by=r.response_id,
                             request_id=rid)
    state, actions = on_request(state, request, now_s)
    refusal = next((a.outcome for a in actions if isinstance(a, Reply) and a.outcome.status == "refused_by_station"),
                   None)
    if refusal is not None:
        state, more = _failed(state, state.responses.responses[r.response_id],
                              f"the station refused {command.action}: {refusal.reason}", now_s)
        actions = actions + more
    return state, actions


# --- command results -------------------------------------------------------------------------------------------


def on_finished(state: StationState, ev: CommandFinished, now_s: float) -> tuple[StationState, list[Action]]:
    """The result of a command the response asked for: the next step, or the end of the response."""
    rid = state.responses.requests.get(ev.request_id)
    if rid is None:
        return state, []
    requests = dict(state.responses.requests)
    requests.pop(ev.request_id)
    state = replace(state, responses=replace(state.responses, requests=MappingProxyType(requests)))
    r = state.responses.responses.get(rid)
    if r is None or r.request_id != ev.request_id:
        return state, []  # the response ended (or moved on) meanwhile
    r = replace(r, request_id=None)
    state = _with(state, r)
    if not ev.ok:
        who = "refused by the vehicle" if ev.error_kind == "refused" else f"failed ({ev.error_kind})"
        return _failed(state, r, f"{ev.action} {who}: {ev.error or ev.result_name or 'no detail'}", now_s)
    if r.state == "approaching":
        if ev.action == "takeoff":
            state = _with(state, replace(r, waiting_for="altitude"))
            return _check_altitude(state, state.responses.responses[rid], now_s)
        if r.chain:
            return _next_command(state, r, now_s)
        state = _with(state, replace(r, waiting_for="arrival"))
        return _check_arrival(state, state.responses.responses[rid], now_s)
    if r.state == "thermal_sampling" and ev.action == "capture_image":
        return _captured(state, r, ev, now_s)
    if r.state == "broadcasting" and ev.action == "set_relay":
        rp = state.response_policy
        return _broadcast_playing(state, r, now_s + rp.relay_clip_s * rp.broadcast_repeat,
                                  f"relay {rp.relay_number} on: the pre-loaded clip plays "
                                  f"{rp.broadcast_repeat} time(s)", now_s)
    if r.chain:
        return _next_command(state, r, now_s)
    if r.state == "resuming":
        return _end(state, r, r.outcome or "dispersed", "", now_s)
    return state, []


def _check_altitude(state: StationState, r: Response, now_s: float) -> tuple[StationState, list[Action]]:
    """A drone launched from the ground flies on once it is near the approach altitude."""
    view = state.vehicles.get(r.vehicle_id or "")
    alt = view.state.alt_rel_m if view is not None and view.state is not None else None
    rp = state.response_policy
    if alt is None or alt < rp.approach_alt_m - rp.arrive_alt_m:
        return state, []
    return _next_command(state, r, now_s)


def _check_arrival(state: StationState, r: Response, now_s: float) -> tuple[StationState, list[Action]]:
    rp = state.response_policy
    view = state.vehicles.get(r.vehicle_id or "")
    pos = view.position if view is not None else None
    if pos is None or view.state is None or view.state.alt_rel_m is None:
        return state, []
    d = distance_m(pos[0], pos[1], r.lat_deg, r.lon_deg)
    if d > rp.arrive_m or abs(view.state.alt_rel_m - rp.approach_alt_m) > rp.arrive_alt_m:
        return state, []
    state, r, actions = _enter(state, r, "thermal_sampling",
                               f"over the crowd ({d:.1f} m from its centre, {view.state.alt_rel_m:.0f} m up); "
                               f"taking {rp.thermal_frames} thermal frame(s)", now_s, waiting_for="")
    state, more = _capture(state, r, now_s)
    return state, actions + more


# --- thermal sampling ------------------------------------------------------------------------------------------


def _capture(state: StationState, r: Response, now_s: float) -> tuple[StationState, list[Action]]:
    r = replace(r, chain=(CaptureImage(state.response_policy.thermal_component_id),),
                shots_requested=r.shots_requested + 1)
    return _next_command(_with(state, r), r, now_s)


def _captured(state: StationState, r: Response, ev: CommandFinished, now_s: float) -> tuple[StationState, list[Action]]:
    image = ev.value
    actions: list[Action] = []
    shot = r.shots_requested
    if isinstance(image, CapturedImage) and image.ok and image.file_url:
        people = _with_remembered(state, _crowd(state, r.zone_id), r.crowd)
        actions.append(ScreenThermal(r.response_id, shot, r.vehicle_id or "", image, people))
    else:
        problem = ("the camera gave no image record" if not isinstance(image, CapturedImage) else
                   "the camera reported a failed capture" if not image.ok else "the camera gave no file to fetch")
        r = replace(r, screenings=r.screenings + (ThermalScreened(r.response_id, shot, (), problem),))
        state = _with(state, r)
        actions.append(Record(EventRow(r.vehicle_id, now_s, "response", "warning",
                                       f"response {r.response_id}: thermal frame {shot}: {problem}")))
    if r.shots_requested < state.response_policy.thermal_frames:
        state, more = _capture(state, r, now_s)
    else:
        state, more = _maybe_decide(state, r, now_s)
    return state, actions + more


def on_screened(state: StationState, ev: ThermalScreened, now_s: float) -> tuple[StationState, list[Action]]:
    """One thermal frame measured by the shell: record each person's reading; decide once every frame is in."""
    r = state.responses.responses.get(ev.response_id)
    if r is None or r.state != "thermal_sampling":
        return state, []
    threshold = state.response_policy.fever_threshold_c
    actions: list[Action] = [
        Record(ThermalReadingRow(r.response_id, now_s, ev.shot, p.person_id, p.lat_deg, p.lon_deg, p.status, p.temp_c,
                                 p.uncertainty_c, None if p.temp_c is None else p.temp_c >= threshold, p.reason))
        for p in ev.readings]
    if ev.problem:
        actions.append(Record(EventRow(r.vehicle_id, now_s, "response", "warning",
                                       f"response {r.response_id}: thermal frame {ev.shot} not usable: {ev.problem}",
                                       {"image_url": ev.image_url})))
    r = replace(r, screenings=r.screenings + (ev,))
    state = _with(state, r)
    state, more = _maybe_decide(state, r, now_s)
    return state, actions + more


@dataclass(frozen=True)
class Screening:
    """Every person's readings over the frames taken: per person the median of the measured values."""

    measured: tuple[PersonTemperature, ...]  # one per person measured at least once (temp_c = the median)
    unmeasured: tuple[PersonTemperature, ...]  # never measured, with the last reason
    fevered: tuple[PersonTemperature, ...]
    problems: tuple[str, ...]  # frames that could not be used


def screening(screenings: tuple[ThermalScreened, ...], threshold_c: float) -> Screening:
    by_person: dict[int, list[PersonTemperature]] = {}
    for s in screenings:
        for p in s.readings:
            by_person.setdefault(p.person_id, []).append(p)
    measured, unmeasured = [], []
    for pid in sorted(by_person):
        readings = by_person[pid]
        good = [p for p in readings if p.status == "measured" and p.temp_c is not None]
        if good:
            last = good[-1]
            measured.append(replace(last, temp_c=round(statistics.median(p.temp_c for p in good), 2),
                                    uncertainty_c=max(p.uncertainty_c or 0.0 for p in good)))
        else:
            unmeasured.append(readings[-1])
    fevered = tuple(p for p in measured if p.temp_c >= threshold_c)
    return Screening(tuple(measured), tuple(unmeasured), fevered, tuple(s.problem for s in screenings if s.problem))


def _maybe_decide(state: StationState, r: Response, now_s: float, timed_out: bool = False
                  ) -> tuple[StationState, list[Action]]:
    """Once every requested frame is screened (or the sampling timed out): fever found, or broadcast."""
    rp = state.response_policy
    if r.request_id is not None and not timed_out:
        return state, []  # a capture is still in flight
    if not timed_out and (r.shots_requested < rp.thermal_frames or len(r.screenings) < r.shots_requested):
        return state, []
    result = screening(r.screenings, rp.fever_threshold_c)
    people = len(result.measured) + len(result.unmeasured)
    summary = {"measured": len(result.measured), "unmeasured": len(result.unmeasured),
               "fevered": len(result.fevered), "frames": len(r.screenings), "unusable_frames": list(result.problems),
               "threshold_c": rp.fever_threshold_c}
    if result.fevered:
        hint = [{"person_id": p.person_id, "lat_deg": p.lat_deg, "lon_deg": p.lon_deg, "temp_c": p.temp_c,
                 "uncertainty_c": p.uncertainty_c} for p in result.fevered]
        text = (f"fever hint in {r.zone_name}: {len(result.fevered)} of {len(result.measured)} measured people at or "
                f"above {rp.fever_threshold_c:g} °C (" + ", ".join(
                    f"{p.temp_c:.1f} ± {p.uncertainty_c or 0:.1f} °C at {p.lat_deg:.6f}, {p.lon_deg:.6f}"
                    for p in result.fevered) + f"); {SCREENING_NOTICE}; notify the zone's officer")
        state, r, actions = _enter(state, r, "fever_found", text, now_s, data=summary,
                                   hold_until_s=now_s + rp.fever_watch_s, outcome="fever_found")
        actions.append(_alert(r, now_s, "fever_hint", "critical", text, people=hint, notice=SCREENING_NOTICE,
                              **{k: v for k, v in summary.items() if k != "fevered"}))
        return state, actions
    actions = []
    if not people or len(result.measured) < rp.min_measured_fraction * people:
        why = ("no usable thermal frame: " + "; ".join(result.problems) if not people and result.problems
               else f"only {len(result.measured)} of {people} people could be measured")
        cause = f"thermal screening inconclusive ({why}); no fever found among those measured; broadcasting"
        actions.append(_alert(r, now_s, "screening_failed", "warning",
                              f"{r.zone_name}: {cause}; {SCREENING_NOTICE}", **summary))
    else:
        cause = (f"no fever found: {len(result.measured)} of {people} people measured, all below "
                 f"{rp.fever_threshold_c:g} °C")
    state, more = _broadcast(state, r, cause, now_s, data=summary)
    return state, actions + more


# --- broadcasting and verifying ------------------------------------------------------------------------------------


def _broadcast(state: StationState, r: Response, cause: str, now_s: float, data: Mapping[str, Any] | None = None
               ) -> tuple[StationState, list[Action]]:
    rp = state.response_policy
    zp = rp.zone(r.zone_id)
    bid = f"{r.response_id}:b{r.broadcasts + 1}"
    text = " / ".join(t for _, t in zp.messages)
    state, r, actions = _enter(state, r, "broadcasting", cause, now_s, data=data, broadcasts=r.broadcasts + 1,
                               broadcast_id=bid, broadcast_ends_at_s=None, verify_until_s=None, below_since_s=None)
    if rp.broadcast == "relay":
        actions.append(Record(BroadcastRow(bid, r.response_id, r.vehicle_id or "", now_s, "relay", "requested",
                                           f"pre-loaded clip on relay {rp.relay_number}", rp.broadcast_repeat)))
        r = replace(r, chain=(SetRelay(rp.relay_number, True),))
        state, more = _next_command(_with(state, r), r, now_s)
        return state, actions + more
    if not zp.messages:
        state, more = _failed(state, r, f"zone {r.zone_name} has no loudspeaker message configured", now_s)
        return state, actions + more
    actions.append(Record(BroadcastRow(bid, r.response_id, r.vehicle_id or "", now_s, "speaker", "requested", text,
                                       rp.broadcast_repeat)))
    actions.append(Broadcast(r.response_id, bid, r.vehicle_id or "", zp.messages, rp.broadcast_repeat))
    return state, actions


def on_broadcast(state: StationState, ev: BroadcastFinished, now_s: float) -> tuple[StationState, list[Action]]:
    if not ev.response_id:  # an operator's broadcast (on_broadcast_now): recorded, nothing waits for it
        return state, [Record(BroadcastRow(ev.broadcast_id, "", "", now_s, "speaker",
                                           "delivered" if ev.ok else "failed", "", ev.repeat, ev.duration_s or None,
                                           ev.reason if not ev.ok else f"engines {', '.join(ev.engines)}"))]
    r = state.responses.responses.get(ev.response_id)
    if r is None or r.state != "broadcasting" or r.broadcast_id != ev.broadcast_id:
        return state, []
    rp = state.response_policy
    row = BroadcastRow(ev.broadcast_id, r.response_id, r.vehicle_id or "", now_s, "speaker",
                       "delivered" if ev.ok else "failed", "", ev.repeat, ev.duration_s or None,
                       ev.reason if not ev.ok else f"engines {', '.join(ev.engines)}" +
                       (f"; {ev.fallback}" if ev.fallback else ""))
    if not ev.ok:
        state, more = _failed(state, r, f"the loudspeaker message could not be delivered: {ev.reason}", now_s)
        return state, [Record(row)] + more
    ends = ev.ends_at_s if ev.ends_at_s is not None else now_s + ev.duration_s * ev.repeat
    state, more = _broadcast_playing(state, r, ends, f"the speaker plays {ev.duration_s:.1f} s x {ev.repeat}"
                                     + (f" (speech: {ev.fallback})" if ev.fallback else ""), now_s)
    del rp
    return state, [Record(row)] + more


def _broadcast_playing(state: StationState, r: Response, ends_at_s: float, detail: str, now_s: float
                       ) -> tuple[StationState, list[Action]]:
    r = replace(r, broadcast_ends_at_s=ends_at_s)
    state = _with(state, r)
    return state, [Record(EventRow(r.vehicle_id, now_s, "response", "info",
                                   f"response {r.response_id}: broadcast {r.broadcasts} delivered: {detail}; "
                                   f"until {ends_at_s - now_s:.0f} s from now", {"response_id": r.response_id}))]


def _verify(state: StationState, r: Response, now_s: float) -> tuple[StationState, list[Action]]:
    """Broadcast over -> verifying; while verifying: dispersed (at or below the re-arm level for clear_s), or
    another broadcast, or escalation."""
    rp = state.response_policy
    if r.state == "broadcasting" and r.broadcast_ends_at_s is not None and now_s >= r.broadcast_ends_at_s:
        state, r, actions = _enter(state, r, "verifying",
                                   f"broadcast {r.broadcasts} ended; re-counting for up to {rp.verify_window_s:g} s",
                                   now_s, verify_until_s=now_s + rp.verify_window_s, below_since_s=None)
        state, more = _verify(state, r, now_s)
        return state, actions + more
    if r.state != "verifying":
        return state, []
    zone = state.crowds.zones.get(r.zone_id)
    count = zone.count if zone is not None else 0
    high = zone.count_high if zone is not None else 0.0  # credibly at or below the re-arm level
    level = _rearm_level(rp, r.capacity_persons)
    below = r.below_since_s
    if high <= level:
        below = below if below is not None else now_s
    else:
        below = None
    if below != r.below_since_s:
        r = replace(r, below_since_s=below)
        state = _with(state, r)
    if below is not None and now_s - below >= rp.clear_s:
        return _resume(state, r, "dispersed", f"dispersed: {count} people in {r.zone_name}, at or below the re-arm "
                                               f"level {level} for {now_s - below:.0f} s", now_s)
    if now_s < (r.verify_until_s or now_s):
        return state, []
    if r.broadcasts < rp.max_broadcasts:
        return _broadcast(state, r, f"not dispersed after broadcast {r.broadcasts}: {count} people (re-arm level "
                                    f"{level}); broadcasting again", now_s)
    cause = (f"not dispersed after {r.broadcasts} broadcast(s): {count} people in {r.zone_name} (re-arm level "
             f"{level}); an operator must act")
    state, r, actions = _enter(state, r, "escalated", cause, now_s, hold_until_s=now_s + rp.escalated_hold_s,
                               outcome="escalated")
    actions.append(_alert(r, now_s, "escalation", "critical", cause, count=count, rearm_level=level,
                          broadcasts=r.broadcasts))
    return state, actions


# --- the end: resume the patrol (or go home), record, cooldown ------------------------------------------------------


def _resume(state: StationState, r: Response, outcome: str, cause: str, now_s: float, by: str = "station",
            then: str | None = None) -> tuple[StationState, list[Action]]:
    """Leave the crowd: clear the camera's point of interest, then continue the paused patrol from the waypoint it
    was flying to (or return home when no patrol was paused, or when asked to)."""
    then = then or r.then
    chain: list[VehicleCommand] = [ClearRoi()]
    run = state.patrols.runs.get(r.patrol_run_id) if r.patrol_run_id else None
    if then == "resume" and run is not None and r.resume_seq is not None and r.resume_seq >= 1:
        chain += [SetMissionCurrent(r.resume_seq), StartMission()]
        after = f"resuming patrol run {run.run_id} at mission item {r.resume_seq}"
    else:
        chain.append(Rtl())
        after = "returning home" + ("" if then == "rtl" else " (no patrol to resume)")
    state, r, actions = _enter(state, r, "resuming", f"{cause}; {after}", now_s, by=by, outcome=outcome,
                               chain=tuple(chain), waiting_for="")
    if r.request_id is not None:  # a command still in flight: the chain continues once it is answered
        return state, actions
    state, more = _next_command(state, r, now_s)
    return state, actions + more


def _end(state: StationState, r: Response, outcome: str, cause: str, now_s: float, by: str = "station"
         ) -> tuple[StationState, list[Action]]:
    """Record the end of a response, free the drone (and its paused patrol), start the zone's cooldown."""
    rp = state.response_policy
    zp = rp.zone(r.zone_id)
    cooldown_s = zp.cooldown_s if zp.cooldown_s is not None else rp.cooldown_s
    cooldown = dict(state.responses.cooldown_until_s)
    cooldown[r.zone_id] = now_s + cooldown_s
    ended = replace(r, state="ended", outcome=outcome, steps=r.steps + ("ended",))
    state = _with(state, drop=r.response_id, cooldown_until_s=MappingProxyType(cooldown))
    reason = cause or {"dispersed": "the crowd dispersed", "fever_found": "fever hint handed to the ground",
                       "escalated": "escalated to the operators"}.get(outcome, outcome)
    actions: list[Action] = [
        Record(ResponseStepRow(r.response_id, now_s, "ended", f"{outcome}: {reason}", by,
                               {"outcome": outcome, "steps": list(ended.steps)})),
        _row(ended, now_s, state="ended", outcome=outcome, ended_at_s=now_s, reason=reason),
        Record(EventRow(r.vehicle_id, now_s, "response", "info" if outcome in ("dispersed", "watched") else "warning",
                        f"response {r.response_id} ({r.zone_name}) ended: {outcome}: {reason}; zone cooldown "
                        f"{cooldown_s:g} s", {"response_id": r.response_id, "outcome": outcome})),
    ]
    if r.patrol_run_id is not None:
        state, more = patrol_runs.unpause(state, r.patrol_run_id, r.response_id, now_s)
        actions.extend(more)
    return state, actions


def _failed(state: StationState, r: Response, why: str, now_s: float) -> tuple[StationState, list[Action]]:
    """A guard stopped the response: record it with an alert; leave the crowd if the drone can still be commanded."""
    actions: list[Action] = [_alert(r, now_s, "response_stopped", "warning", f"response in {r.zone_name} stopped: {why}",
                                    state=r.state)]
    view = state.vehicles.get(r.vehicle_id or "")
    can_fly_on = (r.vehicle_id is not None and r.state in FLYING_STATES and view is not None and view.link_up
                  and view.state is not None and view.state.mode == "GUIDED" and view.battery_level != "reserve")
    if can_fly_on:
        state, more = _resume(state, r, "stopped", f"stopped: {why}", now_s)
    else:
        state, more = _end(state, r, "stopped", why, now_s)
    return state, actions + more


# --- vehicles, links and time ----------------------------------------------------------------------------------------


def on_state(state: StationState, ev: StateUpdated, now_s: float) -> tuple[StationState, list[Action]]:
    r = state.responses.on_vehicle(ev.state.vehicle_id)
    if r is None:
        return state, []
    view = state.vehicles[ev.state.vehicle_id]
    s = view.state
    if s is None:
        return state, []
    if not r.airborne_seen and s.armed and (s.alt_rel_m or 0.0) > AIRBORNE_M:
        r = replace(r, airborne_seen=True)
        state = _with(state, r)
    if r.state in FLYING_STATES and r.airborne_seen:
        if view.battery_level == "reserve":
            return _end(state, r, "stopped", f"battery {s.battery_pct:.0f}% below the reserve: the vehicle is sent "
                                             "home (station:battery-reserve)", now_s)
        if not s.armed:
            return _end(state, r, "stopped", "the vehicle disarmed", now_s)
        guided_expected = not (r.state == "approaching" and r.chain and isinstance(r.chain[0], SetMode))
        if guided_expected and r.request_id is None and s.mode != "GUIDED":
            return _end(state, r, "stopped", f"the vehicle left GUIDED for {s.mode} (its failsafe or another "
                                             "operator)", now_s)
    if r.state == "approaching" and r.waiting_for == "altitude":
        return _check_altitude(state, r, now_s)
    if r.state == "approaching" and r.waiting_for == "arrival":
        return _check_arrival(state, r, now_s)
    return state, []


def on_link(state: StationState, ev: LinkChanged, now_s: float) -> tuple[StationState, list[Action]]:
    r = state.responses.on_vehicle(ev.vehicle_id)
    if r is None or ev.up:
        return state, []
    return _end(state, r, "stopped", f"link lost ({ev.reason}); the vehicle's own failsafe applies", now_s)


def on_tick(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
    """Timeouts: approval, waiting for a drone, transit, thermal sampling, holds, and the maximum response time."""
    actions: list[Action] = []
    rp = state.response_policy
    for r in sorted(state.responses.responses.values(), key=lambda x: x.started_at_s):
        r = state.responses.responses.get(r.response_id)
        if r is None:
            continue
        zp = rp.zone(r.zone_id)
        more: list[Action] = []
        if now_s - r.started_at_s >= rp.max_response_s and r.state != "resuming":
            if r.state in FLYING_STATES:
                state, more = _resume(state, r, r.outcome or "stopped",
                                      f"the maximum time per response ({rp.max_response_s:g} s) is up", now_s)
            else:
                state, more = _end(state, r, "stopped", f"the maximum time per response ({rp.max_response_s:g} s) "
                                                        "is up", now_s)
        elif r.state == "awaiting_approval" and now_s - r.entered_at_s >= zp.approval_timeout_s:
            if zp.on_approval_timeout == "proceed":
                state, more = _dispatch(state, r, f"no operator decision within {zp.approval_timeout_s:g} s; "
                                                  "the zone's policy says proceed", now_s)
            else:
                state, more = _end(state, r, "dropped", f"no operator decision within {zp.approval_timeout_s:g} s; "
                                                         "the zone's policy says drop", now_s)
        elif r.state == "waiting_for_drone":
            if now_s - r.entered_at_s >= rp.queue_timeout_s:
                state, more = _end(state, r, "stopped", f"no drone could go within {rp.queue_timeout_s:g} s", now_s)
            else:
                state, more = _dispatch(state, r, "a drone may be free now", now_s)
        elif r.state == "approaching" and now_s - r.entered_at_s >= rp.transit_timeout_s:
            state, more = _failed(state, r, f"not over the crowd within {rp.transit_timeout_s:g} s", now_s)
        elif r.state == "thermal_sampling" and now_s - r.entered_at_s >= rp.thermal_timeout_s:
            state, more = _maybe_decide(state, replace(r, request_id=None), now_s, timed_out=True)
        elif r.state in ("fever_found", "escalated") and r.hold_until_s is not None and now_s >= r.hold_until_s:
            state, more = _resume(state, r, r.outcome or r.state, f"held and watched for "
                                  f"{(rp.fever_watch_s if r.state == 'fever_found' else rp.escalated_hold_s):g} s",
                                  now_s)
        actions.extend(more)
    return state, actions


# --- operators -----------------------------------------------------------------------------------------------------


def _operator_request(state: StationState, request: CommandRequest, allowed: tuple[str, ...]
                      ) -> tuple[Response | None, str]:
    args = request.args if isinstance(request.args, Mapping) else {}
    unexpected = set(args) - set(allowed)
    if unexpected:
        return None, f"unexpected argument(s) for {request.action}: {', '.join(sorted(map(str, unexpected)))}"
    rid = args.get("response_id")
    if rid is None and request.vehicle_id:
        r = state.responses.on_vehicle(request.vehicle_id)
        if r is None:
            return None, f"no crowd response is active on {request.vehicle_id}"
        return r, ""
    r = state.responses.responses.get(str(rid))
    if r is None:
        return None, f"no active crowd response {rid!r}"
    return r, ""


def _accepted(request: CommandRequest, r: Response, text: str, now_s: float) -> list[Action]:
    return accepted(request, now_s, f"{text} (response {r.response_id} in {r.zone_name})",
                    r.vehicle_id or request.vehicle_id)


def on_approve(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """An operator approves a response that waits for approval: the drone goes."""
    r, problem = _operator_request(state, request, ("response_id",))
    if r is None or r.state != "awaiting_approval":
        return refuse(state, request, now_s, problem or f"response {r.response_id} is {r.state}, not awaiting approval")
    state, more = _dispatch(state, r, f"approved by {request.requested_by}", now_s)
    steps = [a for a in more if isinstance(a, Record) and isinstance(a.row, ResponseStepRow)]
    if steps:  # the transition's cause names the operator
        more = [replace(a, row=replace(a.row, by=request.requested_by)) if a is steps[0] else a for a in more]
    return state, more + _accepted(request, r, "approved", now_s)


def on_deny(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    r, problem = _operator_request(state, request, ("response_id", "reason"))
    if r is None or r.state != "awaiting_approval":
        return refuse(state, request, now_s, problem or f"response {r.response_id} is {r.state}, not awaiting approval")
    why = str((request.args or {}).get("reason") or "no reason given")
    state, more = _end(state, r, "dropped", f"denied by {request.requested_by}: {why}", now_s, by=request.requested_by)
    return state, more + _accepted(request, r, "denied", now_s)


def on_abort(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """An operator aborts a response at any step: the speaker stops; the drone resumes its patrol, or returns home
    (args: response_id or the vehicle_id, then = resume | rtl, reason)."""
    r, problem = _operator_request(state, request, ("response_id", "then", "reason"))
    if r is None:
        return refuse(state, request, now_s, problem)
    args = request.args or {}
    then = str(args.get("then") or "resume")
    if then not in ("resume", "rtl"):
        return refuse(state, request, now_s, f"then must be resume or rtl, got {then!r}")
    why = f"aborted by {request.requested_by}: {args.get('reason') or 'no reason given'}"
    actions: list[Action] = []
    if r.state == "broadcasting" and r.vehicle_id:
        actions.append(StopBroadcast(r.response_id, r.vehicle_id))
    if r.vehicle_id is not None and r.state in FLYING_STATES + ("resuming",):
        state, more = _resume(state, replace(r, chain=()), "aborted", why, now_s, by=request.requested_by, then=then)
    else:
        state, more = _end(state, r, "aborted", why, now_s, by=request.requested_by)
    return state, actions + more + _accepted(request, r, f"aborted; {then}", now_s)


def on_broadcast_now(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """An operator plays a message on a drone's loudspeaker now (args: zone = a zone whose message to play, or
    messages = {language: text}; repeat). Recorded like a response's broadcast; by relay when [response] says so."""
    args = request.args if isinstance(request.args, Mapping) else {}
    rp = state.response_policy
    unexpected = set(args) - {"zone", "messages", "repeat"}
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for broadcast: {', '.join(sorted(unexpected))}")
    view = state.vehicles.get(request.vehicle_id)
    if view is None or not view.link_up:
        return refuse(state, request, now_s, f"vehicle {request.vehicle_id!r} is unknown or its link is down")
    repeat = args.get("repeat", rp.broadcast_repeat)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        return refuse(state, request, now_s, f"repeat must be a whole number 1..100, got {repeat!r}")
    if rp.broadcast == "relay":
        relay = CommandRequest(request.vehicle_id, "set_relay", {"number": rp.relay_number, "on": True},
                               request.requested_by, request.request_id)
        return on_request(state, relay, now_s)
    messages = args.get("messages")
    if messages is not None:
        if not isinstance(messages, Mapping) or not messages or not all(
                isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in messages.items()):
            return refuse(state, request, now_s, "messages must map languages to non-empty texts")
        utterances = tuple((str(k), str(v)) for k, v in messages.items())
    else:
        zone = str(args.get("zone") or "")
        zone_id = zone if zone in rp.zones else next(
            (z.zone_id for z in state.crowds.zones.values() if z.name == zone), zone)
        utterances = rp.zone(zone_id).messages
        if not utterances:
            return refuse(state, request, now_s, f"zone {zone!r} has no loudspeaker message configured")
    bid = f"op:{request.request_id}"
    text = " / ".join(t for _, t in utterances)
    return state, [Record(BroadcastRow(bid, "", request.vehicle_id, now_s, "speaker", "requested", text, repeat)),
                   Broadcast("", bid, request.vehicle_id, utterances, repeat),
                   *accepted(request, now_s, f"broadcasting {text!r} x{repeat}")]


STATION_ACTIONS = MappingProxyType({
    "broadcast": on_broadcast_now,
    "approve_response": on_approve,
    "deny_response": on_deny,
    "abort_response": on_abort,
})
