"""The crowd-response state machine of the pure core, event by event with an explicit clock: every branch (no fever,
fever, approval denied / timed out / approved, not dispersed -> escalated, each guard, operator abort at each step,
cooldown, a second crowd while busy), with the recorded causes."""
from __future__ import annotations

import pytest

from groundstation.core import crowds as cr
from groundstation.core.records import EventRow
from groundstation.core.response_data import BroadcastRow, ResponseStepRow, ThermalReadingRow
from telemetry.records import LinkChanged
from tests.response.world import FAR_SW, HOME, MARKET_SW, PLAZA_CENTRE, Model, World, distance, readings_for

AIRBORNE = dict(alt_rel_m=20.0, mode="GUIDED", armed=True)


def world(tmp_path, airborne=True, temps=None, **policy) -> World:
    w = World(tmp_path, policy_kw=policy)
    w.readings = readings_for(temps or {})
    w.add("d1", Model(HOME[0], HOME[1], **(AIRBORNE if airborne else {})))
    return w


def gather(w: World, n: int = 8, **kw) -> None:
    """A crowd of n over the plaza's capacity of 5, seen for longer than the dwell time."""
    w.hold_crowd(n, 7.0, **kw)


def test_no_fever_broadcasts_until_dispersed_then_leaves(tmp_path):
    w = world(tmp_path)
    gather(w)
    (r,) = w.active()
    assert r.state == "broadcasting" and r.vehicle_id == "d1"
    assert distance((r.lat_deg, r.lon_deg), PLAZA_CENTRE) < 20, "the crowd's centre, inside the plaza"
    assert distance((w.models["d1"].lat_deg, w.models["d1"].lon_deg), (r.lat_deg, r.lon_deg)) < 1, "over it"
    assert w.models["d1"].alt_rel_m == 20.0
    assert w.sent_actions("d1")[:4] == ["goto", "set_roi", "capture_image", "capture_image"]
    assert len(w.screens) == 2 and all(len(s.people) == 8 for s in w.screens)
    (b,) = w.broadcasts
    assert b.utterances[0] == ("zh-cmn", "广场：请戴好口罩，不要聚集") and b.repeat == 3
    w.hold_crowd(8, 12.0)  # the broadcast plays 12 s
    assert w.active()[0].state == "verifying"
    w.hold_crowd(3, 6.0)  # 3 people: at or below the re-arm level 4 (0.8 x 5) for the clear time
    w.advance(16.0)  # (people not seen for the counting window leave the counts)
    assert not w.active()
    assert w.steps() == ["confirmed", "approaching", "thermal_sampling", "broadcasting", "verifying", "resuming",
                         "ended"]
    (ended,) = w.ended()
    assert ended.outcome == "dispersed"
    assert w.sent_actions("d1")[-2:] == ["clear_roi", "rtl"], "no patrol to resume: home"
    readings = w.rows(ThermalReadingRow)
    assert len(readings) == 16 and all(x.status == "measured" and x.fever is False for x in readings)
    assert [a.kind for a in w.alerts()] == ["crowd"]
    assert w.state.responses.handled_gatherings == frozenset(), "a gathering that is over is forgotten"


def test_a_fever_raises_an_alert_with_positions_and_no_broadcast(tmp_path):
    w = world(tmp_path, temps={2: 38.6})
    gather(w)
    (r,) = w.active()
    assert r.state == "fever_found" and not w.broadcasts
    (alert,) = w.alerts("fever_hint")
    assert alert.severity == "critical" and "screening hint" in alert.text and "confirm" in alert.data["notice"]
    (person,) = alert.data["people"]
    assert person["temp_c"] == 38.6 and person["uncertainty_c"] == 2.0
    assert distance((person["lat_deg"], person["lon_deg"]), (r.lat_deg, r.lon_deg)) < 15
    assert [x.fever for x in w.rows(ThermalReadingRow) if x.temp_c == 38.6] == [True, True]
    w.hold_crowd(8, 31.0)  # hold and watch (fever_watch_s 30), then leave
    assert w.steps()[-3:] == ["fever_found", "resuming", "ended"] and w.ended()[0].outcome == "fever_found"
    assert "set_relay" not in w.sent_actions() and not w.broadcasts


