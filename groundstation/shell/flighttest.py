"""The scripted check flight behind `groundstation flight-test`: one vehicle, one step at a time.

connect -> identify (simulator?) -> wait ready -> GUIDED -> arm -> take off to 20 m -> fly 100 m (guided go-to)
-> upload a 4-waypoint mission -> read it back and compare -> start the mission (AUTO) until its last item is
reached -> RTL -> land -> disarm. Each step reports its wall time; the first failing step stops the test, and the
vehicle is left as safe as it can be (RTL if airborne, LAND if RTL is refused, disarm if armed on the ground).

Every command goes through the running station's checked, audited command path (`Station.request`, requested by
"flight-test"), exactly like an operator's: the same safety checks, the same audit rows. The test only reads
the vehicle's link directly (its state, parameters, and the mission it holds) through `Station.vehicle_reader`.

A vehicle without SIM_* parameters is refused before anything is armed unless `allow_real_vehicle` is set.
The clock is injected (`clock`), so the timing in the report is whatever the caller's clock says.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from groundstation.core.records import CommandOutcome, CommandRequest
from groundstation.shell.station import Station
from missions.geo import GeoPoint, LocalFrame, distance_m
from telemetry import codec
from telemetry.errors import ParamError, TelemetryError
from telemetry.mission_transfer import same_item
from telemetry.records import MissionItem, VehicleState

MAV_CMD_NAV_WAYPOINT = 16
MAV_FRAME_GLOBAL_RELATIVE_ALT_INT = 6
MAV_LANDED_STATE_ON_GROUND = 1
REQUESTED_BY = "flight-test"


def offset_deg(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point `north_m`, `east_m` away (equirectangular; fine over a few km)."""
    p = LocalFrame(GeoPoint(lat_deg, lon_deg)).to_geo(east_m, north_m)
    return p.lat_deg, p.lon_deg


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    wall_s: float
    detail: str


@dataclass(frozen=True)
class FlightTestReport:
    ok: bool
    steps: tuple[StepResult, ...]
    vehicle: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "steps": [asdict(s) for s in self.steps], "vehicle": self.vehicle}


class StepFailed(Exception):
    """A step's check did not hold (the vehicle or the station answered, but not as the test needs)."""


@dataclass(frozen=True)
class FlightPlan:
    alt_m: float = 20.0
    leg_m: float = 100.0
    square_m: float = 40.0  # side of the 4-waypoint mission's square
    arrive_m: float = 3.0  # within this of a target counts as arrived
    timeout_s: float = 900.0  # the whole test
    # per-step caps (seconds, wall time); each is also bounded by what is left of timeout_s
    caps: tuple[tuple[str, float], ...] = (
        ("connect", 30), ("identify", 90), ("wait ready", 300), ("guided", 15), ("arm", 15), ("takeoff", 120),
        ("fly 100 m", 180), ("upload mission", 60), ("read back mission", 60), ("auto mission", 400),
        ("rtl", 300), ("land", 300), ("disarm", 60),
    )


