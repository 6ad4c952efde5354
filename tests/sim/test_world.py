"""The simulated city's people (sim/world.py): walkers walk their paths at their speed, gatherings form, grow and
leave by themselves or after hearing a broadcast (with the scenario's probability and delay), fevered people are
warm, and everything is a deterministic function of the simulated time and the broadcasts heard."""
from __future__ import annotations

import math

import pytest

from sim import geodesy
from sim.scenario import parse_scenario
from sim.world import Heard, World


def scenario(**changes):
    raw = {
        "scenario": {"name": "w", "seed": 11},
        "map": {"origin": [23.0469, 112.4651], "extent": [-200.0, -200.0, 200.0, 200.0]},
        "zones": [{"id": "plaza", "name": "Plaza", "capacity": 5,
                   "polygon": [[-20.0, -20.0], [20.0, -20.0], [20.0, 20.0], [-20.0, 20.0]]}],
        "drones": [{"id": "d1"}],
        "walkers": [{"count": 4, "path": [[-100.0, -100.0], [100.0, -100.0]], "speed_m_s": 1.5}],
        "gatherings": [{"id": "g", "zone": "plaza", "centre": [0.0, 0.0], "size": 10, "radius_m": 4.0,
                        "start_s": 100.0, "grow_s": 50.0, "lasts_s": 1000.0, "approach_m": 30.0, "leave_m": 30.0,
                        "react_probability": 1.0, "react_delay_s": [2.0, 4.0], "fevered": 2, "fever_c": 38.9}],
        "people": {"hearing_radius_m": 30.0, "walk_speed_m_s": 1.25},
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        target = raw[section][0] if isinstance(raw[section], list) else raw[section]
        target[field] = value
    return parse_scenario(raw)


def by_id(people):
    return {p.person_id: p for p in people}


def test_walkers_walk_their_path_at_their_speed_and_turn_back_at_its_ends():
    w = World(scenario())
    walkers = [p for p in w.people(0.0) if p.group == "walkers.0"]
    assert len(walkers) == 4 and all(p.north_m == pytest.approx(-100.0) and p.activity == "walking" for p in walkers)
    eastings = sorted(p.east_m for p in walkers)
    assert eastings[-1] - eastings[0] > 100.0, "spread along the path"
    steps = []
    for t in (10.0, 300.0, 700.0):
        a, b = by_id(w.people(t)), by_id(w.people(t + 2.0))
        steps += [abs(b[p.person_id].east_m - a[p.person_id].east_m) for p in walkers]
    in_stride = [s for s in steps if 1.5 * 2 * 0.9 - 1e-6 <= s <= 1.5 * 2 * 1.1 + 1e-6]   # speed +-10 % each
    assert len(in_stride) >= len(steps) - 1, steps           # (one may have turned back at an end meanwhile)
    positions = [by_id(w.people(t))[walkers[0].person_id].east_m for t in range(0, 600, 5)]
    assert min(positions) >= -100.0 - 1e-6 and max(positions) <= 100.0 + 1e-6
    assert any(b < a for a, b in zip(positions, positions[1:])) and any(b > a for a, b in zip(positions, positions[1:]))


def test_a_gathering_forms_grows_and_leaves_by_itself():
    w = World(scenario())
    crowd = lambda t: [p for p in w.people(t) if p.group == "g"]   # noqa: E731
    assert crowd(40.0) == []                                       # before anyone sets out (30 m at 1.25 m/s)
    assert 0 < len(crowd(101.0)) < 10 and any(p.activity == "arriving" for p in crowd(101.0))
    standing = crowd(200.0)
    assert len(standing) == 10 and all(p.activity == "standing" for p in standing)
    assert all(math.hypot(p.east_m, p.north_m) <= 4.0 + 0.1 for p in standing)
    gaps = [math.dist((a.east_m, a.north_m), (b.east_m, b.north_m)) for a in standing for b in standing if a is not b]
    assert min(gaps) >= 1.4 - 2 * 0.1, "people keep their spacing (swaying a few centimetres)"
    assert w.counts(200.0) == {"plaza": 10}
    assert len(crowd(1100.0 + 60.0 + 1.0)) < 10                      # leaving after lasts_s (+ up to 60 s)
    assert crowd(1100.0 + 60.0 + 30.0 / 1.25 + 1.0) == []           # and gone once they walked leave_m


def test_a_broadcast_heard_makes_the_listeners_leave_within_the_delay():
    w = World(scenario())
    heard = (Heard(300.0, 0.0, 0.0, 30.0),)
    assert len([p for p in w.people(301.9, heard) if p.group == "g" and p.activity == "standing"]) == 10
    leaving = [p for p in w.people(304.0 + 1e-6, heard) if p.group == "g"]
    assert all(p.activity == "leaving" for p in leaving) and len(leaving) == 10
    assert w.counts(304.0 + 30.0, heard)["plaza"] == 0                        # they walked out of the plaza
    assert w.counts(330.0) == {"plaza": 10}, "without the broadcast they stay"


def test_who_reacts_depends_on_hearing_and_the_probability():
    far = (Heard(300.0, 150.0, 150.0, 30.0),)                                   # the drone is too far to be heard
    assert World(scenario()).counts(320.0, far) == {"plaza": 10}
    never = World(scenario(gatherings__react_probability=0.0))
    assert never.counts(320.0, (Heard(300.0, 0.0, 0.0, 30.0),)) == {"plaza": 10}
    half = World(scenario(gatherings__react_probability=0.5, gatherings__size=10))
    heard = (Heard(300.0, 0.0, 0.0, 30.0),)
    first = half.counts(340.0, heard)["plaza"]
    assert 0 < first < 10, "some leave, some stay"
    again = heard + (Heard(360.0, 0.0, 0.0, 30.0),)
    assert half.counts(340.0, again)["plaza"] == first, "a later broadcast does not change the past"
    assert half.counts(400.0, again)["plaza"] < first, "a second broadcast is a new chance"


def test_the_same_people_for_every_query_and_seed():
    a, b = World(scenario()), World(scenario())
    heard = (Heard(300.0, 0.0, 0.0, 30.0),)
    assert a.people(305.0, heard) == b.people(305.0, heard)
    assert a.people(305.0, heard) == a.people(305.0, heard)
    other = World(scenario(scenario__seed=12))
    assert [(p.east_m, p.north_m) for p in other.people(200.0)] != [(p.east_m, p.north_m) for p in a.people(200.0)]


def test_fevered_people_are_warm_the_others_healthy():
    people = World(scenario()).people(200.0)
    crowd = [p for p in people if p.group == "g"]
    assert sorted(p.skin_c for p in crowd)[-2:] == [38.9, 38.9]
    assert all(33.0 <= p.skin_c <= 36.5 for p in people if p.skin_c != 38.9)
    assert all(1.55 <= p.height_m <= 1.85 for p in people)


def test_the_thermal_cameras_see_the_same_people_and_the_ground_by_surface():
    s = scenario()
    w = World(s)
    people = w.people(200.0)
    scene = w.thermal_scene(people)
    assert len(scene.people) == len(people) and scene.ambient_c == s.scenario.ambient_c
    for person, placed in zip(people, scene.people):
        north, east = geodesy.offset_m(23.0469, 112.4651, placed.lat_deg, placed.lon_deg)
        assert (north, east) == pytest.approx((person.north_m, person.east_m), abs=0.01)
        assert placed.skin_temp_c == person.skin_c and placed.height_m == person.height_m
    assert scene.ground is not None and scene.ground.temp_c.shape[0] > 0