def test_people_the_camera_lost_on_the_way_are_still_screened(tmp_path):
    w = world(tmp_path, temps={5: 38.6})
    w.instant_goto = False  # on its way over the crowd, the drone's camera sees two of the eight
    gather(w)
    assert w.active()[0].state == "approaching"
    w.hold_crowd(2, 16.0)  # the other six leave the map (not seen for the counting window, 15 s)
    assert len(cr.members(w.state.crowds, "plaza")) == 2
    r = w.active()[0]
    w.put("d1", lat_deg=r.lat_deg, lon_deg=r.lon_deg, alt_rel_m=20.0)  # over the crowd
    assert len(w.screens) == 2 and all(len(s.people) == 8 for s in w.screens), "the two seen and the six remembered"
    assert w.active()[0].state == "fever_found", "the fevered person was one of those the camera lost"


@pytest.mark.parametrize("decision, expected_steps, outcome", [
    ("approve_response", ["confirmed", "awaiting_approval", "approaching"], None),
    ("deny_response", ["confirmed", "awaiting_approval", "ended"], "dropped"),
])
def test_an_operator_approves_or_denies(tmp_path, decision, expected_steps, outcome):
    w = world(tmp_path, zone_mode="approve", zone_approval_timeout_s=60.0)
    w.readings = None  # stop at thermal sampling
    gather(w)
    (r,) = w.active()
    assert r.state == "awaiting_approval" and not w.sent
    answer = w.request(decision, response_id=r.response_id, by="alice")
    assert answer.ok, answer
    assert w.steps()[:3] == expected_steps
    by = [s.by for s in w.rows(ResponseStepRow) if s.state == expected_steps[2]]
    assert by == ["alice"], "the operator's decision is recorded as the cause"
    if outcome:
        assert w.ended()[0].outcome == outcome and not w.sent
    else:
        assert w.sent_actions()[:1] == ["goto"]


@pytest.mark.parametrize("on_timeout, step", [("drop", "ended"), ("proceed", "approaching")])
def test_an_approval_timeout_does_what_the_policy_says(tmp_path, on_timeout, step):
    w = world(tmp_path, zone_mode="approve", zone_approval_timeout_s=20.0, zone_on_approval_timeout=on_timeout)
    w.readings = None
    gather(w)
    entered = next(x.at_s for x in w.rows(ResponseStepRow) if x.state == "awaiting_approval")
    w.advance(entered + 19.0 - w.now_s)
    assert w.active()[0].state == "awaiting_approval"
    w.advance(2.0)
    assert w.steps()[2] == step
    assert "no operator decision within 20 s" in [c for c in w.causes() if c.startswith(step)][0]


def test_watch_only_alerts_and_flies_nothing(tmp_path):
    w = world(tmp_path, zone_mode="watch-only")
    gather(w)
    assert w.steps() == ["confirmed", "ended"] and w.ended()[0].outcome == "watched"
    assert [a.kind for a in w.alerts()] == ["crowd"] and not w.sent


def test_not_dispersed_broadcasts_again_then_escalates_and_holds(tmp_path):
    w = world(tmp_path)
    gather(w)
    w.hold_crowd(8, 12.0 + 30.0 + 1.0)  # broadcast 1 plays, the verify window passes: broadcast 2
    assert len(w.broadcasts) == 2 and w.active()[0].state == "broadcasting"
    w.hold_crowd(8, 12.0 + 30.0 + 1.0)  # max_broadcasts = 2: escalation
    (r,) = w.active()
    assert r.state == "escalated"
    (alert,) = w.alerts("escalation")
    assert alert.severity == "critical" and "an operator must act" in alert.text and alert.data["broadcasts"] == 2
    w.hold_crowd(8, 61.0)  # holds for escalated_hold_s, then leaves
    assert w.ended()[0].outcome == "escalated"
    assert w.steps().count("broadcasting") == 2


def test_screening_with_no_usable_frame_is_inconclusive_and_says_so(tmp_path):
    w = world(tmp_path)
    w.readings = readings_for({}, problem="thermal frame is 320x256, the camera model says 640x512 (misaligned)")
    gather(w)
    (alert,) = w.alerts("screening_failed")
    assert "inconclusive" in alert.text and "misaligned" in alert.text and "screening hint" in alert.text
    assert w.active()[0].state == "broadcasting", "no fever found among those measured: the message still goes out"
    assert not w.rows(ThermalReadingRow)


