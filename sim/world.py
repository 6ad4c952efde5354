"""The simulated city: its ground and its people, who move in the simulator's clock and are the same people for
every drone. The world says who is where and how warm; the cameras render it (sim/rgb_camera.py, sim/thermal.py).

Pure and deterministic: a World is built once from a Scenario (sim/scenario.py) and its seed; `people(t_s, heard)`
is a function of the simulated time and of the loudspeaker broadcasts heard so far (`Heard`, in the order they
started), nothing else, so every camera, the truth and a test see the same positions.

People:
- walkers: `count` people per [[walkers]] entry, spread evenly along the path (each with a little jitter in
  phase and +-10 % in speed), walking it as a closed loop or back and forth between start_s and end_s. Walkers are
  passers-by: they do not react to broadcasts.
- gatherings: `size` people per [[gatherings]] entry, each with a spot inside `radius_m` of the centre (at least
  `spacing_m` from every other), arriving one after another over `grow_s` from `start_s`: each walks in from
  `approach_m` away (from a direction of their own) at the walking speed, stands at the spot (swaying a few
  centimetres), and leaves by themselves `lasts_s` after the gathering started (plus up to 60 s) by walking
  `leave_m` away in another direction, after which they are gone. A broadcast heard while standing or arriving (the person within
  `people.hearing_radius_m` of the drone when the clip starts) makes them leave with `react_probability`,
  `react_delay_s` (uniform) after it started; each broadcast is a new chance. `fevered` of them (chosen at random)
  have a skin temperature of `fever_c`.
- every person: a height uniform in `people.height_m`, a healthy skin temperature N(skin_c, skin_sd_c) kept
  within 33..36.5 °C, an appearance (an index the renderer takes modulo its number of sprites) and a mirror flag.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim import geodesy
from sim.ground import SURFACES, Area, GroundMap, Orthophoto, build_ground
from sim.rgb_camera import Figure
from sim.scenario import Point, Scenario, inside, polygon_centroid
from sim.thermal import GroundTemperature, ScenePerson, ThermalScene

HEALTHY_SKIN_C = (33.0, 36.5)
SWAY_M = 0.06                  # standing people sway this much (metres, amplitude)
LEAVE_JITTER_S = 60.0


@dataclass(frozen=True)
class Heard:
    """A loudspeaker broadcast: when its clip started (simulated s), where the drone was (map frame, metres east /
    north of the origin) and how far it carries."""
    time_s: float
    east_m: float
    north_m: float
    radius_m: float
    vehicle: int = 0          # the drone's index in the fleet
    clip_id: str = ""


@dataclass(frozen=True)
class PersonState:
    """One person at one instant (map frame)."""
    person_id: int
    east_m: float
    north_m: float
    height_m: float
    skin_c: float
    appearance: int
    mirrored: bool
    group: str                # "walkers.<i>" or the gathering's id
    activity: str             # walking | arriving | standing | leaving
    zone: str | None          # the counting zone they stand in, if any


@dataclass(frozen=True)
class _Body:
    person_id: int
    height_m: float
    skin_c: float
    appearance: int
    mirrored: bool


@dataclass(frozen=True)
class _Walker:
    body: _Body
    group: str
    path: tuple[Point, ...]   # closed (last == first) when looping
    length_m: float
    loop: bool
    phase_m: float
    speed_m_s: float
    start_s: float
    end_s: float | None


@dataclass(frozen=True)
class _Member:
    body: _Body
    gathering: str
    index: int                # the gathering's index in the scenario
    member: int               # the member's index in the gathering
    spot: Point
    come_from: Point
    go_to: Point
    arrive_s: float           # reaches the spot
    appear_s: float           # starts walking in
    natural_leave_s: float
    speed_m_s: float
    sway_phase: float
    sway_period_s: float
    react_probability: float
    react_delay_s: tuple[float, float]


def _towards(a: Point, b: Point, f: float) -> Point:
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


class World:
    """The people and the ground of one scenario (see the module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._seed = scenario.scenario.seed
        self._next_id = 1
        self._walkers: list[_Walker] = []
        self._members: list[_Member] = []
        for i, w in enumerate(scenario.walkers):
            self._plan_walkers(i, w)
        for i, g in enumerate(scenario.gatherings):
            self._plan_gathering(i, g)
        self._zones = [(z.id, list(z.polygon)) for z in scenario.zones]

    # --- plans --------------------------------------------------------------------------------------------------

    def _body(self, rng: np.random.Generator, fever_c: float | None) -> _Body:
        p = self.scenario.people
        pid, self._next_id = self._next_id, self._next_id + 1
        skin = fever_c if fever_c is not None else float(np.clip(rng.normal(p.skin_c, p.skin_sd_c), *HEALTHY_SKIN_C))
        return _Body(pid, float(rng.uniform(*p.height_m)), skin, int(rng.integers(0, 1 << 30)), bool(rng.integers(0, 2)))

    def _plan_walkers(self, i: int, w) -> None:
        rng = np.random.default_rng([self._seed, 1, i])
        path = list(w.path) + ([w.path[0]] if w.loop and w.path[0] != w.path[-1] else [])
        length = sum(math.dist(path[k], path[k + 1]) for k in range(len(path) - 1))
        fevered = set(rng.choice(w.count, size=w.fevered, replace=False).tolist()) if w.fevered else set()
        for k in range(w.count):
            body = self._body(rng, w.fever_c if k in fevered else None)
            period = length if w.loop else 2.0 * length
            phase = (period * k / w.count + rng.uniform(-0.1, 0.1) * period / max(w.count, 1)) % period
            self._walkers.append(_Walker(body, f"walkers.{i}", tuple(path), length, w.loop, phase,
                                         w.speed_m_s * float(rng.uniform(0.9, 1.1)), w.start_s, w.end_s))

    def _inside_map(self, origin: Point, target: Point) -> Point:
        """`target`, pulled back along the line from `origin` to stay 1 m inside the map."""
        west, south, east, north = self.scenario.map.extent
        f = 1.0
        for k, (lo, hi) in enumerate(((west + 1.0, east - 1.0), (south + 1.0, north - 1.0))):
            d = target[k] - origin[k]
            if target[k] < lo and d < 0:
                f = min(f, (lo - origin[k]) / d)
            elif target[k] > hi and d > 0:
                f = min(f, (hi - origin[k]) / d)
        return _towards(origin, target, max(0.0, f))

    def _plan_gathering(self, i: int, g) -> None:
        s = self.scenario
        rng = np.random.default_rng([self._seed, 2, i])
        centre = g.centre if g.centre is not None else polygon_centroid(s.zone(g.zone).polygon)
        spots: list[Point] = []
        tries = 0
        while len(spots) < g.size:
            tries += 1
            r = g.radius_m * math.sqrt(rng.uniform(0.0, 1.0))
            a = rng.uniform(0.0, 2.0 * math.pi)
            p = (centre[0] + r * math.cos(a), centre[1] + r * math.sin(a))
            spacing = g.spacing_m if tries < 20_000 else g.spacing_m * 0.5   # never loop forever
            if all(math.dist(p, q) >= spacing for q in spots):
                spots.append(p)
        fevered = set(rng.choice(g.size, size=g.fevered, replace=False).tolist()) if g.fevered else set()
        speed = s.people.walk_speed_m_s
        for k, spot in enumerate(spots):
            body = self._body(rng, g.fever_c if k in fevered else None)
            come = rng.uniform(0.0, 2.0 * math.pi)
            go = rng.uniform(0.0, 2.0 * math.pi)
            come_from = self._inside_map(spot, (spot[0] + g.approach_m * math.cos(come),
                                                spot[1] + g.approach_m * math.sin(come)))
            go_to = self._inside_map(spot, (spot[0] + g.leave_m * math.cos(go), spot[1] + g.leave_m * math.sin(go)))
            arrive = g.start_s + (g.grow_s * k / max(g.size - 1, 1) if g.size > 1 else 0.0)
            walk_in = math.dist(come_from, spot) / speed
            self._members.append(_Member(
                body, g.id, i, k, spot, come_from, go_to, arrive, arrive - walk_in,
                g.start_s + g.lasts_s + float(rng.uniform(0.0, LEAVE_JITTER_S)), speed,
                float(rng.uniform(0.0, 2.0 * math.pi)), float(rng.uniform(8.0, 15.0)),
                g.react_probability, g.react_delay_s))

    # --- the ground ---------------------------------------------------------------------------------------------

    @cached_property
    def ground(self) -> GroundMap:
        """The ground raster (built on first use: about a second for a few hundred metres of map)."""
        s = self.scenario
        areas = [Area(a.surface, tuple(a.polygon), a.rgb) for a in s.areas]
        areas += [Area(z.surface, tuple(z.polygon)) for z in s.zones if z.surface is not None]
        photo = None
        if s.map.orthophoto is not None:
            o = s.map.orthophoto
            photo = Orthophoto(o.path, o.north_west, o.m_per_px)
        return build_ground(s.map.extent, tuple(areas), s.map.background, s.map.cell_m, self._seed, photo)

    @cached_property
    def _ground_temperature(self) -> GroundTemperature:
        temps, cell = self.ground.temperatures_c()
        lat, lon = self.scenario.latlon((self.ground.west_m, self.ground.north_m))
        return GroundTemperature(lat, lon, cell, temps)

    # --- people at an instant ------------------------------------------------------------------------------------

    def _walker_at(self, w: _Walker, t: float) -> tuple[Point, str] | None:
        if t < w.start_s or (w.end_s is not None and t > w.end_s) or w.length_m <= 0:
            return None
        s = w.phase_m + w.speed_m_s * (t - w.start_s)
        if w.loop:
            s %= w.length_m
        else:
            s %= 2.0 * w.length_m
            if s > w.length_m:
                s = 2.0 * w.length_m - s
        for k in range(len(w.path) - 1):
            seg = math.dist(w.path[k], w.path[k + 1])
            if s <= seg or k == len(w.path) - 2:
                return _towards(w.path[k], w.path[k + 1], min(1.0, s / seg) if seg > 0 else 0.0), "walking"
            s -= seg
        return None

    def _leave_s(self, m: _Member, heard: tuple[Heard, ...]) -> float:
        """When the member starts to leave, given the broadcasts heard so far."""
        leave = m.natural_leave_s
        for b, h in enumerate(heard):
            if h.time_s >= leave:
                break
            if h.time_s < m.appear_s:
                continue
            pos = self._member_pos(m, h.time_s, leave)
            if pos is None or math.hypot(pos[0][0] - h.east_m, pos[0][1] - h.north_m) > h.radius_m:
                continue
            rng = np.random.default_rng([self._seed, 3, m.index, m.member, b])
            reacts = rng.uniform() < m.react_probability
            delay = float(rng.uniform(*m.react_delay_s))
            if reacts:
                leave = min(leave, h.time_s + delay)
        return leave

    def _member_pos(self, m: _Member, t: float, leave_s: float) -> tuple[Point, str] | None:
        if t < m.appear_s:
            return None
        if t < m.arrive_s:
            f = 1.0 - (m.arrive_s - t) * m.speed_m_s / max(math.dist(m.come_from, m.spot), 1e-9)
            return _towards(m.come_from, m.spot, max(0.0, f)), "arriving"
        if t < leave_s:
            a = 2.0 * math.pi * t / m.sway_period_s + m.sway_phase
            return (m.spot[0] + SWAY_M * math.cos(a), m.spot[1] + SWAY_M * math.sin(1.3 * a)), "standing"
        away = math.dist(m.spot, m.go_to)
        walked = (t - leave_s) * m.speed_m_s
        if walked >= away:
            return None
        return _towards(m.spot, m.go_to, walked / away if away > 0 else 1.0), "leaving"

    def _zone_of(self, p: Point) -> str | None:
        for zone_id, polygon in self._zones:
            if inside(p, polygon):
                return zone_id
        return None

    def people(self, t_s: float, heard: tuple[Heard, ...] = ()) -> tuple[PersonState, ...]:
        """Everyone on the map at simulated time t_s, given the broadcasts heard (in the order they started)."""
        out = []
        for w in self._walkers:
            found = self._walker_at(w, t_s)
            if found is not None:
                out.append(self._state(w.body, w.group, found))
        for m in self._members:
            found = self._member_pos(m, t_s, self._leave_s(m, heard))
            if found is not None:
                out.append(self._state(m.body, m.gathering, found))
        return tuple(out)

    def _state(self, body: _Body, group: str, found: tuple[Point, str]) -> PersonState:
        (e, n), activity = found
        return PersonState(body.person_id, e, n, body.height_m, body.skin_c, body.appearance, body.mirrored, group,
                           activity, self._zone_of((e, n)))

    def counts(self, t_s: float, heard: tuple[Heard, ...] = ()) -> dict[str, int]:
        """The true number of people in each counting zone."""
        out = {z.id: 0 for z in self.scenario.zones}
        for p in self.people(t_s, heard):
            if p.zone is not None:
                out[p.zone] += 1
        return out

    # --- what the cameras render -----------------------------------------------------------------------------------

    @staticmethod
    def figures(people: tuple[PersonState, ...]) -> tuple[Figure, ...]:
        """The people as the RGB camera draws them (map frame)."""
        return tuple(Figure(p.person_id, p.north_m, p.east_m, p.height_m, p.appearance, p.mirrored) for p in people)

    def thermal_scene(self, people: tuple[PersonState, ...], with_ground: bool = True) -> ThermalScene:
        """The people and the ground as the thermal camera sees them."""
        s = self.scenario
        origin = s.map.origin
        placed = tuple(ScenePerson(*geodesy.moved(origin[0], origin[1], p.north_m, p.east_m), p.skin_c, p.height_m)
                       for p in people)
        return ThermalScene(s.scenario.ambient_c, SURFACES[s.map.background].temp_c, placed,
                            self._ground_temperature if with_ground else None)

    def latlon(self, east_m: float, north_m: float) -> tuple[float, float]:
        return self.scenario.latlon((east_m, north_m))
