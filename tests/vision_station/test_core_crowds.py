"""The pure ground-counting part of the core: zone and cell counts, no double counting, crowd observations,
gathering after hold_s, dispersed after clear_s, frames without a pose, stream status, all with an injected clock."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

import pytest

from groundstation.core.dispatch import handle
from groundstation.core.state import StationState
from groundstation.core import crowds as cr
from groundstation.core.records import EventRow, Record
from groundstation.core.patrols import Tick
from missions.areas import CityGrid, counting_zones_from_text
from missions.geo import enu_to_latlon
from vision.records import CrowdObservation, FrameResult, PersonOnGround, StreamStatus, WorkerStats

LAT0, LON0 = 23.0469, 112.4651


def offset(east_m: float, north_m: float) -> tuple[float, float]:
    lat, lon = enu_to_latlon(LAT0, LON0, east_m, north_m)
    return float(lat), float(lon)


def square(zone_id: str, east_m: float, north_m: float, size_m: float, capacity: int) -> dict:
    """A square zone as a zones-file feature."""
    corners = [offset(east_m, north_m), offset(east_m + size_m, north_m), offset(east_m + size_m, north_m + size_m),
               offset(east_m, north_m + size_m), offset(east_m, north_m)]
    return {"type": "Feature", "id": zone_id, "properties": {"name": zone_id.title(), "capacity": capacity},
            "geometry": {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in corners]]}}


def zones(*features) -> tuple:
    return counting_zones_from_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))


(PLAZA,) = zones(square("plaza", 0.0, 0.0, 40.0, capacity=3))
POLICY = cr.CountingPolicy(zones=(PLAZA,), grid=CityGrid(LAT0, LON0, 50.0), hold_s=10.0, clear_s=5.0,
                           window_s=30.0, merge_radius_m=2.0, record_interval_s=10.0)


def state0(policy: cr.CountingPolicy = POLICY) -> StationState:
    return StationState(crowds=cr.initial(policy))


def people_at(points, t, drone="d1", tracks=None):
    tracks = tracks if tracks is not None else [None] * len(points)
    return tuple(PersonOnGround(*offset(e, n), 1.5, 0.8, drone, t, tr) for (e, n), tr in zip(points, tracks))


def frame(points, t, index=0, tracks=None, pose_missing=False, stream="cam1", seen=None):
    """``seen``: the frame's seen area as (east0, north0, east1, north1) metres, or None (unknown)."""
    people = () if pose_missing else people_at(points, t, tracks=tracks)
    area = () if seen is None else tuple(offset(e, n) for e, n in ((seen[0], seen[3]), (seen[2], seen[3]),
                                                                     (seen[2], seen[1]), (seen[0], seen[1])))
    return FrameResult(stream, index, t, (), len(points), len(points), "test", people=people, pose_missing=pose_missing,
                       seen_area=area)


def observed(points, t, **kw):
    crowds = kw.pop("crowds", ())
    return cr.VisionObserved(kw.get("stream", "cam1"), frame(points, t, **kw), crowds)


def run(state, events):
    """Apply (event, now_s) pairs; return the final state and every row recorded."""
    rows = []
    for event, now_s in events:
        state, actions = handle(state, event, now_s)
        rows += [a.row for a in actions if isinstance(a, Record)]
    return state, rows


def of(rows, kind):
    return [r for r in rows if isinstance(r, kind)]


FIVE = [(5.0 + 3.0 * i, 10.0) for i in range(5)]  # five people 3 m apart inside the plaza