def test_a_failed_capture_is_recorded_and_the_other_frames_decide(tmp_path):
    w = world(tmp_path)
    calls = []

    def capture(send):
        calls.append(send)
        return (True, None, "not an image record") if len(calls) == 1 else (True, None, None)
    w.answers["capture_image"] = capture
    gather(w)
    assert any("thermal frame 1: the camera gave no image record" in r.text for r in w.rows(EventRow))
    assert len(w.screens) == 1 and w.active()[0].state == "broadcasting"


@pytest.mark.parametrize("guard, setup, act, reason", [
    ("battery", {}, lambda w: w.put("d1", battery_pct=20.0), "below the reserve"),
    ("link", {}, lambda w: w(LinkChanged("d1", False, "no messages for 3.0 s", 0.0)), "link lost"),
    ("mode", {}, lambda w: w.put("d1", mode="LOITER"), "left GUIDED for LOITER"),
    ("max time", {"max_response_s": 30.0}, lambda w: w.advance(31.0), "maximum time per response"),
    ("transit", {"transit_timeout_s": 20.0}, lambda w: w.advance(21.0), "not over the crowd within 20 s"),
])
def test_each_guard_stops_the_response_with_its_reason(tmp_path, guard, setup, act, reason):
    w = world(tmp_path, **setup)
    w.instant_goto = False  # the drone stays on its way: approaching
    gather(w)
    assert w.active()[0].state == "approaching"
    act(w)
    text = " ".join(w.causes() + [a.text for a in w.alerts()])
    assert reason in text, w.causes()
    assert w.ended() or w.active()[0].state == "resuming"
    if guard == "battery":
        assert any(s.command.action == "rtl" for s in w.sent)


def test_the_vehicle_refusing_guided_stops_the_response(tmp_path):
    w = world(tmp_path, airborne=False)
    w.put("d1", alt_rel_m=20.0, mode="AUTO", armed=True)
    w.answers["set_mode"] = lambda send: (False, "DO_SET_MODE refused: MAV_RESULT_DENIED (Mode change failed)", None)
    gather(w)
    assert w.ended()[0].outcome == "stopped"
    assert "set_mode refused by the vehicle" in w.ended()[0].reason and "Mode change failed" in w.ended()[0].reason
    (alert,) = w.alerts("response_stopped")
    assert "Mode change failed" in alert.text


def test_a_crowd_beyond_the_fence_gets_no_drone_and_says_why(tmp_path):
    w = world(tmp_path, queue_timeout_s=30.0)
    w.hold_crowd(8, 7.0, zone_sw=FAR_SW)
    (r,) = w.active()
    assert r.state == "waiting_for_drone" and "geofence" in w.causes()[-1]
    assert "goto" not in w.sent_actions(), "nothing is flown toward it"
    w.advance(31.0)
    assert w.ended()[0].outcome == "stopped" and "no drone could go within 30 s" in w.ended()[0].reason


def test_the_minimum_altitude_over_people_is_kept(tmp_path):
    w = world(tmp_path, approach_alt_m=10.0, min_alt_over_people_m=15.0)
    gather(w)
    assert w.ended()[0].outcome == "stopped" and "minimum altitude over people" in w.ended()[0].reason
    assert not w.sent


@pytest.mark.parametrize("when", ["awaiting_approval", "approaching", "thermal_sampling", "broadcasting",
                                  "verifying", "fever_found", "escalated"])
