"""Scenario files: the shipped ones load; each kind of mistake is refused with every problem listed and where it is."""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from sim.scenario import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "scenarios" / "zhaoqing.toml"


def minimal() -> dict:
    return {
        "scenario": {"name": "t"},
        "map": {"origin": [23.0469, 112.4651], "extent": [-50.0, -50.0, 50.0, 50.0]},
        "zones": [{"id": "plaza", "name": "Plaza", "capacity": 5,
                   "polygon": [[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]]}],
        "drones": [{"id": "d1"}],
        "patrols": [{"name": "p", "zone": "plaza"}],
        "walkers": [{"count": 2, "path": [[-40.0, -40.0], [40.0, -40.0]]}],
        "gatherings": [{"id": "g", "zone": "plaza", "size": 6, "radius_m": 3.0}],
    }


def problems(raw: dict) -> list[str]:
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(raw, "s.toml")
    assert str(refused.value).startswith("s.toml: ")
    return refused.value.problems


def test_the_shipped_scenarios_load():
    s = load_scenario(DEFAULT)
    assert s.scenario.name == "zhaoqing" and [z.id for z in s.zones] == ["plaza", "market", "park"]
    assert len(s.drones) == 3 and s.patrols[0].alt_m == 25.0 and s.patrols[0].gimbal_pitch_deg == -45.0
    assert any(g.fevered == 1 for g in s.gatherings) and s.source == DEFAULT
    assert load_scenario(ROOT / "tests" / "city" / "loop.toml").zones[0].capacity == 5


def test_a_minimal_scenario_has_sensible_defaults():
    s = parse_scenario(minimal())
    assert s.home.position == (0.0, 0.0) and s.camera.width_px == 1280 and s.scenario.speedup > 0
    assert s.drone_positions() == [(0.0, 0.0)]
    assert s.zone_centroid("plaza") == pytest.approx((10.0, 10.0))


def test_an_unknown_zone_is_named_with_the_known_ones():
    raw = minimal()
    raw["gatherings"][0]["zone"] = "plazza"
    raw["patrols"][0]["zone"] = "square"
    assert problems(raw) == ["patrols.0.zone: unknown zone 'square' (zones: plaza)",
                             "gatherings.0.zone: unknown zone 'plazza' (zones: plaza)"]


def test_people_and_places_outside_the_map_are_refused_with_where_they_are():
    raw = minimal()
    raw["walkers"][0]["path"][1] = [80.0, -40.0]
    raw["zones"][0]["polygon"][2] = [20.0, 60.0]
    raw["gatherings"][0]["centre"] = [10.0, 10.0]
    raw["gatherings"][0]["radius_m"] = 45.0
    raw["home"] = {"position": [0.0, -51.0]}
    found = problems(raw)
    assert "home.position: point [0, -51] is outside the map (extent west -50, south -50, east 50, north 50)" in found
    assert any(p.startswith("zones.0.polygon.2: point [20, 60] is outside the map") for p in found)
    assert any(p.startswith("walkers.0.path.1: point [80, -40] is outside the map") for p in found)
    assert any(p.startswith("gatherings.0.radius_m: the gathering's east edge [55, 10] is outside the map")
               for p in found)


@pytest.mark.parametrize("where, value, expected", [
    (("gatherings", 0, "size"), -3, "gatherings.0.size: Input should be greater than or equal to 1"),
    (("gatherings", 0, "radius_m"), -1.0, "gatherings.0.radius_m: Input should be greater than 0"),
    (("walkers", 0, "speed_m_s"), 0.0, "walkers.0.speed_m_s: Input should be greater than 0"),
    (("zones", 0, "capacity"), -1, "zones.0.capacity: Input should be greater than or equal to 0"),
    (("gatherings", 0, "start_s"), -10.0, "gatherings.0.start_s: Input should be greater than or equal to 0"),
    (("patrols", 0, "alt_m"), -25.0, "patrols.0.alt_m: Input should be greater than 5"),
    (("map", "extent"), [50.0, -50.0, -50.0, 50.0], "map.extent: needs west < east and south < north"),
])
def test_negative_sizes_and_durations_are_refused(where, value, expected):
    raw = minimal()
    target = raw
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert any(p.startswith(expected) for p in problems(raw)), problems(raw)


