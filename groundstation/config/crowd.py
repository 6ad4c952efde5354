"""[counting] and [response]: counting people in zones and on the city grid, and the crowd response that answers
gatherings (which drone goes, its thermal screening and loudspeaker messages)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from groundstation.config.base import LatLon, _Frozen


class CountingConfig(_Frozen):
    """[counting]: zones (a zone file, GeoJSON or KML: polygons each with a `capacity` property; see
    missions.areas), the fixed city grid, gatherings."""

    zones_file: Path | None = None
    grid_cell_m: float = Field(default=50.0, gt=0.0, le=10_000.0)
    grid_origin: LatLon | None = None  # the grid's south-west anchor; no per-cell counts without it
    crowd_radius_m: float = Field(default=2.0, gt=0.0, le=100.0)  # people this close form a crowd
    hold_s: float = Field(default=10.0, ge=0.0, le=3600.0)  # over capacity this long: a gathering
    clear_s: float = Field(default=5.0, ge=0.0, le=3600.0)  # back under capacity this long: dispersed
    window_s: float = Field(default=30.0, gt=0.0, le=3600.0)  # a person not seen this long leaves the counts
    merge_radius_m: float = Field(default=2.0, ge=0.0, le=50.0)  # a new track this close to a known person is them
    # a known person inside a camera's view and not seen in this many of its frames in a row leaves the counts
    # (has left, or was placed twice); 0: only the window ends them
    miss_frames: int = Field(default=3, ge=0, le=1000)
    record_interval_s: float = Field(default=10.0, gt=0.0, le=3600.0)  # count rows on change and this often
    # a grid cell holding more than this is watched like a zone (a gathering, a crowd response); unset: cells are
    # only counted
    cell_capacity_persons: int | None = Field(default=None, ge=0, le=100_000)

    def zones(self):
        """The counting zones of zones_file (missions.areas.CountingZone); raises OSError, UnicodeDecodeError or
        missions.errors.ZoneError (what is wrong with the file)."""
        if self.zones_file is None:
            return ()
        from missions.areas import counting_zones_from_text

        return counting_zones_from_text(self.zones_file.read_text(encoding="utf-8"), self.zones_file.name)

    def policy(self):
        """The core's crowds.CountingPolicy."""
        from groundstation.core.crowds import CountingPolicy
        from missions.areas import CityGrid

        grid = None if self.grid_origin is None else CityGrid(self.grid_origin[0], self.grid_origin[1], self.grid_cell_m)
        return CountingPolicy(self.zones(), grid, self.hold_s, self.clear_s, self.window_s, self.merge_radius_m,
                              self.record_interval_s, self.cell_capacity_persons if grid is not None else None,
                              self.miss_frames)


_MESSAGES = {"zh-cmn": "{zone}：请戴好口罩，不要聚集",
             "zh-yue": "{zone}：請戴好口罩，唔好聚集",
             "en": "{zone}: please wear a mask and do not gather"}


def _message_problems(messages: dict[str, str]) -> list[str]:
    from speech import TemplateError, UnknownLanguage, language, placeholders

    problems = []
    for code, template in messages.items():
        try:
            language(code)
            placeholders(template)
        except (UnknownLanguage, TemplateError) as exc:
            problems.append(f"{code}: {exc}")
    return problems


class ZoneResponseConfig(_Frozen):
    """One [[response.zones]] entry: how one counting zone's gatherings are answered (unset: [response]'s)."""

    zone: str = Field(min_length=1)  # the zone's id or name in [counting] zones_file
    mode: Literal["auto", "approve", "watch-only"] | None = None
    approval_timeout_s: float | None = Field(default=None, gt=0.0, le=3600.0)
    on_approval_timeout: Literal["drop", "proceed"] | None = None
    cooldown_s: float | None = Field(default=None, ge=0.0, le=86_400.0)
    messages: dict[str, str] | None = None  # language -> template; unset: [response].messages
    names: dict[str, str] = Field(default_factory=dict)  # language -> the zone's name as spoken in it

    @field_validator("messages")
    @classmethod
    def _messages(cls, messages: dict[str, str] | None) -> dict[str, str] | None:
        problems = _message_problems(messages or {})
        if problems:
            raise ValueError("; ".join(problems))
        return messages


