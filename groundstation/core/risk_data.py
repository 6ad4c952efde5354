"""The five-colour risk map, its data: the levels, the rule table (policy), the events the shell sends, the rows recorded
and the state. The decisions themselves (evidence, the rules, what each level changes) are risk.py.

Levels, lowest to highest: green, blue, yellow, orange, red. An area (a grid cell or a community of the [grid] file;
without one, each counting zone) gets the highest level any indicator of the rule table reaches:

    indicator           what is summed (each item decays with the indicator's half-life)        default thresholds
    gatherings          gatherings that started in the area (1 each)                             blue 1, yellow 3, orange 6, red 12
    over_capacity_min   minutes the area's zones were over capacity (a gathering's duration)     blue 10, yellow 60, orange 180, red 480
    fever_hints         fever-hint alerts of the crowd response in the area (1 each)              yellow 1, orange 3, red 6
    cases               confirmed cases a health official entered for the area                   orange 1, red 3
    close_contacts      close contacts a health official entered for the area                    yellow 1, orange 5, red 20
    lockdown            a lockdown a health official declared (no decay, until lifted)           the lockdown level (red)

An item of `amount` recorded at `at_s` weighs amount * 0.5 ** ((now_s - at_s) / half_life_s) now (so a busy week
fades). The level drives the work (LevelEffect): zone capacities and venue limits are multiplied by capacity_factor,
patrol intervals by patrol_interval_factor.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

LEVELS = ("green", "blue", "yellow", "orange", "red")  # lowest to highest
INDICATORS = ("gatherings", "over_capacity_min", "fever_hints", "cases", "close_contacts")
_EMPTY: Mapping[Any, Any] = MappingProxyType({})
_HOUR_S = 3600.0


def rank(level: str) -> int:
    """0 for green ... 4 for red (ValueError for anything else)."""
    return LEVELS.index(level)


def highest(levels: Any) -> str:
    """The highest of some levels ("green" for none)."""
    return max(levels, key=rank, default="green")


# --- policy (from the config's [risk]) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorRule:
    """One row of the rule table: the decayed sum of `indicator` reaching a threshold gives that level."""

    indicator: str
    half_life_s: float
    thresholds: tuple[tuple[str, float], ...]  # (level, at least this), lowest level first; levels left out are skipped

    def level(self, value: float) -> tuple[str, float | None]:
        """The highest level whose threshold `value` reaches, with that threshold ("green", None: none)."""
        found: tuple[str, float | None] = ("green", None)
        for level, at_least in self.thresholds:
            if value >= at_least and rank(level) > rank(found[0]):
                found = (level, at_least)
        return found


@dataclass(frozen=True)
class LevelEffect:
    """What a level changes: zone capacities (and venue limits) and patrol intervals are multiplied by these."""

    capacity_factor: float = 1.0
    patrol_interval_factor: float = 1.0


DEFAULT_RULES = (
    IndicatorRule("gatherings", 72 * _HOUR_S, (("blue", 1.0), ("yellow", 3.0), ("orange", 6.0), ("red", 12.0))),
    IndicatorRule("over_capacity_min", 72 * _HOUR_S,
                  (("blue", 10.0), ("yellow", 60.0), ("orange", 180.0), ("red", 480.0))),
    IndicatorRule("fever_hints", 168 * _HOUR_S, (("yellow", 1.0), ("orange", 3.0), ("red", 6.0))),
    IndicatorRule("cases", 336 * _HOUR_S, (("orange", 1.0), ("red", 3.0))),
    IndicatorRule("close_contacts", 336 * _HOUR_S, (("yellow", 1.0), ("orange", 5.0), ("red", 20.0))),
)
DEFAULT_EFFECTS: Mapping[str, LevelEffect] = MappingProxyType({
    "green": LevelEffect(1.0, 1.0),
    "blue": LevelEffect(1.0, 1.0),
    "yellow": LevelEffect(0.85, 0.75),
    "orange": LevelEffect(0.7, 0.5),
    "red": LevelEffect(0.5, 0.25),
})


@dataclass(frozen=True)
class RiskPolicy:
    """The rule table, the lockdown level, what each level changes and how often the map is redrawn."""

    rules: tuple[IndicatorRule, ...] = DEFAULT_RULES
    lockdown_level: str = "red"
    effects: Mapping[str, LevelEffect] = field(default_factory=lambda: DEFAULT_EFFECTS)
    recompute_s: float = 4 * _HOUR_S  # on the patrol Tick; also on demand (recompute_risk) and on every manual input
    forget_half_lives: float = 10.0  # evidence older than this many half-lives (weight < 0.1 %) is dropped

    def rule(self, indicator: str) -> IndicatorRule | None:
        return next((r for r in self.rules if r.indicator == indicator), None)

    def effect(self, level: str) -> LevelEffect:
        return self.effects.get(level, LevelEffect())


# --- areas --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskArea:
    """Where a level is kept: a grid cell, a community (the level of everything in it), or a counting zone (no grid)."""

    area_id: str  # the grid unit's id, or the counting zone's id
    kind: str  # cell | community | zone
    name: str
    community_id: str | None = None  # a cell's community
    cells: tuple[str, ...] = ()  # a community's cells


# --- events in (from the shell) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskLoaded:
    """What the database holds from before this start (the shell reads it at start, put first into the inbox): the
    gatherings, fever hints and health officials' inputs still weighing, and the last level recorded for each area."""

    gatherings: tuple[Any, ...] = ()  # crowds.GatheringRow, as recorded (its last state)
    alerts: tuple[Any, ...] = ()  # response_data.AlertRow of kind fever_hint
    inputs: tuple["RiskInputRow", ...] = ()
    levels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # area id -> last recorded level
    computed_at_s: float | None = None  # when the map was last computed (None: never)


