"""What the station learns from each vehicle: links, flight state, status texts, mission progress, battery.

The telemetry events (LinkChanged, StateUpdated, StatusText, MissionProgress, LinkError) and the shell's
VehicleConfigured / VehicleUnavailable. Mode/arm/link changes and battery warnings are derived from the stream of
states and recorded; plain state updates are only kept as the latest per vehicle (and `vehicles.last_seen_s` is
refreshed at most every LAST_SEEN_RECORD_INTERVAL_S). Below the battery reserve an armed vehicle in the air is
sent home (RTL), requested by "station:battery-reserve" through the ordinary checked path.
"""
from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from groundstation.core.policy import Policy
from groundstation.core.records import (
    Action,
    CommandRequest,
    EventRow,
    LinkRow,
    MissionRunRow,
    Record,
    VehicleConfigured,
    VehicleRow,
    VehicleUnavailable,
)
from groundstation.core.requests import on_request
from groundstation.core.state import StationState, view_of, with_vehicle
from telemetry.records import LinkChanged, LinkError, MissionProgress, StateUpdated, StatusText

LINK_ERROR_RECORD_INTERVAL_S = 1.0
AUTO_RTL_RETRY_S = 30.0
BATTERY_WARNING_HYSTERESIS_PCT = 3.0
LAST_SEEN_RECORD_INTERVAL_S = 60.0


def on_configured(state: StationState, ev: VehicleConfigured, now_s: float):
    view = replace(view_of(state, ev.vehicle_id), url=ev.url)
    return with_vehicle(state, view), [
        Record(VehicleRow(ev.vehicle_id, ev.url, now_s, system_id=ev.system_id)),
        Record(EventRow(ev.vehicle_id, now_s, "vehicle", "info", f"vehicle {ev.vehicle_id} configured at {ev.url}")),
    ]


def on_unavailable(state: StationState, ev: VehicleUnavailable, now_s: float):
    view = replace(view_of(state, ev.vehicle_id), url=ev.url, link_up=False)
    return with_vehicle(state, view), [
        Record(VehicleRow(ev.vehicle_id, ev.url, now_s)),
        Record(EventRow(ev.vehicle_id, now_s, "vehicle", "error",
                        f"vehicle {ev.vehicle_id} unavailable: {ev.reason}", {"url": ev.url})),
    ]


def on_link(state: StationState, ev: LinkChanged, now_s: float):
    view = view_of(state, ev.vehicle_id)
    if view.link_up == ev.up and view.link_changes > 0:
        return state, []
    view = replace(view, link_up=ev.up, link_changes=view.link_changes + 1)
    armed = view.state is not None and view.state.armed
    if ev.up:
        severity, text = "info", f"link up ({ev.reason})" if ev.reason else "link up"
    elif armed:
        severity, text = "critical", f"link lost while armed: {ev.reason}; the vehicle's own failsafe applies"
    else:
        severity, text = "warning", f"link down: {ev.reason}"
    view = replace(view, last_seen_recorded_s=now_s)
    return with_vehicle(state, view), [
        Record(LinkRow(ev.vehicle_id, now_s, ev.up, ev.reason)),
        Record(EventRow(ev.vehicle_id, now_s, "link", severity, text)),
        Record(VehicleRow(ev.vehicle_id, "", now_s)),  # last seen (the SQL keeps the url and first-seen time)
    ]


def _severity_of(mav_severity: int) -> str:
    return "critical" if mav_severity <= 2 else "error" if mav_severity == 3 else "warning" if mav_severity == 4 else "info"


def on_statustext(state: StationState, ev: StatusText, now_s: float):
    return state, [Record(EventRow(ev.vehicle_id, now_s, "statustext", _severity_of(ev.severity), ev.text,
                                   {"mav_severity": ev.severity}))]


def on_link_error(state: StationState, ev: LinkError, now_s: float):
    view = view_of(state, ev.vehicle_id)
    last = view.last_link_error_record_s
    if last is not None and now_s - last < LINK_ERROR_RECORD_INTERVAL_S:
        view = replace(view, suppressed_link_errors=view.suppressed_link_errors + ev.count)
        return with_vehicle(state, view), []
    count = ev.count + view.suppressed_link_errors
    view = replace(view, last_link_error_record_s=now_s, suppressed_link_errors=0)
    text = f"link error ({ev.kind}): {ev.detail}" + (f" [{count} since last report]" if count > 1 else "")
    return with_vehicle(state, view), [
        Record(EventRow(ev.vehicle_id, now_s, "link_error", "warning", text, {"kind": ev.kind, "count": count}))
    ]


def on_progress(state: StationState, ev: MissionProgress, now_s: float):
    view = view_of(state, ev.vehicle_id)
    run = view.mission_run
    if ev.reached_seq is None or run is None or run.status not in ("running", "uploaded", "interrupted"):
        return state, []
    actions: list[Action] = [Record(EventRow(ev.vehicle_id, now_s, "mission", "info",
                                             f"reached mission item {ev.reached_seq}", {"seq": ev.reached_seq}))]
    total = view.state.mission_count if view.state and view.state.mission_count else None
    last_seq = (total - 1) if total else run.item_count  # item 0 is home on ArduPilot
    status = "completed" if ev.reached_seq >= last_seq else run.status
    run = replace(run, last_reached_seq=ev.reached_seq, status=status)
    actions.append(Record(MissionRunRow(run.run_id, ev.vehicle_id, now_s, run.status, run.item_count,
                                       run.mission_type, run.last_reached_seq)))
    return with_vehicle(state, replace(view, mission_run=run)), actions


