"""Config validation: every problem listed, not-TOML with line/column, cross-field checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from groundstation.config import ConfigError, load_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

VALID = """
[station]
storage_path = "x.sqlite"
[[vehicles]]
id = "a"
url = "tcp:127.0.0.1:5760"
"""


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


@pytest.mark.parametrize("name", ["example.toml", "demo.toml"])
def test_shipped_configs_are_valid(name):
    config = load_config(CONFIG_DIR / name)
    assert config.vehicles and config.geofence is not None


def test_defaults():
    from groundstation.config import parse_config

    config = parse_config({"vehicles": [{"id": "a", "url": "tcp:127.0.0.1:5760"}]})
    assert str(config.station.storage_path) == "var/station.sqlite"
    assert config.limits.max_alt_rel_m == 120
    assert config.geofence is None
    with pytest.raises(Exception):
        config.limits.max_alt_rel_m = 500  # frozen


def test_a_config_with_wrong_types_and_several_mistakes_lists_all_of_them(tmp_path):
    problems = problems_of(tmp_path, """
[station]
name = 3
log_level = "LOUD"
colour = "red"

[[vehicles]]
id = "a"

[[vehicles]]
id = "a"
url = "tcp:127.0.0.1:5770"
system_id = "two"
link_timeout_s = -1

[[vehicles]]
id = "has space"
url = "tcp:127.0.0.1:5770"

[[vehicles]]
id = "c"
url = "http://example.com"

