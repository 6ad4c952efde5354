"""The patrol decisions of the pure core, driven event by event with an explicit clock (no threads, no sleep)."""
from __future__ import annotations

from groundstation.core.records import CommandFinished, CommandRequest, EventRow, Record, Reply, SendCommand
from groundstation.core.patrols import (PatrolRunRow, ResumePoint, ScheduleFiredRow, StaleRun, launch_items,
                                  rotation_action)
from missions.mission import MavCmd
from telemetry.records import MissionProgress

from tests.patrols.helpers import Core, schedule, utc

T0 = utc(2024, 4, 30, 23, 0)  # 07:00 in Shanghai


def rows(actions, kind=PatrolRunRow):
    return [a.row for a in actions if isinstance(a, Record) and isinstance(a.row, kind)]


def sends(actions, action=None):
    return [a for a in actions if isinstance(a, SendCommand) and (action is None or a.action == action)]


def launch(core: Core, now_s: float, vid: str):
    """Answer the launch steps (upload, item 1, GUIDED, arm, mission start) as a vehicle that accepts them;
    return the run id."""
    upload = sends(core.actions, "upload_mission")[-1]
    assert upload.vehicle_id == vid
    run_id = upload.request_id.rsplit(":", 1)[0]
    for step, action in (("upload", "upload_mission"), ("first_item", "set_mission_current"), ("guided", "set_mode"),
                         ("arm", "arm"), ("start", "start_mission")):
        rid = f"{run_id}:{step}"
        assert any(s.request_id == rid for s in sends(core.actions, action)), f"{step} not sent"
        core(CommandFinished(rid, vid, action, True, result_name="MAV_RESULT_ACCEPTED"), now_s)
    core.put_state(now_s, vid, mode="AUTO", armed=True, alt_rel_m=1.0, landed_state=2)
    assert core.state.patrols.runs[run_id].status == "launched"
    return run_id


def test_a_cron_schedule_fires_at_its_local_time_and_only_then(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.put_state(T0, "v2", lat_deg=23.0500)  # farther from the zone
    core.load(T0, schedule(tmp_path, cron="0 8 * * *", tz_name="Asia/Shanghai", created_at_s=T0))
    assert not sends(core.tick(utc(2024, 4, 30, 23, 59, 59)))
    actions = core.tick(utc(2024, 5, 1, 0, 0) + 0.5)  # 08:00 Asia/Shanghai
    fired = rows(actions, ScheduleFiredRow)
    assert [f.fired_for_s for f in fired] == [utc(2024, 5, 1, 0, 0)]
    planned = rows(actions)[0]
    assert planned.status == "planned" and planned.vehicle_id == "v1" and "v1:" in planned.reason
    upload = sends(actions, "upload_mission")
    assert len(upload) == 1 and upload[0].vehicle_id == "v1"
    assert upload[0].command.items[1].command == MavCmd.NAV_TAKEOFF  # after the home slot the station adds
    # 08:00 UTC (16:00 local) is not a fire time: no new run
    assert not rows(core.tick(utc(2024, 5, 1, 8, 0, 1)), ScheduleFiredRow)


def test_missed_runs_while_down_are_recorded_and_only_a_recent_one_flies(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.put_state(T0, "v2")
    # created three days earlier, never fired; first look now, 08:05 local: today's 08:00 is within the grace
    sched = schedule(tmp_path, cron="0 8 * * *", tz_name="Asia/Shanghai", created_at_s=T0 - 3 * 86400, grace_s=600)
    core.load(T0, sched)
    actions = core.tick(utc(2024, 5, 1, 0, 5))
    missed = [r for r in rows(actions) if r.status == "missed"]
    assert len(missed) == 3 and all("superseded" in r.reason for r in missed)
    assert [r.status for r in rows(actions) if r.status != "missed"] == ["planned"]
    assert len(sends(actions, "upload_mission")) == 1

    core2 = Core()
    core2.put_state(T0, "v1")
    core2.load(T0, sched)
    actions = core2.tick(utc(2024, 5, 1, 0, 30))  # 08:30 local: 30 min late, beyond the 10 min grace
    assert [r.status for r in rows(actions)] == ["missed"] * 4
    assert "beyond the 600 s grace period" in rows(actions)[-1].reason
    assert not sends(actions)


def test_assignment_passes_over_a_low_battery_drone_and_says_why(tmp_path):
    core = Core()
    core.put_state(T0, "v1", battery_pct=30.0)  # nearest, but low
    core.put_state(T0, "v2", battery_pct=90.0, lon_deg=112.4652)
    core.load(T0, schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10))
    actions = core.tick(T0 + 3590.5)
    planned = rows(actions)[0]
    assert planned.vehicle_id == "v2" and planned.status == "planned"
    assert sends(actions, "upload_mission")[0].vehicle_id == "v2"
    # both low: missed, with a reason per vehicle
    core = Core()
    core.put_state(T0, "v1", battery_pct=30.0)
    core.put_state(T0, "v2", battery_pct=20.0)
    core.load(T0, schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10))
    actions = core.tick(T0 + 3590.5)
    (missed,) = rows(actions)
    assert missed.status == "missed" and "no vehicle available" in missed.reason
    assert "v1: battery 30%" in missed.reason and "v2: battery 20%" in missed.reason
    assert not sends(actions)


