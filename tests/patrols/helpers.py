"""Shared pieces of the patrol tests: a small zone next to the simulator's home, configs, schedule rows."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from groundstation.config import parse_config
from groundstation.core.dispatch import handle
from groundstation.core.policy import Policy
from groundstation.core.records import VehicleConfigured
from groundstation.core.state import StationState, initial_state
from groundstation.core.patrols import PatrolPolicy, SchedulesLoaded, Tick
from groundstation.shell.schedules import NewSchedule, plan_schedule, to_patrol_schedule
from telemetry.records import GeoPoint, LinkChanged, StateUpdated, VehicleState

SIM_HOME = (23.0469, 112.4651)
FENCE = [[23.0400, 112.4580], [23.0400, 112.4720], [23.0540, 112.4720], [23.0540, 112.4580]]
# a 80 m x 55 m plaza just north-east of the simulator's home
ZONE = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "plaza"}, "geometry": {"type": "Polygon", "coordinates": [[
        [112.4654, 23.0472], [112.4662, 23.0472], [112.4662, 23.0477], [112.4654, 23.0477], [112.4654, 23.0472]]]}},
    {"type": "Feature", "properties": {"kind": "home"}, "geometry": {"type": "Point", "coordinates": [112.4651, 23.0469]}},
]}
UTC = timezone.utc


def write_zone(path: Path, doc=ZONE) -> Path:
    path.write_text(json.dumps(doc))
    return path


def config(tmp_path: Path, vehicles=("v1", "v2"), urls=None, **patrols):
    urls = urls or [f"tcp:127.0.0.1:{5760 + 10 * i}" for i in range(len(vehicles))]
    return parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": str(tmp_path / "tlogs")},
        "vehicles": [{"id": v, "url": u, "link_timeout_s": 1.5} for v, u in zip(vehicles, urls)],
        "geofence": {"inclusion": FENCE},
        "patrols": patrols,
    })


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def schedule(tmp_path: Path, sid="s1", name="plaza", cron=None, interval_s=None, tz_name="UTC", created_at_s=0.0,
             last_fired_s=None, grace_s=600.0, cover_s=None, alt_m=20.0):
    """A PatrolSchedule planned from the test zone exactly as `schedule add` plans it."""
    new = NewSchedule(name=name, zone_path=str(write_zone(tmp_path / f"{sid}.geojson")), pattern="lawnmower",
                      alt_m=alt_m, cron=cron, interval_s=interval_s, tz_name=tz_name, grace_s=grace_s, cover_s=cover_s)
    _, _, plan = plan_schedule(new, config(tmp_path))
    return to_patrol_schedule({"schedule_id": sid, "name": name, "plan": plan, "cron": cron, "interval_s": interval_s,
                               "tz_name": tz_name, "enabled": True, "created_at_s": created_at_s,
                               "last_fired_s": last_fired_s, "grace_s": grace_s, "cover_s": cover_s})


def vstate(vid: str, **kw) -> VehicleState:
    base = dict(vehicle_id=vid, system_id=1, link_up=True, lat_deg=SIM_HOME[0], lon_deg=SIM_HOME[1], alt_rel_m=0.0,
                battery_pct=95.0, mode="STABILIZE", armed=False, gps_fix_type=3, ready_to_arm=True,
                home=GeoPoint(SIM_HOME[0], SIM_HOME[1], 10.0), landed_state=1)
    base.update(kw)
    return VehicleState(**base)


class Core:
    """Drives the pure core with events and an explicit clock; keeps every action."""

    def __init__(self, vehicles=("v1", "v2"), patrol_policy: PatrolPolicy | None = None, **policy):
        self.state: StationState = initial_state(Policy(inclusion=tuple(tuple(p) for p in FENCE), **policy),
                                                 patrol_policy)
        self.actions: list = []
        for vid in vehicles:
            self(VehicleConfigured(vid, f"tcp:x:{vid}"), 0.0)
            self(LinkChanged(vid, True, "heartbeat", 0.0), 0.0)

    def __call__(self, event, now_s: float):
        self.state, actions = handle(self.state, event, now_s)
        self.actions.extend(actions)
        return actions

    def put_state(self, now_s: float, vid: str, **kw):
        return self(StateUpdated(vstate(vid, **kw), 0.0), now_s)

    def load(self, now_s: float, *schedules, **kw):
        return self(SchedulesLoaded(tuple(schedules), **kw), now_s)

    def tick(self, now_s: float):
        return self(Tick(), now_s)
