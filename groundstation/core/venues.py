"""Venues with a headcount limit, pure: occupancy from the people counted in and out at their entrances, an alert when
it passes the limit, and an operator's recount.

A venue (config [[venues]]) has a limit and one or more entrances, each a line drawn on the frames of a camera that
looks at it; the shell (shell/venue_lines.py) counts the tracked people crossing each line (vision/lines.py) and
sends one `VenueCrossed` per batch of crossings. Occupancy = entries - exits since the start (or the last recount),
never below 0 (more exits than entries is noted: a line or a track missed someone). Passing the limit raises a
"venue_over_limit" alert (routed to the grid officer of the venue's cell, like every alert); back at or under it, an
event. The limit in force is the configured one times the risk level's capacity factor (risk.py sets
`limit_factors`): a venue in a red area admits fewer people. The station action "set_venue_occupancy" (an
operator's recount, audited) sets the occupancy.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from groundstation.core.records import Action, CommandRequest, EventRow, Record
from groundstation.core.requests import accepted, refuse
from groundstation.core.response_data import AlertRow
from groundstation.core.venue_data import VenueCountRow, VenueCrossed, VenueState, VenueView, scaled_limit


# --- decisions ----------------------------------------------------------------------------------------------------


def _judge(view: VenueView, now_s: float, entrance_id: str, entered: int, exited: int, note: str = ""
           ) -> tuple[VenueView, list[Action]]:
    """Record the venue's occupancy; alert when it passes the limit, an event when it is back at or under."""
    actions: list[Action] = [Record(VenueCountRow(view.venue_id, entrance_id, now_s, entered, exited, view.occupancy,
                                                  view.limit_persons, view.over_limit, note))]
    data = {"venue_id": view.venue_id, "occupancy": view.occupancy, "limit_persons": view.limit_persons,
            "lat_deg": view.lat_deg, "lon_deg": view.lon_deg}
    if view.over_limit and view.over_since_s is None:
        alert_id = f"venue:{view.venue_id}:{int(now_s * 1000)}"
        text = (f"venue {view.name} holds {view.occupancy} people, over its limit of {view.limit_persons}"
                + (f" (configured {view.base_limit_persons}, lowered by the area's risk level)"
                   if view.limit_persons != view.base_limit_persons else ""))
        view = replace(view, over_since_s=now_s, alert_id=alert_id)
        actions += [Record(AlertRow(alert_id, now_s, "venue_over_limit", "warning", text, None, None, None, data)),
                    Record(EventRow(None, now_s, "venue", "warning", text, data))]
    elif not view.over_limit and view.over_since_s is not None:
        text = (f"venue {view.name} back to {view.occupancy} people (limit {view.limit_persons}) after "
                f"{now_s - view.over_since_s:.0f} s over it")
        view = replace(view, over_since_s=None, alert_id=None)
        actions.append(Record(EventRow(None, now_s, "venue", "info", text, data)))
    return view, actions


def _with(state: VenueState, view: VenueView) -> VenueState:
    return replace(state, venues=MappingProxyType({**state.venues, view.venue_id: view}))


def on_crossed(state: VenueState, ev: VenueCrossed, now_s: float) -> tuple[VenueState, list[Action]]:
    """A batch of crossings at one entrance: the venue's occupancy moves by entered - exited (not below 0)."""
    view = state.venues.get(ev.venue_id)
    if view is None:
        return state, [Record(EventRow(None, now_s, "venue", "warning",
                                       f"crossings at entrance {ev.entrance_id} of unknown venue {ev.venue_id!r}"))]
    moved = view.occupancy + ev.entered - ev.exited
    note = ""
    if moved < 0:
        note = (f"{-moved} more people left than were counted in: occupancy held at 0 (an entrance line or a track "
                "missed someone; recount with set_venue_occupancy)")
    view = replace(view, occupancy=max(0, moved), entered=view.entered + ev.entered, exited=view.exited + ev.exited,
                   updated_at_s=now_s)
    view, actions = _judge(view, now_s, ev.entrance_id, ev.entered, ev.exited, note)
    if note:
        actions.append(Record(EventRow(None, now_s, "venue", "warning", f"venue {view.name}: {note}",
                                       {"venue_id": view.venue_id})))
    return _with(state, view), actions


def with_limit_factors(state: VenueState, factors: Mapping[str, float], now_s: float
                       ) -> tuple[VenueState, list[Action]]:
    """Each venue's limit in force from its risk factor (1 when not given); a venue newly over its lowered limit is
    alerted at once."""
    actions: list[Action] = []
    for view in list(state.venues.values()):
        limit = scaled_limit(view.base_limit_persons, factors.get(view.venue_id, 1.0))
        if limit == view.limit_persons:
            continue
        actions.append(Record(EventRow(None, now_s, "venue", "info",
                                       f"venue {view.name}: limit {view.limit_persons} -> {limit} people "
                                       f"(configured {view.base_limit_persons}; risk factor "
                                       f"{factors.get(view.venue_id, 1.0):g})",
                                       {"venue_id": view.venue_id, "limit_persons": limit})))
        view, more = _judge(replace(view, limit_persons=limit), now_s, "", 0, 0, "limit changed by the risk level")
        state = _with(state, view)
        actions += more
    return state, actions


def on_set(state: Any, request: CommandRequest, now_s: float) -> tuple[Any, list[Action]]:
    """The station action "set_venue_occupancy" (args: venue_id, occupancy, note): an operator's recount."""
    args = request.args if isinstance(request.args, Mapping) else {}
    unexpected = set(map(str, args)) - {"venue_id", "occupancy", "note"}
    if unexpected:
        return refuse(state, request, now_s, f"unexpected argument(s) for set_venue_occupancy: "
                                             f"{', '.join(sorted(unexpected))}")
    vs: VenueState = state.venues
    view = vs.venues.get(str(args.get("venue_id", "")))
    if view is None:
        return refuse(state, request, now_s, f"no venue {args.get('venue_id')!r} (known: "
                                             f"{', '.join(sorted(vs.venues)) or 'none'})")
    occupancy = args.get("occupancy")
    if isinstance(occupancy, bool) or not isinstance(occupancy, int) or occupancy < 0:
        return refuse(state, request, now_s, f"occupancy must be a whole number of people, 0 or more, got "
                                             f"{occupancy!r}")
    note = str(args.get("note") or "")
    before = view.occupancy
    view = replace(view, occupancy=occupancy, updated_at_s=now_s)
    view, actions = _judge(view, now_s, "", 0, 0, f"recount by {request.requested_by}" + (f": {note}" if note else ""))
    state = replace(state, venues=_with(vs, view))
    return state, actions + accepted(request, now_s, f"venue {view.name}: occupancy {before} -> {occupancy}"
                                     + (f" ({note})" if note else ""), vehicle_id="")


def on_venue_crossed(state: Any, ev: VenueCrossed, now_s: float) -> tuple[Any, list[Action]]:
    """on_crossed on the station state's venues (dispatch.py's handler)."""
    venues, actions = on_crossed(state.venues, ev, now_s)
    return replace(state, venues=venues), actions
