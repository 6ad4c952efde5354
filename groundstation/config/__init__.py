"""The station's config file: TOML, validated into frozen pydantic models.

`load_config(path)` returns a `StationConfig` or raises `ConfigError` whose `.problems` lists EVERY
problem found (pydantic's field errors rendered as ``vehicles.0.url: Field required`` lines, plus the
cross-field checks: duplicate vehicle ids/urls, fence polygons with fewer than 3 points or that cross
themselves, limits out of range or inconsistent). A file that is not TOML is refused with the line and
column of the first syntax error.

Relative paths (storage, tlog dir) are relative to the working directory the station runs in.
See config/example.toml for every field documented.

The package, by concern (everything is re-exported here, so `from groundstation.config import ...` works as before):
- base.py: the frozen pydantic base, ConfigError, the lat/lon types, shared checks and the rendering of problems;
- station.py: [station], [[vehicles]], [limits], [geofence], [patrols], [[cameras]], [web], StationConfig,
  parse_config and load_config;
- crowd.py: [counting] and [response] (counting zones and the crowd response);
- city.py: [grid] (with [grid.smtp], [grid.sms]), [risk], [[venues]], [reports] and [retention].
"""
from __future__ import annotations

from groundstation.config.base import ConfigError, LatLon, Latitude, Longitude
from groundstation.config.city import (
    EntranceConfig,
    GridSettings,
    ReportSettings,
    RetentionSettings,
    RiskEffectSettings,
    RiskIndicatorName,
    RiskIndicatorSettings,
    RiskLevelName,
    RiskSettings,
    SmsSettings,
    SmtpSettings,
    VenueConfig,
)
from groundstation.config.crowd import CountingConfig, ResponseSettings, ZoneResponseConfig
from groundstation.config.station import (
    DEFAULT_MODEL_PATH,
    CameraConfig,
    Geofence,
    Limits,
    PatrolSettings,
    StationConfig,
    StationSettings,
    VehicleConfig,
    WebSettings,
    load_config,
    parse_config,
)

__all__ = [
    "DEFAULT_MODEL_PATH", "CameraConfig", "ConfigError", "CountingConfig", "EntranceConfig", "Geofence",
    "GridSettings", "LatLon", "Latitude", "Limits", "Longitude", "PatrolSettings", "ReportSettings",
    "ResponseSettings", "RetentionSettings", "RiskEffectSettings", "RiskIndicatorName", "RiskIndicatorSettings",
    "RiskLevelName", "RiskSettings", "SmsSettings", "SmtpSettings", "StationConfig", "StationSettings", "VehicleConfig",
    "VenueConfig", "WebSettings", "ZoneResponseConfig", "load_config", "parse_config",
]
