"""The whole loop in the simulated city, end to end, at speed-up 5 (tests/city/loop.toml): the station gets its
config from the scenario; a patrol is launched by its schedule; the drone's camera streams rendered video (MJPEG)
that the real detector analyses in a real vision worker; a crowd of 9 in a plaza made for 5 becomes a gathering;
the drone flies over it, takes thermal frames of the same people, and either broadcasts (no fever: the people hear
it, leave, the dispersal is verified, the patrol resumes and completes) or raises a fever alert and broadcasts
nothing. Nothing is fed to the station but pixels and MAVLink. Each run prints the loop's timings and the counts
the station saw against the simulator's truth; the checks wait for conditions, never for time."""
from __future__ import annotations

import threading
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from groundstation.config import parse_config
from groundstation.shell import scenario_config as sc
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from missions.geo import distance_m
from sim.fleet import SimFleet
from sim.scenario import parse_scenario
from tests.shared import DATA, MODELS, need
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
SCENARIO = Path(__file__).with_name("loop.toml")
MODEL = MODELS / "yolo11n_visdrone" / "yolo11n_visdrone_from_tflite_int8.pt"   # the drone preset's
WAIT_S = 240.0        # generous: model loading and a shared 2-core machine; the run itself takes about a minute
FEVER_C = 38.8


@dataclass
class Run:
    fleet: SimFleet
    station: Station
    config: object
    scenario: object
    started_s: float
    truth: list = field(default_factory=list)      # (wall s, plaza count, truth dict)

    @property
    def db(self):
        return self.config.station.storage_path

    def truth_at(self, wall_s: float) -> dict:
        return min(self.truth, key=lambda t: abs(t[0] - wall_s))[2]

    def rows(self, method: str, *args, **kw):
        self.station.flush()
        with StorageReader(self.db) as r:
            return getattr(r, method)(*args, **kw)


@contextmanager
def city(tmp_path: Path, fevered: int = 0):
    need(MODEL), need(DATA / "uav_unicamp")
    raw = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))
    raw["gatherings"][0].update(fevered=fevered, fever_c=FEVER_C)
    scenario = parse_scenario(raw, SCENARIO)
    speedup = scenario.scenario.speedup
    fleet = SimFleet(speedup=speedup, base_port=0, ready_after_s=2.0, scenario=scenario).start()
    base = parse_config({"station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
                         "vehicles": [{"id": "placeholder", "url": "tcp:127.0.0.1:1"}],
                         "response": {"speech_cache_dir": str(tmp_path / "speech")}})
    config = sc.station_config(scenario, vehicle_urls=fleet.urls, speaker_urls=fleet.speaker_urls,
                               video_urls=fleet.video_urls, speedup=speedup, workdir=tmp_path, base=base)
    station = Station(config).start()
    run = Run(fleet, station, config, scenario, time.time())
    stop = threading.Event()

    def sample_truth():
        while not stop.wait(0.2):
            world = fleet.truth()
            run.truth.append((world["wall_time_s"], world["zones"]["plaza"], world))

    sampler = threading.Thread(target=sample_truth, daemon=True)
    sampler.start()
    try:
        # the patrol is stored once the camera's worker is up: the first one flies soon after
        wait_for(lambda: any(s.state == "live" and s.frames > 0 for s in station.crowd_snapshot().streams), WAIT_S,
                 "the drone's video analysed by the station")
        wait_for(lambda: (s := station.snapshot().get("drone-1")) and s.link_up and s.ready_to_arm and s.home,
                 WAIT_S, "the drone ready")
        sc.store_patrols(config, scenario, speedup, time.time())
        yield run
    finally:
        stop.set()
        sampler.join()
        station.stop()
        fleet.stop()


def ended(run: Run) -> list[dict]:
    return [x for x in run.rows("responses") if x["state"] == "ended"]


