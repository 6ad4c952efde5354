"""The whole crowd response, over real MAVLink against the simulator (speed-up 10), with the real station: a patrol
flies in AUTO; a crowd over the plaza's capacity is fed to the station (as a vision worker would report it; the
simulated city of a later issue replaces this with rendered video); the patrol pauses at its current waypoint, the
drone flies over the crowd, the simulator's thermal camera takes radiometric frames of the scene, the station
measures every person, and either broadcasts the zone's message to the drone's simulated speaker until the crowd
disperses, or (a fevered person) raises a fever alert with the position and broadcasts nothing; then the patrol
resumes at the interrupted waypoint and completes. Every step is checked in the audit trail."""
from __future__ import annotations

import json
import threading
import time

import pytest

from groundstation.config import parse_config
from groundstation.core.crowds import VisionObserved
from groundstation.shell.schedules import NewSchedule, add_schedule
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from missions.geo import GeoPoint, LocalFrame
from sim.fleet import SimFleet
from sim.thermal import ScenePerson, ThermalScene
from tests.patrols.helpers import FENCE, ZONE, write_zone
from tests.waiting import wait_for
from vision.records import FrameResult, PersonOnGround

pytestmark = pytest.mark.slow

PLAZA = ZONE["features"][0]["geometry"]["coordinates"][0]  # the patrol zone, also the counting zone
CENTRE = GeoPoint(sum(p[1] for p in PLAZA[:4]) / 4, sum(p[0] for p in PLAZA[:4]) / 4)


def crowd_positions(n: int) -> list[tuple[float, float]]:
    """n people 3 m apart around the plaza's centre (a 4-wide grid)."""
    frame = LocalFrame(CENTRE)
    out = []
    for i in range(n):
        p = frame.to_geo(-4.5 + 3.0 * (i % 4), -1.5 + 3.0 * (i // 4))
        out.append((p.lat_deg, p.lon_deg))
    return out


def write_config(tmp_path, fleet: SimFleet):
    zones = tmp_path / "counting.geojson"
    feature = dict(ZONE["features"][0], id="plaza")
    feature["properties"] = {"name": "plaza", "capacity": 5}
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "v1", "url": fleet.urls[0], "speaker_url": fleet.speaker_urls[0]}],
        "geofence": {"inclusion": FENCE},
        "counting": {"zones_file": str(zones), "hold_s": 2.0, "clear_s": 2.0, "window_s": 4.0},
        "response": {"thermal_frames": 2, "broadcast_repeat": 1, "verify_window_s": 30.0, "clear_s": 3.0,
                     "fever_watch_s": 3.0, "ambient_c": 25.0, "speech_cache_dir": str(tmp_path / "speech"),
                     "zones": [{"zone": "plaza", "names": {"zh-cmn": "广场", "zh-yue": "廣場", "en": "the plaza"}}]},
    })


class Camera:
    """Feeds the station what a camera on v1 would report: the people in the plaza, a frame every 0.25 s."""

    def __init__(self, station: Station):
        self.station, self.people = station, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        index = 0
        while not self.stop.wait(0.25):
            now = time.time()
            people = tuple(PersonOnGround(lat, lon, 1.0, 0.9, "v1", now, track_id=i + 1)
                           for i, (lat, lon) in enumerate(self.people))
            self.station.observe(VisionObserved("cam-v1", FrameResult("cam-v1", index, now, (), len(people),
                                                                      len(people), "test", people=people)))
            index += 1


@pytest.fixture
def flight(tmp_path):
    fleet = SimFleet(vehicles=1, speedup=10, base_port=0, ready_after_s=2.0).start()
    config = write_config(tmp_path, fleet)
    station = Station(config).start()
    camera = Camera(station)
    camera.thread.start()
    try:
        wait_for(lambda: (s := station.snapshot().get("v1")) and s.link_up and s.ready_to_arm and s.home, 60,
                 "v1 ready")
        add_schedule(config.station.storage_path,
                     NewSchedule("plaza", str(write_zone(tmp_path / "plaza.geojson")), "lawnmower", 20.0,
                                 interval_s=600), time.time() - 598.0, config)
        yield fleet, station, camera, config.station.storage_path
    finally:
        camera.stop.set()
        station.stop()
        fleet.stop()


def fly_until_patrolling(station: Station) -> str:
    """The schedule fires; the patrol takes off in AUTO and flies toward its third mission item."""
    wait_for(lambda: station.patrol_state().runs, 30, "the patrol fired")
    wait_for(lambda: (s := station.snapshot()["v1"]).mode == "AUTO" and (s.mission_seq or 0) >= 3, 120,
             "patrolling in AUTO past the first waypoint")
    return next(iter(station.patrol_state().runs))