def test_zone_and_cell_counts_are_kept_and_recorded():
    state, rows = run(state0(), [(cr.StreamConfigured("cam1", "v1", "a.mp4"), 0.0), (observed(FIVE, 1.0), 1.0)])
    snap = cr.snapshot(state.crowds, 1.0)
    assert snap.people == 5
    assert [(z.zone_id, z.count) for z in snap.zones] == [("plaza", 5)]
    assert [(c.cell_east, c.cell_north, c.count) for c in snap.cells] == [(0, 0, 5)]
    zone_rows = of(rows, cr.ZoneCountRow)
    assert [(z.zone_id, z.count, z.over_capacity) for z in zone_rows] == [("plaza", 5, True)]
    view = of(rows, cr.ViewCountRow)
    assert view[0].count_in_view == 5 and view[0].placed == 5 and not view[0].pose_missing
    assert of(rows, cr.StreamStatusRow)[0].state == "configured"
    assert snap.streams[0].vehicle_id == "v1" and snap.streams[0].frames == 1


def test_the_same_people_seen_again_are_not_counted_twice():
    tracks = [1, 2, 3, 4, 5]
    moved = [(e + 0.5, n) for e, n in FIVE]
    state, _ = run(state0(), [(observed(FIVE, 1.0, tracks=tracks), 1.0),
                              (observed(moved, 1.1, index=1, tracks=tracks), 1.1),
                              # a second pass: new track ids, same places -> the same people
                              (observed(moved, 5.0, index=2, tracks=[11, 12, 13, 14, 15]), 5.0)])
    assert cr.snapshot(state.crowds, 5.0).people == 5
    # another drone's overlapping view, people slightly off: still five
    other = cr.VisionObserved("cam2", frame([(e + 1.0, n + 0.5) for e, n in moved], 6.0, stream="cam2"))
    state, _ = run(state, [(other, 6.0)])
    assert cr.snapshot(state.crowds, 6.0).people == 5
    # two people seen in the same frame close together are two people
    state, _ = run(state0(), [(observed([(1.0, 1.0), (1.5, 1.0)], 1.0), 1.0)])
    assert cr.snapshot(state.crowds, 1.0).people == 2


def test_one_track_over_consecutive_frames_is_one_person_in_its_zone_and_cell():
    two_zones = replace(POLICY, zones=zones(square("plaza", 0.0, 0.0, 40.0, 3), square("market", 100.0, 0.0, 40.0, 10)))
    events = [(observed([(10.0 + 0.3 * k, 10.0), (20.0, 20.0)], 0.1 * k, index=k, tracks=[1, 2]), 0.1 * k)
              for k in range(10)]
    state, _ = run(state0(two_zones), events)
    snap = cr.snapshot(state.crowds, 0.9)
    assert snap.people == 2
    assert [(z.zone_id, z.count) for z in snap.zones] == [("plaza", 2), ("market", 0)]
    assert [(c.cell_east, c.cell_north, c.count) for c in snap.cells] == [(0, 0, 2)]


def test_people_side_by_side_in_one_frame_are_as_many_people():
    state, _ = run(state0(), [(observed([(10.0, 10.0), (10.5, 10.0), (11.0, 10.0)], 0.0, tracks=[1, 2, 3]), 0.0)])
    assert cr.snapshot(state.crowds, 0.0).people == 3


def test_another_drones_view_and_a_repeated_pass_are_not_counted_twice():
    state = state0(replace(POLICY, window_s=60.0))
    # another drone (its own stream) sees the same two people at the same time, placed within its error
    other = cr.VisionObserved("cam2", frame([(10.8, 10.5), (29.5, 30.6)], 0.0, tracks=[7, 8], stream="cam2"))
    state, _ = run(state, [(observed([(10.0, 10.0), (30.0, 30.0)], 0.0, tracks=[1, 2]), 0.0), (other, 0.0)])
    assert cr.snapshot(state.crowds, 0.0).people == 2
    # the first drone passes again 40 s later: new track ids, the same two people and one more
    again = observed([(10.4, 9.7), (30.2, 30.1), (35.0, 5.0)], 40.0, index=1, tracks=[31, 32, 33])
    state, rows = run(state, [(again, 40.0)])
    snap = cr.snapshot(state.crowds, 40.0)
    assert snap.people == 3 and snap.zones[0].count == 3
    assert [(z.count, z.over_capacity) for z in of(rows, cr.ZoneCountRow)] == [(3, False)]  # capacity 3: not over


