"""What the risk levels change, pure: zone capacities (a red area tolerates smaller gatherings, in the crowd logic
itself), venue limits, and patrol intervals (a red area is patrolled more often), each change in the event log."""
from __future__ import annotations

import pytest

from groundstation.core import crowds as cr
from groundstation.core import patrols as pt
from groundstation.core.patrols import PatrolRunRow, SchedulesLoaded, Tick
from groundstation.core.records import EventRow
from groundstation.core.response_data import AlertRow
from groundstation.core.venue_data import VenueCrossed
from tests.grid.city import at
from tests.risk.world import HOUR, T0, Desk, patrol
from vision.records import FrameResult, PersonOnGround


def crowd(n: int, east_m: float, t_s: float) -> cr.VisionObserved:
    people = tuple(PersonOnGround(*at(east_m + 3 * i, 100), 1.0, 0.9, "d1", t_s, track_id=i + 1) for i in range(n))
    return cr.VisionObserved("cam", FrameResult("cam", 0, t_s, (), n, n, "test", people=people))


def capacities(desk: Desk) -> dict[str, int]:
    return {z.zone_id: cr.capacity_of(desk.state.crowds, z.zone_id, z.capacity_persons)
            for z in desk.state.crowds.policy.zones}


@pytest.mark.parametrize("locked, expected", [
    ((), {"plaza": 20, "grid:cell-a": 5, "grid:cell-b": 8}),
    (("cell-a",), {"plaza": 10, "grid:cell-a": 2, "grid:cell-b": 8}),  # plaza covers cell-a: its highest level
    (("plaza-c",), {"plaza": 10, "grid:cell-a": 2, "grid:cell-b": 4}),
    (("cell-e",), {"plaza": 20, "grid:cell-a": 5, "grid:cell-b": 8}),
])
def test_zone_capacities_follow_the_level_of_their_cells(locked, expected):
    desk = Desk()
    desk(Tick())
    for unit in locked:
        assert desk.request("risk_input", unit_id=unit, lockdown=True).ok
    assert capacities(desk) == expected


@pytest.mark.parametrize("level_effect, base, expected", [
    (1.0, 20, 20), (0.85, 20, 17), (0.7, 5, 3), (0.5, 5, 2), (0.5, 1, 1), (0.5, 0, 0),
])
def test_a_scaled_capacity_rounds_down_and_keeps_at_least_one(level_effect, base, expected):
    state = cr.with_capacity_factors(cr.CrowdState(), {"z": level_effect})
    assert cr.capacity_of(state, "z", base) == expected


def test_a_red_area_tolerates_a_smaller_gathering():
    """Four people in cell-a (capacity 5): no gathering while it is green; a gathering once its community is locked
    down (capacity 2); each capacity change is in the event log."""
    desk = Desk()
    desk(Tick())
    for t in range(0, 30, 5):
        desk.now_s = T0 + t
        desk(crowd(4, 20, desk.now_s))
    assert not [r for r in desk.rows(cr.GatheringRow) if r.zone_id == "grid:cell-a"]
    assert desk.request("risk_input", unit_id="plaza-c", lockdown=True).ok
    assert any(isinstance(r, EventRow) and r.text == "zone Cell A: safe capacity 5 -> 2 people (risk red; "
               "configured 5)" for r in desk.rows(EventRow))
    for t in range(30, 60, 5):
        desk.now_s = T0 + t
        desk(crowd(4, 20, desk.now_s))
    (started,) = [r for r in desk.rows(cr.GatheringRow) if r.zone_id == "grid:cell-a"]
    assert started.status == "gathering" and started.capacity_persons == 2
    assert "4 people in zone Cell A (safe capacity 2)" in started.reason


def test_a_venue_in_a_red_cell_admits_fewer_people():
    desk = Desk()
    desk(Tick())
    desk(VenueCrossed("hall", "hall-door", 7, 0, T0, T0))
    assert desk.state.venues.venues["hall"].limit_persons == 10 and not desk.rows(AlertRow)
    assert desk.request("risk_input", unit_id="cell-e", lockdown=True).ok
    hall = desk.state.venues.venues["hall"]
    assert (hall.limit_persons, hall.base_limit_persons, hall.over_limit) == (5, 10, True)
    (alert,) = desk.rows(AlertRow)
    assert alert.kind == "venue_over_limit" and "lowered by the area's risk level" in alert.text


def fire_times(desk: Desk, sid: str) -> list[float]:
    return sorted({r.scheduled_for_s for r in desk.rows(PatrolRunRow) if r.schedule_id == sid})


def test_a_red_area_is_patrolled_more_often_and_a_cron_schedule_keeps_its_times():
    """Interval 600 s over cell-a; cron every 15 minutes over cell-a too; a schedule over cell-e. Once plaza-c is
    red the first fires every 150 s (x 0.25), the others as before."""
    desk = Desk()
    desk.now_s = T0 - 0.5
    desk(SchedulesLoaded((patrol("over-a"), patrol("cron-a", cron="*/15 * * * *", interval_s=None),
                          patrol("over-e", east_m=300))))
    desk(Tick())

    def run(seconds: int) -> None:  # a Tick every 10 s: each fire time has its own Tick
        for _ in range(seconds // 10):
            desk.now_s += 10.0
            desk(Tick())

    run(1800)
    green = {sid: len(fire_times(desk, sid)) for sid in ("over-a", "cron-a", "over-e")}
    assert green == {"over-a": 3, "cron-a": 2, "over-e": 3}
    assert desk.request("risk_input", unit_id="plaza-c", lockdown=True).ok
    assert desk.state.patrols.interval_factors == {"over-a": 0.25, "cron-a": 0.25}
    assert any(r.text.startswith("patrol over-a: every 600 s -> every 150 s (risk red in cell-a")
               for r in desk.rows(EventRow))
    desk.actions.clear()
    run(1800)
    red = {sid: len(fire_times(desk, sid)) for sid in ("over-a", "cron-a", "over-e")}
    assert red == {"over-a": 12, "cron-a": 2, "over-e": 3}
    times = fire_times(desk, "over-a")
    assert {round(b - a) for a, b in zip(times, times[1:])} == {150}


@pytest.mark.parametrize("interval_s, factor, expected", [
    (600.0, 1.0, 600.0), (600.0, 0.5, 300.0), (600.0, 0.25, 150.0), (120.0, 0.25, 60.0), (600.0, 2.0, 1200.0),
])
def test_a_scaled_interval_never_goes_below_a_minute(interval_s, factor, expected):
    assert pt.risk_scaled(patrol(interval_s=interval_s), factor).interval_s == expected


def test_the_schedule_fires_again_at_its_usual_pace_when_the_area_calms_down():
    desk = Desk()
    desk(SchedulesLoaded((patrol("over-a"),)))
    assert desk.request("risk_input", unit_id="cell-a", lockdown=True).ok
    assert desk.state.patrols.interval_factors == {"over-a": 0.25}
    desk.now_s += HOUR
    assert desk.request("risk_input", unit_id="cell-a", lockdown=False).ok
    assert desk.state.patrols.interval_factors == {}
