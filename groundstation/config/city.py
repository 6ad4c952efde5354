"""The city-level settings: [grid] (grid cells with responsible officers, alerts routed to them, the notice
channels), [risk] (the five-colour risk map), [[venues]] (venue limits and their entrances), [reports] (daily
reports) and [retention] (how long records are kept)."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from groundstation.config.base import LatLon, _Frozen
from groundstation.config.crowd import CountingConfig, ResponseSettings


# --- [grid]: grid cells with responsible officers, alerts routed to them (groundstation/core/notices.py) -----------

_ACK_TIMEOUTS_S = {"cell": 300.0, "community": 600.0, "street": 900.0, "district": 1800.0}
_SECRET_KEYS = ("webhook_secret", "ack_secret", "smtp_password", "sms_api_key")


class SmtpSettings(_Frozen):
    """[grid.smtp]: the SMTP server e-mail notices go through (its password: secrets_file, smtp_password)."""

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")  # the From address
    security: Literal["starttls", "ssl", "none"] = "starttls"  # none: a relay on the same host or a trusted network
    username: str | None = Field(default=None, min_length=1)


class SmsSettings(_Frozen):
    """[grid.sms]: the SMS gateway (notify/sms.py documents its JSON API; its key: secrets_file, sms_api_key)."""

    url: str = Field(pattern=r"^https?://[A-Za-z0-9_.\-\[\]:]+(/\S*)?$")
    sender: str = Field(default="SkyGuard", min_length=1, max_length=16)


class GridSettings(_Frozen):
    """[grid]: the grid file (missions/grid.py documents its format: districts, streets, communities and cells, each
    with its officer and contacts), how long each level has to acknowledge an alert before it climbs, how failed
    deliveries are retried, and the channels' settings; secrets (the webhook's signing secret, the acknowledgement
    links' key, the SMTP password, the SMS gateway's key) by reference to a TOML file, never in this file.

    With a grid file, its cells replace [counting]'s fixed grid: each cell is watched like a zone ("grid:<id>") with
    its own capacity (or cell_capacity_persons), and every alert goes to its cell's officer. The file, the secrets
    and the channels every officer needs are checked when the config is loaded."""

    file: Path | None = None
    ack_timeout_s: dict[Literal["cell", "community", "street", "district"], float] = Field(
        default_factory=lambda: dict(_ACK_TIMEOUTS_S))
    retry_backoff_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    retry_backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    retry_backoff_max_s: float = Field(default=300.0, gt=0.0, le=86_400.0)
    max_attempts: int = Field(default=4, ge=1, le=20)
    delivery_timeout_s: float = Field(default=10.0, gt=0.0, le=120.0)
    delivery_workers: int = Field(default=4, ge=1, le=32)
    forget_after_s: float = Field(default=86_400.0, gt=0.0, le=30 * 86_400.0)
    alert_kinds: list[str] | None = Field(default=None, min_length=1)  # unset: every kind of alert
    overlap_tolerance_m2: float = Field(default=1.0, ge=0.0, le=10_000.0)
    secrets_file: Path | None = None
    ack_base_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9_.\-\[\]:]+(/\S*)?$")
    smtp: SmtpSettings | None = None
    sms: SmsSettings | None = None

    @field_validator("ack_timeout_s")
    @classmethod
    def _timeouts(cls, given: dict[str, float]) -> dict[str, float]:
        bad = [f"{level}={s}" for level, s in given.items() if not 0.0 < s <= 7 * 86_400.0]
        if bad:
            raise ValueError("acknowledgement timeouts must be more than 0 s and at most 7 days: " + ", ".join(bad))
        return {**_ACK_TIMEOUTS_S, **given}

    @model_validator(mode="after")
    def _usable(self) -> "GridSettings":
        if self.file is None:
            return self
        from missions.errors import ZoneError

        try:
            grid = self.grid()
        except FileNotFoundError:
            raise ValueError(f"grid file not found: {self.file}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the grid file {self.file}: {exc}") from None
        except ZoneError as exc:
            raise ValueError(f"{self.file}: {exc}") from None
        secrets = self.secrets()
        channels = {channel for officer in grid.officers() for channel, _ in officer.channels}
        problems = []
        if "webhook" in channels and len(secrets.get("webhook_secret", "")) < 16:
            problems.append("officers have webhooks: give webhook_secret (16 characters or more) in secrets_file")
        if "email" in channels and self.smtp is None:
            problems.append("officers have e-mail addresses: configure [grid.smtp]")
        if "sms" in channels and self.sms is None:
            problems.append("officers have SMS numbers: configure [grid.sms]")
        if self.ack_base_url is not None and len(secrets.get("ack_secret", "")) < 16:
            problems.append("ack_base_url needs ack_secret (16 characters or more) in secrets_file")
        if self.smtp is not None and self.smtp.username is not None and not secrets.get("smtp_password"):
            problems.append("[grid.smtp] username needs smtp_password in secrets_file")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def grid(self):
        """The grid file's missions.grid.Grid; raises OSError, UnicodeDecodeError or missions.grid.GridError."""
        from missions.grid import grid_from_text

        assert self.file is not None
        return grid_from_text(self.file.read_text(encoding="utf-8"), self.file.name, self.overlap_tolerance_m2)

    def secrets(self) -> dict[str, str]:
        """The secrets file's values (TOML: webhook_secret, ack_secret, smtp_password, sms_api_key); {} without
        one; ValueError saying what is wrong with it."""
        if self.secrets_file is None:
            return {}
        try:
            raw = tomllib.loads(self.secrets_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"secrets file not found: {self.secrets_file}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read the secrets file {self.secrets_file}: {exc}") from None
        unknown = sorted(set(raw) - set(_SECRET_KEYS))
        not_text = sorted(k for k, v in raw.items() if not isinstance(v, str))
        if unknown or not_text:
            raise ValueError(f"secrets file {self.secrets_file}: " + "; ".join(
                ([f"unknown key(s) {', '.join(unknown)} (known: {', '.join(_SECRET_KEYS)})"] if unknown else [])
                + ([f"{', '.join(not_text)} must be text"] if not_text else [])))
        return dict(raw)

    def policies(self, counting: CountingConfig, response: ResponseSettings):
        """(crowds.CountingPolicy, ResponsePolicy, NoticePolicy) with the grid file's cells in place of the fixed
        grid: each cell a zone ("grid:<id>") with its capacity and its own rendered loudspeaker message; each
        counting zone routed to the cells it covers. Without a grid file: the policies as they are, and no routing."""
        from dataclasses import replace
        from types import MappingProxyType

        from groundstation.core.notice_data import NoticePolicy

        counting_policy, response_policy = counting.policy(), response.policy(counting)
        if self.file is None:
            return counting_policy, response_policy, NoticePolicy()
        grid = self.grid()
        zones = counting.zones()
        watched = zones + grid.counting_zones(counting.cell_capacity_persons)
        counting_policy = replace(counting_policy, zones=watched, grid=None, cell_capacity_persons=None)
        response_policy = response.policy(_Zones(watched))
        notice_policy = NoticePolicy(
            grid, MappingProxyType({z.zone_id: grid.cells_covering(z.parts) for z in zones}),
            MappingProxyType(dict(self.ack_timeout_s)), self.retry_backoff_s, self.retry_backoff_factor,
            self.retry_backoff_max_s, self.max_attempts, None if self.alert_kinds is None else frozenset(
                self.alert_kinds), self.forget_after_s)
        return counting_policy, response_policy, notice_policy