def test_people_placed_twice_while_the_drone_turned_leave_once_its_view_misses_them():
    # the same five placed 4 m further north (a pose a moment off while the drone turned): ten on the map at first
    shifted = [(e, n + 4.0) for e, n in FIVE]
    view = (0.0, 0.0, 40.0, 30.0)
    state, _ = run(state0(), [(observed(FIVE, 1.0, tracks=[1, 2, 3, 4, 5], seen=view), 1.0),
                              (observed(shifted, 1.2, index=1, tracks=[1, 2, 3, 4, 5], stream="cam1"), 1.2)])
    assert cr.snapshot(state.crowds, 1.2).people == 5, "a track keeps its identity: moved, not doubled"
    state, _ = run(state0(), [(observed(FIVE, 1.0, seen=view), 1.0), (observed(shifted, 1.2, index=1, seen=view), 1.2)])
    assert cr.snapshot(state.crowds, 1.2).people == 10, "no tracks: placed twice, and missed once"
    state, _ = run(state, [(observed(shifted, 1.4, index=2, seen=view), 1.4)])
    assert cr.snapshot(state.crowds, 1.4).people == 10, "missed twice"
    state, _ = run(state, [(observed(shifted, 1.6, index=3, seen=view), 1.6)])
    snap = cr.snapshot(state.crowds, 1.6)
    assert snap.people == 5 and snap.zones[0].count == 5, "missed in three frames that looked at them (miss_frames): gone"


def test_a_person_out_of_view_or_seen_without_a_known_view_stays_for_the_window():
    state, _ = run(state0(), [(observed([(5.0, 5.0), (35.0, 35.0)], 1.0), 1.0)])
    # two frames look at the west half only and see the first person: the second is out of view, kept
    for k in (1, 2, 3):
        state, _ = run(state, [(observed([(5.2, 5.0)], 1.0 + k, index=k, seen=(0.0, 0.0, 20.0, 40.0)), 1.0 + k)])
    assert cr.snapshot(state.crowds, 4.0).people == 2
    # someone last seen 1 m inside the edge of the view (walking out of it) is not judged by the frames after
    state, _ = run(state, [(observed([(5.2, 5.0), (19.0, 20.0)], 4.5, index=9, seen=(0.0, 0.0, 20.0, 40.0)), 4.5)])
    for k in (10, 11, 12):
        state, _ = run(state, [(observed([(5.2, 5.0)], k - 5.0, index=k, seen=(0.0, 0.0, 20.0, 40.0)), k - 5.0)])
    assert cr.snapshot(state.crowds, 7.0).people == 3
    state = state0()
    state, _ = run(state, [(observed([(5.0, 5.0), (35.0, 35.0)], 1.0), 1.0)])
    # frames without a seen area (no camera model) never take anyone off
    for k in (4, 5, 6):
        state, _ = run(state, [(observed([], 1.0 + k, index=k), 1.0 + k)])
    assert cr.snapshot(state.crowds, 7.0).people == 2
    # empty frames that look at both: seen by nobody three times, both gone (a crowd that left is not counted for
    # the window any more)
    for k in (7, 8, 9):
        state, _ = run(state, [(observed([], 1.0 + k, index=k, seen=(0.0, 0.0, 40.0, 40.0)), 1.0 + k)])
    assert cr.snapshot(state.crowds, 10.0).people == 0


