"""The station shell with patrols: schedules from the database fire on ticks with an injected clock, survive a
restart, and a schedule added while the station runs is picked up. (The link is the in-memory double of
tests/groundstation/fakes.py; the database is a real SQLite file. Real flights: test_sim_patrols.py.)"""
from __future__ import annotations

import time

from groundstation.shell.schedules import NewSchedule, add_schedule
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from tests.groundstation.fakes import FakeFleet
from tests.patrols.helpers import config, utc, write_zone


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def start(cfg, clock):
    fleets = []

    def factory(on_event):
        fleets.append(FakeFleet(on_event))
        return fleets[0]
    station = Station(cfg, fleet_factory=factory, clock=clock, auto_tick=False).start()
    fleet = fleets[0]
    for vid in ("v1", "v2"):
        fleet.link(vid, True)
        fleet.state(vid, mode="STABILIZE", lat_deg=23.0469, lon_deg=112.4651, landed_state=1)
    station.flush()
    return station, fleet


def wait(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_schedules_fire_on_ticks_survive_a_restart_and_are_picked_up_while_running(tmp_path):
    cfg = config(tmp_path)
    db = cfg.station.storage_path
    created = utc(2024, 5, 1, 0, 30)  # 08:30 in Shanghai
    zone = write_zone(tmp_path / "plaza.geojson")
    clock = Clock(created)
    station, fleet = start(cfg, clock)  # creates the database
    add_schedule(db, NewSchedule("plaza", str(zone), "lawnmower", 20.0, cron="0 9 * * *", tz_name="Asia/Shanghai"),
                 created, cfg)
    try:
        clock.t = utc(2024, 5, 1, 0, 59, 59)
        station.tick()
        station.flush()
        assert len(station.patrol_state().schedules) == 1, "a schedule added while the station runs is picked up"
        assert not station.patrol_state().runs
        clock.t = utc(2024, 5, 1, 1, 0) + 0.5  # 09:00 Asia/Shanghai
        station.tick()
        station.flush()
        wait(lambda: any(r.status == "launched" for r in station.patrol_state().runs.values()))
        calls = [name for name, _ in fleet.vehicles["v1"].calls]
        assert calls == ["upload_mission", "set_current_mission_item", "set_mode", "arm", "start_mission"]
        assert [a[0] for n, a in fleet.vehicles["v1"].calls if n == "set_mode"] == ["GUIDED"]
        station.flush()
    finally:
        station.stop()

    clock.t = utc(2024, 5, 2, 0, 0)  # the next morning, 08:00 local
    station, fleet = start(cfg, clock)
    try:
        assert [s.name for s in station.patrol_state().schedules.values()] == ["plaza"]
        station.tick()
        station.flush()
        assert not station.patrol_state().runs, "nothing due at 08:00"
        clock.t = utc(2024, 5, 2, 1, 0) + 1.0
        station.tick()
        station.flush()
        wait(lambda: any(r.status == "launched" for r in station.patrol_state().runs.values()))
        station.flush()
    finally:
        station.stop()
    with StorageReader(db) as r:
        (sched,) = r.schedules()
        assert sched["last_fired_s"] == utc(2024, 5, 2, 1, 0)
        runs = r.patrol_runs()
        assert [(x["scheduled_for_s"], x["status"]) for x in runs] == [
            (utc(2024, 5, 1, 1, 0), "aborted"), (utc(2024, 5, 2, 1, 0), "launched")]
        assert runs[0]["reason"] == "the station stopped while the run was in progress"
        assert runs[0]["launched_at_s"] == utc(2024, 5, 1, 1, 0) + 0.5


def test_operator_abort_through_the_station_api(tmp_path):
    cfg = config(tmp_path)
    clock = Clock(utc(2024, 5, 1))
    station, fleet = start(cfg, clock)
    add_schedule(cfg.station.storage_path,
                 NewSchedule("plaza", str(write_zone(tmp_path / "z.geojson")), "lawnmower", 20.0, interval_s=600),
                 clock.t, cfg)
    try:
        station.tick()
        clock.t += 600.5
        station.tick()
        station.flush()
        wait(lambda: any(r.status == "launched" for r in station.patrol_state().runs.values()))
        outcome = station.abort_patrol("v1", "alice", "VIP flight").result(10)
        assert outcome.ok and outcome.action == "rtl"
        station.flush()
        assert fleet.vehicles["v1"].calls[-1][0] == "rtl"
        assert station.abort_patrol("v1", "alice").result(10).status == "refused_by_station"
        station.flush()
        with StorageReader(cfg.station.storage_path) as r:
            (run,) = r.patrol_runs()
            assert run["status"] == "aborted" and run["reason"] == "operator abort by alice: VIP flight"
            assert r.command(outcome.request_id)["requested_by"] == "alice"
    finally:
        station.stop()
