"""The risk map's rules, table-driven and pure: each row of the rule table, decay, the hierarchy (cells, communities,
lockdowns), evidence from the records the core makes, health officials' inputs (checked, audited), what is recorded
when a level changes. The core is driven with an explicit clock: no threads, no sleep."""
from __future__ import annotations

from dataclasses import replace

import pytest

from groundstation.core import risk
from groundstation.core.crowds import GatheringRow
from groundstation.core.patrols import Tick
from groundstation.core.records import CommandRow, Record
from groundstation.core.response_data import AlertRow
from groundstation.core.risk_data import (
    DEFAULT_RULES,
    IndicatorRule,
    RiskInputRow,
    RiskLevelRow,
    RiskLoaded,
    RiskPolicy,
)
from tests.grid.city import at
from tests.risk.world import HOUR, T0, Desk, world_state

GATHERINGS = DEFAULT_RULES[0]


@pytest.mark.parametrize("value, level", [
    (0.0, "green"), (0.99, "green"), (1.0, "blue"), (2.9, "blue"), (3.0, "yellow"), (5.99, "yellow"), (6.0, "orange"),
    (11.9, "orange"), (12.0, "red"), (500.0, "red"),
])
def test_the_gatherings_row_of_the_default_table(value, level):
    assert GATHERINGS.level(value)[0] == level


@pytest.mark.parametrize("thresholds, value, level", [
    ((("orange", 1.0), ("red", 3.0)), 0.5, "green"),  # cases: no blue or yellow step
    ((("orange", 1.0), ("red", 3.0)), 1.0, "orange"),
    ((("orange", 1.0), ("red", 3.0)), 2.99, "orange"),
    ((), 1000.0, "green"),  # an indicator switched off
])
def test_levels_left_out_of_a_row_are_skipped(thresholds, value, level):
    assert IndicatorRule("cases", HOUR, thresholds).level(value)[0] == level


def gathering(gid: str, zone_id: str, started_s: float, ended_s: float | None = None) -> GatheringRow:
    status = "gathering" if ended_s is None else "dispersed"
    return GatheringRow(gid, zone_id, ended_s or started_s, status, started_s, 12, 12, 5, "test", ended_s)


def fever(aid: str, east_m: float, t_s: float, zone_id: str | None = "plaza") -> AlertRow:
    lat, lon = at(east_m, 100)
    return AlertRow(aid, t_s, "fever_hint", "critical", "fever hint", zone_id, "d1", "resp-1",
                    {"people": [{"lat_deg": lat, "lon_deg": lon, "temp_c": 38.1}]})


def record(desk: Desk, *rows) -> None:
    """Rows as a concern records them: dispatch shows them to the risk map after every event."""
    desk.state, _ = risk.on_actions(desk.state, [Record(r) for r in rows], desk.now_s)


# each case: evidence (rows recorded, inputs given, at hours before now) -> the levels expected now
CASES = [
    ("nothing", [], [], {"cell-a": "green", "cell-b": "green", "cell-e": "green", "plaza-c": "green",
                         "market-c": "green"}),
    ("one gathering in a cell's own zone", [gathering("g1", "grid:cell-a", T0 - HOUR, T0 - HOUR + 120)], [],
     {"cell-a": "blue", "cell-b": "green", "plaza-c": "blue"}),
    ("three gatherings: yellow", [gathering(f"g{i}", "grid:cell-a", T0 - 600, T0 - 540) for i in range(3)], [],
     {"cell-a": "yellow", "plaza-c": "yellow"}),
    ("three gatherings five hours ago have decayed to 2.9: blue",
     [gathering(f"g{i}", "grid:cell-a", T0 - 5 * HOUR, T0 - 5 * HOUR + 60) for i in range(3)], [],
     {"cell-a": "blue"}),
    ("three gatherings three days ago have decayed to 1.5: blue",
     [gathering(f"g{i}", "grid:cell-a", T0 - 72 * HOUR, T0 - 72 * HOUR + 60) for i in range(3)], [],
     {"cell-a": "blue"}),
    ("a counting zone's gathering counts for the cells it covers",
     [gathering("g1", "plaza", T0 - HOUR, T0 - HOUR + 60)], [], {"cell-a": "blue", "cell-b": "blue",
                                                                 "cell-e": "green"}),
    ("an hour over capacity: yellow by over-capacity minutes", [gathering("g1", "grid:cell-b", T0 - 61 * 60,
                                                                          T0 - 60)], [],
     {"cell-b": "yellow"}),
    ("a gathering still going counts its time so far", [gathering("g1", "grid:cell-b", T0 - 4 * HOUR)], [],
     {"cell-b": "orange"}),  # ~240 min: orange by over-capacity minutes
    ("a fever hint counts where its people stood", [fever("f1", 150, T0 - HOUR)], [],
     {"cell-a": "green", "cell-b": "yellow"}),
    ("one confirmed case: orange", [], [dict(unit_id="cell-e", cases=1)], {"cell-e": "orange", "market-c": "orange"}),
    ("three cases: red", [], [dict(unit_id="cell-e", cases=3)], {"cell-e": "red"}),
    ("close contacts", [], [dict(unit_id="cell-a", close_contacts=5)], {"cell-a": "orange"}),
    ("a community's inputs count for the community, not for each cell", [], [dict(unit_id="plaza-c", cases=1)],
     {"plaza-c": "orange", "cell-a": "green", "cell-b": "green"}),
    ("a community sums its cells: 2 + 1 gatherings make it yellow, each cell blue",
     [gathering("g1", "grid:cell-a", T0 - HOUR, T0 - HOUR + 60), gathering("g2", "grid:cell-a", T0 - HOUR,
                                                                           T0 - HOUR + 60),
      gathering("g3", "grid:cell-b", T0 - HOUR, T0 - HOUR + 60)], [],
     {"cell-a": "blue", "cell-b": "blue", "plaza-c": "yellow"}),
    ("a community is at least as high as its highest cell", [], [dict(unit_id="cell-b", cases=3)],
     {"cell-b": "red", "plaza-c": "red", "cell-a": "green"}),
    ("a community's lockdown makes each of its cells red", [], [dict(unit_id="plaza-c", lockdown=True)],
     {"plaza-c": "red", "cell-a": "red", "cell-b": "red", "cell-e": "green", "market-c": "green"}),
    ("a cell's lockdown", [], [dict(unit_id="cell-e", lockdown=True)], {"cell-e": "red", "market-c": "red"}),
    ("a lifted lockdown no longer counts", [], [dict(unit_id="cell-e", lockdown=True),
                                                dict(unit_id="cell-e", lockdown=False)], {"cell-e": "green"}),
]


