"""The crowd response in the simulator, timed: threshold crossing -> start of the broadcast, split into transit and
everything else (target: everything else <= 10 s), and speech synthesis time per message per engine.

Two runs, each with a fresh simulator (speed-up 10) and station: a drone hovers at 20 m over home; a crowd of 8 over
a capacity of 5 appears 150 m away (fed to the station as a vision worker would report it); the response flies
there, takes thermal frames of the simulator's scene, and broadcasts (no fever) or raises a fever alert (one person
at 38.6 °C). "threshold" is when the zone first went over its capacity (the gathering's start); "transit" is the time
in the approaching state; everything else is the dwell time (2 s here), thermal sampling, speech and delivery.
Times are the station's wall clock. Prints figures, never asserts.

    .venv/bin/python benchmarks/crowd_response.py [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from groundstation.config import parse_config  # noqa: E402
from groundstation.core.crowds import VisionObserved  # noqa: E402
from groundstation.core.records import CommandRequest  # noqa: E402
from groundstation.shell.station import Station  # noqa: E402
from groundstation.shell.storage import StorageReader  # noqa: E402
from missions.geo import GeoPoint, LocalFrame  # noqa: E402
from sim.fleet import DEFAULT_HOME, SimFleet  # noqa: E402
from sim.thermal import ScenePerson, ThermalScene  # noqa: E402
from speech import EspeakEngine, GttsEngine, bench  # noqa: E402
from vision.records import FrameResult, PersonOnGround  # noqa: E402

HOME = GeoPoint(DEFAULT_HOME.lat_deg, DEFAULT_HOME.lon_deg)
SQUARE_SW_M = (80.0, 110.0)  # the square's south-west corner, east/north of home; 40 m x 40 m
CROWD = 8


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def square_file(path: Path) -> Path:
    frame = LocalFrame(HOME)
    e, n = SQUARE_SW_M
    corners = [frame.to_geo(x, y) for x, y in ((e, n), (e + 40, n), (e + 40, n + 40), (e, n + 40), (e, n))]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": "square", "properties": {"name": "square", "capacity": 5},
        "geometry": {"type": "Polygon", "coordinates": [[[p.lon_deg, p.lat_deg] for p in corners]]}}]}))
    return path


def crowd_positions() -> list[tuple[float, float]]:
    frame = LocalFrame(HOME)
    e, n = SQUARE_SW_M[0] + 20.0, SQUARE_SW_M[1] + 20.0
    return [(p.lat_deg, p.lon_deg) for p in (frame.to_geo(e - 4.5 + 3.0 * (i % 4), n - 1.5 + 3.0 * (i // 4))
                                              for i in range(CROWD))]


def run_case(case: str, workdir: Path) -> dict:
    fleet = SimFleet(vehicles=1, speedup=10, base_port=0, ready_after_s=2.0).start()
    config = parse_config({
        "station": {"storage_path": str(workdir / f"{case}.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "v1", "url": fleet.urls[0], "speaker_url": fleet.speaker_urls[0]}],
        "limits": {"max_distance_from_home_m": 1000.0},
        "counting": {"zones_file": str(square_file(workdir / "square.geojson")), "hold_s": 2.0, "clear_s": 2.0,
                     "window_s": 4.0},
        "response": {"thermal_frames": 2, "broadcast_repeat": 1, "verify_window_s": 10.0, "clear_s": 2.0,
                     "fever_watch_s": 1.0, "speech_cache_dir": str(workdir / "speech")},
    })
    station = Station(config).start()
    people = crowd_positions()
    stop = threading.Event()

    def camera() -> None:
        index = 0
        while not stop.wait(0.25):
            now = time.time()
            seen = tuple(PersonOnGround(lat, lon, 1.0, 0.9, "v1", now, track_id=i + 1)
                         for i, (lat, lon) in enumerate(people))
            station.observe(VisionObserved("cam-v1", FrameResult("cam-v1", index, now, (), len(seen), len(seen),
                                                                 "bench", people=seen)))
            index += 1
    try:
        wait_for(lambda: (s := station.snapshot().get("v1")) and s.link_up and s.ready_to_arm and s.home, 60, "ready")
        for action, args in (("set_mode", {"mode": "GUIDED"}), ("arm", {}), ("takeoff", {"alt_rel_m": 20.0})):
            outcome = station.request(CommandRequest("v1", action, args, requested_by="benchmark")).result(30)
            if not outcome.ok:
                raise SystemExit(f"{action}: {outcome.reason}")
        wait_for(lambda: (station.snapshot()["v1"].alt_rel_m or 0) > 19.0, 60, "at 20 m")
        fleet.set_thermal_scene(ThermalScene(25.0, 30.0, tuple(
            ScenePerson(lat, lon, 38.6 if case == "fever" and i == 5 else 34.5) for i, (lat, lon) in enumerate(people))))
        threading.Thread(target=camera, daemon=True).start()
        if case == "no_fever":
            wait_for(lambda: fleet.speaker(0).played(), 120, "the broadcast")
            people = people[:2]  # the crowd disperses
        db = config.station.storage_path

        def ended():
            station.flush()
            with StorageReader(db) as r:
                return [x for x in r.responses() if x["state"] == "ended"]
        (response,) = wait_for(ended, 120, "the end of the response")
        with StorageReader(db) as r:
            (gathering,) = r.gatherings("square")
            steps = r.response_steps(response["response_id"])
            delivered = [b for b in r.broadcasts(response["response_id"]) if b["status"] == "delivered"]
    finally:
        stop.set()
        station.stop()
        fleet.stop()
    at = {s["state"]: s["at_s"] for s in reversed(steps)}  # the first time each state was entered
    threshold = gathering["started_at_s"]
    transit = at["thermal_sampling"] - at["approaching"]
    decided = delivered[0]["updated_at_s"] if delivered else at.get("fever_found", at["ended"])
    total = decided - threshold
    return {"case": case, "outcome": response["outcome"], "steps": [s["state"] for s in steps],
            "threshold_to_broadcast_s": round(total, 3) if delivered else None, "transit_s": round(transit, 3),
            "overhead_s": round(total - transit, 3), "dwell_s": round(at["confirmed"] - threshold, 3),
            "thermal_s": round((at.get("broadcasting") or at.get("fever_found")) - at["thermal_sampling"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crowd-response-bench-") as tmp:
        runs = [run_case(case, Path(tmp)) for case in ("no_fever", "fever")]
    timings = bench(engines=(GttsEngine(timeout_s=5.0), EspeakEngine()), runs=3)
    tts = {t.engine: None if t.seconds_per_message is None else round(t.seconds_per_message, 4) for t in timings}
    if args.json:
        print(json.dumps({"runs": runs, "tts": tts}))
        return
    for r in runs:
        total = "-" if r["threshold_to_broadcast_s"] is None else f"{r['threshold_to_broadcast_s']:.2f} s"
        print(f"{r['case']:<9} outcome {r['outcome']:<12} threshold->broadcast {total:>8}  transit {r['transit_s']:.2f} s"
              f"  everything else {r['overhead_s']:.2f} s (dwell {r['dwell_s']:.2f} s, thermal {r['thermal_s']:.2f} s;"
              f" target <= 10 s)")
        print(f"          steps: {' -> '.join(r['steps'])}")
    for t in timings:
        figure = "failed" if t.seconds_per_message is None else f"{t.seconds_per_message * 1000:.0f} ms per message"
        print(f"tts {t.engine:<10} {figure}" + (f" ({t.error})" if t.error and t.seconds_per_message is None else ""))


if __name__ == "__main__":
    main()