class _Zones:
    """[counting] as ResponseSettings.policy reads it, with the grid's cells among the zones."""

    zones_file = "grid"

    def __init__(self, zones: tuple[Any, ...]) -> None:
        self._zones = zones

    def zones(self) -> tuple[Any, ...]:
        return self._zones


# --- [risk], [[venues]], [reports], [retention]: the risk map, venue limits, daily reports, privacy ------------------

_RISK_LEVELS = ("green", "blue", "yellow", "orange", "red")
RiskLevelName = Literal["green", "blue", "yellow", "orange", "red"]
RiskIndicatorName = Literal["gatherings", "over_capacity_min", "fever_hints", "cases", "close_contacts"]


class RiskIndicatorSettings(_Frozen):
    """One row of [risk.indicators]: the half-life of the indicator's evidence and the decayed sum at which it reaches
    each level (levels left out are skipped; an empty table switches the indicator off)."""

    half_life_h: float = Field(gt=0.0, le=24.0 * 366)
    levels: dict[Literal["blue", "yellow", "orange", "red"], float] = Field(default_factory=dict)

    @field_validator("levels")
    @classmethod
    def _rising(cls, levels: dict[str, float]) -> dict[str, float]:
        ordered = sorted(levels.items(), key=lambda kv: _RISK_LEVELS.index(kv[0]))
        if any(v <= 0 for _, v in ordered):
            raise ValueError("thresholds must be more than 0")
        bad = [f"{a}={x:g} >= {b}={y:g}" for (a, x), (b, y) in zip(ordered, ordered[1:]) if x >= y]
        if bad:
            raise ValueError("a higher level needs a higher threshold: " + ", ".join(bad))
        return dict(ordered)


