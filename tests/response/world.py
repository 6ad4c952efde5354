"""A small world for the crowd-response tests: the pure core driven event by event with an explicit clock, people
placed on the map as a vision worker would, and the vehicles answering each command the way ArduCopter does
(mode, arming, position), the shell answering ScreenThermal and Broadcast as the test sets. No threads, no sleep."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from groundstation.config import parse_config
from groundstation.core import crowds as cr
from groundstation.core.dispatch import handle
from groundstation.core.patrols import Tick
from groundstation.core.policy import Policy
from groundstation.core.records import CommandFinished, CommandRequest, EventRow, Record, Reply, SendCommand, \
    VehicleConfigured
from groundstation.core.response_data import (
    AlertRow,
    Broadcast,
    BroadcastFinished,
    PersonTemperature,
    ResponsePolicy,
    ResponseRow,
    ResponseStepRow,
    ScreenThermal,
    ThermalScreened,
    ZonePolicy,
)
from groundstation.core.state import StationState, initial_state
from missions.geo import LocalFrame, GeoPoint
from telemetry.records import CapturedImage, GeoPoint as Home, LinkChanged, StateUpdated, VehicleState
from vision.records import FrameResult, PersonOnGround

HOME = (23.0469, 112.4651)
FENCE = ((23.0400, 112.4580), (23.0400, 112.4720), (23.0540, 112.4720), (23.0540, 112.4580))
_FRAME = LocalFrame(GeoPoint(*HOME))


def offset(east_m: float, north_m: float) -> tuple[float, float]:
    p = _FRAME.to_geo(east_m, north_m)
    return p.lat_deg, p.lon_deg


PLAZA_SW = (60.0, 80.0)  # the plaza: a 40 m square, 60 m east and 80 m north of home
PLAZA_CENTRE = offset(PLAZA_SW[0] + 20.0, PLAZA_SW[1] + 20.0)
MARKET_SW = (-140.0, 60.0)
FAR_SW = (0.0, 850.0)  # beyond the fence's north edge


def zones_file(tmp_path: Path) -> Path:
    def square(name, sw, capacity):
        e, n = sw
        corners = [offset(e, n), offset(e + 40, n), offset(e + 40, n + 40), offset(e, n + 40), offset(e, n)]
        return {"type": "Feature", "id": name, "properties": {"name": name, "capacity": capacity},
                "geometry": {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in corners]]}}
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        square("plaza", PLAZA_SW, 5), square("market", MARKET_SW, 5), square("far", FAR_SW, 5)]}))
    return path


def counting_policy(tmp_path: Path) -> cr.CountingPolicy:
    config = parse_config({
        "station": {"storage_path": str(tmp_path / "s.sqlite")},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
        "counting": {"zones_file": str(zones_file(tmp_path)), "hold_s": 5.0, "clear_s": 5.0, "window_s": 15.0},
    })
    return config.counting.policy()


MESSAGES = (("zh-cmn", "广场：请戴好口罩，不要聚集"), ("en", "Plaza: please wear a mask and do not gather"))


def response_policy(**kw: Any) -> ResponsePolicy:
    zone_kw = {k[5:]: kw.pop(k) for k in list(kw) if k.startswith("zone_")}
    base = dict(default=ZonePolicy(messages=MESSAGES, **zone_kw), approach_alt_m=20.0, thermal_frames=2,
                verify_window_s=30.0, clear_s=5.0, max_broadcasts=2, cooldown_s=120.0, fever_watch_s=30.0,
                escalated_hold_s=60.0)
    base.update(kw)
    return ResponsePolicy(**base)


@dataclass
class Model:
    """One vehicle as the test's ArduCopter: what its next StateUpdated says."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float = 0.0
    mode: str = "LOITER"
    armed: bool = False
    battery_pct: float = 90.0
    mission_seq: int | None = None
    link_up: bool = True

    def state(self, vid: str) -> VehicleState:
        return VehicleState(vehicle_id=vid, system_id=1, link_up=self.link_up, lat_deg=self.lat_deg,
                            lon_deg=self.lon_deg, alt_rel_m=self.alt_rel_m, battery_pct=self.battery_pct,
                            mode=self.mode, armed=self.armed, gps_fix_type=3, ready_to_arm=True,
                            home=Home(HOME[0], HOME[1], 10.0), landed_state=2 if self.armed else 1,
                            mission_seq=self.mission_seq)