@pytest.mark.parametrize("name, rows, inputs, expected", CASES, ids=[c[0] for c in CASES])
def test_each_area_gets_the_highest_level_its_evidence_reaches(name, rows, inputs, expected):
    desk = Desk()
    record(desk, *rows)
    for args in inputs:
        outcome = desk.request("risk_input", **args)
        assert outcome.ok, outcome.reason
    desk(Tick())
    levels = desk.levels()
    assert {k: levels[k] for k in expected} == expected


def test_every_reason_is_kept_highest_first():
    desk = Desk()
    record(desk, *[gathering(f"g{i}", "grid:cell-a", T0 - HOUR, T0 - HOUR + 60) for i in range(3)],
           fever("f1", 50, T0 - HOUR))
    assert desk.request("risk_input", unit_id="plaza-c", lockdown=True, note="cluster at the market").ok
    a = desk.state.risk.assessments["cell-a"]
    assert a.level == "red"
    assert a.reasons[0].startswith("lockdown of its community Plaza C declared by health:dr-wu")
    assert "cluster at the market" in a.reasons[0]
    assert any(r.startswith("gatherings 3.0") and "reaches yellow (at least 3)" in r for r in a.reasons)
    assert any(r.startswith("fever hints 1.0") and "reaches yellow" in r for r in a.reasons)
    assert a.values["gatherings"] == pytest.approx(3.0, abs=0.05)
    assert desk.state.risk.assessments["cell-e"].reasons == ("no indicator reaches blue",)
    community = desk.state.risk.assessments["plaza-c"]
    assert "its cell Cell A is red" in community.reasons


def test_without_a_grid_the_counting_zones_are_the_areas():
    desk = Desk(world_state(grid=False))
    assert set(desk.state.risk.areas) == {"plaza"}
    record(desk, *[gathering(f"g{i}", "plaza", T0 - 600, T0 - 540) for i in range(6)])
    desk(Tick())
    assert desk.levels() == {"plaza": "orange"}
    refused = desk.request("risk_input", unit_id="cell-a", cases=1)
    assert refused.status == "refused_by_station" and "no counting zone 'cell-a'" in refused.reason


def test_the_first_computation_records_every_area_then_only_changes_with_their_reasons():
    desk = Desk()
    desk(Tick())
    first = desk.rows(RiskLevelRow)
    assert sorted(r.area_id for r in first) == ["cell-a", "cell-b", "cell-e", "market-c", "plaza-c"]
    assert all(r.previous is None and r.level == "green" and r.trigger == "schedule" for r in first)
    desk.actions.clear()
    record(desk, *[gathering(f"g{i}", "grid:cell-b", T0 - HOUR, T0 - HOUR + 60) for i in range(3)])
    desk.now_s += 3 * HOUR  # not yet due (every 4 h): nothing redrawn
    desk(Tick())
    assert desk.rows(RiskLevelRow) == []
    desk.now_s += 1 * HOUR
    desk(Tick())
    changes = desk.rows(RiskLevelRow)
    assert [(r.area_id, r.previous, r.level) for r in changes] == [("cell-b", "green", "blue"),
                                                                     ("plaza-c", "green", "blue")]
    assert "gatherings 2.9" in changes[0].reasons[0] and changes[0].values["gatherings"] == pytest.approx(2.86, 0.01)
    assert changes[0].trigger == "schedule"