class RiskEffectSettings(_Frozen):
    """One row of [risk.effects]: what a level changes (factors on zone capacities and venue limits, and on patrol
    intervals)."""

    capacity_factor: float = Field(default=1.0, gt=0.0, le=1.0)
    patrol_interval_factor: float = Field(default=1.0, gt=0.0, le=4.0)


def _default_risk_indicators() -> dict[str, RiskIndicatorSettings]:
    from groundstation.core.risk_data import DEFAULT_RULES

    return {r.indicator: RiskIndicatorSettings(half_life_h=r.half_life_s / 3600.0, levels=dict(r.thresholds))
            for r in DEFAULT_RULES}


def _default_risk_effects() -> dict[str, RiskEffectSettings]:
    from groundstation.core.risk_data import DEFAULT_EFFECTS

    return {level: RiskEffectSettings(capacity_factor=e.capacity_factor,
                                      patrol_interval_factor=e.patrol_interval_factor)
            for level, e in DEFAULT_EFFECTS.items()}


class RiskSettings(_Frozen):
    """[risk]: the five-colour risk map (groundstation/core/risk_data.py documents the rule table, risk.py the rest).
    Indicators given here replace the defaults of the same name; an effect's factors given here replace that level's
    default factors; the rest keep their defaults."""

    recompute_h: float = Field(default=4.0, gt=0.0, le=24.0 * 30)  # the scheduled redraw (also on demand, on input)
    lockdown_level: RiskLevelName = "red"
    indicators: dict[RiskIndicatorName, RiskIndicatorSettings] = Field(default_factory=_default_risk_indicators)
    effects: dict[RiskLevelName, RiskEffectSettings] = Field(default_factory=_default_risk_effects)

    @field_validator("indicators")
    @classmethod
    def _all_indicators(cls, given: dict[str, RiskIndicatorSettings]) -> dict[str, RiskIndicatorSettings]:
        return {**_default_risk_indicators(), **given}

    @field_validator("effects")
    @classmethod
    def _all_levels(cls, given: dict[str, RiskEffectSettings]) -> dict[str, RiskEffectSettings]:
        defaults = _default_risk_effects()
        effects = {**defaults, **{level: defaults[level].model_copy(update={k: getattr(e, k) for k in e.model_fields_set})
                                  for level, e in given.items()}}  # a factor left out keeps the level's default
        ordered = [(level, effects[level]) for level in _RISK_LEVELS]
        bad = [f"{b} ({name} {getattr(y, name):g}) above {a} ({getattr(x, name):g})"
               for (a, x), (b, y) in zip(ordered, ordered[1:])
               for name in ("capacity_factor", "patrol_interval_factor") if getattr(y, name) > getattr(x, name)]
        if bad:
            raise ValueError("a higher level must not allow more people or slower patrols: " + "; ".join(bad))
        return effects

    def policy(self):
        """The core's risk_data.RiskPolicy."""
        from types import MappingProxyType

        from groundstation.core.risk_data import IndicatorRule, LevelEffect, RiskPolicy

        rules = tuple(IndicatorRule(name, s.half_life_h * 3600.0, tuple(s.levels.items()))
                      for name, s in self.indicators.items())
        effects = MappingProxyType({level: LevelEffect(e.capacity_factor, e.patrol_interval_factor)
                                    for level, e in self.effects.items()})
        return RiskPolicy(rules, self.lockdown_level, effects, self.recompute_h * 3600.0)