def test_the_launch_goes_through_every_check_and_completion_is_recorded(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    sched = schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10)
    core.load(T0, sched)
    core.tick(T0 + 3590.5)
    run_id = launch(core, T0 + 3600, "v1")
    launched = [r for r in rows(core.actions) if r.status == "launched"]
    assert launched and launched[0].launched_at_s == T0 + 3600
    n = len(sched.items)
    for seq in range(1, n + 1):
        core(MissionProgress("v1", seq, seq, 0.0), T0 + 3600 + seq)
    core.put_state(T0 + 3700, "v1", mode="AUTO", armed=False, alt_rel_m=0.0, mission_seq=n)
    ended = rows(core.actions)[-1]
    assert ended.run_id == run_id and ended.status == "completed" and ended.ended_at_s == T0 + 3700
    assert not core.state.patrols.runs


def test_a_launch_refused_by_the_vehicle_or_the_station_is_recorded_aborted(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.load(T0, schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10))
    core.tick(T0 + 3590.5)
    rid = sends(core.actions, "upload_mission")[-1].request_id
    run_id = rid.rsplit(":", 1)[0]
    core(CommandFinished(rid, "v1", "upload_mission", True), T0 + 3600)
    core(CommandFinished(f"{run_id}:first_item", "v1", "set_mission_current", True), T0 + 3600)
    core(CommandFinished(f"{run_id}:guided", "v1", "set_mode", True), T0 + 3600)
    core(CommandFinished(f"{run_id}:arm", "v1", "arm", False, 400, 4, "MAV_RESULT_FAILED", error_kind="refused",
                         error="PreArm: Need Position Estimate"), T0 + 3601)
    ended = rows(core.actions)[-1]
    assert ended.status == "aborted" and ended.reason == "refused by the vehicle at arm: PreArm: Need Position Estimate"
    # a fence the plan would leave: the station's own check refuses the upload, nothing is sent
    core = Core(max_distance_from_home_m=30.0)
    core.put_state(T0, "v1")
    core.load(T0, schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10))
    actions = core.tick(T0 + 3590.5)
    assert not sends(actions)
    ended = rows(actions)[-1]
    assert ended.status == "aborted" and ended.reason.startswith("refused by the station at upload: item")