_BATTERY_RANK = MappingProxyType({"ok": 0, "low": 1, "reserve": 2})


def _battery_level(policy: Policy, pct: float, previous: str) -> str:
    """ok | low | reserve; a level gets worse at once but better only with a margin (hysteresis)."""
    worse = "reserve" if pct < policy.battery_reserve_pct else "low" if pct < policy.low_battery_warning_pct else "ok"
    if _BATTERY_RANK[worse] >= _BATTERY_RANK[previous]:
        return worse
    margin = BATTERY_WARNING_HYSTERESIS_PCT
    better = ("reserve" if pct < policy.battery_reserve_pct + margin
              else "low" if pct < policy.low_battery_warning_pct + margin else "ok")
    return better if _BATTERY_RANK[better] < _BATTERY_RANK[previous] else previous


def on_state(state: StationState, ev: StateUpdated, now_s: float):
    new = ev.state
    view = view_of(state, new.vehicle_id)
    old = view.state
    vid = new.vehicle_id
    actions: list[Action] = []
    policy = state.policy

    identity = (new.system_id, new.is_simulator)
    last_seen = view.last_seen_recorded_s
    if new.system_id is not None and identity != view.identified:
        actions.append(Record(VehicleRow(vid, view.url, now_s, new.system_id, new.is_simulator)))
        view = replace(view, identified=identity, last_seen_recorded_s=now_s)
    elif view.link_up and (last_seen is None or now_s - last_seen >= LAST_SEEN_RECORD_INTERVAL_S):
        actions.append(Record(VehicleRow(vid, view.url, now_s)))
        view = replace(view, last_seen_recorded_s=now_s)

    if new.mode is not None and (old is None or old.mode != new.mode):
        previous = old.mode if old is not None else None
        text = f"mode {new.mode}" if previous is None else f"mode {previous} -> {new.mode}"
        actions.append(Record(EventRow(vid, now_s, "mode", "info", text, {"from": previous, "to": new.mode})))
    if old is None and new.armed or old is not None and old.armed != new.armed:
        actions.append(Record(EventRow(vid, now_s, "armed", "info", "armed" if new.armed else "disarmed",
                                       {"armed": new.armed})))
    if new.ready_to_arm and (old is None or not old.ready_to_arm):
        actions.append(Record(EventRow(vid, now_s, "ready", "info", "ready to arm")))
    if new.home is not None and (old is None or old.home != new.home):
        actions.append(Record(EventRow(vid, now_s, "home", "info",
                                       f"home set at ({new.home.lat_deg:.6f}, {new.home.lon_deg:.6f})",
                                       {"lat_deg": new.home.lat_deg, "lon_deg": new.home.lon_deg,
                                        "alt_amsl_m": new.home.alt_amsl_m})))

    # battery levels, with hysteresis so a noisy reading does not flap
    level = view.battery_level
    if new.battery_pct is not None:
        pct = new.battery_pct
        level_now = _battery_level(policy, pct, level)
        if level_now != level:
            if level_now == "reserve":
                severity, text = "critical", f"battery {pct:.0f}% below the reserve of {policy.battery_reserve_pct:g}%"
            elif level_now == "low" and level == "ok":
                severity, text = "warning", f"battery low: {pct:.0f}% (warning at {policy.low_battery_warning_pct:g}%)"
            else:
                severity, text = "info", f"battery back to {pct:.0f}% ({level_now})"
            actions.append(Record(EventRow(vid, now_s, "battery", severity, text,
                                           {"battery_pct": pct, "level": level_now})))
            level = level_now
    view = replace(view, battery_level=level)

    # mission run status follows the vehicle's mode and arming
    run = view.mission_run
    if run is not None and run.mission_type == "MISSION":
        status = run.status
        if new.mode == "AUTO" and new.armed and status in ("uploaded", "interrupted"):
            status = "running"
        elif status == "running" and not new.armed:
            status = "ended"
        elif status == "running" and new.mode != "AUTO":
            status = "interrupted"
        if status != run.status:
            run = replace(run, status=status)
            view = replace(view, mission_run=run)
            actions.append(Record(MissionRunRow(run.run_id, vid, now_s, status, run.item_count, run.mission_type,
                                                run.last_reached_seq)))

    view = replace(view, state=new)
    state = with_vehicle(state, view)

    # automatic RTL below the battery reserve: checked and recorded like any command
    if (policy.auto_rtl_below_reserve and level == "reserve" and new.armed and view.link_up
            and (new.alt_rel_m or 0.0) > 1.0 and new.mode not in ("RTL", "LAND", "SMART_RTL")
            and (view.auto_rtl_at_s is None or now_s - view.auto_rtl_at_s >= AUTO_RTL_RETRY_S)):
        state = with_vehicle(state, replace(view, auto_rtl_at_s=now_s))
        request = CommandRequest(vid, "rtl", {}, requested_by="station:battery-reserve",
                                 request_id=f"auto-rtl-{vid}-{int(now_s * 1000)}")
        state, more = on_request(state, request, now_s)
        actions.extend(more)
    return state, actions


