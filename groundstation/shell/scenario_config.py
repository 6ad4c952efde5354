"""The station's side of a simulated city (sim/scenario.py): the station config a scenario implies, its patrol
schedules, and what a run saw compared with the simulator's truth. The scenario is the one description of the
world; `groundstation demo --scenario FILE` and the end-to-end tests build everything the station needs from it.

- `station_config(...)`: [[vehicles]] (the fleet's MAVLink and loudspeaker URLs), [[cameras]] (one per drone: its
  video stream URL, the camera's size and field of view, the detector's input size, the analysis rate), the
  geofence (the map's extent plus a margin), [counting] (the scenario's zones written to a GeoJSON zones file, the
  city grid anchored on the map) and [response] (each zone's spoken names), on top of a base config that gives
  [station], [limits], [patrols] and anything else. Durations: the scenario's are simulated seconds; the station
  runs on the wall clock, so every `*_s` field of the scenario's [station.counting] / [station.response] is divided
  by the speed-up (except gtts_timeout_s, a network timeout).
- `store_patrols(...)`: the scenario's [[patrols]] as stored schedules (replacing same-named ones), each first
  flying `first_after_s` (simulated) after now and then every `every_s`, both divided by the speed-up.
- `TruthLog` samples the simulator's truth (GET /world) while a run goes on; `summary(...)` is what happened:
  patrols completed, gatherings, responses with their steps, broadcasts, fever alerts, and each zone's count as the
  station saw it (when it confirmed a gathering there) against the truth at that moment.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundstation.config import StationConfig, parse_config

log = logging.getLogger("groundstation.scenario")

GEOFENCE_MARGIN_M = 30.0
WALL_CLOCK_FIELDS = frozenset({"gtts_timeout_s"})   # network timeouts: not simulated time
DEFAULT_GRACE_S = 60.0


def _scaled(fields: dict[str, Any], speedup: float) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if key.endswith("_s") and key not in WALL_CLOCK_FIELDS and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            value = value / speedup
        out[key] = value
    return out


def zones_geojson(scenario) -> dict[str, Any]:
    """The scenario's counting zones as a GeoJSON zones file (missions.areas): id, name, capacity, dwell_s."""
    features = []
    for z in scenario.zones:
        ring = [scenario.latlon(p) for p in z.polygon]
        ring.append(ring[0])
        props: dict[str, Any] = {"name": z.name, "capacity": z.capacity}
        if z.dwell_s is not None:
            props["dwell_s"] = z.dwell_s
        features.append({"type": "Feature", "id": z.id, "properties": props,
                         "geometry": {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in ring]]}})
    return {"type": "FeatureCollection", "features": features}