def test_an_interrupted_patrol_resumes_at_the_waypoint_where_it_stopped(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    sched = schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10)
    core.load(T0, sched)
    core.tick(T0 + 3590.5)
    run_id = launch(core, T0 + 3600, "v1")
    waypoints = [i for i, it in enumerate(sched.items) if it.command == MavCmd.NAV_WAYPOINT]
    reached = waypoints[1]  # the second waypoint reached...
    for seq in range(1, reached + 2):
        core(MissionProgress("v1", seq, seq, 0.0), T0 + 3610)
    # ... then the battery runs low and the vehicle returns by itself
    core.put_state(T0 + 3620, "v1", mode="RTL", armed=True, alt_rel_m=20.0, battery_pct=30.0, landed_state=2)
    aborted = rows(core.actions)[-1]
    assert aborted.run_id == run_id and aborted.status == "aborted" and aborted.reason.startswith("battery RTL")
    assert aborted.last_reached_item == reached and aborted.resume_item == waypoints[2]
    core.put_state(T0 + 3700, "v1", battery_pct=95.0)  # landed, new battery
    actions = core.tick(T0 + 7190.5)
    planned = rows(actions)[0]
    assert planned.resume_from_item == waypoints[2] and planned.resumed_from_run == run_id
    items = sends(actions, "upload_mission")[0].command.items[1:]  # without the home slot
    assert items[0].command == MavCmd.NAV_TAKEOFF
    first_wp = next(it for it in items if it.command == MavCmd.NAV_WAYPOINT)
    assert (first_wp.lat_deg, first_wp.lon_deg) == (sched.items[waypoints[2]].lat_deg, sched.items[waypoints[2]].lon_deg)
    assert [it.command for it in items if it.command != MavCmd.NAV_WAYPOINT] == [22, 178, 205, 20]
    assert len([it for it in items if it.command == MavCmd.NAV_WAYPOINT]) == len(waypoints) - 2


def test_operator_abort_records_who_and_why_and_sends_the_vehicle_home(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.load(T0, schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10))
    core.tick(T0 + 3590.5)
    run_id = launch(core, T0 + 3600, "v1")
    core(MissionProgress("v1", 5, 5, 0.0), T0 + 3605)
    actions = core(CommandRequest("v1", "abort_patrol", {"reason": "crowd control needs the airspace"},
                                  requested_by="alice", request_id="op-1"), T0 + 3606)
    aborted = rows(actions)[0]
    assert aborted.run_id == run_id and aborted.status == "aborted"
    assert aborted.reason == "operator abort by alice: crowd control needs the airspace"
    rtl = sends(actions, "rtl")
    assert len(rtl) == 1 and rtl[0].request_id == "op-1"
    assert core.state.patrols.resume["s1"].run_id == run_id
    # nothing to abort any more: refused, and said so
    actions = core(CommandRequest("v1", "abort_patrol", {}, requested_by="alice", request_id="op-2"), T0 + 3607)
    (reply,) = [a for a in actions if isinstance(a, Reply)]
    assert reply.outcome.status == "refused_by_station" and "no automatic patrol" in reply.outcome.reason


def test_a_link_loss_aborts_the_run(tmp_path):
    from telemetry.records import LinkChanged

    core = Core()
    core.put_state(T0, "v1")
    core.load(T0, schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10))
    core.tick(T0 + 3590.5)
    launch(core, T0 + 3600, "v1")
    core(LinkChanged("v1", False, "no heartbeat for 3 s", 0.0), T0 + 3610)
    assert rows(core.actions)[-1].status == "aborted" and rows(core.actions)[-1].reason.startswith("link lost")


