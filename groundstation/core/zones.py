"""Counting zones and the grid replaced while the station runs (an admin edited them on the web map): the
"load_zones" station action, checked and recorded like every request.

The shell reads the zones file and the grid file and hands the core what it read (ZonesRead, the request's
attachment; its args say which zones, for the record). The new zones and grid take effect at once: the counts (a
grid's cells are watched like zones), the crowd response's per-zone policies (mode, messages), the alerts' routing to
grid officers and the risk map's areas and capacity factors; a changed grid is recorded (its units and officers). A
zone keeps its count and any gathering in progress when it is kept (its name, capacity and dwell time may change).
Refused, changing nothing: removing a zone that has a gathering in progress or a crowd response under way (the
gathering would end without being seen to disperse), or a grid unit whose officer has a notice still open (it could
not escalate).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from groundstation.core import crowds as cr
from groundstation.core import risk
from groundstation.core.notice_data import GridRow, NoticePolicy
from groundstation.core.records import Action, CommandRequest, EventRow, Record
from groundstation.core.requests import accepted, refuse
from groundstation.core.response_data import ResponsePolicy
from groundstation.core.state import StationState


@dataclass(frozen=True)
class ZonesRead:
    """What the shell read from the zones file (CommandRequest.attachment of "load_zones")."""

    counting: cr.CountingPolicy
    response: ResponsePolicy
    notices: NoticePolicy | None = None  # the grid and the alerts' routing (None: no grid file)
    source: str = ""  # the files, for the record


def on_load(state: StationState, request: CommandRequest, now_s: float) -> tuple[StationState, list[Action]]:
    read = request.attachment
    if not isinstance(read, ZonesRead):
        return refuse(state, request, now_s, "no zones were read for this request (the station reads the zones file)")
    old = {z.zone_id: z for z in state.crowds.policy.zones}
    new = {z.zone_id: z for z in read.counting.zones}
    removed = sorted(set(old) - set(new))
    busy = [f"{old[z].name}: gathering in progress" for z in removed
            if (v := state.crowds.zones.get(z)) is not None and v.gathering]
    busy += [f"{r.zone_name}: crowd response {r.response_id} {r.state}" for r in state.responses.responses.values()
             if r.zone_id in removed]
    if busy:
        return refuse(state, request, now_s, "cannot remove a zone while it is in use ("
                      + "; ".join(busy) + "): abort the response or wait for the gathering to end")
    notices = read.notices if read.notices is not None else NoticePolicy()
    old_grid, grid = state.notices.policy.grid, notices.grid
    gone = set() if old_grid is None else {u.unit_id for u in old_grid.units} - (
        set() if grid is None else {u.unit_id for u in grid.units})
    waiting = [f"{n.unit_id}: notice {n.notice_id} open" for n in state.notices.notices.values()
               if n.status == "open" and n.unit_id in gone]
    if waiting:
        return refuse(state, request, now_s, "cannot remove a grid unit whose officer has a notice open ("
                      + "; ".join(sorted(waiting)) + "): acknowledge it first")
    changes = _changes(old, new, state.response_policy, read.response)
    if grid != old_grid:
        changes.append(_grid_change(old_grid, grid))
    state = replace(state, crowds=_with_zones(state.crowds, read.counting), response_policy=read.response,
                    notices=replace(state.notices, policy=notices))
    state = replace(state, risk=replace(state.risk, areas=risk.areas_of(grid, read.counting.zones)))
    state, effects = risk.apply_effects(state, now_s)
    counted = [z for z in new if not z.startswith("grid:")]
    summary = f"{len(counted)} counting zone(s)" + (f" and {len(grid.cells)} grid cell(s)" if grid else "") + \
        f" from {read.source or 'the zones file'}: " + ("; ".join(changes) or "no change")
    recorded: list[Action] = []
    if grid is not None and grid != old_grid:
        recorded = [Record(GridRow(now_s, read.source, grid)),
                    Record(EventRow(None, now_s, "notice", "info", f"grid replaced by {request.requested_by}: "
                                    f"{len(grid.units)} unit(s); {len(grid.officers())} officer(s)",
                                    {"source": read.source, "units": len(grid.units)}))]
    return state, accepted(request, now_s, summary) + recorded + effects


def _grid_change(old: Any, new: Any) -> str:
    if new is None:
        return "grid removed"
    before = {} if old is None else {u.unit_id: u for u in old.units}
    after = {u.unit_id: u for u in new.units}
    parts = [f"grid: {len(after)} unit(s)"]
    parts += [f"unit {u} added" for u in sorted(set(after) - set(before))]
    parts += [f"unit {u} removed" for u in sorted(set(before) - set(after))]
    parts += [f"unit {u} officer {before[u].officer.name} -> {after[u].officer.name}" for u in sorted(set(before) & set(after))
              if before[u].officer != after[u].officer]
    parts += [f"unit {u} changed" for u in sorted(set(before) & set(after))
              if before[u].officer == after[u].officer and before[u] != after[u]]
    return ", ".join(parts)


def _with_zones(crowds: cr.CrowdState, policy: cr.CountingPolicy) -> cr.CrowdState:
    """The counting state under new zones: kept zones keep their counts and gatherings, new ones start empty, removed
    ones go; grid cells' views ("cell:E:N") stay as they are."""
    views: dict[str, cr.ZoneView] = {k: v for k, v in crowds.zones.items() if k.startswith("cell:")}
    for zone in policy.zones:
        view = crowds.zones.get(zone.zone_id)
        if view is None:
            view = cr.ZoneView(zone.zone_id, zone.name, zone.capacity_persons, hold_s=zone.dwell_s)
        views[zone.zone_id] = replace(view, name=zone.name, hold_s=zone.dwell_s,
                                      capacity_persons=cr.capacity_of(crowds, zone.zone_id, zone.capacity_persons))
    return replace(crowds, policy=policy, zones=MappingProxyType(views))


def _changes(old: Mapping, new: Mapping, old_policy: ResponsePolicy, new_policy: ResponsePolicy) -> list[str]:
    out = [f"added {new[z].name}" for z in sorted(set(new) - set(old))]
    out += [f"removed {old[z].name}" for z in sorted(set(old) - set(new))]
    for zid in sorted(set(old) & set(new)):
        a, b = old[zid], new[zid]
        if a.name != b.name:
            out.append(f"{a.name} renamed {b.name}")
        if a.capacity_persons != b.capacity_persons:
            out.append(f"{b.name} capacity {a.capacity_persons} -> {b.capacity_persons}")
        if a.dwell_s != b.dwell_s:
            out.append(f"{b.name} dwell {a.dwell_s} -> {b.dwell_s} s")
        if a.parts != b.parts:
            out.append(f"{b.name} reshaped")
        if old_policy.zone(zid).mode != new_policy.zone(zid).mode:
            out.append(f"{b.name} policy {old_policy.zone(zid).mode} -> {new_policy.zone(zid).mode}")
    return out