def test_every_problem_is_listed_at_once():
    raw = minimal()
    raw["zones"][0]["capacity"] = -1
    raw["drones"][0]["id"] = "has space"
    raw["gatherings"][0]["fevered"] = 9
    raw["people"] = {"height_m": [1.9, 1.5]}
    raw["surprise"] = 1
    raw["patrols"][0]["zone"] = "nowhere"                  # checked across sections even with the errors above
    found = problems(raw)
    assert len(found) == 6, found
    assert "patrols.0.zone: unknown zone 'nowhere' (zones: plaza)" in found
    assert "surprise: Extra inputs are not permitted" in found
    assert any(p.startswith("gatherings.0: fevered (9) is more than the gathering's size (6)") for p in found)
    assert any(p.startswith("people.height_m: must be [shortest, tallest]") for p in found)


def test_polygons_that_are_not_polygons_and_duplicates():
    raw = minimal()
    raw["zones"].append(copy.deepcopy(raw["zones"][0]))
    raw["zones"][1]["polygon"] = [[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]]     # a bow tie
    raw["areas"] = [{"surface": "lava", "polygon": [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]}]
    raw["drones"].append({"id": "d1"})
    found = problems(raw)
    assert "areas.0.surface: unknown surface 'lava' (surfaces: paving, asphalt, concrete, grass, dirt, roof, water, " \
           "trees)" in found
    raw["areas"][0]["surface"] = "grass"
    found = problems(raw)
    assert "zones.1.id: duplicate id 'plaza' (already used by zones.0)" in found
    assert "zones.1.polygon: polygon crosses itself (edges 0 and 2)" in found
    assert "areas.0.polygon: polygon has no area (points collinear or repeated)" in found
    assert "drones.1.id: duplicate id 'd1' (already used by drones.0)" in found


def test_a_crowd_that_cannot_fit_and_a_gathering_centre_outside_its_zone():
    raw = minimal()
    raw["gatherings"][0].update(size=200, radius_m=3.0, centre=[-30.0, -30.0])
    found = problems(raw)
    assert any("200 people cannot stand 1.4 m apart within 3 m" in p for p in found)
    raw["gatherings"][0].update(size=6)
    assert problems(raw) == ["gatherings.0.centre: [-30, -30] is not inside zone 'plaza'"]


def test_not_a_file_not_toml_and_missing(tmp_path):
    with pytest.raises(ScenarioError, match="not found: no such file"):
        load_scenario(tmp_path / "none.toml")
    with pytest.raises(ScenarioError, match=r"not a file \(a scenario is one TOML file\)"):
        load_scenario(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname = 1\n")
    with pytest.raises(ScenarioError, match=r"not valid TOML: .*line 1"):
        load_scenario(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(ScenarioError) as refused:
        load_scenario(empty)
    assert set(refused.value.problems) == {"scenario: Field required", "map: Field required", "drones: Field required"}


def test_an_orthophoto_is_found_relative_to_the_scenario(tmp_path):
    raw = tomllib.loads(DEFAULT.read_text(encoding="utf-8"))
    raw["map"]["orthophoto"] = {"path": "district.png", "north_west": [-160.0, 200.0], "m_per_px": 0.2}
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(raw, tmp_path / "city.toml")
    assert refused.value.problems == [f"map.orthophoto.path: not a file: {tmp_path / 'district.png'}"]
    from PIL import Image
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "district.png")
    s = parse_scenario(raw, tmp_path / "city.toml")
    assert s.map.orthophoto.path == tmp_path / "district.png"