def write_zones_file(scenario, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scenario.scenario.name}-zones.geojson"
    path.write_text(json.dumps(zones_geojson(scenario), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _geofence(scenario) -> list[list[float]]:
    west, south, east, north = scenario.map.extent
    m = GEOFENCE_MARGIN_M
    corners = [(west - m, south - m), (east + m, south - m), (east + m, north + m), (west - m, north + m)]
    return [list(scenario.latlon(c)) for c in corners]


def station_config(scenario, *, vehicle_urls: list[str], speaker_urls: list[str], video_urls: list[str],
                   speedup: float, workdir: Path, base: StationConfig | None = None,
                   storage_path: Path | None = None, model_path: Path | None = None) -> StationConfig:
    """The station config for a scenario run (see the module docstring); raises groundstation.config.ConfigError
    when the result is not a valid config (every problem listed)."""
    if not speedup > 0:
        raise ValueError(f"speedup must be > 0, got {speedup}")
    n = len(scenario.drones)
    if not (len(vehicle_urls) == len(speaker_urls) == len(video_urls) == n):
        raise ValueError(f"{n} drones in the scenario, but {len(vehicle_urls)} vehicle, {len(speaker_urls)} speaker "
                         f"and {len(video_urls)} video URLs")
    raw: dict[str, Any] = base.model_dump(mode="json") if base is not None else {}
    station = dict(raw.get("station", {}))
    if storage_path is not None:
        station["storage_path"] = str(storage_path)
    raw["station"] = station
    raw["vehicles"] = [{"id": d.id, "url": url, "speaker_url": speaker}
                       for d, url, speaker in zip(scenario.drones, vehicle_urls, speaker_urls)]
    raw["geofence"] = {"inclusion": _geofence(scenario)}
    cam = scenario.camera
    cameras = []
    for d, video in zip(scenario.drones, video_urls):
        entry: dict[str, Any] = {"id": f"cam-{d.id}", "vehicle_id": d.id, "source": video, "tiles": "auto",
                                 "width_px": cam.width_px, "height_px": cam.height_px, "hfov_deg": cam.hfov_deg,
                                 "gimbal": "telemetry", "analyses_per_s": cam.analyses_per_s}
        # the detector: the product's defaults unless the scenario (or the caller) names one
        for key, value in (("detector_preset", cam.detector_preset), ("imgsz", cam.imgsz),
                           ("model_path", model_path if model_path is not None else cam.model_path)):
            if value is not None:
                entry[key] = str(value) if isinstance(value, Path) else value
        cameras.append(entry)
    raw["cameras"] = cameras
    gx, gy = scenario.grid_origin()
    counting = {"zones_file": str(write_zones_file(scenario, workdir)), "grid_cell_m": scenario.grid.cell_m,
                "grid_origin": list(scenario.latlon((gx, gy)))}
    if scenario.grid.cell_capacity is not None:
        counting["cell_capacity_persons"] = scenario.grid.cell_capacity
    counting.update(_scaled(scenario.station.counting, speedup))
    raw["counting"] = counting
    response = dict(raw.get("response", {}))
    response.pop("zones", None)
    response.update(_scaled(scenario.station.response, speedup))
    response["zones"] = [{"zone": z.id, "names": dict(z.names)} for z in scenario.zones if z.names]
    raw["response"] = response
    return parse_config(raw, scenario.source or "<scenario>")


def camera_vfov_deg(scenario) -> float:
    cam = scenario.camera
    return math.degrees(2.0 * math.atan(math.tan(math.radians(cam.hfov_deg) / 2.0) * cam.height_px / cam.width_px))


def store_patrols(config: StationConfig, scenario, speedup: float, now_s: float) -> list[str]:
    """Store the scenario's patrol schedules (replacing same-named ones): the first flies first_after_s / speedup
    wall seconds from now, then every every_s / speedup. Returns their names; raises ScheduleInputError."""
    from groundstation.shell.schedules import NewSchedule, ScheduleInputError, add_schedule, remove_schedule

    zones_file = config.counting.zones_file
    assert zones_file is not None
    stored = []
    for p in scenario.patrols:
        try:
            remove_schedule(config.station.storage_path, p.name)
        except ScheduleInputError:
            pass   # none of that name yet
        interval = p.every_s / speedup
        add_schedule(config.station.storage_path,
                     NewSchedule(p.name, str(zones_file), p.pattern, p.alt_m, interval_s=interval,
                                 grace_s=DEFAULT_GRACE_S, speed_m_s=p.speed_m_s, gimbal_pitch_deg=p.gimbal_pitch_deg,
                                 camera_hfov_deg=scenario.camera.hfov_deg, camera_vfov_deg=camera_vfov_deg(scenario),
                                 zone_name=scenario.zone(p.zone).name, home=scenario.home_latlon()),
                     now_s - interval + p.first_after_s / speedup, config)
        stored.append(p.name)
    return stored


# --- the run against the truth ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TruthSample:
    wall_s: float
    sim_time_s: float
    zones: dict[str, int]


class TruthLog:
    """Samples the simulator's truth (its /world URL) every `every_s` wall seconds on a thread, while a run goes on
    (a simulator-only endpoint: the station never reads it)."""

    def __init__(self, url: str, every_s: float = 1.0) -> None:
        self.url = url
        self.every_s = every_s
        self.samples: list[TruthSample] = []
        self.last: dict[str, Any] | None = None
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url, timeout=5.0) as r:
                world = json.loads(r.read())
        except (OSError, ValueError) as exc:
            self.failures += 1
            log.debug("truth %s: %s", self.url, exc)
            return None
        self.last = world
        self.samples.append(TruthSample(float(world["wall_time_s"]), float(world["sim_time_s"]), dict(world["zones"])))
        return world

    def start(self) -> "TruthLog":
        self._thread = threading.Thread(target=self._run, name="truth-log", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    def at(self, wall_s: float) -> TruthSample | None:
        """The sample nearest that wall-clock instant."""
        if not self.samples:
            return None
        return min(self.samples, key=lambda s: abs(s.wall_s - wall_s))


def summary(storage_path: Path, since_s: float, truth: TruthLog | None = None,
            zone_ids: list[str] | None = None) -> dict[str, Any]:
    """What happened in the station's records from `since_s` (wall clock) on, and each zone's count against the
    truth: `seen` is the count the station had when it confirmed the zone's first gathering (else its highest
    count), `true` the truth sampled nearest that instant; `peak_seen` / `peak_true` the highest of each."""
    from groundstation.shell.storage import StorageReader

    with StorageReader(storage_path) as r:
        runs = [x for x in r.patrol_runs() if x["planned_at_s"] >= since_s]
        gatherings = [g for g in r.gatherings() if g["started_at_s"] >= since_s]
        responses = [x for x in r.responses() if x["started_at_s"] >= since_s]
        steps = {x["response_id"]: [s["state"] for s in r.response_steps(x["response_id"])] for x in responses}
        at = {x["response_id"]: {s["state"]: s["at_s"] for s in reversed(r.response_steps(x["response_id"]))}
              for x in responses}
        broadcasts = [b for x in responses for b in r.broadcasts(x["response_id"]) if b["status"] == "delivered"]
        fever = [a for a in r.alerts("fever_hint", limit=100_000) if a["at_s"] >= since_s]
        counts = [c for c in r.zone_counts(limit=1_000_000) if c["at_s"] >= since_s]
    zones = zone_ids if zone_ids is not None else sorted({c["zone_id"] for c in counts})
    vs_truth = []
    for zid in zones:
        rows = [c for c in counts if c["zone_id"] == zid]
        confirmed = next((g["detected_at_s"] for g in gatherings if g["zone_id"] == zid), None)
        if confirmed is not None:
            before = [c for c in rows if c["at_s"] <= confirmed + 1e-6]
            moment, seen = confirmed, before[-1]["count"] if before else 0
        else:
            peak = max(rows, key=lambda c: c["count"], default=None)
            moment, seen = (peak["at_s"], peak["count"]) if peak is not None else (None, 0)
        sample = truth.at(moment) if truth is not None and moment is not None else None
        vs_truth.append({"zone": zid, "seen": seen, "true": sample.zones.get(zid, 0) if sample is not None else None,
                         "at_s": None if moment is None else round(moment - since_s, 1),
                         "peak_seen": max((c["count"] for c in rows), default=0),
                         "peak_true": max((x.zones.get(zid, 0) for x in truth.samples), default=0)
                         if truth is not None else None})
    return {
        "patrols_completed": sum(1 for x in runs if x["status"] == "completed"),
        "gatherings": len(gatherings),
        "responses": [{"zone": x["zone_id"], "outcome": x["outcome"], "steps": steps[x["response_id"]],
                       "vehicle": x["vehicle_id"], "started_after_s": round(x["started_at_s"] - since_s, 1),
                       "step_times_s": {k: round(v - x["started_at_s"], 2) for k, v in at[x["response_id"]].items()}}
                      for x in responses],
        "broadcasts": len(broadcasts),
        "fever_alerts": len(fever),
        "counts_vs_truth": vs_truth,
    }