class FlightTest:
    def __init__(self, station: Station, vehicle_id: str, *, plan: FlightPlan = FlightPlan(),
                 allow_real_vehicle: bool = False, on_step: Callable[[StepResult], None] = lambda step: None,
                 clock: Callable[[], float] = time.monotonic):
        self.station = station
        self.vehicle_id = vehicle_id
        self.v = station.vehicle_reader(vehicle_id)
        self.plan = plan
        self.allow_real = allow_real_vehicle
        self.on_step = on_step
        self.clock = clock
        self._steps: list[StepResult] = []
        self._deadline = 0.0
        self._mission: list[MissionItem] = []

    # --- running ---------------------------------------------------------------------------------

    def run(self) -> FlightTestReport:
        self._deadline = self.clock() + self.plan.timeout_s
        steps = [
            ("connect", self._connect), ("identify", self._identify), ("wait ready", self._wait_ready),
            ("guided", self._guided), ("arm", self._arm), ("takeoff", self._takeoff), ("fly 100 m", self._fly),
            ("upload mission", self._upload), ("read back mission", self._read_back),
            ("auto mission", self._auto), ("rtl", self._rtl), ("land", self._land), ("disarm", self._disarm),
        ]
        ok = True
        for name, fn in steps:
            if not self._step(name, fn):
                ok = False
                if name not in ("connect", "identify"):
                    self._step("make safe", self._make_safe)
                break
        return FlightTestReport(ok, tuple(self._steps), self._vehicle_info())

    def _step(self, name: str, fn: Callable[[float], str]) -> bool:
        t0 = self.clock()
        cap = dict(self.plan.caps).get(name, 120.0)
        budget = max(0.0, min(cap, self._deadline - t0))
        try:
            if budget <= 0 and name != "make safe":
                raise StepFailed(f"no time left of the {self.plan.timeout_s:g} s test budget")
            detail, ok = fn(budget if name != "make safe" else 60.0), True
        except (TelemetryError, StepFailed, TimeoutError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        except Exception as exc:  # a bug in a step must still end in a report and a safe vehicle
            detail, ok = f"unexpected {type(exc).__name__}: {exc}", False
        result = StepResult(name, ok, round(self.clock() - t0, 3), detail)
        self._steps.append(result)
        self.on_step(result)
        return ok

    def _wait(self, predicate: Callable[[VehicleState], bool], timeout_s: float, what: str) -> VehicleState:
        return self.v.wait_until(predicate, timeout_s, what)

    def _command(self, action: str, args: dict | None = None, timeout_s: float = 60.0) -> CommandOutcome:
        """One command through the station's checked, audited path; StepFailed unless it was accepted."""
        future = self.station.request(CommandRequest(self.vehicle_id, action, args or {}, requested_by=REQUESTED_BY))
        try:
            outcome = future.result(timeout_s)
        except TimeoutError:
            raise StepFailed(f"{action}: no outcome from the station within {timeout_s:g} s") from None
        if not outcome.ok:
            raise StepFailed(f"{action} {outcome.status}: {outcome.reason}")
        return outcome

    # --- the steps (each returns its detail line, raises on failure) --------------------------------

    def _connect(self, budget: float) -> str:
        try:
            s = self._wait(lambda s: s.link_up, budget, "link up")
        except TimeoutError:
            raise StepFailed(f"no vehicle heartbeat within {budget:.1f} s ({self.v.link_down_reason})") from None
        return (f"system {s.system_id} component {s.component_id}, "
                f"{codec.enum_name('MAV_TYPE', s.vehicle_type)}, {codec.enum_name('MAV_AUTOPILOT', s.autopilot)}")

    def _identify(self, budget: float) -> str:
        how = "SIM_SPEEDUP"
        if self.v.state.is_simulator is not True:
            try:
                self.v.get_param("SIM_SPEEDUP", timeout_s=1.0, retries=2)
            except ParamError:
                how = "full parameter list"
                self.v.fetch_params(timeout_s=budget)
        if self.v.state.is_simulator:
            return f"simulator (SIM_* parameters present, found via {how})"
        if self.allow_real:
            return "REAL VEHICLE (no SIM_* parameters); allowed by --allow-real-vehicle"
        raise StepFailed("refusing to fly: the vehicle has no SIM_* parameters, so it may be a real aircraft. "
                         "Nothing was armed. Pass --allow-real-vehicle to fly it anyway.")

    def _wait_ready(self, budget: float) -> str:
        s = self.v.wait_ready(budget)
        home = f"home {s.home.lat_deg:.7f},{s.home.lon_deg:.7f}" if s.home else "home not reported yet"
        return f"ready: GPS fix {s.gps_fix_type}, {s.satellites_visible} sats, battery {s.battery_pct}%, {home}"

    def _guided(self, budget: float) -> str:
        self._command("set_mode", {"mode": "GUIDED"}, budget)
        return "mode GUIDED confirmed by HEARTBEAT"

    def _arm(self, budget: float) -> str:
        outcome = self._command("arm", timeout_s=budget)
        return f"armed ({outcome.result_name}, {(outcome.round_trip_s or 0.0) * 1000:.0f} ms)"

    def _takeoff(self, budget: float) -> str:
        alt = self.plan.alt_m
        self._wait(lambda s: s.armed and s.mode == "GUIDED", budget, "armed in GUIDED")
        self._command("takeoff", {"alt_rel_m": alt}, budget)
        s = self._wait(lambda s: s.alt_rel_m is not None and s.alt_rel_m >= alt - 1.0, budget, f"altitude {alt:g} m")
        return f"at {s.alt_rel_m:.1f} m"

    def _fly(self, budget: float) -> str:
        s = self.v.state
        lat, lon = offset_deg(s.lat_deg, s.lon_deg, self.plan.leg_m, 0.0)
        self._command("goto", {"lat_deg": lat, "lon_deg": lon, "alt_rel_m": self.plan.alt_m}, budget)
        arrive = self.plan.arrive_m
        s2 = self._wait(lambda x: distance_m(x.lat_deg, x.lon_deg, lat, lon) <= arrive, budget,
                        f"arrival {self.plan.leg_m:g} m north")
        flown = distance_m(s.lat_deg, s.lon_deg, s2.lat_deg, s2.lon_deg)
        return f"flew {flown:.0f} m north to {lat:.7f},{lon:.7f} (guided go-to)"

    def _upload(self, budget: float) -> str:
        s = self.v.state
        side = self.plan.square_m
        corners = [(0.0, side), (-side, side), (-side, 0.0), (0.0, 0.0)]  # east, south-east, south, back
        items = []
        for north, east in corners:
            lat, lon = offset_deg(s.lat_deg, s.lon_deg, north, east)
            items.append(MissionItem(MAV_CMD_NAV_WAYPOINT, frame=MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                                     lat_deg=lat, lon_deg=lon, alt_m=self.plan.alt_m))
        t0 = self.clock()
        self._command("upload_mission", {"items": items}, budget)
        self._mission = items
        return (f"uploaded {len(items) + 1} items (the station's home slot + 4 waypoints) in "
                f"{(self.clock() - t0) * 1000:.0f} ms")

    def _read_back(self, budget: float) -> str:
        got = self.v.download_mission(timeout_s=budget)
        sent = self._mission
        if len(got) != len(sent) + 1:
            raise StepFailed(f"read back {len(got)} items, uploaded {len(sent) + 1} (with the home slot)")
        bad = [i for i in range(len(sent)) if not same_item(sent[i], got[i + 1])]
        if bad:
            i = bad[0]
            raise StepFailed(f"item {i + 1} differs: sent {sent[i]}, read back {got[i + 1]}")
        frames = sorted({g.frame for g in got[1:]})
        return f"{len(got)} items match (waypoint frames read back as {frames}; item 0 is home)"

    def _auto(self, budget: float) -> str:
        last = len(self._mission)  # seq of the last waypoint (seq 0 is home)
        wp = self._mission[-1]
        self._command("set_mission_current", {"seq": 1}, budget)
        self._command("start_mission", timeout_s=budget)
        arrive = self.plan.arrive_m

        def done(s: VehicleState) -> bool:
            if s.mission_reached_seq is not None and s.mission_reached_seq >= last:
                return True
            return s.mission_seq == last and distance_m(s.lat_deg, s.lon_deg, wp.lat_deg, wp.lon_deg) <= arrive

        s = self._wait(done, budget, f"mission item {last} reached")
        return f"AUTO reached item {last} (last reached {s.mission_reached_seq}, current {s.mission_seq})"

    def _rtl(self, budget: float) -> str:
        self._command("rtl", timeout_s=budget)
        home = self.v.state.home
        if home is None:
            raise StepFailed("vehicle never reported HOME_POSITION")
        arrive = max(self.plan.arrive_m, 5.0)
        s = self._wait(lambda s: distance_m(s.lat_deg, s.lon_deg, home.lat_deg, home.lon_deg) <= arrive
                       or not s.armed, budget, "return over home")
        return f"back over home ({distance_m(s.lat_deg, s.lon_deg, home.lat_deg, home.lon_deg):.1f} m), " \
               f"mode {s.mode}, {s.alt_rel_m:.1f} m"

    @staticmethod
    def _landed(s: VehicleState) -> bool:
        if not s.armed:
            return True
        if s.landed_state is not None:
            return s.landed_state == MAV_LANDED_STATE_ON_GROUND
        return s.alt_rel_m is not None and s.alt_rel_m < 0.5 and abs(s.climb_m_s or 0.0) < 0.3

    def _land(self, budget: float) -> str:
        if self.v.state.armed:
            self._command("land", timeout_s=budget)
        s = self._wait(self._landed, budget, "landed")
        return f"on the ground at {s.alt_rel_m:.1f} m, mode {s.mode}"

    def _disarm(self, budget: float) -> str:
        try:
            self._wait(lambda s: not s.armed, min(budget, 10.0), "automatic disarm")
            return "disarmed by the vehicle after landing"
        except TimeoutError:
            pass
        self._command("disarm", timeout_s=budget)
        return "disarmed by command"

    def _make_safe(self, budget: float) -> str:
        s = self.v.state
        if not s.link_up:
            return "link down: nothing could be done; the vehicle's own failsafe applies"
        if not s.armed:
            return "vehicle disarmed: nothing to do"
        if self._landed(s):
            self._command("disarm", timeout_s=budget)
            return "armed on the ground: disarmed"
        try:
            self._command("rtl", timeout_s=budget)
            return "airborne: switched to RTL"
        except StepFailed as exc:
            self._command("land", timeout_s=budget)
            return f"RTL failed ({exc}); switched to LAND"

    def _vehicle_info(self) -> dict:
        s = self.v.state
        return {
            "id": self.vehicle_id,
            "url": self.v.url,
            "sysid": s.system_id,
            "component": s.component_id,
            "type": codec.enum_name("MAV_TYPE", s.vehicle_type) if s.vehicle_type is not None else None,
            "autopilot": codec.enum_name("MAV_AUTOPILOT", s.autopilot) if s.autopilot is not None else None,
            "firmware": s.firmware_version,
            "is_simulator": s.is_simulator,
            "home": None if s.home is None else {"lat_deg": s.home.lat_deg, "lon_deg": s.home.lon_deg,
                                                 "alt_amsl_m": s.home.alt_amsl_m},
            "mode": s.mode,
            "armed": s.armed,
            "battery_pct": s.battery_pct,
            "tlogs": [str(p) for p in self.v.tlog_paths],
        }