def test_a_health_officials_input_is_checked_audited_recorded_and_applied_at_once():
    desk = Desk()
    for args, why in [(dict(unit_id="nowhere", cases=1), "no cell or community 'nowhere'"),
                      (dict(unit_id="cell-a", cases=-1), "cases must be a whole number"),
                      (dict(unit_id="cell-a", cases=True), "cases must be a whole number"),
                      (dict(unit_id="cell-a"), "give cases, close_contacts or lockdown"),
                      (dict(unit_id="cell-a", lockdown="yes"), "lockdown must be true"),
                      (dict(unit_id="cell-a", lockdown=False), "is not locked down"),
                      (dict(unit_id="cell-a", cases=1, colour="red"), "unexpected argument(s) for risk_input: colour")]:
        outcome = desk.request("risk_input", **args)
        assert outcome.status == "refused_by_station" and why in outcome.reason, (args, outcome.reason)
    assert desk.rows(RiskInputRow) == []
    outcome = desk.request("risk_input", unit_id="cell-a", cases=2, close_contacts=4, note="family cluster")
    assert outcome.ok and outcome.reason == "cell Cell A: 2 cases, 4 close contacts; now orange"
    (row,) = desk.rows(RiskInputRow)
    assert (row.unit_id, row.by, row.cases, row.close_contacts, row.lockdown, row.note) == (
        "cell-a", "health:dr-wu", 2, 4, None, "family cluster")
    audit = [c for c in desk.rows(CommandRow) if c.action == "risk_input"]
    assert [c.decision for c in audit] == ["refused"] * 7 + ["sent"]
    change = next(r for r in desk.rows(RiskLevelRow) if r.area_id == "cell-a" and r.level == "orange")
    assert change.trigger == "input:health:dr-wu"


def test_recompute_on_demand_is_audited():
    desk = Desk()
    outcome = desk.request("recompute_risk", by="operator:amy", reason="weekly review")
    assert outcome.ok and outcome.reason == "risk map redrawn: 5 green"
    assert {r.trigger for r in desk.rows(RiskLevelRow)} == {"demand:operator:amy"}
    assert any(c.action == "recompute_risk" and c.requested_by == "operator:amy" for c in desk.rows(CommandRow))


def test_old_evidence_is_forgotten():
    desk = Desk(world_state(RiskPolicy(forget_half_lives=2.0)))
    record(desk, gathering("old", "grid:cell-a", T0 - 200 * HOUR, T0 - 200 * HOUR + 60),
           gathering("new", "grid:cell-a", T0 - HOUR, T0 - HOUR + 60))
    desk(Tick())
    assert {e.ref for e in desk.state.risk.evidence.values()} == {"new"}


def test_gatherings_become_evidence_as_the_core_records_them():
    """A real gathering through ground counting: its start counts, and its end adds its minutes over capacity."""
    desk = Desk()
    record(desk, gathering("g1", "grid:cell-a", T0))
    assert desk.state.risk.open_gatherings["g1"] == (("cell-a",), T0)
    desk.now_s = T0 + 90 * 60
    record(desk, gathering("g1", "grid:cell-a", T0, T0 + 90 * 60))
    assert "g1" not in desk.state.risk.open_gatherings
    minutes = desk.state.risk.evidence["over_capacity_min:g1"]
    assert minutes.amount == pytest.approx(90.0)
    desk(Tick())
    assert desk.levels()["cell-a"] == "yellow"  # 90 minutes over capacity: yellow (at least 60)


def test_at_start_the_history_is_taken_and_unchanged_levels_are_not_recorded_again():
    desk = Desk()
    history = RiskLoaded(
        gatherings=(gathering("g1", "grid:cell-a", T0 - 2 * HOUR, T0 - 2 * HOUR + 60),),
        alerts=(fever("f1", 300, T0 - HOUR, zone_id=None),),
        inputs=(RiskInputRow("i1", T0 - 5 * HOUR, "plaza-c", "health:dr-wu", lockdown=True),
                RiskInputRow("i2", T0 - 4 * HOUR, "plaza-c", "health:dr-wu", lockdown=False),
                RiskInputRow("i3", T0 - 3 * HOUR, "cell-e", "health:dr-wu", lockdown=True)),
        levels={"cell-a": "blue", "cell-b": "green", "cell-e": "red", "plaza-c": "blue", "market-c": "red"})
    desk(history)
    assert desk.levels() == {"cell-a": "blue", "cell-b": "green", "cell-e": "red", "plaza-c": "blue",
                             "market-c": "red"}
    assert desk.rows(RiskLevelRow) == []  # nothing changed since the last record
    assert set(desk.state.risk.lockdowns) == {"cell-e"}


def test_an_empty_map_is_refused_on_demand():
    desk = Desk(replace(world_state(grid=False), risk=replace(world_state(grid=False).risk, areas={})))
    outcome = desk.request("recompute_risk")
    assert outcome.status == "refused_by_station" and "no risk map" in outcome.reason
