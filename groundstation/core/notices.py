"""Alert routing to grid officers, pure: who is told about an alert, through which channels, when a failed delivery is
tried again, when an unacknowledged notice climbs to the next level, and what an acknowledgement ends.

Every alert the station records (response_data.AlertRow, whatever concern raised it) is routed after the event
that raised it (dispatch.py calls `on_actions`):
- to the grid cell it happened in: by the position in its data (`lat_deg`/`lon_deg`; a fever hint's people), else
  by its zone (a grid cell's zone "grid:<id>" is that cell; a counting zone goes to the cells it covers, or the cell
  of its centre: NoticePolicy.zone_cells), else by its vehicle's position; one notice per officer (two cells of
  one officer make one notice). An alert in no cell is recorded as not routed (the operators still have it).
- each notice is delivered on every channel of the officer (webhook, email, sms): a Deliver action per channel,
  answered by the shell with DeliveryFinished; a failed attempt is tried again after the policy's backoff
  (retry_backoff_s, times retry_backoff_factor each time, at most retry_backoff_max_s) up to max_attempts, then
  recorded failed with an event and a "notice_failed" alert for the operators; never dropped;
- not acknowledged within ack_timeout_s of its level (or no channel reached the officer at all): it climbs to the
  officer of the next level up (cell -> community -> street -> district; a level whose officer was told already
  is passed over), recorded as an escalation; past the district: "unanswered", with a "notice_unanswered" alert;
- an acknowledgement (the station action "acknowledge_notice": the officer's signed link, checked by the shell,
  or an operator) ends it: pending retries are cancelled, the acknowledgement is recorded and audited.
Time comes in with the events (`now_s`; the patrol Tick drives retries and deadlines).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from groundstation.core.notice_data import (
    Deliver,
    Delivery,
    DeliveryFinished,
    DeliveryRow,
    EscalationRow,
    GridLoaded,
    GridRow,
    Notice,
    NoticeAckRow,
    NoticeMessage,
    NoticeRow,
)
from groundstation.core.records import Action, CommandRequest, EventRow, Record
from groundstation.core.requests import accepted, refuse
from groundstation.core.response_data import AlertRow
from groundstation.core.state import StationState
from missions.grid import GridUnit

_ACK_ARGS = frozenset({"notice_id", "alert_id", "note", "via", "officer_id", "token_valid"})


# --- helpers ----------------------------------------------------------------------------------------------------


def _with(state: StationState, notice: Notice | None = None, *, drop: str | None = None, **changes: Any
          ) -> StationState:
    ns = state.notices
    notices = dict(ns.notices)
    by_delivery = dict(ns.by_delivery)
    if notice is not None:
        notices[notice.notice_id] = notice
        by_delivery.update({did: notice.notice_id for did in notice.deliveries})
    if drop is not None:
        gone = notices.pop(drop, None)
        for did in gone.deliveries if gone is not None else ():
            by_delivery.pop(did, None)
    return replace(state, notices=replace(ns, notices=MappingProxyType(notices),
                                          by_delivery=MappingProxyType(by_delivery), **changes))


def _event(notice: Notice, now_s: float, severity: str, text: str, **data: Any) -> Record:
    return Record(EventRow(notice.alert.vehicle_id, now_s, "notice", severity, text,
                           {"notice_id": notice.notice_id, "alert_id": notice.alert.alert_id, **data}))


def _notice_row(notice: Notice, now_s: float, reason: str = "") -> Record:
    return Record(NoticeRow(notice.notice_id, notice.alert.alert_id, now_s, notice.status, notice.unit_id,
                            notice.level, notice.officer_id, notice.deadline_s, notice.escalations, reason))


def _delivery_row(notice: Notice, d: Delivery, now_s: float, status: str, reason: str = "", attempt: int | None = None,
                  retry_at_s: float | None = None, duration_s: float | None = None) -> Record:
    return Record(DeliveryRow(d.delivery_id, d.attempt if attempt is None else attempt, notice.notice_id,
                              d.officer_id, d.channel, d.address, now_s, status, reason, retry_at_s, duration_s))


def _operators_alert(notice: Notice, now_s: float, kind: str, severity: str, text: str, key: str, **data: Any
                     ) -> Record:
    a = notice.alert
    return Record(AlertRow(f"{key}:{kind}", now_s, kind, severity, text, a.zone_id, a.vehicle_id, a.response_id,
                           {"notice_id": notice.notice_id, "alert_id": a.alert_id, **data}))


def _who(unit: GridUnit) -> str:
    return f"{unit.officer.name} ({unit.level} {unit.name})"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- routing ----------------------------------------------------------------------------------------------------


def on_actions(state: StationState, actions: list[Action], now_s: float) -> tuple[StationState, list[Action]]:
    """Route every alert recorded among `actions` (what one event produced) to its officers."""
    policy = state.notices.policy
    if policy.grid is None:
        return state, []
    out: list[Action] = []
    for action in actions:
        if isinstance(action, Record) and isinstance(action.row, AlertRow) and policy.routes(action.row.kind):
            state, more = route(state, action.row, now_s)
            out.extend(more)
    return state, out


def targets(state: StationState, alert: AlertRow) -> tuple[list[tuple[GridUnit, float | None, float | None]], str]:
    """The cells an alert goes to, each with the position that put it there (None: the zone did), and how they were
    found (or why none was)."""
    ns = state.notices
    grid = ns.policy.grid
    if grid is None:
        return [], "no grid is configured"
    data = alert.data if isinstance(alert.data, Mapping) else {}
    points: list[tuple[float, float]] = []
    if _number(data.get("lat_deg")) and _number(data.get("lon_deg")):
        points, how = [(float(data["lat_deg"]), float(data["lon_deg"]))], "its position"
    elif isinstance(data.get("people"), (list, tuple)):
        points = [(float(p["lat_deg"]), float(p["lon_deg"])) for p in data["people"]
                  if isinstance(p, Mapping) and _number(p.get("lat_deg")) and _number(p.get("lon_deg"))]
        how = "the people's positions"
    found: list[tuple[GridUnit, float | None, float | None]] = []
    for lat, lon in points:
        cell = grid.cell_at(lat, lon)
        if cell is not None and all(cell.unit_id != c.unit_id for c, _, _ in found):
            found.append((cell, lat, lon))
    if found:
        return found, how
    if alert.zone_id:
        cell = grid.cell_of_zone(alert.zone_id)
        if cell is not None:
            return [(cell, None, None)], f"its zone, grid cell {cell.unit_id}"
        ids = ns.policy.zone_cells.get(alert.zone_id, ())
        if ids:
            return [(grid.unit(i), None, None) for i in ids], f"the cells zone {alert.zone_id} covers"
    view = state.vehicles.get(alert.vehicle_id or "")
    if view is not None and view.position is not None:
        cell = grid.cell_at(*view.position)
        if cell is not None:
            return [(cell, *view.position)], f"the position of {alert.vehicle_id}"
    where = [f"{len(points)} position(s) outside every cell"] if points else []
    where += [f"zone {alert.zone_id} in no cell"] if alert.zone_id else []
    return [], "; ".join(where) or "no position, zone or vehicle position"


def route(state: StationState, alert: AlertRow, now_s: float) -> tuple[StationState, list[Action]]:
    """Open one notice per officer of the cells an alert happened in, and deliver it on each of their channels."""
    cells, how = targets(state, alert)
    if not cells:
        return state, [Record(EventRow(alert.vehicle_id, now_s, "notice", "warning",
                                       f"alert {alert.alert_id} ({alert.kind}) is in no grid cell ({how}); "
                                       "no officer notified, the operators have it",
                                       {"alert_id": alert.alert_id}))]
    by_officer: dict[str, tuple[GridUnit, float | None, float | None]] = {}
    for cell, lat, lon in cells:
        by_officer.setdefault(cell.officer.officer_id, (cell, lat, lon))
    actions: list[Action] = []
    for cell, lat, lon in by_officer.values():
        nid = f"{alert.alert_id}@{cell.unit_id}"
        if nid in state.notices.notices:
            continue  # the same alert recorded twice
        notice = Notice(nid, alert, cell.unit_id, cell.level, cell.officer.officer_id, now_s, None,
                        lat_deg=lat, lon_deg=lon)
        notice, more = _notify(state, notice, cell, now_s)
        state = _with(state, notice, routed=state.notices.routed + 1)
        actions += [_notice_row(notice, now_s, f"routed by {how}"),
                    _event(notice, now_s, "info", f"alert {alert.alert_id} ({alert.kind}) sent to {_who(cell)} by "
                           f"{', '.join(c for c, _ in cell.officer.channels)} (routed by {how})",
                           unit_id=cell.unit_id, officer_id=cell.officer.officer_id)] + more
    return state, actions


def _message(notice: Notice, unit: GridUnit, escalated_from: str) -> NoticeMessage:
    a = notice.alert
    return NoticeMessage(notice.notice_id, a.alert_id, a.kind, a.severity, a.text, a.at_s, unit.unit_id, unit.name,
                         unit.level, unit.officer.officer_id, unit.officer.name, a.zone_id, notice.lat_deg,
                         notice.lon_deg, escalated_from)


def _notify(state: StationState, notice: Notice, unit: GridUnit, now_s: float, escalated_from: str = ""
            ) -> tuple[Notice, list[Action]]:
    """The notice now with `unit`'s officer: a delivery per channel, and the level's acknowledgement deadline."""
    policy = state.notices.policy
    officer = unit.officer
    message = _message(notice, unit, escalated_from)
    deliveries = dict(notice.deliveries)
    actions: list[Action] = []
    for channel, address in officer.channels:
        d = Delivery(f"{notice.notice_id}/{unit.level}/{channel}", officer.officer_id, channel, address, message)
        deliveries[d.delivery_id] = d
        actions += [_delivery_row(notice, d, now_s, "sending"), Deliver(d.delivery_id, 1, channel, address, message)]
    timeout_s = policy.ack_timeout_s.get(unit.level)
    notice = replace(notice, unit_id=unit.unit_id, level=unit.level, officer_id=officer.officer_id,
                     deadline_s=None if timeout_s is None else now_s + timeout_s,
                     notified=notice.notified + (officer.officer_id,), deliveries=MappingProxyType(deliveries))
    return notice, actions


# --- escalation -------------------------------------------------------------------------------------------------


def _escalate(state: StationState, notice: Notice, cause: str, now_s: float) -> tuple[StationState, list[Action]]:
    """To the officer of the next level up not told yet; past the top, unanswered."""
    grid = state.notices.policy.grid
    assert grid is not None
    here = grid.unit(notice.unit_id)
    above = grid.chain(notice.unit_id)[1:]
    up = next((u for u in above if u.officer.officer_id not in notice.notified), None)
    if up is None:
        notice = replace(notice, status="unanswered", deadline_s=None, closed_at_s=now_s)
        text = (f"alert {notice.alert.alert_id} ({notice.alert.kind}): {cause}; nobody above {_who(here)} to escalate "
                f"to: not acknowledged by any officer ({len(notice.notified)} told)")
        return _with(state, notice), [
            _notice_row(notice, now_s, cause),
            _event(notice, now_s, "error", text),
            _operators_alert(notice, now_s, "notice_unanswered", "critical", text, notice.notice_id,
                             officers=list(notice.notified)),
        ]
    passed = above[:above.index(up)]  # officers of the levels between, told already
    skipped = f" (passing over {', '.join(_who(u) for u in passed)}: told already)" if passed else ""
    reason = f"{cause}; escalated to {_who(up)}{skipped}"
    notice, more = _notify(state, replace(notice, escalations=notice.escalations + 1), up, now_s,
                           escalated_from=f"not acknowledged by {_who(here)}: {cause}")
    return _with(state, notice), [
        Record(EscalationRow(notice.notice_id, now_s, here.unit_id, here.level, here.officer.officer_id, up.unit_id,
                             up.level, up.officer.officer_id, reason)),
        _notice_row(notice, now_s, reason),
        _event(notice, now_s, "warning", f"alert {notice.alert.alert_id} ({notice.alert.kind}): {reason}",
               unit_id=up.unit_id, officer_id=up.officer.officer_id),
    ] + more


# --- deliveries -------------------------------------------------------------------------------------------------


def on_delivered(state: StationState, ev: DeliveryFinished, now_s: float) -> tuple[StationState, list[Action]]:
    """One attempt's result: delivered; failed with a retry due; or failed for good (reported, and the notice climbs
    when no channel reached its officer)."""
    ns = state.notices
    notice = ns.notices.get(ns.by_delivery.get(ev.delivery_id, ""))
    d = None if notice is None else notice.deliveries.get(ev.delivery_id)
    if notice is None or d is None or d.attempt != ev.attempt or d.status != "sending":
        return state, [Record(EventRow(None, now_s, "notice", "info",
                                       f"late result of delivery {ev.delivery_id} attempt {ev.attempt} ignored "
                                       f"({'delivered' if ev.ok else ev.reason})", {"delivery_id": ev.delivery_id}))]
    policy = ns.policy
    took = round(ev.duration_s, 3)
    who = f"{d.officer_id} by {d.channel} ({d.address})"
    if ev.ok:
        d = replace(d, status="delivered")
        notice = replace(notice, deliveries=MappingProxyType({**notice.deliveries, d.delivery_id: d}))
        return _with(state, notice), [
            _delivery_row(notice, d, now_s, "delivered", ev.detail, duration_s=took),
            _event(notice, now_s, "info", f"notice {notice.notice_id} delivered to {who}, attempt {d.attempt}"
                   + (f": {ev.detail}" if ev.detail else ""), delivery_id=d.delivery_id),
        ]
    if notice.status == "acknowledged":
        d = replace(d, status="failed")
        notice = replace(notice, deliveries=MappingProxyType({**notice.deliveries, d.delivery_id: d}))
        return _with(state, notice), [
            _delivery_row(notice, d, now_s, "failed", f"{ev.reason} (the notice is acknowledged: not tried again)",
                          duration_s=took)]
    if d.attempt < policy.max_attempts:
        retry_at = now_s + policy.backoff_s(d.attempt)
        d = replace(d, status="waiting", retry_at_s=retry_at)
        notice = replace(notice, deliveries=MappingProxyType({**notice.deliveries, d.delivery_id: d}))
        return _with(state, notice), [
            _delivery_row(notice, d, now_s, "failed", ev.reason, retry_at_s=retry_at, duration_s=took),
            _event(notice, now_s, "warning", f"notice {notice.notice_id} to {who}: attempt {d.attempt} of "
                   f"{policy.max_attempts} failed: {ev.reason}; trying again in {retry_at - now_s:g} s",
                   delivery_id=d.delivery_id),
        ]
    d = replace(d, status="failed")
    notice = replace(notice, deliveries=MappingProxyType({**notice.deliveries, d.delivery_id: d}))
    text = (f"notice of alert {notice.alert.alert_id} ({notice.alert.kind}) could not be delivered to {who} after "
            f"{d.attempt} attempt(s): {ev.reason}")
    state = _with(state, notice)
    actions: list[Action] = [
        _delivery_row(notice, d, now_s, "failed", ev.reason, duration_s=took),
        _event(notice, now_s, "error", text, delivery_id=d.delivery_id),
        _operators_alert(notice, now_s, "notice_failed", "warning", text, d.delivery_id, officer_id=d.officer_id,
                         channel=d.channel, address=d.address, attempts=d.attempt, reason=ev.reason),
    ]
    mine = [x for x in notice.deliveries.values() if x.officer_id == notice.officer_id]
    if notice.status == "open" and d.officer_id == notice.officer_id and all(x.status == "failed" for x in mine):
        state, more = _escalate(state, notice, f"no channel reached officer {d.officer_id}", now_s)
        actions += more
    return state, actions


def on_tick(state: StationState, event: Any, now_s: float) -> tuple[StationState, list[Action]]:
    """Retries that are due, acknowledgement deadlines passed, and closed notices forgotten."""
    ns = state.notices
    if not ns.notices:
        return state, []
    policy = ns.policy
    actions: list[Action] = []
    for notice in list(ns.notices.values()):
        due = [d for d in notice.deliveries.values()
               if d.status == "waiting" and d.retry_at_s is not None and now_s >= d.retry_at_s]
        if due:
            deliveries = dict(notice.deliveries)
            for d in due:
                d = replace(d, attempt=d.attempt + 1, status="sending", retry_at_s=None)
                deliveries[d.delivery_id] = d
                actions += [_delivery_row(notice, d, now_s, "sending"),
                            Deliver(d.delivery_id, d.attempt, d.channel, d.address, d.message)]
            notice = replace(notice, deliveries=MappingProxyType(deliveries))
            state = _with(state, notice)
        if notice.status == "open" and notice.deadline_s is not None and now_s >= notice.deadline_s:
            timeout_s = policy.ack_timeout_s.get(notice.level, 0.0)
            state, more = _escalate(state, notice, f"not acknowledged within {timeout_s:g} s", now_s)
            actions += more
            continue
        busy = any(d.status in ("sending", "waiting") for d in notice.deliveries.values())
        if notice.status != "open" and not busy and notice.closed_at_s is not None and \
                now_s - notice.closed_at_s >= policy.forget_after_s:
            state = _with(state, drop=notice.notice_id)
    return state, actions


# --- acknowledgement --------------------------------------------------------------------------------------------


def on_acknowledge(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    """The station action "acknowledge_notice" (args: notice_id, or alert_id for all of an alert's notices; note;
    via = operator | callback; for a callback, officer_id and token_valid, which the shell checked)."""
    args = request.args if isinstance(request.args, Mapping) else {}
    unexpected = set(map(str, args)) - _ACK_ARGS
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for acknowledge_notice: "
                                             f"{', '.join(sorted(unexpected))}")
    via = str(args.get("via") or "operator")
    if via not in ("operator", "callback"):
        return refuse(state, request, now_s, f"via must be operator or callback, got {via!r}")
    notice_id, alert_id = args.get("notice_id"), args.get("alert_id")
    if (notice_id is None) == (alert_id is None):
        return refuse(state, request, now_s, "give notice_id or alert_id (one of them)")
    ns = state.notices
    if notice_id is not None:
        found = [n for n in (ns.notices.get(str(notice_id)),) if n is not None]
        what = f"notice {notice_id!r}"
    else:
        found = [n for n in ns.notices.values() if n.alert.alert_id == str(alert_id)]
        what = f"alert {alert_id!r}"
    if not found:
        return refuse(state, request, now_s, f"{what}: no such notice (unknown, or closed more than "
                                             f"{ns.policy.forget_after_s:g} s ago)")
    officer_id = args.get("officer_id")
    if via == "callback":
        if args.get("token_valid") is not True:
            return refuse(state, request, now_s, f"{what}: the acknowledgement link is not valid (bad token)")
        if not officer_id or any(str(officer_id) not in n.notified for n in found):
            return refuse(state, request, now_s, f"{what}: officer {officer_id!r} was not sent it")
    open_ = [n for n in found if n.status != "acknowledged"]
    if not open_:
        n = found[0]
        return refuse(state, request, now_s, f"{what}: already acknowledged by {n.acknowledged_by} at "
                                             f"{n.closed_at_s:.0f}")
    note = str(args.get("note") or "")
    by = request.requested_by
    actions: list[Action] = []
    for notice in open_:
        deliveries = dict(notice.deliveries)
        for d in notice.deliveries.values():
            if d.status == "waiting":
                deliveries[d.delivery_id] = replace(d, status="cancelled", retry_at_s=None)
                actions.append(_delivery_row(notice, d, now_s, "cancelled", f"acknowledged by {by} before the retry",
                                             attempt=d.attempt + 1))
        notice = replace(notice, status="acknowledged", deadline_s=None, closed_at_s=now_s, acknowledged_by=by,
                         deliveries=MappingProxyType(deliveries))
        state = _with(state, notice)
        taken_s = now_s - notice.created_at_s
        actions += [
            Record(NoticeAckRow(notice.notice_id, notice.alert.alert_id, now_s, by, via,
                                None if officer_id is None else str(officer_id), note)),
            _notice_row(notice, now_s, f"acknowledged by {by} ({via}) after {taken_s:.0f} s"),
        ]
    summary = (f"acknowledged {len(open_)} notice(s) of {what} ({via})" if alert_id is not None
               else f"acknowledged {what} ({via}) of alert {open_[0].alert.alert_id}")
    return state, actions + accepted(request, now_s, summary + (f": {note}" if note else ""), vehicle_id="")


# --- the grid ---------------------------------------------------------------------------------------------------


def on_grid_loaded(state: StationState, ev: GridLoaded, now_s: float) -> tuple[StationState, list[Action]]:
    """Record the grid in force (its units and officers)."""
    grid = state.notices.policy.grid
    if grid is None:
        return state, []
    levels = {}
    for unit in grid.units:
        levels[unit.level] = levels.get(unit.level, 0) + 1
    summary = ", ".join(f"{n} {level}(s)" for level, n in levels.items())
    return state, [Record(GridRow(now_s, ev.source, grid)),
                   Record(EventRow(None, now_s, "notice", "info",
                                   f"grid from {ev.source}: {summary}; {len(grid.officers())} officer(s)",
                                   {"source": ev.source, "units": len(grid.units)}))]
