"""groundstation/core/zones.py: counting zones replaced while running ("load_zones"), on the pure core."""
from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

from groundstation.core import crowds as cr
from groundstation.core.dispatch import handle
from groundstation.core.policy import Policy
from groundstation.core.records import CommandRequest, CommandRow, Record, Reply
from groundstation.core.response_data import ResponsePolicy, ZonePolicy
from groundstation.core.state import initial_state
from groundstation.core.zones import ZonesRead
from missions.areas import counting_zones_from_text

SQUARE = [[112.465, 23.047], [112.466, 23.047], [112.466, 23.048], [112.465, 23.048], [112.465, 23.047]]


def zones(*specs: tuple[str, int]):
    features = [{"type": "Feature", "id": zid, "properties": {"name": zid, "capacity": cap},
                 "geometry": {"type": "Polygon", "coordinates": [[[lon + i * 0.01, lat] for lon, lat in SQUARE]]}}
                for i, (zid, cap) in enumerate(specs)]
    return counting_zones_from_text(json.dumps({"type": "FeatureCollection", "features": features}), "z.geojson")


def state_with(*specs: tuple[str, int]):
    return initial_state(Policy(), counting_policy=cr.CountingPolicy(zones(*specs)))


def load(state, read, by="web:ann"):
    return handle(state, CommandRequest("", "load_zones", {"zones": []}, by, "r1", attachment=read), 100.0)


def reply(actions):
    (r,) = [a for a in actions if isinstance(a, Reply)]
    return r.outcome


def test_a_kept_zone_keeps_its_count_and_gathering_under_its_new_capacity_and_a_new_zone_starts_empty():
    state = state_with(("plaza", 10))
    plaza = replace(state.crowds.zones["plaza"], count=14, gathering_id="plaza@1.000", gathering_since_s=1.0)
    state = replace(state, crowds=replace(state.crowds, zones=MappingProxyType({"plaza": plaza})))
    new = zones(("plaza", 12), ("market", 30))
    state, actions = load(state, ZonesRead(cr.CountingPolicy(new), ResponsePolicy(), source="z.geojson"))
    outcome = reply(actions)
    assert outcome.status == "accepted"
    assert "added market" in outcome.reason and "plaza capacity 10 -> 12" in outcome.reason
    views = state.crowds.zones
    assert views["plaza"].gathering_id == "plaza@1.000" and views["plaza"].count == 14
    assert views["plaza"].capacity_persons == 12 and views["market"].count == 0 and not views["market"].gathering
    assert [z.zone_id for z in state.crowds.policy.zones] == ["plaza", "market"]
    (row,) = [a.row for a in actions if isinstance(a, Record) and isinstance(a.row, CommandRow)]
    assert row.requested_by == "web:ann" and row.decision == "sent"


def test_a_zones_policy_change_is_applied_and_said():
    state = state_with(("plaza", 10))
    read = ZonesRead(cr.CountingPolicy(zones(("plaza", 10))),
                     ResponsePolicy(zones={"plaza": ZonePolicy(mode="approve")}))
    state, actions = load(state, read)
    assert "plaza policy auto -> approve" in reply(actions).reason
    assert state.response_policy.zone("plaza").mode == "approve"


def test_removing_a_zone_with_a_gathering_is_refused_and_nothing_changes():
    state = state_with(("plaza", 10), ("market", 5))
    market = replace(state.crowds.zones["market"], gathering_id="market@1.000", gathering_since_s=1.0)
    state = replace(state, crowds=replace(state.crowds, zones=MappingProxyType({**state.crowds.zones,
                                                                                 "market": market})))
    after, actions = load(state, ZonesRead(cr.CountingPolicy(zones(("plaza", 10))), ResponsePolicy()))
    outcome = reply(actions)
    assert outcome.status == "refused_by_station" and "market: gathering in progress" in outcome.reason
    assert after.crowds == state.crowds


def test_a_request_without_the_zones_read_by_the_shell_is_refused():
    state = state_with(("plaza", 10))
    after, actions = handle(state, CommandRequest("", "load_zones", {}, "web:ann", "r1"), 100.0)
    assert reply(actions).status == "refused_by_station" and after.crowds == state.crowds


def test_a_grid_unit_whose_officer_has_a_notice_open_cannot_be_removed_and_a_new_grid_is_recorded():
    from groundstation.core.notice_data import GridRow, Notice, NoticePolicy, NoticeState
    from groundstation.core.response_data import AlertRow
    from missions.grid import grid_from_text
    from tests.grid.city import geojson, units

    full = grid_from_text(geojson(units()), "grid.geojson")
    without_e = grid_from_text(geojson([f for f in units() if f["id"] != "cell-e"]), "grid.geojson")
    alert = AlertRow("a1", 10.0, "crowd", "warning", "crowd in cell e")
    notice = Notice("n1", alert, "cell-e", "cell", "cell-e.officer", 10.0, 310.0)
    state = replace(state_with(("plaza", 10)), notices=NoticeState(policy=NoticePolicy(full),
                                                                   notices=MappingProxyType({"n1": notice})))
    read = ZonesRead(cr.CountingPolicy(zones(("plaza", 10))), ResponsePolicy(), NoticePolicy(without_e), "grid.geojson")
    after, actions = load(state, read)
    outcome = reply(actions)
    assert outcome.status == "refused_by_station" and "cell-e: notice n1 open" in outcome.reason
    assert after.notices.policy.grid is full
    closed = replace(state, notices=replace(state.notices, notices=MappingProxyType(
        {"n1": replace(notice, status="acknowledged")})))
    after, actions = load(closed, read)
    assert reply(actions).status == "accepted" and "unit cell-e removed" in reply(actions).reason
    assert after.notices.policy.grid is without_e and "cell-e" not in after.risk.areas
    (row,) = [a.row for a in actions if isinstance(a, Record) and isinstance(a.row, GridRow)]
    assert row.grid is without_e