class ResponseSettings(_Frozen):
    """[response]: the crowd response (groundstation/core/response.py): which drone goes, how it screens
    temperatures and broadcasts, when a crowd counts as dispersed. See config/example.toml for each field."""

    mode: Literal["auto", "approve", "watch-only"] = "auto"
    approval_timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    on_approval_timeout: Literal["drop", "proceed"] = "drop"
    messages: dict[str, str] = Field(default_factory=lambda: dict(_MESSAGES))
    zones: list[ZoneResponseConfig] = Field(default_factory=list)
    approach_alt_m: float = Field(default=20.0, gt=0.0, le=120.0)
    min_alt_over_people_m: float = Field(default=15.0, ge=5.0, le=120.0)
    arrive_m: float = Field(default=6.0, gt=0.0, le=100.0)
    transit_timeout_s: float = Field(default=300.0, gt=0.0, le=3600.0)
    thermal_component_id: int = Field(default=101, ge=1, le=255)
    thermal_frames: int = Field(default=3, ge=1, le=50)
    thermal_timeout_s: float = Field(default=60.0, gt=0.0, le=600.0)
    ambient_c: float = Field(default=25.0, gt=-60.0, lt=70.0)  # the air temperature (distance correction)
    fever_threshold_c: float = Field(default=37.3, ge=35.0, le=42.0)
    min_measured_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    fever_watch_s: float = Field(default=120.0, ge=0.0, le=3600.0)
    broadcast: Literal["speaker", "relay"] = "speaker"
    broadcast_repeat: int = Field(default=3, ge=1, le=100)
    relay_number: int = Field(default=0, ge=0, le=15)
    relay_clip_s: float = Field(default=6.0, gt=0.0, le=600.0)
    max_broadcasts: int = Field(default=3, ge=1, le=20)
    verify_window_s: float = Field(default=45.0, gt=0.0, le=3600.0)
    clear_s: float = Field(default=10.0, ge=0.0, le=3600.0)
    rearm_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    escalated_hold_s: float = Field(default=300.0, ge=0.0, le=3600.0)
    cooldown_s: float = Field(default=300.0, ge=0.0, le=86_400.0)
    max_response_s: float = Field(default=1200.0, gt=0.0, le=86_400.0)
    planned_hover_s: float = Field(default=300.0, ge=0.0, le=3600.0)
    hover_pct_per_min: float = Field(default=2.0, ge=0.0, le=100.0)
    queue_timeout_s: float = Field(default=600.0, ge=0.0, le=86_400.0)
    speech_engines: list[Literal["gtts", "espeak-ng"]] = Field(default_factory=lambda: ["gtts", "espeak-ng"],
                                                             min_length=1)
    gtts_timeout_s: float = Field(default=5.0, gt=0.0, le=60.0)
    speech_cache_dir: Path = Path("var/speech")

    @field_validator("messages")
    @classmethod
    def _messages(cls, messages: dict[str, str]) -> dict[str, str]:
        problems = _message_problems(messages)
        if problems:
            raise ValueError("; ".join(problems))
        return messages

    def policy(self, counting: "CountingConfig"):
        """The core's ResponsePolicy: each counting zone's policy, its message rendered for that zone. A zone's mode:
        its zones-file `policy` property (what admins edit on the web map), else its [[response.zones]] mode, else
        [response] mode."""
        from groundstation.core.response_data import ResponsePolicy, ZonePolicy
        from speech import render

        by_key = {z.zone: z for z in self.zones}
        zones = {}
        for zone in counting.zones() if counting.zones_file is not None else ():
            z = by_key.get(zone.zone_id) or by_key.get(zone.name) or ZoneResponseConfig(zone=zone.zone_id)
            templates = z.messages if z.messages is not None else self.messages
            messages = tuple((code, render(t, {"zone": z.names.get(code, zone.name), "limit": zone.capacity_persons}))
                             for code, t in templates.items())
            mode = zone.policy or z.mode or self.mode
            zones[zone.zone_id] = ZonePolicy(mode, z.approval_timeout_s or self.approval_timeout_s,
                                             z.on_approval_timeout or self.on_approval_timeout, messages, z.cooldown_s)
        fields = {name: getattr(self, name) for name in (
            "approach_alt_m", "min_alt_over_people_m", "arrive_m", "transit_timeout_s", "thermal_component_id",
            "thermal_frames", "thermal_timeout_s", "fever_threshold_c", "min_measured_fraction", "fever_watch_s",
            "broadcast", "broadcast_repeat", "relay_number", "relay_clip_s", "max_broadcasts", "verify_window_s",
            "clear_s", "rearm_fraction", "escalated_hold_s", "cooldown_s", "max_response_s", "planned_hover_s",
            "hover_pct_per_min", "queue_timeout_s")}
        return ResponsePolicy(zones=zones, default=ZonePolicy(self.mode, self.approval_timeout_s,
                                                               self.on_approval_timeout, ()), **fields)

    def screening(self):
        """vision.thermal's ScreeningConfig for the thermal frames."""
        from vision.thermal import ScreeningConfig

        return ScreeningConfig(ambient_c=self.ambient_c, fever_threshold_c=self.fever_threshold_c)

    def synthesizer(self):
        """The speech synthesizer (engines in this order, cached in speech_cache_dir)."""
        from speech import EspeakEngine, GttsEngine, Synthesizer

        engines = [GttsEngine(timeout_s=self.gtts_timeout_s) if name == "gtts" else EspeakEngine()
                   for name in self.speech_engines]
        return Synthesizer(self.speech_cache_dir, engines)