# --- rows out -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskInputRow:
    """A health official's input for an area (station action "risk_input"; audited in the commands table too)."""

    input_id: str  # the request id
    at_s: float
    unit_id: str
    by: str
    cases: int = 0
    close_contacts: int = 0
    lockdown: bool | None = None  # True: declared; False: lifted; None: unchanged
    note: str = ""


@dataclass(frozen=True)
class RiskLevelRow:
    """An area's level changed (or was computed for the first time: previous None), with every reason."""

    area_id: str
    kind: str
    at_s: float
    level: str
    previous: str | None
    reasons: tuple[str, ...]
    values: Mapping[str, float]  # each indicator's decayed sum
    trigger: str  # schedule | demand:<who> | input:<who> | start


# --- state --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """One item that weighs on the areas it happened in."""

    ref: str  # the gathering, alert or input it comes from
    indicator: str
    area_ids: tuple[str, ...]
    at_s: float
    amount: float


@dataclass(frozen=True)
class Lockdown:
    unit_id: str
    since_s: float
    by: str
    note: str = ""


@dataclass(frozen=True)
class Assessment:
    """An area's level now, why, and the indicator values it came from."""

    area_id: str
    level: str
    reasons: tuple[str, ...]
    values: Mapping[str, float]
    since_s: float  # when it got this level (or when first computed)


@dataclass(frozen=True)
class RiskState:
    policy: RiskPolicy = field(default_factory=RiskPolicy)
    areas: Mapping[str, RiskArea] = field(default_factory=lambda: _EMPTY)
    evidence: Mapping[str, Evidence] = field(default_factory=lambda: _EMPTY)  # by "indicator:ref"
    open_gatherings: Mapping[str, tuple[tuple[str, ...], float]] = field(default_factory=lambda: _EMPTY)  # id -> (areas, started)
    lockdowns: Mapping[str, Lockdown] = field(default_factory=lambda: _EMPTY)  # by unit id
    assessments: Mapping[str, Assessment] = field(default_factory=lambda: _EMPTY)  # by area id
    recorded: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # area id -> last level recorded
    computed_at_s: float | None = None
    trigger: str = ""  # what caused the last computation

    def level(self, area_id: str) -> str:
        a = self.assessments.get(area_id)
        return "green" if a is None else a.level