def confirmation_row(run: Run, gathering: dict) -> dict:
    """The plaza's count row the station had when it confirmed the gathering (count, credible bounds)."""
    rows = [c for c in run.rows("zone_counts", "plaza") if c["at_s"] <= gathering["detected_at_s"] + 1e-6]
    return rows[-1]


def confirmation_count(run: Run, gathering: dict) -> int:
    return confirmation_row(run, gathering)["count"]


def print_readings(run: Run, readings: list[dict]) -> None:
    people = run.truth_at(readings[0]["at_s"])["people"] if readings else []
    for x in readings:
        if x["status"] != "measured" or not people:
            continue
        nearest = min(people, key=lambda p: distance_m(x["lat_deg"], x["lon_deg"], p["lat_deg"], p["lon_deg"]))
        d = distance_m(x["lat_deg"], x["lon_deg"], nearest["lat_deg"], nearest["lon_deg"])
        print(f"  reading {x['temp_c']:.1f} °C at {d:.2f} m from a person whose skin is {nearest['skin_c']:.1f} °C")


def report(run: Run, title: str) -> None:
    """Print the loop's timings and the counts the station saw against the truth."""
    (gathering,) = run.rows("gatherings", "plaza")
    (response,) = run.rows("responses")
    steps = run.rows("response_steps", response["response_id"])
    print(f"\n{title}: wall seconds after the start (speed-up {run.scenario.scenario.speedup:g})")
    print(f"  over capacity (the count's threshold crossing)   {gathering['started_at_s'] - run.started_s:7.1f}")
    for s in steps:
        print(f"  {s['state']:<48} {s['at_s'] - run.started_s:7.1f}   {s['cause'][:70]}")
    truth = run.truth_at(gathering["detected_at_s"])
    row = confirmation_row(run, gathering)
    print(f"  counts at the confirmation: station {row['count']} (credibly {row['count_low']} to {row['count_high']}),"
          f" truth {truth['zones']['plaza']} in the plaza")
    print(f"  peak while gathered: station {gathering['peak_count']}, truth {max(t[1] for t in run.truth)} (the station's"
          " peak includes people placed twice while the drone turned fast over the crowd)")
    for c in run.rows("zone_counts", "plaza")[-6:]:
        print(f"  plaza count {c['count']:3d} at {c['at_s'] - run.started_s:6.1f} s, truth "
              f"{run.truth_at(c['at_s'])['zones']['plaza']}")