def test_a_person_missed_now_and_then_is_kept_and_miss_frames_0_turns_it_off():
    view = (0.0, 0.0, 40.0, 40.0)
    state, _ = run(state0(), [(observed(FIVE, 1.0, seen=view), 1.0), (observed(FIVE[:4], 1.2, index=1, seen=view), 1.2),
                              (observed(FIVE[:4], 1.4, index=2, seen=view), 1.4),
                              (observed(FIVE, 1.6, index=3, seen=view), 1.6),
                              (observed(FIVE[:4], 1.8, index=4, seen=view), 1.8),
                              (observed(FIVE[:4], 2.0, index=5, seen=view), 2.0)])
    assert cr.snapshot(state.crowds, 2.0).people == 5, "missed in two frames, seen in the next: kept"
    never = state0(replace(POLICY, miss_frames=0))
    never, _ = run(never, [(observed(FIVE, 1.0, seen=view), 1.0)] +
                   [(observed([], 1.0 + k, index=k, seen=view), 1.0 + k) for k in (1, 2, 3)])
    assert cr.snapshot(never.crowds, 4.0).people == 5


def test_each_person_leaves_the_counts_window_s_after_last_seen():
    state = state0(replace(POLICY, window_s=10.0))
    state, _ = run(state, [(observed([(10.0, 10.0)], 0.0, tracks=[1]), 0.0),
                           (observed([(20.0, 20.0)], 8.0, index=1, tracks=[2]), 8.0)])
    counts = []
    for t in (9.0, 12.0, 30.0):
        state, _ = run(state, [(Tick(), t)])
        counts.append(cr.snapshot(state.crowds, t).people)
    assert counts == [2, 1, 0]


def test_people_not_seen_for_the_window_leave_the_counts_on_tick():
    state, _ = run(state0(), [(observed(FIVE, 1.0), 1.0)])
    state, rows = run(state, [(Tick(), 20.0)])
    assert cr.snapshot(state.crowds, 20.0).people == 5
    state, rows = run(state, [(Tick(), 31.5)])
    assert cr.snapshot(state.crowds, 31.5).people == 0
    assert [(z.count, z.over_capacity) for z in of(rows, cr.ZoneCountRow)] == [(0, False)]


def test_a_gathering_needs_hold_s_over_capacity_and_disperses_after_clear_s():
    events = [(observed(FIVE, t, tracks=[1, 2, 3, 4, 5], index=i), t) for i, t in enumerate([0.0, 4.0, 9.9])]
    state, rows = run(state0(), events)
    assert not of(rows, cr.GatheringRow)
    state, rows = run(state, [(observed(FIVE, 10.0, tracks=[1, 2, 3, 4, 5], index=3), 10.0)])
    (g,) = of(rows, cr.GatheringRow)
    assert g.status == "gathering" and g.zone_id == "plaza" and g.started_at_s == 0.0 and g.count == 5
    assert "5 people" in g.reason and "safe capacity 3" in g.reason and "hold 10 s" in g.reason
    notes = [r for r in rows if isinstance(r, EventRow) and r.kind == "vision"]
    assert notes and notes[0].severity == "warning" and notes[0].text.startswith("gathering")
    assert cr.snapshot(state.crowds, 10.0).zones[0].gathering
    # nothing new while it lasts
    state, rows = run(state, [(Tick(), 12.0)])
    assert not of(rows, cr.GatheringRow)
    # people leave (not seen for window_s = 30 s): back under capacity at 40.5, dispersed clear_s later
    state, rows = run(state, [(Tick(), 40.5)])
    assert not of(rows, cr.GatheringRow)
    state, rows = run(state, [(Tick(), 45.5)])
    (d,) = of(rows, cr.GatheringRow)
    assert d.status == "dispersed" and d.gathering_id == g.gathering_id and d.ended_at_s == 45.5 and d.peak_count == 5
    assert not cr.snapshot(state.crowds, 45.5).zones[0].gathering


def test_a_short_surge_is_not_a_gathering():
    state, rows = run(state0(), [(observed(FIVE, 0.0), 0.0), (observed(FIVE[:2], 5.0, index=1), 5.0)])
    # three people still in the window (the first frame's), capacity 3: not over
    state, rows2 = run(state, [(Tick(), 31.0), (Tick(), 60.0)])
    assert not of(rows + rows2, cr.GatheringRow)