def ended(db) -> list[dict]:
    with StorageReader(db) as r:
        return [x for x in r.responses() if x["state"] == "ended"]


def test_no_fever_the_crowd_hears_the_message_disperses_and_the_patrol_resumes(flight):
    fleet, station, camera, db = flight
    run_id = fly_until_patrolling(station)
    people = crowd_positions(8)
    fleet.set_thermal_scene(ThermalScene(25.0, 30.0, tuple(ScenePerson(lat, lon, 34.5) for lat, lon in people)))
    camera.people = people
    wait_for(lambda: station.response_state().responses, 30, "the crowd confirmed")
    (response,) = station.response_state().responses.values()
    rid = response.response_id
    wait_for(lambda: fleet.speaker(0).played(), 120, "the message on the drone's speaker")
    (played,) = fleet.speaker(0).played()
    assert played.clip_id == f"{rid}:b1" and played.source == "http" and played.duration_s > 1.0
    camera.people = people[:3]  # the crowd disperses
    wait_for(lambda: ended(db), 90, "the response ended")
    wait_for(lambda: station.flush() and any(r["status"] == "completed" for r in StorageReader(db).patrol_runs()),
             240, "the resumed patrol completed")
    with StorageReader(db) as r:
        (resp,) = r.responses()
        assert resp["outcome"] == "dispersed" and resp["vehicle_id"] == "v1"
        steps = r.response_steps(rid)
        assert [s["state"] for s in steps] == ["confirmed", "approaching", "thermal_sampling", "broadcasting",
                                               "verifying", "resuming", "ended"]
        resume_seq = steps[1]["data"]["resume_seq"]
        assert resume_seq >= 3
        commands = [c for c in r.commands("v1", limit=1000)[::-1] if c["requested_by"] == rid]
        assert [c["action"] for c in commands] == ["set_mode", "goto", "set_roi", "capture_image", "capture_image",
                                                   "clear_roi", "set_mission_current", "start_mission"]
        assert all(c["decision"] == "sent" and c["status"] == "accepted" for c in commands), commands
        assert commands[6]["params"] == {"seq": resume_seq}, "resumed at the interrupted waypoint"
        readings = r.thermal_readings(rid)
        measured = [x for x in readings if x["status"] == "measured"]
        assert len(measured) >= 12, readings  # 8 people x 2 frames, a few may be cut by the frame's edge
        assert all(abs(x["temp_c"] - 34.5) < 1.5 and x["fever"] is False for x in measured)
        (broadcast,) = r.broadcasts(rid)
        assert broadcast["status"] == "delivered" and "广场" in broadcast["text"]
        assert "espeak-ng" in broadcast["reason"] and "gtts" in broadcast["reason"], "offline speech, and why"
        (run,) = r.patrol_runs()
        assert run["run_id"] == run_id and run["status"] == "completed"
        reached = [e["data"]["seq"] for e in r.events("v1", kind="mission")]
        assert max(reached) > resume_seq, "the patrol flew on after the response"


def test_a_fevered_person_raises_a_fever_alert_with_the_position_and_nothing_is_broadcast(flight):
    fleet, station, camera, db = flight
    fly_until_patrolling(station)
    people = crowd_positions(8)
    fevered = people[5]
    fleet.set_thermal_scene(ThermalScene(25.0, 30.0, tuple(
        ScenePerson(lat, lon, 38.6 if (lat, lon) == fevered else 34.5) for lat, lon in people)))
    camera.people = people
    wait_for(lambda: ended(db), 180, "the response ended")
    with StorageReader(db) as r:
        (resp,) = r.responses()
        assert resp["outcome"] == "fever_found"
        (alert,) = r.alerts("fever_hint")
        (person,) = alert["data"]["people"]
        frame = LocalFrame(GeoPoint(*fevered))
        assert abs(person["temp_c"] - 38.6) < 1.0 and person["uncertainty_c"] >= 2.0
        assert max(abs(v) for v in frame.to_xy(GeoPoint(person["lat_deg"], person["lon_deg"]))) < 0.5
        assert "screening hint" in alert["text"]
        assert not r.broadcasts(), "no broadcast with a fever found"
        states = [s["state"] for s in r.response_steps(resp["response_id"])]
        assert states == ["confirmed", "approaching", "thermal_sampling", "fever_found", "resuming", "ended"]
    assert not fleet.speaker(0).played()
