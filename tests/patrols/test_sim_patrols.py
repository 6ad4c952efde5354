"""Patrols flown by the real station against the real simulator over loopback TCP (speed-up 10).

(a) a planned patrol fired by its schedule, uploaded, flown in AUTO from the ground to completion: landed,
disarmed, run recorded completed; (e)+(f) an operator aborts mid-patrol, the vehicle returns, and the next
launch resumes at the waypoint where it stopped, and completes. The station's clock is injected: ticks are
sent by the test, nobody waits for a cron time.
"""
from __future__ import annotations


import pytest

from groundstation.shell.schedules import NewSchedule, add_schedule
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from missions.mission import MavCmd
from tests.patrols.helpers import config, write_zone
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def ready(station, vid):
    s = station.snapshot().get(vid)
    return bool(s and s.link_up and s.ready_to_arm and s.position_known and s.home)


def runs(db):
    with StorageReader(db) as r:
        return r.patrol_runs()


def setup(tmp_path, sim):
    cfg = config(tmp_path, urls=sim.urls)
    clock = Clock(1_800_000_000.0)
    station = Station(cfg, clock=clock, auto_tick=False).start()
    sched = add_schedule(cfg.station.storage_path,
                         NewSchedule("plaza", str(write_zone(tmp_path / "plaza.geojson")), "lawnmower", 20.0,
                                     interval_s=600), clock.t, cfg)
    wait_for(lambda: ready(station, "v1") and ready(station, "v2"), what="vehicles ready")
    station.tick()  # loads the schedule
    return cfg, clock, station, sched


def test_a_scheduled_patrol_is_flown_in_auto_to_completion(tmp_path, sim):
    cfg, clock, station, sched = setup(tmp_path, sim)
    db = cfg.station.storage_path
    try:
        clock.t += 600.5
        station.tick()
        wait_for(lambda: station.flush() and any(r["status"] == "completed" for r in runs(db)), 120, "completion")
        (run,) = runs(db)
        assert run["status"] == "completed" and run["reason"] == "landed and disarmed after the last item"
        vid = run["vehicle_id"]
        assert vid == "v2", "v2 starts 10 m east of v1, nearer the zone"
        assert run["launched_at_s"] == clock.t
        # the last waypoint at least: the final RTL's "reached" may come just after the disarm that completed it
        assert run["last_reached_item"] >= len(sched["plan"]["items"]) - 2
        state = station.snapshot()[vid]
        assert not state.armed and (state.alt_rel_m or 0) < 1.0
        with StorageReader(db) as r:
            sent = [(c["action"], c["params"].get("mode")) for c in reversed(r.commands(vid)) if c["decision"] == "sent"]
            assert sent == [("upload_mission", None), ("set_mission_current", None), ("set_mode", "GUIDED"), ("arm", None),
                            ("start_mission", None)], "started the way ArduCopter accepts with no RC throttle"
            assert all(c["status"] == "accepted" for c in r.commands(vid))
            assert all(c["requested_by"] == "patrol:plaza" for c in r.commands(vid))
            assert not r.commands("v1")
            reached = [e["data"]["seq"] for e in r.events(vid, kind="mission")]
            assert reached[-1] >= len(sched["plan"]["items"]) - 1  # every waypoint (see above for the RTL)
    finally:
        station.stop()


def test_an_aborted_patrol_resumes_at_the_interrupted_waypoint(tmp_path, sim):
    cfg, clock, station, sched = setup(tmp_path, sim)
    db = cfg.station.storage_path
    items = sched["plan"]["items"]
    waypoints = [i for i, it in enumerate(items) if it["command"] == MavCmd.NAV_WAYPOINT]
    try:
        clock.t += 600.5
        station.tick()

        def reached_second_waypoint():
            run = next(iter(station.patrol_state().runs.values()), None)
            return run is not None and (run.last_reached_item or -1) >= waypoints[1]
        wait_for(reached_second_waypoint, 120, "the second waypoint")
        vid = next(iter(station.patrol_state().runs.values())).vehicle_id
        outcome = station.abort_patrol(vid, "alice", "helicopter in the area").result(30)
        assert outcome.ok, outcome
        station.flush()
        (first,) = runs(db)
        assert first["status"] == "aborted" and first["reason"] == "operator abort by alice: helicopter in the area"
        resume_at = first["resume_item"]
        assert resume_at == first["last_reached_item"] + 1 and resume_at in waypoints
        wait_for(lambda: not station.snapshot()[vid].armed, 120, "home and disarmed")
        wait_for(lambda: ready(station, vid), 30, "ready again")
        clock.t += 600
        station.tick()
        wait_for(lambda: station.flush() and any(r["status"] == "completed" for r in runs(db)), 120, "the resumed run")
        second = runs(db)[1]
        assert second["status"] == "completed" and second["resume_from_item"] == resume_at
        assert second["resumed_from_run"] == first["run_id"]
        with StorageReader(db) as r:
            upload = r.command(f"{second['run_id']}:upload")
        flown = upload["params"]["items"][1:]  # without the home slot
        first_wp = next(it for it in flown if it["command"] == MavCmd.NAV_WAYPOINT)
        assert (first_wp["lat_deg"], first_wp["lon_deg"]) == (items[resume_at]["lat_deg"], items[resume_at]["lon_deg"])
        assert flown[0]["command"] == MavCmd.NAV_TAKEOFF
        assert sum(1 for it in flown if it["command"] == MavCmd.NAV_WAYPOINT) == len(
            [w for w in waypoints if w >= resume_at])
    finally:
        station.stop()