def test_no_fever_a_gathering_seen_on_video_is_answered_dispersed_and_the_patrol_completes(tmp_path):
    with city(tmp_path) as run:
        (launched,) = wait_for(lambda: run.rows("patrol_runs"), WAIT_S, "the patrol launched by its schedule")
        assert launched["vehicle_id"] == "drone-1"
        wait_for(lambda: ended(run), WAIT_S, "the response ended")
        wait_for(lambda: any(x["status"] == "completed" for x in run.rows("patrol_runs")), WAIT_S,
                 "the resumed patrol completed")
        report(run, "no fever")
        (resp,) = run.rows("responses")
        steps = [s["state"] for s in run.rows("response_steps", resp["response_id"])]
        assert steps == ["confirmed", "approaching", "thermal_sampling", "broadcasting", "verifying", "resuming",
                         "ended"]
        assert resp["outcome"] == "dispersed" and resp["vehicle_id"] == "drone-1"
        # seen from rendered video by the real detector: people counted in view and placed on the map
        views = run.rows("view_counts", "cam-drone-1")
        assert any(v["count_in_view"] >= 6 and v["placed"] >= 6 and not v["pose_missing"] for v in views)
        (gathering,) = run.rows("gatherings", "plaza")
        truth_then = run.truth_at(gathering["detected_at_s"])["zones"]["plaza"]
        row = confirmation_row(run, gathering)
        seen = row["count"]
        # the count runs high (10-14 for 9 over nine runs: people placed twice while the drone turns fast at
        # speed-up 5), and then its credible bounds can miss the truth too (12, credibly 9.7 to 21.6): issue 12's
        # counting accuracy; checked here: never far below what is there, at most 60 % over
        assert truth_then == 9 and 0.7 * truth_then <= seen <= 1.6 * truth_then, (row, truth_then)
        # screened: no fever hint (what was measured is printed against the truth: see the fever test for why)
        readings = run.rows("thermal_readings", resp["response_id"])
        measured = [x for x in readings if x["status"] == "measured"]
        assert measured and all(x["fever"] is False for x in measured), readings
        print_readings(run, readings)
        # the broadcast reached the drone's speaker, the crowd heard it and really left
        (broadcast,) = run.rows("broadcasts", resp["response_id"])
        assert broadcast["status"] == "delivered" and "广场" in broadcast["text"]
        (played,) = run.fleet.speaker(0).played()
        assert played.clip_id == f"{resp['response_id']}:b1"
        (heard,) = run.fleet.heard
        assert heard.clip_id == played.clip_id
        at = {s["state"]: s["at_s"] for s in run.rows("response_steps", resp["response_id"])}
        assert run.truth_at(at["resuming"])["zones"]["plaza"] <= 4, "dispersal verified while the crowd was gone"
        # the patrol resumed where it was interrupted and completed
        commands = [c for c in run.rows("commands", "drone-1", limit=1000) if c["requested_by"] == resp["response_id"]]
        resume = [c for c in commands if c["action"] == "set_mission_current"]
        assert resume and resume[0]["status"] == "accepted"
        (run_row,) = run.rows("patrol_runs")
        assert run_row["status"] == "completed"


# Positions from RGB detections are 0.2-2.5 m off (a box's bottom is the front of the feet, nadir views, timing at
# speed-up) and the detector misses a person now and then: screening searches each head within its position's
# uncertainty, and looks around the crowd in the thermal frame for fever-hot heads nobody placed (vision.thermal,
# step 7), so the fevered person is found either way (this test failed about one run in ten before the second).
# People the drone's camera lost on its way over the crowd (gone from the map after the counting window, 3 s wall
# here) are screened where they were last seen (a CI run screened 2 of 9 and missed the fever before that).
def test_a_fevered_person_in_the_crowd_raises_a_fever_alert_and_nothing_is_broadcast(tmp_path):
    with city(tmp_path, fevered=1) as run:
        wait_for(lambda: ended(run), WAIT_S, "the response ended")
        report(run, "fever")
        (resp,) = run.rows("responses")
        print_readings(run, run.rows("thermal_readings", resp["response_id"]))
        assert resp["outcome"] == "fever_found"
        steps = [s["state"] for s in run.rows("response_steps", resp["response_id"])]
        assert steps == ["confirmed", "approaching", "thermal_sampling", "fever_found", "resuming", "ended"]
        (alert,) = run.rows("alerts", "fever_hint")
        (person,) = alert["data"]["people"]
        fevered = [p for p in run.fleet.truth()["people"] if p["skin_c"] == FEVER_C]
        assert len(fevered) == 1
        print(f"  fever hint {person['temp_c']:.1f} °C ±{person['uncertainty_c']:.1f} at "
              f"{distance_m(person['lat_deg'], person['lon_deg'], fevered[0]['lat_deg'], fevered[0]['lon_deg']):.1f} m"
              f" from the fevered person (truth {FEVER_C} °C)")
        assert abs(person["temp_c"] - FEVER_C) < 1.5
        # placed where the head was seen in the thermal frame (0.0-0.1 m in six runs), not where the RGB detector put
        # the person (1.6 m off in a CI run)
        assert distance_m(person["lat_deg"], person["lon_deg"], fevered[0]["lat_deg"], fevered[0]["lon_deg"]) < 0.75
        assert not run.rows("broadcasts", resp["response_id"]) and not run.fleet.speaker(0).played()
        assert not run.fleet.heard