def test_frames_without_a_pose_are_recorded_as_such_and_not_placed():
    state, rows = run(state0(), [(cr.StreamConfigured("cam1", "v1", "a.mp4"), 0.0),
                                 (observed(FIVE, 1.0, pose_missing=True), 1.0),
                                 (observed(FIVE, 1.1, index=1, pose_missing=True), 1.1)])
    views = of(rows, cr.ViewCountRow)
    assert len(views) == 1  # throttled: same count, same flag
    assert views[0].pose_missing and views[0].count_in_view == 5 and views[0].placed == 0
    snap = cr.snapshot(state.crowds, 1.1)
    assert snap.people == 0 and snap.zones[0].count == 0
    assert snap.streams[0].frames_without_pose == 2
    notes = [r for r in rows if isinstance(r, EventRow) and r.kind == "vision"]
    assert len(notes) == 1 and "no vehicle pose" in notes[0].text and notes[0].vehicle_id == "v1"
    state, rows = run(state, [(observed(FIVE, 2.0, index=2), 2.0)])
    assert of(rows, cr.ViewCountRow)[0].pose_missing is False
    assert any(isinstance(r, EventRow) and "pose available again" in r.text for r in rows)


def test_view_and_zone_rows_are_throttled():
    events = [(observed(FIVE, 1.0 + 0.1 * i, index=i, tracks=[1, 2, 3, 4, 5]), 1.0 + 0.1 * i) for i in range(50)]
    _, rows = run(state0(), events)
    assert len(of(rows, cr.ViewCountRow)) == 1 and len(of(rows, cr.ZoneCountRow)) == 1
    events = [(observed(FIVE, t, index=i, tracks=[1, 2, 3, 4, 5]), t) for i, t in enumerate([1.0, 6.0, 11.0, 16.0])]
    _, rows = run(state0(), events)
    assert [r.at_s for r in of(rows, cr.ZoneCountRow)] == [1.0, 11.0]


def test_every_crowd_observation_is_recorded_with_its_zone():
    lat, lon = offset(10.0, 10.0)
    inside = CrowdObservation(lat, lon, 4, 2.0, 0.3, 0.7, "d1", 1.0)
    outside = CrowdObservation(*offset(-100.0, 0.0), 3, 1.5, 0.4, 0.6, "d1", 1.0)
    late = cr.VisionObserved("cam1", None, (outside,))
    state, rows = run(state0(), [(cr.StreamConfigured("cam1", "v1", "a.mp4"), 0.0),
                                 (observed(FIVE, 1.0, crowds=(inside,)), 1.2), (late, 1.3)])
    obs = of(rows, cr.CrowdObservationRow)
    assert [(o.count, o.zone_id, o.vehicle_id, o.stream_id) for o in obs] == [(4, "plaza", "v1", "cam1"),
                                                                              (3, None, "v1", "cam1")]
    assert obs[0].observed_at_s == 1.0 and obs[0].at_s == 1.2 and obs[0].radius_m == 2.0
    assert obs[0].density_per_m2 == 0.3 and obs[0].confidence == 0.7
    assert {c.count for c in cr.snapshot(state.crowds, 1.3).crowds} == {4, 3}


def test_stream_status_changes_are_recorded_and_failures_logged():
    state, rows = run(state0(), [(cr.StreamConfigured("cam1", "v1", "x.mp4"), 0.0),
                                 (StreamStatus("cam1", "opening", "loading model", 0.5), 1.0),
                                 (StreamStatus("cam1", "failed", "SourceOpenError: no such file: x.mp4", 1.5), 2.0),
                                 (StreamStatus("cam1", "restarting", "restart 1/5 in 2.0 s", 2.0), 2.0),
                                 (WorkerStats("cam1", 10, 1.0, 10.0, 0, 300.0, "m"), 3.0)])
    states = [(r.state, r.vehicle_id) for r in of(rows, cr.StreamStatusRow)]
    assert states == [("configured", "v1"), ("opening", "v1"), ("failed", "v1"), ("restarting", "v1")]
    errors = [r for r in rows if isinstance(r, EventRow) and r.severity == "error"]
    assert len(errors) == 1 and "no such file" in errors[0].text
    assert any(isinstance(r, EventRow) and "10 frames analysed" in r.text for r in rows)
    assert cr.snapshot(state.crowds, 3.0).streams[0].state == "restarting"