@pytest.mark.parametrize("then", ["resume", "rtl"])
def test_an_operator_aborts_at_any_step(tmp_path, when, then):
    w = world(tmp_path, temps={0: 39.0} if when == "fever_found" else None,
              zone_mode="approve" if when == "awaiting_approval" else "auto")
    if when == "approaching":
        w.instant_goto = False
    if when == "thermal_sampling":
        w.readings = None
    gather(w)
    if when == "verifying":
        w.hold_crowd(8, 13.0)
    if when == "escalated":
        w.hold_crowd(8, 2 * 43.0)
    (r,) = w.active()
    assert r.state == when
    sent_before = len(w.sent)
    answer = w.request("abort_response", response_id=r.response_id, then=then, reason="police on site", by="bob")
    assert answer.ok, answer
    from groundstation.core.records import CommandResultRow, CommandRow
    (audit,) = [c for c in w.rows(CommandRow) if c.action == "abort_response"]
    assert (audit.requested_by, audit.decision, audit.params["then"]) == ("bob", "sent", then), "audited like a command"
    assert [x.status for x in w.rows(CommandResultRow) if x.request_id == audit.request_id] == ["accepted"]
    assert not w.active()
    (ended,) = w.ended()
    assert ended.outcome == "aborted" and "aborted by bob: police on site" in " ".join(w.causes())
    after = [s.command.action for s in w.sent[sent_before:]]
    if when == "awaiting_approval":
        assert after == []
    else:
        assert after == ["clear_roi", "rtl"], "no patrol was paused: home either way"
        assert all(s.request_id.startswith(r.response_id) for s in w.sent[sent_before:])
    stops = [a for a in w.actions if type(a).__name__ == "StopBroadcast"]
    assert bool(stops) == (when == "broadcasting")


def test_abort_requests_are_refused_with_a_reason_when_nothing_matches(tmp_path):
    w = world(tmp_path)
    assert w.request("abort_response", response_id="nope").reason == "no active crowd response 'nope'"
    assert w.request("abort_response", vid="d1").reason == "no crowd response is active on d1"
    gather(w)
    r = w.active()[0]
    assert "then must be resume or rtl" in w.request("abort_response", response_id=r.response_id, then="land").reason
    assert "not awaiting approval" in w.request("approve_response", response_id=r.response_id).reason


def test_a_zone_in_cooldown_is_not_retriggered_until_it_ends(tmp_path):
    w = world(tmp_path)
    gather(w)
    w.hold_crowd(8, 12.0)
    w.hold_crowd(3, 6.0)
    w.advance(16.0)
    assert w.ended()[0].outcome == "dispersed"
    w.hold_crowd(8, 20.0)  # gathers again within the 120 s cooldown
    assert not w.active() and any("during its cooldown" in r.text for r in w.rows(EventRow))
    w.advance(120.0)
    w.hold_crowd(8, 7.0)
    assert len(w.active()) == 1, "after the cooldown a new gathering gets a response"


def test_two_zones_at_once_with_one_drone_the_second_waits_then_gets_it(tmp_path):
    w = world(tmp_path)
    w.instant_goto = False
    gather(w)  # the plaza takes d1
    w.hold_crowd(8, 7.0, zone_sw=MARKET_SW, stream="cam-d1", index=1)
    plaza, market = sorted(w.active(), key=lambda r: r.started_at_s)
    assert (plaza.zone_id, plaza.state, market.zone_id, market.state) == ("plaza", "approaching", "market",
                                                                          "waiting_for_drone")
    assert f"d1: responding to {plaza.response_id}" in w.causes()[-1]
    assert w.request("abort_response", response_id=plaza.response_id, then="rtl").ok
    w.put("d1", alt_rel_m=0.0, armed=False, mode="LAND")  # home and landed
    w.advance(2.0)
    (market,) = w.active()
    assert market.state == "approaching" and market.vehicle_id == "d1" and market.launched_from_ground
    assert w.sent_actions("d1")[-5:] == ["set_mode", "arm", "takeoff", "goto", "set_roi"], "launched from the ground"


def test_the_drone_that_saw_the_crowd_goes_else_the_nearest_that_can(tmp_path):
    w = world(tmp_path)
    w.add("d2", Model(*PLAZA_CENTRE, **AIRBORNE))  # right over the plaza
    gather(w, drone="d1")  # d1's camera saw it: d1 goes, though d2 is nearer
    assert w.active()[0].vehicle_id == "d1" and "the drone that saw it" in w.causes()[1]
    w2 = world(tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path)
    w2.put("d1", battery_pct=30.0)  # cannot keep the reserve with the hover
    w2.add("d2", Model(*PLAZA_CENTRE, **AIRBORNE))
    gather(w2, drone="d1")
    assert w2.active()[0].vehicle_id == "d2" and "the nearest drone that can go" in w2.causes()[1]