class EntranceConfig(_Frozen):
    """One [[venues.entrances]] entry: a counting line on the frames of a camera ([[cameras]] id) looking at the
    entrance. `line`: two points in the pixels of the camera's frames, [[x1, y1], [x2, y2]] (x right, y down);
    `inside`: the venue's side of the line as seen on the screen going from the first point to the second."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    camera: str = Field(min_length=1)
    line: tuple[tuple[float, float], tuple[float, float]]
    inside: Literal["left", "right"] = "right"
    margin_px: float = Field(default=3.0, ge=0.0, le=200.0)  # a dead band each side of the line against jitter

    @field_validator("line")
    @classmethod
    def _has_length(cls, line: tuple[tuple[float, float], tuple[float, float]]):
        (x1, y1), (x2, y2) = line
        if (x2 - x1) ** 2 + (y2 - y1) ** 2 < 4.0:
            raise ValueError("the line's two points must be at least 2 px apart")
        return line


class VenueConfig(_Frozen):
    """One [[venues]] entry: a venue with a headcount limit (scaled by the risk level of the cell it stands in) and its
    entrances (groundstation/core/venues.py)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    name: str = Field(default="", max_length=120)
    limit_persons: int = Field(ge=0, le=1_000_000)
    position: LatLon  # where it is: alerts go to the officer of its cell; the map draws it there
    entrances: list[EntranceConfig] = Field(min_length=1)

    def venue(self):
        """The core's venue_data.Venue."""
        from groundstation.core.venue_data import Venue

        return Venue(self.id, self.name or self.id, self.limit_persons, self.position[0], self.position[1],
                     tuple(e.id for e in self.entrances))


def _venue_problems(raw: dict[str, Any]) -> list[str]:
    """Cross checks of [[venues]] on the raw document: duplicate venue or entrance ids, entrances on unknown cameras."""
    venues, cameras = raw.get("venues"), raw.get("cameras")
    if not isinstance(venues, list):
        return []
    camera_ids = {c.get("id") for c in cameras if isinstance(c, dict)} if isinstance(cameras, list) else set()
    problems: list[str] = []
    seen_venues: dict[Any, int] = {}
    seen_entrances: dict[Any, str] = {}
    for i, venue in enumerate(venues):
        if not isinstance(venue, dict):
            continue
        vid = venue.get("id")
        if isinstance(vid, str):
            if vid in seen_venues:
                problems.append(f"venues.{i}.id: duplicate id {vid!r} (already used by venues.{seen_venues[vid]})")
            seen_venues.setdefault(vid, i)
        for j, entrance in enumerate(venue.get("entrances") or []):
            if not isinstance(entrance, dict):
                continue
            eid, cam = entrance.get("id"), entrance.get("camera")
            if isinstance(eid, str):
                if eid in seen_entrances:
                    problems.append(f"venues.{i}.entrances.{j}.id: duplicate entrance id {eid!r} (already used by "
                                    f"{seen_entrances[eid]})")
                seen_entrances.setdefault(eid, f"venues.{i}.entrances.{j}")
            if isinstance(cam, str) and cam not in camera_ids:
                problems.append(f"venues.{i}.entrances.{j}.camera: no camera {cam!r} in [[cameras]]")
    return problems


class ReportSettings(_Frozen):
    """[reports]: daily reports (`groundstation report`; groundstation/shell/report.py). Days run midnight to midnight
    in tz_name. With `dir`, the station writes the previous day's report there by itself once `at` (local time) has
    passed, one file per day (report-YYYY-MM-DD.pdf or .html)."""

    tz_name: str = "UTC"
    dir: Path | None = None
    format: Literal["pdf", "html"] = "pdf"
    at: str = Field(default="00:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

    @field_validator("tz_name")
    @classmethod
    def _zone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from None
        return name


class RetentionSettings(_Frozen):
    """[retention]: how long each kind of record is kept, in days (0: for ever); the station purges older rows every
    purge_every_h hours and records each purge (what, when, by which rule) in the purges table. Kinds and their
    defaults: groundstation.shell.storage RETENTION (thermal readings 14 days, crowd observations 30, ...)."""

    purge_every_h: float = Field(default=24.0, gt=0.0, le=24.0 * 30)
    days: dict[str, float] = Field(default_factory=dict)

    @field_validator("days")
    @classmethod
    def _known(cls, days: dict[str, float]) -> dict[str, float]:
        from groundstation.shell.storage import RETENTION

        unknown = sorted(set(days) - set(RETENTION))
        if unknown:
            raise ValueError(f"unknown kind(s) of record {', '.join(unknown)} (known: {', '.join(RETENTION)})")
        negative = sorted(k for k, v in days.items() if v < 0)
        if negative:
            raise ValueError(f"days must be 0 (for ever) or more: {', '.join(negative)}")
        return days

    def rules(self) -> dict[str, float]:
        """Every kind of record with its retention in days (the defaults where not given; 0: for ever)."""
        from groundstation.shell.storage import RETENTION

        return {kind: float(self.days.get(kind, default)) for kind, (_, _, default) in RETENTION.items()}