def test_the_core_state_is_not_mutated():
    before = state0()
    after, _ = run(before, [(observed(FIVE, 1.0), 1.0)])
    assert before.crowds.people == () and after.crowds.people
    assert before.crowds.zones["plaza"].count == 0


def test_a_zone_with_its_own_dwell_time_waits_that_long():
    slow = dataclasses.replace(PLAZA, dwell_s=20.0)
    s = state0(dataclasses.replace(POLICY, zones=(slow,)))
    crowd = [(5.0 + i, 5.0) for i in range(5)]
    gatherings = []
    for t in range(0, 26):
        s, actions = handle(s, observed(crowd, float(t), tracks=list(range(5))), float(t))
        gatherings += [r for r in (a.row for a in actions if isinstance(a, Record)) if isinstance(r, cr.GatheringRow)]
        if t == 15:
            assert not gatherings, "the policy's hold_s (10 s) is not this zone's dwell time"
    (g,) = gatherings
    assert g.status == "gathering" and g.at_s == 20.0 and "hold 20 s" in g.reason


def estimated(points, t, estimate, sigma, **kw):
    """A frame whose worker estimated `estimate` ± `sigma` people for its boxes."""
    ev = observed(points, t, tracks=list(range(len(points))), **kw)
    return dataclasses.replace(ev, frame=dataclasses.replace(ev.frame, count_estimate=estimate, count_sigma=sigma))


def gatherings(rows):
    return [r for r in rows if isinstance(r, cr.GatheringRow)]


@pytest.mark.parametrize("estimate, sigma, gathers", [
    (5.0, 3.0, False),  # 5 boxes but the estimate could be 0.07 to 9.9 people: not credibly over 3
    (8.0, 1.0, True),  # 6.4 to 9.6: credibly over
    (None, 0.0, True),  # no estimate: the boxes are the count
])
def test_a_zone_is_over_capacity_only_when_its_count_is_credibly_over(estimate, sigma, gathers):
    crowd = [(5.0 + i, 5.0) for i in range(5)]
    _, rows = run(state0(), [(estimated(crowd, float(t), estimate, sigma), float(t)) for t in range(15)])
    assert bool(gatherings(rows)) == gathers
    counts = [r for r in rows if isinstance(r, cr.ZoneCountRow)]
    low, high = counts[-1].count_low, counts[-1].count_high
    if estimate is None:
        assert (low, high) == (5.0, 5.0)
    else:
        assert (low, high) == pytest.approx((max(0.0, estimate - 1.645 * sigma), estimate + 1.645 * sigma), abs=0.01)
    if gathers and estimate is not None:
        assert "credibly 6.4 to 9.6" in gatherings(rows)[0].reason


def test_a_packed_view_counted_by_a_density_model_counts_in_its_zone():
    packed = CrowdObservation(*offset(20.0, 20.0), 40, 6.0, 0.35, 0.7, "d1", 0.0, count_estimate=40.0,
                              count_sigma=4.0, count_method="density")
    events = [(cr.VisionObserved("cam1", frame([], float(t)), (dataclasses.replace(packed, time_s=float(t)),)),
               float(t)) for t in range(12)]
    state, rows = run(state0(), events)
    zone = state.crowds.zones["plaza"]
    assert zone.count == 40 and zone.count_low == pytest.approx(40 - 1.645 * 4, abs=0.01)
    assert gatherings(rows) and gatherings(rows)[0].count == 40
    recorded = [r for r in rows if isinstance(r, cr.CrowdObservationRow)]
    assert recorded[0].count_method == "density" and recorded[0].count_estimate == 40.0
