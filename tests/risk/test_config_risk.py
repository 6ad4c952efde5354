"""The config's [risk], [[venues]], [reports] and [retention]: the documented examples in config/example.toml are
valid as written, given values replace the defaults, and every mistake is listed."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from groundstation.config import ConfigError, parse_config
from groundstation.core.risk_data import DEFAULT_EFFECTS, DEFAULT_RULES

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
BASE = {"vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}]}


def test_the_documented_sections_of_the_example_config_are_valid_as_written():
    text = EXAMPLE.read_text(encoding="utf-8")
    tail = text[text.index("# The five-colour risk map"):]
    raw = tomllib.loads("\n".join(line[2:] for line in tail.splitlines() if re.match(r"^# (\[|[a-z_]+ = )", line)))
    assert sorted(raw) == ["reports", "retention", "risk", "venues"]
    raw["cameras"] = [{"id": "hall-east-cam", "vehicle_id": "d1", "source": "hall.mp4", "detector_preset": "elevated",
                       "model_path": __file__}]  # any existing file: the config checks the model's path exists
    config = parse_config({**BASE, **raw})
    policy = config.risk.policy()
    assert policy.rules == DEFAULT_RULES and dict(policy.effects) == dict(DEFAULT_EFFECTS)  # the defaults, shown
    assert policy.recompute_s == 4 * 3600.0
    assert config.venues[0].venue().entrances == ("market-hall-east",)
    from groundstation.shell.storage import RETENTION

    assert config.retention.rules() == {k: v[2] for k, v in RETENTION.items()}


def test_given_indicators_and_effects_replace_the_defaults_of_the_same_name():
    config = parse_config({**BASE, "risk": {"indicators": {"cases": {"half_life_h": 24, "levels": {"red": 1}}},
                                            "effects": {"red": {"capacity_factor": 0.3}}}})
    policy = config.risk.policy()
    assert policy.rule("cases").thresholds == (("red", 1.0),) and policy.rule("cases").half_life_s == 86_400.0
    assert policy.rule("gatherings") == DEFAULT_RULES[0]
    assert policy.effect("red").capacity_factor == 0.3 and policy.effect("red").patrol_interval_factor == 0.25


def test_every_mistake_in_the_risk_settings_is_listed():
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "risk": {
            "lockdown_level": "purple",
            "indicators": {"gatherings": {"half_life_h": 0, "levels": {"blue": 5, "yellow": 3}},
                           "sneezes": {"half_life_h": 1}},
            "effects": {"orange": {"capacity_factor": 0.9}}},
            "reports": {"tz_name": "Mars/Olympus", "at": "25:00"}})
    text = "\n".join(err.value.problems)
    for expected in ("risk.lockdown_level", "risk.indicators.gatherings.half_life_h",
                     "a higher level needs a higher threshold: blue=5 >= yellow=3", "risk.indicators.sneezes",
                     "a higher level must not allow more people or slower patrols: orange (capacity_factor 0.9) "
                     "above yellow (0.85)", "unknown time zone 'Mars/Olympus'", "reports.at"):
        assert expected in text, expected