[limits]
max_alt_rel_m = "high"
min_battery_to_launch_pct = 140
""")
    expected = [
        "station.name: Input should be a valid string (got 3)",
        "station.log_level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (got 'LOUD')",
        "station.colour: Extra inputs are not permitted",
        "vehicles.0.url: Field required",
        "vehicles.1.system_id: Input should be a valid integer, unable to parse string as an integer (got 'two')",
        "vehicles.1.link_timeout_s: Input should be greater than 0 (got -1)",
        "vehicles.2.id: String should match pattern",
        "vehicles.3.url: expected tcp:HOST:PORT",
        "limits.max_alt_rel_m: Input should be a valid number, unable to parse string as a number (got 'high')",
        "limits.min_battery_to_launch_pct: Input should be less than or equal to 100 (got 140)",
        "vehicles.1.id: duplicate id 'a' (already used by vehicles.0)",
        "vehicles.2.url: duplicate url 'tcp:127.0.0.1:5770' (already used by vehicles.1)",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), f"missing {line!r} in {problems}"
    assert len(problems) == len(expected), problems


def test_not_toml_says_where(tmp_path):
    problems = problems_of(tmp_path, '[station]\nname = "x"\nstorage_path = = 3\n')
    assert len(problems) == 1
    assert problems[0].startswith("not valid TOML:") and "line 3, column" in problems[0]


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "binary.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(bad)


def test_no_vehicles(tmp_path):
    assert problems_of(tmp_path, "[station]\n") == ["vehicles: Field required"]
    assert problems_of(tmp_path, "vehicles = []\n")[0].startswith("vehicles: List should have at least 1 item")


FENCE_CASES = [
    ("two points", "inclusion = [[23.0, 112.0], [23.1, 112.1]]",
     "geofence.inclusion: a polygon needs at least 3 points, got 2"),
    ("bow tie", "inclusion = [[23.0, 112.0], [23.1, 112.1], [23.0, 112.1], [23.1, 112.0]]",
     "geofence.inclusion: polygon crosses itself"),
    ("collinear", "inclusion = [[23.0, 112.0], [23.1, 112.1], [23.2, 112.2]]", "geofence.inclusion: polygon"),
    ("latitude out of range", "inclusion = [[95.0, 112.0], [23.1, 112.1], [23.0, 112.1]]",
     "geofence.inclusion.0.0: Input should be less than or equal to 90"),
    ("not a pair", "inclusion = [[23.0], [23.1, 112.1], [23.0, 112.1]]", "geofence.inclusion.0.1: Field required"),
    ("bad exclusion", "radius_m = 500.0\nexclusions = [[[23.0, 112.0], [23.1, 112.1]]]",
     "geofence.exclusions: exclusion 0: a polygon needs at least 3 points"),
    ("nothing to enforce", "exclusions = []", "geofence: a geofence needs an inclusion polygon, a radius_m"),
    ("negative radius", "radius_m = -5.0", "geofence.radius_m: Input should be greater than 0"),
]


@pytest.mark.parametrize("name,fence,expected", FENCE_CASES, ids=[c[0] for c in FENCE_CASES])
def test_fence_problems(tmp_path, name, fence, expected):
    problems = problems_of(tmp_path, VALID + "[geofence]\n" + fence + "\n")
    assert any(p.startswith(expected) for p in problems), problems


LIMIT_CASES = [
    ("altitude above 500", "max_alt_rel_m = 501", "limits.max_alt_rel_m: Input should be less than or equal to 500"),
    ("zero altitude", "max_alt_rel_m = 0", "limits.max_alt_rel_m: Input should be greater than 0"),
    ("reserve above launch", "battery_reserve_pct = 60\nmin_battery_to_launch_pct = 40",
     "limits: battery_reserve_pct (60) must not exceed min_battery_to_launch_pct (40)"),
    ("warning below reserve", "low_battery_warning_pct = 20", "limits: low_battery_warning_pct (20) must not be below"),
    ("cross check even with other errors", "max_alt_rel_m = -1\nbattery_reserve_pct = 60",
     "limits: battery_reserve_pct (60) must not exceed"),
    ("unknown limit", "max_speed = 3", "limits.max_speed: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("name,limits,expected", LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limit_problems(tmp_path, name, limits, expected):
    problems = problems_of(tmp_path, VALID + "[limits]\n" + limits + "\n")
    assert any(p.startswith(expected) for p in problems), problems
    assert len(problems) == len(set(problems)), "no problem is listed twice"


@pytest.mark.parametrize("url", ["tcp:127.0.0.1:5760", "udpin:0.0.0.0:14550", "udpout:10.0.0.2:14550",
                                 "serial:/dev/ttyUSB0:57600", "serial:/dev/ttyACM0", "tcp:localhost:5762"])
def test_link_urls_accepted(tmp_path, url):
    config = load_config(write(tmp_path, VALID.replace("tcp:127.0.0.1:5760", url)))
    assert config.vehicles[0].url == url


@pytest.mark.parametrize("url", ["127.0.0.1:5760", "tcp:127.0.0.1", "tcp:127.0.0.1:99999", "http://x:80", ""])
def test_link_urls_refused(tmp_path, url):
    problems = problems_of(tmp_path, VALID.replace("tcp:127.0.0.1:5760", url))
    assert problems and problems[0].startswith("vehicles.0.url:"), problems


def test_web_map_tiles_from_an_mbtiles_file_must_exist_and_exclude_a_tile_folder(tmp_path):
    (tmp_path / "tiles").mkdir()
    mbtiles = tmp_path / "city.mbtiles"
    assert problems_of(tmp_path, VALID + f'[web]\ntiles_mbtiles = "{mbtiles}"\n') == [
        f"web: tiles_mbtiles {mbtiles} is not a file"]
    mbtiles.write_bytes(b"")
    assert load_config(write(tmp_path, VALID + f'[web]\ntiles_mbtiles = "{mbtiles}"\n')).web.tiles_mbtiles == mbtiles
    assert problems_of(tmp_path, VALID + f'[web]\ntiles_mbtiles = "{mbtiles}"\ntiles_dir = "{tmp_path / "tiles"}"\n') == [
        "web: give tiles_dir or tiles_mbtiles, not both"]


def test_a_zones_file_policy_sets_how_that_zones_gatherings_are_answered(tmp_path):
    import json

    def square(zone_id, east, **props):
        ring = [[112.46 + east, 22.05], [112.461 + east, 22.05], [112.461 + east, 22.051], [112.46 + east, 22.051],
                [112.46 + east, 22.05]]
        return {"type": "Feature", "id": zone_id, "properties": {"name": zone_id, "capacity": 5, **props},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}

    zones = tmp_path / "zones.geojson"
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [
        square("plaza", 0.0, policy="watch-only"), square("market", 0.01), square("park", 0.02, policy="auto"),
        square("pier", 0.03)]}))
    config = load_config(write(tmp_path, VALID + f"""
[counting]
zones_file = "{zones}"
[response]
mode = "approve"
[[response.zones]]
zone = "park"
mode = "watch-only"
[[response.zones]]
zone = "pier"
mode = "auto"
"""))
    modes = {zone: p.mode for zone, p in config.response.policy(config.counting).zones.items()}
    assert modes == {"plaza": "watch-only", "market": "approve", "park": "auto", "pier": "auto"}, \
        "the file's policy (edited on the web map) first, then [[response.zones]], then [response] mode"