Answer = Callable[[SendCommand], tuple[bool, str | None, Any]]  # -> (ok, error, value)


@dataclass
class World:
    tmp_path: Path
    policy_kw: dict = field(default_factory=dict)
    now_s: float = 1_000.0
    state: StationState = None  # type: ignore[assignment]
    actions: list = field(default_factory=list)
    models: dict[str, Model] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)  # action -> how the vehicle answers it
    instant_goto: bool = True
    readings: Callable[[ScreenThermal], ThermalScreened] | None = None
    broadcast_ok: bool = True
    sent: list[SendCommand] = field(default_factory=list)
    screens: list[ScreenThermal] = field(default_factory=list)
    broadcasts: list[Broadcast] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = initial_state(Policy(inclusion=FENCE, max_distance_from_home_m=1500.0),
                                   counting_policy=counting_policy(self.tmp_path),
                                   response_policy=response_policy(**self.policy_kw))

    # --- driving ------------------------------------------------------------------------------------------------

    def __call__(self, event: Any) -> list:
        self.state, actions = handle(self.state, event, self.now_s)
        self.actions.extend(actions)
        for a in actions:
            if isinstance(a, SendCommand):
                self.sent.append(a)
                self._answer(a)
            elif isinstance(a, ScreenThermal):
                self.screens.append(a)
                if self.readings is not None:
                    self(self.readings(a))
            elif isinstance(a, Broadcast):
                self.broadcasts.append(a)
                self(BroadcastFinished(a.response_id, a.broadcast_id, self.broadcast_ok,
                                       "" if self.broadcast_ok else "speaker endpoint refused the connection",
                                       4.0, a.repeat, self.now_s + 4.0 * a.repeat, ("espeak-ng",) * 2,
                                       "gtts: no network"))
        return actions

    def add(self, vid: str, model: Model) -> None:
        self.models[vid] = model
        self(VehicleConfigured(vid, f"tcp:x:{vid}"))
        self(LinkChanged(vid, True, "heartbeat", 0.0))
        self.put(vid)

    def put(self, vid: str, **changes: Any) -> list:
        m = self.models[vid]
        for k, v in changes.items():
            setattr(m, k, v)
        return self(StateUpdated(m.state(vid), 0.0))

    def advance(self, seconds: float, step_s: float = 1.0) -> None:
        end = self.now_s + seconds
        while self.now_s < end - 1e-9:
            self.now_s = min(end, self.now_s + step_s)
            self(Tick())

    def _answer(self, send: SendCommand) -> None:
        vid, c = send.vehicle_id, send.command
        m = self.models[vid]
        custom = self.answers.get(c.action)
        ok, error, value = custom(send) if custom is not None else (True, None, None)
        if ok:
            if c.action == "set_mode":
                m.mode = c.mode
            elif c.action == "arm":
                m.armed = True
            elif c.action == "takeoff":
                m.alt_rel_m = c.alt_rel_m
            elif c.action == "goto" and self.instant_goto:
                m.lat_deg, m.lon_deg, m.alt_rel_m = c.lat_deg, c.lon_deg, c.alt_rel_m
            elif c.action == "set_mission_current":
                m.mission_seq = c.seq
            elif c.action == "start_mission":
                m.mode = "AUTO"
            elif c.action == "rtl":
                m.mode = "RTL"
            elif c.action == "capture_image" and value is None:
                n = sum(1 for s in self.sent if s.command.action == "capture_image")
                value = CapturedImage(c.component_id, n - 1, f"http://127.0.0.1:9/thermal/1/{n - 1}.tiff", None,
                                      m.lat_deg, m.lon_deg, 10.0 + m.alt_rel_m, m.alt_rel_m, 0.0, -90.0, 0.0, True)
            self.put(vid)
        self(CommandFinished(send.request_id, vid, c.action, ok, result_name="MAV_RESULT_ACCEPTED" if ok else
                             "MAV_RESULT_DENIED", error_kind=None if ok else "refused", error=error, value=value))

    # --- crowds -----------------------------------------------------------------------------------------------------

    def crowd(self, n: int, zone_sw=PLAZA_SW, drone: str = "d1", stream: str = "cam-d1", index: int = 0) -> list:
        """n people standing in a zone (a 5 x ceil(n/5) grid 3 m apart), as one analysed frame of a stream."""
        people = tuple(PersonOnGround(*offset(zone_sw[0] + 5 + 3 * (i % 5), zone_sw[1] + 5 + 3 * (i // 5)), 1.0, 0.9,
                                      drone, self.now_s, track_id=i + 1) for i in range(n))
        frame = FrameResult(stream, index, self.now_s, (), n, n, "test", people=people)
        return self(cr.VisionObserved(stream, frame))

    def hold_crowd(self, n: int, seconds: float, **kw: Any) -> None:
        """Keep seeing the crowd (a frame a second) for `seconds`."""
        end = self.now_s + seconds
        while self.now_s < end - 1e-9:
            self.crowd(n, **kw)
            self.now_s += 1.0
            self(Tick())

    # --- reading what happened ----------------------------------------------------------------------------------

    def rows(self, kind: type) -> list:
        return [a.row for a in self.actions if isinstance(a, Record) and isinstance(a.row, kind)]

    def steps(self, response_id: str | None = None) -> list[str]:
        return [r.state for r in self.rows(ResponseStepRow) if response_id is None or r.response_id == response_id]

    def causes(self) -> list[str]:
        return [f"{r.state}: {r.cause}" for r in self.rows(ResponseStepRow)]

    def alerts(self, kind: str | None = None) -> list[AlertRow]:
        return [a for a in self.rows(AlertRow) if kind is None or a.kind == kind]

    def sent_actions(self, vid: str | None = None) -> list[str]:
        return [s.command.action for s in self.sent if vid is None or s.vehicle_id == vid]

    def request(self, action: str, by: str = "alice", vid: str = "", **args: Any):
        actions = self(CommandRequest(vid, action, args, requested_by=by, request_id=f"op-{len(self.actions)}"))
        (reply,) = [a for a in actions if isinstance(a, Reply)]
        return reply.outcome

    def ended(self) -> list[ResponseRow]:
        return [r for r in self.rows(ResponseRow) if r.state == "ended"]

    def active(self):
        return list(self.state.responses.responses.values())


def readings_for(temps: dict[int, float | None], problem: str | None = None):
    """ScreenThermal -> ThermalScreened: person i (by order) gets temps.get(i, 34.5); None = unmeasured."""
    def answer(screen: ScreenThermal) -> ThermalScreened:
        out = []
        for i, p in enumerate(screen.people):
            t = temps.get(i, 34.5)
            out.append(PersonTemperature(p.person_id, p.lat_deg, p.lon_deg, "measured" if t is not None else "unmeasured",
                                         t, 2.0 if t is not None else None, "" if t is not None else "too_few_pixels"))
        return ThermalScreened(screen.response_id, screen.shot, () if problem else tuple(out), problem,
                               screen.image.file_url)
    return answer


def event_texts(world: World) -> list[str]:
    return [r.text for r in world.rows(EventRow)]


def distance(a, b) -> float:
    return math.dist(_FRAME.to_xy(GeoPoint(*a)), _FRAME.to_xy(GeoPoint(*b)))


__all__ = ["World", "Model", "readings_for", "offset", "HOME", "PLAZA_CENTRE", "PLAZA_SW", "MARKET_SW", "FAR_SW",
           "replace"]
