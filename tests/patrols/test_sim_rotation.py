"""Rotation flown by the real station against the real simulator: a zone stays covered for a whole window
although no single drone can stay that long (issue 4: "the next drone is launched before the current one
must return").

Three simulated copters with a small battery (BATT_CAPACITY 1000 mAh: about 3.5 min of flight to empty) patrol
the plaza next to the simulator's home for a coverage window of 190 s (simulated; each drone stays about 75 s on station). The station plans with a
VehicleProfile that matches that battery (11.1 Wh; ~190 W, the sim's ~17 A at 11.1 V while patrolling), so
its relief timing is realistic. The station's clock is the simulator's clock (plus a jump to fire the
schedule), so the coverage window and the flight run on the same time base; the test sends the ticks.

Everything is measured from the simulator's own vehicle models (ground truth), in simulated seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from groundstation.shell.schedules import NewSchedule, add_schedule
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from sim.copter import Mode
from sim.fleet import SimFleet
from tests.waiting import wait_for
from tests.patrols.helpers import ZONE, config, write_zone

pytestmark = pytest.mark.slow

SPEEDUP = 10
COVER_S = 190.0
BATT_MAH = 1000
RESERVE_PCT = 25.0
# the station's planning profile for that battery (see the module docstring)
PATROLS = dict(battery_capacity_wh=11.1, flight_power_w=190.0, reserve_pct=RESERVE_PCT, speed_m_s=8.0,
               launch_overhead_s=15.0, handover_s=20.0)
_ring = ZONE["features"][0]["geometry"]["coordinates"][0]
LAT = (min(p[1] for p in _ring), max(p[1] for p in _ring))
LON = (min(p[0] for p in _ring), max(p[0] for p in _ring))
NEAR_DEG = 0.00015  # ~15 m around the plaza: the lawnmower's waypoints sit on its edge


@dataclass
class Sample:
    t_s: float  # simulated seconds
    mode: str
    armed: bool
    alt_m: float
    lat: float
    lon: float
    battery_pct: float

    @property
    def on_station(self) -> bool:
        return (self.armed and self.mode == "AUTO" and self.alt_m > 15.0
                and LAT[0] - NEAR_DEG <= self.lat <= LAT[1] + NEAR_DEG
                and LON[0] - NEAR_DEG <= self.lon <= LON[1] + NEAR_DEG)


@dataclass
class Timeline:
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def first(self, vid: str, pred) -> float | None:
        return next((s.t_s for s in self.samples[vid] if pred(s)), None)


class SimClock:
    """The station's clock: an epoch base plus the simulator's elapsed time, plus test-made jumps."""

    def __init__(self, fleet: SimFleet, base_s: float):
        self.fleet, self.base_s, self.jump_s = fleet, base_s, 0.0

    def __call__(self) -> float:
        return self.base_s + self.jump_s + self.fleet.sim_time_s


def sample(fleet: SimFleet, vids) -> tuple[float, dict[str, Sample]]:
    def read():
        out = {}
        t = fleet.sim_time_s
        for i, vid in enumerate(vids):
            m = fleet.model(i)
            lat, lon = m.lat_lon_deg
            out[vid] = Sample(t, Mode(m.mode).name, m.armed, m.alt_rel_m, lat, lon, m.battery.remaining_pct)
        return t, out
    return fleet.call(read)


def fmt(t: float | None, t0: float) -> str:
    return "   -  " if t is None else f"{t - t0:6.1f}"


def runs(db):
    with StorageReader(db) as r:
        return r.patrol_runs()


def ready(station, vid):
    s = station.snapshot().get(vid)
    return bool(s and s.link_up and s.ready_to_arm and s.position_known and s.home)


@pytest.fixture
def fleet():
    f = SimFleet(vehicles=3, speedup=SPEEDUP, base_port=0, ready_after_s=2.0,
                 params={"BATT_CAPACITY": BATT_MAH}).start()
    yield f
    f.stop()


def test_rotation_keeps_the_zone_covered_with_three_short_lived_drones(tmp_path, fleet):
    vids = ("v1", "v2", "v3")
    cfg = config(tmp_path, vehicles=vids, urls=fleet.urls, **PATROLS)
    db = cfg.station.storage_path
    clock = SimClock(fleet, 1_800_000_000.0)
    station = Station(cfg, clock=clock, auto_tick=False).start()
    timeline = Timeline({v: [] for v in vids})
    try:
        add_schedule(db, NewSchedule("plaza", str(write_zone(tmp_path / "plaza.geojson")), "lawnmower", 20.0,
                                     interval_s=3600, cover_s=COVER_S), clock(), cfg)
        wait_for(lambda: all(ready(station, v) for v in vids), 120, "vehicles ready")
        station.tick()  # loads the schedule
        clock.jump_s += 3600.0  # the schedule's next fire time has just passed
        station.tick()
        station.flush()
        (first,) = runs(db)
        fired_at = first["scheduled_for_s"]
        window_end_sim = fired_at + COVER_S - clock.base_s - clock.jump_s  # the window's end in sim seconds

        def all_home():
            return all(not s.armed and s.alt_m < 0.5 for s in latest.values())

        while True:  # every figure here is in simulated time (pytest's timeout is the only wall-clock guard)
            station.tick()
            t, latest = sample(fleet, vids)
            for vid, s in latest.items():
                timeline.samples[vid].append(s)
            if t > window_end_sim + 5 and all_home():
                break
            assert t < window_end_sim + 300, "not every drone was home 300 simulated s after the window ended"
            time.sleep(0.05)  # the sampling period (simulated time runs at SPEEDUP meanwhile)
        station.flush()
        rows = runs(db)
    finally:
        station.stop()

    # --- the timeline, from the simulator's vehicle models -------------------------------------------------
    auto_at = {v: timeline.first(v, lambda s: s.armed and s.mode == "AUTO") for v in vids}
    order = sorted((t, v) for v, t in auto_at.items() if t is not None)
    assert len(order) == 3, f"all three drones flew in turn: {auto_at}"
    (t_a, a), (t_b, b), (t_c, c) = order
    on_station_at = {v: timeline.first(v, lambda s: s.on_station) for v in vids}
    rtl_at = {v: timeline.first(v, lambda s: s.mode == "RTL") for v in vids}
    landed_at = {v: next((s.t_s for s in timeline.samples[v] if rtl_at[v] and s.t_s > rtl_at[v] and not s.armed),
                         None) for v in vids}
    min_batt = {v: min(s.battery_pct for s in timeline.samples[v]) for v in vids}
    print(f"\nrotation (sim s from the fire time; window {COVER_S:.0f} s):")
    t0 = fired_at - clock.base_s - clock.jump_s
    for v in (a, b, c):
        print(f"  {v}: AUTO {fmt(auto_at[v], t0)}  on station {fmt(on_station_at[v], t0)}  RTL {fmt(rtl_at[v], t0)}"
              f"  landed {fmt(landed_at[v], t0)}  min battery {min_batt[v]:.0f}%")
    # the next drone is in the air in AUTO before the one on station starts its return
    assert t_b < rtl_at[a] and t_c < rtl_at[b], (auto_at, rtl_at)
    # and it got there before that one left
    assert on_station_at[b] <= rtl_at[a] and on_station_at[c] <= rtl_at[b], (on_station_at, rtl_at)
    # coverage: from the first arrival to the end of the window, at every sample someone is on station
    start = on_station_at[a]
    times = sorted({s.t_s for v in vids for s in timeline.samples[v] if start <= s.t_s <= window_end_sim})
    by_time = {v: {s.t_s: s for s in timeline.samples[v]} for v in vids}
    uncovered = [t for t in times if not any(by_time[v][t].on_station for v in vids)]
    assert not uncovered, f"no drone on station at {uncovered[:5]} (sim s)"
    assert len(times) > 200  # samples every ~0.5 s simulated
    # nobody below the reserve, and the window outlived any single drone
    assert all(p >= RESERVE_PCT for p in min_batt.values()), min_batt
    assert window_end_sim - start > max(rtl_at[v] - on_station_at[v] for v in vids)
    # the last drone went home at the end of the window, and everyone landed
    assert rtl_at[c] >= window_end_sim - 2.0
    assert all(landed_at[v] is not None for v in vids), landed_at

    # --- what the station recorded ------------------------------------------------------------------------
    launched = [r for r in rows if r["launched_at_s"] is not None]
    assert [r["vehicle_id"] for r in launched] == [a, b, c]
    r_a, r_b, r_c = launched
    assert r_a["status"] == "completed" and r_a["reason"] == f"relieved by run {r_b['run_id']} on {b}"
    assert r_b["status"] == "completed" and r_b["reason"] == f"relieved by run {r_c['run_id']} on {c}"
    assert r_b["relieves_run"] == r_a["run_id"] and r_c["relieves_run"] == r_b["run_id"]
    assert r_c["status"] == "completed" and r_c["reason"] == "the coverage window ended"
    assert all(r["status"] != "aborted" for r in rows), rows
    with StorageReader(db) as r:
        for v in vids:
            by = {c["requested_by"] for c in r.commands(v)}
            assert "station:battery-reserve" not in by, f"{v} needed a battery-reserve RTL"