def test_a_fire_time_that_finds_the_previous_run_in_the_air_is_missed(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.put_state(T0, "v2")
    core.load(T0, schedule(tmp_path, interval_s=600, created_at_s=T0))
    core.tick(T0 + 600.5)
    launch(core, T0 + 601, "v1")
    actions = core.tick(T0 + 1200.5)
    (missed,) = rows(actions)
    assert missed.status == "missed" and "still in progress on v1" in missed.reason and not sends(actions)


def test_rotation_launches_the_next_drone_before_the_current_must_return_then_brings_it_home(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.put_state(T0, "v2", lon_deg=112.4649)  # a little farther from the zone: v1 goes first
    sched = schedule(tmp_path, interval_s=86400, created_at_s=T0, cover_s=86400.0)
    core.load(T0, sched)
    core.tick(T0 + 86400.5)
    t = T0 + 86401
    run1 = launch(core, t, "v1")
    uploaded = sends(core.actions, "upload_mission")[-1].command.items
    jump = [it for it in uploaded if it.command == 177]
    assert len(jump) == 1 and jump[0].param2 == -1  # the patrol loops until relieved
    assert uploaded[int(jump[0].param1)].command == MavCmd.NAV_WAYPOINT  # it jumps back to the first waypoint
    core(MissionProgress("v1", 5, 5, 0.0), t + 10)
    core.put_state(t + 20, "v1", mode="AUTO", armed=True, alt_rel_m=20.0, battery_pct=60.0, landed_state=2)
    assert not sends(core.tick(t + 21))  # plenty of battery: no relief yet
    core.put_state(t + 600, "v1", mode="AUTO", armed=True, alt_rel_m=20.0, battery_pct=30.0, landed_state=2)
    actions = core.tick(t + 601)
    relief = rows(actions)[0]
    assert relief.vehicle_id == "v2" and relief.relieves_run == run1 and relief.status == "planned"
    assert "rotation: v1 has" in relief.reason
    run2 = launch(core, t + 640, "v2")
    assert core.state.patrols.runs[run1].relief_run == run2
    relief_items = core.state.patrols.runs[run2].items
    first_wp_seq = next(i for i, it in enumerate(relief_items) if it.command == MavCmd.NAV_WAYPOINT) + 1
    core(MissionProgress("v2", first_wp_seq, first_wp_seq, 0.0), t + 660)
    done = [r for r in rows(core.actions) if r.run_id == run1][-1]
    assert done.status == "completed" and done.reason == f"relieved by run {run2} on v2"
    home = sends(core.actions, "rtl")
    assert home and home[-1].vehicle_id == "v1"
    assert set(core.state.patrols.runs) == {run2}


def test_a_restart_records_runs_left_in_the_air_and_resumes_them(tmp_path):
    sched = schedule(tmp_path, interval_s=3600, created_at_s=T0 - 10, last_fired_s=T0 + 3590)
    core = Core()
    core.put_state(T0, "v1")
    actions = core.load(T0 + 4000, sched, stale_runs=(StaleRun("s1@x", "s1", "v1", 6),))
    (row,) = rows(actions)
    assert row.status == "aborted" and "station stopped" in row.reason
    assert core.state.patrols.resume["s1"] == ResumePoint("s1@x", 6)
    assert core.state.patrols.checked_until_s["s1"] == T0 + 3590  # from the last fire time
    actions = core.tick(T0 + 7190.5)
    assert rows(actions)[0].resume_from_item == 6


def test_launch_items_map_back_to_the_plan(tmp_path):
    sched = schedule(tmp_path, interval_s=3600)
    items, index = launch_items(sched, 5, loop=False)
    assert all(sched.items[i] == it for it, i in zip(items, index))
    assert index[:3] == (0, 1, 2) and index[3:] == tuple(range(5, len(sched.items)))
    items, index = launch_items(sched, None, loop=True)
    assert index.count(None) == 1 and len(items) == len(sched.items) + 1


def test_unknown_tick_without_schedules_does_nothing():
    core = Core()
    assert core.tick(T0) == []
    assert not [a for a in core.actions if isinstance(a, Record) and isinstance(a.row, EventRow)
                and a.row.kind == "patrol"]


def test_a_looping_relief_resumed_mid_route_still_flies_every_waypoint(tmp_path):
    """Regression: the relief of a rotation resumes at the current drone's next waypoint; its loop used to jump
    back to that waypoint, so the waypoints before it were never flown again (half the zone left uncovered)."""
    sched = schedule(tmp_path, interval_s=86400, cover_s=3600.0)
    waypoints = [i for i, it in enumerate(sched.items) if it.command == MavCmd.NAV_WAYPOINT]
    rtl = next(i for i, it in enumerate(sched.items) if it.command == MavCmd.NAV_RETURN_TO_LAUNCH)
    resume_at = waypoints[2]
    items, index = launch_items(sched, resume_at, loop=True)
    assert all(i is None or sched.items[i] == it for it, i in zip(items, index))
    assert items[0].command == MavCmd.NAV_TAKEOFF
    flown = [i for i in index if i in waypoints]
    assert flown == waypoints[2:] + waypoints[:2]  # the same cycle as the full route, entered at resume_at
    (jump_at,) = [k for k, i in enumerate(index) if i is None]
    jump = items[jump_at]
    assert jump.command == 177 and jump.param2 == -1
    assert index[int(jump.param1) - 1] == resume_at  # seq = upload index + 1: back to where the relief started
    assert index[jump_at + 1] == rtl and jump_at + 2 == len(items)
    # from the first waypoint nothing changes (no wrap needed)
    items, index = launch_items(sched, waypoints[0], loop=True)
    assert [i for i in index if i in waypoints] == waypoints


def test_rotation_action_table():
    end = 1000.0
    cases = [  # left_s, lead_s, now_s, relief launched -> action
        (500.0, 100.0, 1000.0, False, "end"),  # the window is over, whatever the battery
        (-5.0, 100.0, 1000.0, True, "end"),
        (None, 100.0, 500.0, False, ""),  # battery or position unknown: nothing to decide
        (500.0, 100.0, 200.0, False, ""),  # plenty of time
        (90.0, 100.0, 200.0, False, "relief"),
        (90.0, 100.0, 200.0, True, ""),  # already on its way
        (90.0, 100.0, 950.0, False, ""),  # lasts until the window ends: no relief needed
        (0.0, 100.0, 200.0, True, "return"),  # out of time: home, even with the relief still coming
        (-3.0, 100.0, 200.0, False, "return"),
    ]
    for left, lead, now, launched, want in cases:
        assert rotation_action(left, lead, now, end, launched) == want, (left, lead, now, launched)


def test_rotation_sends_the_drone_home_when_its_time_is_up_even_without_a_relief(tmp_path):
    """Regression: with no relief available the looping patrol used to go on until the battery failsafe."""
    core = Core(vehicles=("v1",))
    core.put_state(T0, "v1")
    sched = schedule(tmp_path, interval_s=86400, created_at_s=T0, cover_s=86400.0)
    core.load(T0, sched)
    core.tick(T0 + 86400.5)
    t = T0 + 86401
    run1 = launch(core, t, "v1")
    core.put_state(t + 600, "v1", mode="AUTO", armed=True, alt_rel_m=20.0, battery_pct=30.0, landed_state=2)
    actions = core.tick(t + 601)
    assert not rows(actions) and not sends(actions)  # no relief available: a warning, the patrol goes on
    assert any(isinstance(a, Record) and isinstance(a.row, EventRow) and "no relief available" in a.row.text
               for a in actions)
    core.put_state(t + 700, "v1", mode="AUTO", armed=True, alt_rel_m=20.0, battery_pct=26.0, landed_state=2)
    actions = core.tick(t + 701)
    (row,) = rows(actions)
    assert row.run_id == run1 and row.status == "aborted"
    assert row.reason.startswith("no flying time left on station") and "no relief available" in row.reason
    assert [(c.vehicle_id, c.action) for c in sends(actions)] == [("v1", "rtl")]
    assert not core.state.patrols.runs


def test_an_operator_starts_a_patrol_now_through_the_checks(tmp_path):
    core = Core()
    core.put_state(T0, "v1")
    core.put_state(T0, "v2", lat_deg=23.0500)
    core.load(T0, schedule(tmp_path, cron="0 8 * * *", tz_name="Asia/Shanghai", created_at_s=T0))
    actions = core(CommandRequest("", "start_patrol", {"schedule": "plaza"}, "web:olga", "op-1"), T0 + 5)
    (reply,) = [a for a in actions if isinstance(a, Reply)]
    assert reply.outcome.ok and "launching on v1" in reply.outcome.reason
    (upload,) = sends(actions, "upload_mission")
    assert upload.vehicle_id == "v1" and upload.request_id.endswith("#by-operator:upload")
    planned = rows(actions)[0]
    assert planned.status == "planned" and "started now by web:olga" in planned.reason
    again = core(CommandRequest("", "start_patrol", {"schedule": "plaza"}, "web:olga", "op-2"), T0 + 6)
    (refused,) = [a for a in again if isinstance(a, Reply)]
    assert refused.outcome.status == "refused_by_station" and "already flying" in refused.outcome.reason
    for args, why in (({"schedule": "nope"}, "no patrol schedule"), ({"schedule": "plaza", "x": 1}, "unexpected")):
        (r,) = [a for a in core(CommandRequest("", "start_patrol", args, "web:olga", f"op-{why}"), T0 + 7)
                if isinstance(a, Reply)]
        assert why in r.outcome.reason
