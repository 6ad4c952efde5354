"""[grid] in the station config: the grid file, the secrets file and the channels every officer needs are checked when
the config is loaded; with a grid file its cells replace the fixed city grid and every counting zone knows its cells."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from groundstation.config import ConfigError, parse_config
from tests.grid.city import geojson, ring, units

VEHICLES = [{"id": "d1", "url": "tcp:127.0.0.1:5760"}]
SECRETS = 'webhook_secret = "0123456789abcdef-webhook"\nack_secret = "0123456789abcdef-ack"\n'


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def grid_section(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    section = {"file": write(tmp_path, "grid.geojson", geojson(units())),
               "secrets_file": write(tmp_path, "secrets.toml", SECRETS),
               "ack_base_url": "https://station.example.org/notices",
               "smtp": {"host": "127.0.0.1", "port": 2525, "sender": "skyguard@example.org", "security": "none"},
               "sms": {"url": "http://127.0.0.1:9/sms"}}
    section.update(changes)
    return {k: v for k, v in section.items() if v is not None}


def test_a_complete_grid_section_is_accepted(tmp_path):
    config = parse_config({"vehicles": VEHICLES, "grid": grid_section(tmp_path, ack_timeout_s={"cell": 120})})
    assert config.grid.ack_timeout_s == {"cell": 120.0, "community": 600.0, "street": 900.0, "district": 1800.0}
    assert config.grid.grid().unit("cell-a").officer.name == "Li Na"


def test_without_a_grid_file_nothing_changes(tmp_path):
    config = parse_config({"vehicles": VEHICLES, "counting": {"grid_origin": [23.04, 112.46],
                                                              "cell_capacity_persons": 9}})
    counting, _, notices = config.grid.policies(config.counting, config.response)
    assert counting == config.counting.policy() and counting.grid is not None
    assert notices.grid is None


@pytest.mark.parametrize("changes, expected", [
    (dict(file="missing.geojson"), "grid: grid file not found: missing.geojson"),
    (dict(secrets_file="missing.toml"), "secrets file not found: missing.toml"),
    (dict(smtp=None), "officers have e-mail addresses: configure [grid.smtp]"),
    (dict(sms=None), "officers have SMS numbers: configure [grid.sms]"),
    (dict(secrets_file=None), "officers have webhooks: give webhook_secret"),
    (dict(ack_timeout_s={"cell": 0}), "acknowledgement timeouts must be more than 0 s"),
    (dict(smtp={"host": "h", "sender": "s@example.org", "username": "skyguard"}),
     "[grid.smtp] username needs smtp_password in secrets_file"),
    (dict(ack_base_url="ftp://x"), "grid.ack_base_url: String should match pattern"),
])
def test_a_grid_section_that_cannot_work_is_refused_saying_why(tmp_path, changes, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config({"vehicles": VEHICLES, "grid": grid_section(tmp_path, **changes)})
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_a_bad_grid_file_or_secrets_file_is_refused_with_its_mistakes(tmp_path):
    features = units()
    features[4]["properties"].pop("officer")
    bad_grid = write(tmp_path, "bad.geojson", geojson(features))
    with pytest.raises(ConfigError, match="unit 'cell-a': no officer"):
        parse_config({"vehicles": VEHICLES, "grid": grid_section(tmp_path, file=bad_grid)})
    bad_secrets = write(tmp_path, "bad.toml", SECRETS + 'api_token = "x"\n')
    with pytest.raises(ConfigError, match="unknown key.s. api_token"):
        parse_config({"vehicles": VEHICLES, "grid": grid_section(tmp_path, secrets_file=bad_secrets)})


def test_the_grid_files_cells_replace_the_fixed_grid(tmp_path):
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "plaza", "properties": {"capacity": 12},
         "geometry": {"type": "Polygon", "coordinates": [ring(80, 20, 160, 60)]}}]}
    config = parse_config({
        "vehicles": VEHICLES, "grid": grid_section(tmp_path),
        "counting": {"zones_file": write(tmp_path, "zones.geojson", json.dumps(zones)),
                     "grid_origin": [23.04, 112.46], "cell_capacity_persons": 30},
        "response": {"zones": [{"zone": "grid:cell-b", "mode": "watch-only"}]}})
    counting, response, notices = config.grid.policies(config.counting, config.response)
    assert counting.grid is None and counting.cell_capacity_persons is None
    assert [(z.zone_id, z.capacity_persons) for z in counting.zones] == [
        ("plaza", 12), ("grid:cell-a", 5), ("grid:cell-b", 8), ("grid:cell-e", 30)]
    assert dict(notices.zone_cells) == {"plaza": ("cell-a", "cell-b")}
    assert response.zone("grid:cell-b").mode == "watch-only"
    assert response.zone("grid:cell-a").messages[0] == ("zh-cmn", "Cell A：请戴好口罩，不要聚集")
    assert notices.ack_timeout_s["street"] == 900.0 and notices.max_attempts == 4