def test_speaker_failure_and_relay_delivery(tmp_path):
    w = world(tmp_path)
    w.broadcast_ok = False
    gather(w)
    assert "could not be delivered: speaker endpoint refused" in " ".join(w.causes())
    assert [b.status for b in w.rows(BroadcastRow)] == ["requested", "failed"]
    (tmp_path / "relay").mkdir()
    relay = world(tmp_path / "relay", broadcast="relay", relay_number=2, relay_clip_s=5.0)
    gather(relay)
    assert "set_relay" in relay.sent_actions() and not relay.broadcasts
    relay.hold_crowd(8, 16.0)
    assert relay.active()[0].state == "verifying"


def test_a_patrolling_drone_pauses_its_patrol_and_resumes_it_at_the_interrupted_waypoint(tmp_path):
    from groundstation.core.patrols import SchedulesLoaded, Tick
    from groundstation.core.patrols import PatrolRunRow
    from tests.patrols.helpers import schedule

    w = world(tmp_path, airborne=False)
    sched = schedule(tmp_path, interval_s=600, created_at_s=w.now_s - 601)
    w(SchedulesLoaded((sched,)))
    w(Tick())  # fires: the launch steps are answered by the world's vehicle
    run_id = next(iter(w.state.patrols.runs))
    assert w.sent_actions("d1") == ["upload_mission", "set_mission_current", "set_mode", "arm", "start_mission"]
    w.put("d1", alt_rel_m=20.0, mission_seq=3)  # flying in AUTO toward mission item 3
    assert w.state.patrols.runs[run_id].seen_auto
    gather(w)
    (r,) = w.active()
    assert r.patrol_run_id == run_id and r.resume_seq == 3
    assert w.state.patrols.runs[run_id].paused_by == r.response_id, "GUIDED over the crowd does not end the run"
    w.hold_crowd(8, 12.0)
    w.hold_crowd(3, 6.0)
    w.advance(16.0)
    assert w.ended()[0].outcome == "dispersed"
    assert w.sent_actions("d1")[-3:] == ["clear_roi", "set_mission_current", "start_mission"]
    resume = [s for s in w.sent if s.command.action == "set_mission_current"][-1]
    assert resume.command.seq == 3 and resume.request_id.startswith(r.response_id)
    run = w.state.patrols.runs[run_id]
    assert run.paused_by is None and run.status == "launched", "the patrol goes on"
    assert not [x for x in w.rows(PatrolRunRow) if x.status == "aborted"]


def test_a_grid_cell_over_its_safe_value_gets_a_response_too(tmp_path):
    from dataclasses import replace as dc_replace

    from groundstation.core import crowds as cr
    from missions.areas import CityGrid

    w = world(tmp_path)
    policy = dc_replace(w.state.crowds.policy, grid=CityGrid(HOME[0] - 0.01, HOME[1] - 0.01, 50.0),
                        cell_capacity_persons=6)
    w.state = dc_replace(w.state, crowds=cr.initial(policy))
    w.hold_crowd(8, 7.0, zone_sw=(-60.0, -60.0))  # in no zone: only its cell is over capacity
    (r,) = w.active()
    assert r.zone_id.startswith("cell:") and r.state == "broadcasting" and r.vehicle_id == "d1"
    assert "over its safe capacity of 6" in w.causes()[0]
    assert all(len(s.people) == 8 for s in w.screens), "the cell's people are screened"


def test_an_operator_broadcasts_a_message_now(tmp_path):
    w = world(tmp_path)
    answer = w.request("broadcast", vid="d1", by="web:olga", zone="plaza", repeat=2)
    assert answer.ok, answer
    (b,) = w.broadcasts
    assert (b.vehicle_id, b.utterances, b.repeat, b.response_id) == ("d1", w.state.response_policy.zone("plaza").messages,
                                                                     2, "")
    assert [r.status for r in w.rows(BroadcastRow)] == ["requested", "delivered"]
    assert w.request("broadcast", vid="d1", messages={"en": "Please keep your distance"}).ok
    assert w.broadcasts[-1].utterances == (("en", "Please keep your distance"),)
    for args, why in (({"repeat": 0, "zone": "plaza"}, "repeat must be"), ({"messages": {"en": ""}}, "non-empty"),
                      ({"volume": 3}, "unexpected")):
        assert why in w.request("broadcast", vid="d1", **args).reason
    assert "link is down" in w.request("broadcast", vid="nope", zone="plaza").reason
