"""The station-level settings: [station], [[vehicles]], [limits], [geofence], [patrols], [[cameras]], [web], the whole
`StationConfig` (with [counting]/[response] from crowd.py and the city-level sections from city.py) and
`parse_config` / `load_config` with their cross checks on the raw document."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from groundstation.config.base import ConfigError, LatLon, _duplicates, _Frozen, _polygon_problem, _render
from groundstation.config.city import (
    GridSettings,
    ReportSettings,
    RetentionSettings,
    RiskSettings,
    VenueConfig,
    _venue_problems,
)
from groundstation.config.crowd import CountingConfig, ResponseSettings


# Link URLs telemetry/ accepts: tcp:HOST:PORT, udp/udpin:HOST:PORT (listen), udpout:HOST:PORT, serial:DEVICE[:BAUD]
_URL_RE = re.compile(
    r"^(?:(?:tcp|udp|udpin|udpout):[A-Za-z0-9_.\-\[\]:]+:\d{1,5}|serial:/?[^\s:]+(?::\d+)?)$"
)


class StationSettings(_Frozen):
    name: str = Field(default="skyguard", min_length=1, max_length=64)
    storage_path: Path = Path("var/station.sqlite")
    tlog_dir: Path | None = Path("var/tlogs")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    inbox_size: int = Field(default=1000, ge=10, le=1_000_000)
    command_workers: int = Field(default=4, ge=1, le=64)


class VehicleConfig(_Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    url: str
    system_id: int | None = Field(default=None, ge=1, le=255)
    link_timeout_s: float = Field(default=3.0, gt=0.0, le=60.0)
    # MAVLink message name -> Hz requested with SET_MESSAGE_INTERVAL; unset: telemetry's default set
    stream_rates_hz: dict[str, float] | None = None
    # the loudspeaker on the vehicle's companion computer (HTTP endpoint; the crowd response plays its message there)
    speaker_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9_.\-\[\]:]+(/.*)?$")

    @field_validator("stream_rates_hz")
    @classmethod
    def _rates(cls, rates: dict[str, float] | None) -> dict[str, float] | None:
        bad = [f"{name}={hz}" for name, hz in (rates or {}).items() if not 0.0 <= hz <= 50.0]
        if bad:
            raise ValueError("rates must be 0..50 Hz: " + ", ".join(bad))
        return rates

    @field_validator("url")
    @classmethod
    def _url_form(cls, url: str) -> str:
        if not _URL_RE.match(url):
            raise ValueError(
                "expected tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or serial:DEVICE[:BAUD]"
            )
        if not url.startswith("serial:"):
            port = int(url.rsplit(":", 1)[1])
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} out of range 1..65535")
        return url


class Limits(_Frozen):
    max_alt_rel_m: float = Field(default=120.0, gt=0.0, le=500.0)
    min_battery_to_launch_pct: float = Field(default=50.0, ge=0.0, le=100.0)
    battery_reserve_pct: float = Field(default=25.0, ge=0.0, le=100.0)
    low_battery_warning_pct: float = Field(default=35.0, ge=0.0, le=100.0)
    max_distance_from_home_m: float = Field(default=2000.0, gt=0.0, le=100_000.0)
    # simple estimate used to keep the reserve on a go-to: battery used per km flown
    battery_use_pct_per_km: float = Field(default=4.0, ge=0.0, le=100.0)
    # command an RTL when an airborne vehicle falls below the reserve (it is checked like any command)
    auto_rtl_below_reserve: bool = True

    def plan_limits(self):
        """The altitude limits a planned patrol must keep (missions.planner.PlanLimits): above 120 m only when
        max_alt_rel_m allows it."""
        from missions.planner import PlanLimits

        return PlanLimits(max_alt_m=self.max_alt_rel_m, allow_above_120_m=self.max_alt_rel_m > 120.0)

    @model_validator(mode="after")
    def _consistent(self) -> "Limits":
        problems = _limits_inconsistencies(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _limits_inconsistencies(values: dict[str, Any]) -> list[str]:
    """Cross-field checks of [limits]; works on raw values too (non-numbers are skipped)."""
    defaults = Limits.model_fields
    def number(name: str) -> float | None:
        value = values.get(name, defaults[name].default)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    reserve, launch, warn = number("battery_reserve_pct"), number("min_battery_to_launch_pct"), number("low_battery_warning_pct")
    problems = []
    if reserve is not None and launch is not None and reserve > launch:
        problems.append(f"battery_reserve_pct ({reserve:g}) must not exceed min_battery_to_launch_pct ({launch:g})")
    if reserve is not None and warn is not None and warn < reserve:
        problems.append(f"low_battery_warning_pct ({warn:g}) must not be below battery_reserve_pct ({reserve:g})")
    return problems


class Geofence(_Frozen):
    """Where vehicles may fly: inside `inclusion` (a lat/lon polygon) and/or within `radius_m` of home,
    and never inside any of `exclusions`."""

    inclusion: list[LatLon] | None = None
    radius_m: float | None = Field(default=None, gt=0.0, le=100_000.0)
    exclusions: list[list[LatLon]] = Field(default_factory=list)

    @field_validator("inclusion")
    @classmethod
    def _inclusion_polygon(cls, points: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if points is not None:
            problem = _polygon_problem(points)
            if problem:
                raise ValueError(problem)
        return points

    @field_validator("exclusions")
    @classmethod
    def _exclusion_polygons(cls, polygons: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        problems = [f"exclusion {i}: {p}" for i, poly in enumerate(polygons) if (p := _polygon_problem(poly))]
        if problems:
            raise ValueError("; ".join(problems))
        return polygons

    def plan_fence(self, home):
        """The fence a planned patrol goes up with (missions.mission.Fence): the inclusion polygon, the exclusions and,
        when `home` (a missions.geo.GeoPoint) is given, the radius_m circle around it; None when that leaves no
        inclusion (a radius-only fence without a home)."""
        from missions.geo import GeoPoint
        from missions.mission import Fence, FenceCircle, FencePolygon

        polygons = [FencePolygon(True, tuple(GeoPoint(lat, lon) for lat, lon in self.inclusion))] \
            if self.inclusion is not None else []
        polygons += [FencePolygon(False, tuple(GeoPoint(lat, lon) for lat, lon in ex)) for ex in self.exclusions]
        circles = (FenceCircle(True, home, self.radius_m),) if self.radius_m is not None and home is not None else ()
        if self.inclusion is None and not circles:
            return None
        return Fence(polygons=tuple(polygons), circles=circles)

    @model_validator(mode="after")
    def _something_to_enforce(self) -> "Geofence":
        if self.inclusion is None and self.radius_m is None:
            raise ValueError("a geofence needs an inclusion polygon, a radius_m around home, or both")
        return self


class PatrolSettings(_Frozen):
    """Automatic patrols (schedules are stored in the station database: `groundstation schedule add`)."""

    tick_s: float = Field(default=1.0, gt=0.0, le=60.0)  # how often the station looks at the schedules
    grace_s: float = Field(default=600.0, ge=0.0, le=86_400.0)  # default grace period of a new schedule
    # the vehicle type (missions.estimate.VehicleProfile): battery use of a plan and endurance for rotation
    battery_capacity_wh: float = Field(default=262.0, gt=0.0)
    flight_power_w: float = Field(default=380.0, gt=0.0)
    reserve_pct: float = Field(default=25.0, ge=0.0, lt=100.0)
    speed_m_s: float = Field(default=8.0, gt=0.0, le=30.0)
    launch_overhead_s: float = Field(default=30.0, ge=0.0)
    handover_s: float = Field(default=60.0, ge=0.0)

    def profile(self):
        from missions.estimate import VehicleProfile

        return VehicleProfile(battery_capacity_wh=self.battery_capacity_wh, flight_power_w=self.flight_power_w,
                              reserve_pct=self.reserve_pct)

    def policy(self):
        from groundstation.core.patrols import PatrolPolicy

        return PatrolPolicy(self.profile(), self.speed_m_s, self.launch_overhead_s, self.handover_s)


DEFAULT_MODEL_PATH = Path("../shared/models/yolo11n_from_int8.pt")


class CameraConfig(_Frozen):
    """One [[cameras]] entry: a video stream from a vehicle's camera, analysed by its own vision worker.

    source: a video file (replayed in real time unless realtime = false), a URL (rtsp/udp/tcp/http/srt) or
    device:N. The worker's capture clock is wall time for live sources and real-time replays (so frames meet
    the vehicle's poses); a file read as fast as possible has media time and its frames are flagged no pose.
    Without gimbal telemetry the camera is taken as fixed on the vehicle at mount_pitch_deg / mount_yaw_deg.

    The detector: detector_preset ("drone": a patrol drone's view, the VisDrone-trained model with bands
    planned from the pose; "elevated": a fixed or low street camera, the COCO model with a tile grid; see
    vision.detector.preset_config), with model_path, imgsz, person_classes and tiling replacing the preset's
    values where given (detector_config()). density_model_path: a density-map model (OpenVINO .xml or ONNX)
    that counts packed views instead of the boxes (vision.density; none ships with the project).
    """

    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    vehicle_id: str
    source: str = Field(min_length=1)
    detector_preset: Literal["drone", "elevated"] = "drone"
    model_path: Path = DEFAULT_MODEL_PATH  # used by detector_config() only when given
    imgsz: int = Field(default=640, ge=64, le=4096)  # used by detector_config() only when given
    # the model's classes counted as people, names or ids (several count as one); unset: person, pedestrian, people
    person_classes: tuple[str | int, ...] | None = Field(default=None, min_length=1)
    tiling: Literal["bands", "grid"] | None = None  # unset: the preset's
    density_model_path: Path | None = None
    tiles: Literal["auto", "off"] = "auto"
    width_px: int = Field(default=1920, ge=16, le=16384)
    height_px: int = Field(default=1080, ge=16, le=16384)
    hfov_deg: float = Field(default=84.0, gt=0.0, lt=180.0)
    mount_pitch_deg: float = Field(default=-45.0, ge=-90.0, le=30.0)  # 0 horizon, -90 straight down
    mount_yaw_deg: float = Field(default=0.0, ge=-180.0, le=360.0)  # relative to the vehicle's nose
    # "telemetry": the gimbal angles the vehicle reports (MOUNT_STATUS), the mount_* values until it does;
    # "fixed": always mount_pitch_deg / mount_yaw_deg (a camera without a gimbal)
    gimbal: Literal["telemetry", "fixed"] = "telemetry"
    realtime: bool = True
    analyses_per_s: float | None = Field(default=None, gt=0.0, le=60.0)
    crowd_min_people: int = Field(default=3, ge=2, le=1000)
    max_restarts: int = Field(default=5, ge=0, le=1000)  # a failed worker is restarted this often, with backoff
    restart_backoff_s: float = Field(default=2.0, gt=0.0, le=600.0)  # first delay; doubles up to 60 s

    def detector_config(self, cache_dir: Any = None):
        """vision's DetectorConfig for this camera: the preset, with the detector fields given in the config."""
        from vision.detector import preset_config

        given = {name: getattr(self, name) for name in ("model_path", "imgsz", "person_classes", "tiling")
                 if name in self.model_fields_set and getattr(self, name) is not None}
        return preset_config(self.detector_preset, cache_dir=cache_dir, **given)

    def density_config(self):
        """vision's DensityConfig for this camera's density model, or None without one."""
        if self.density_model_path is None:
            return None
        from vision.density import DensityConfig

        return DensityConfig(self.density_model_path)


class WebSettings(_Frozen):
    """[web]: the operators' web map (web/). Served on 127.0.0.1 by default; listening on another address without
    tls_cert and tls_key is allowed but warned about (passwords and session cookies would cross the network in
    clear). Map tiles: none by default (a plain background with zones, grid and scale); a local z/x/y folder
    (tiles_dir) or an MBTiles file of raster tiles (tiles_mbtiles); an online URL template only with
    allow_online_tiles = true."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    async_mode: Literal["gevent", "threading"] = "gevent"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # signs the session cookies; created (random, mode 0600) beside the database when missing
    secret_key_file: Path | None = None
    tiles_dir: Path | None = None  # {z}/{x}/{y}.{tiles_ext}
    tiles_ext: Literal["png", "jpg", "jpeg", "webp"] = "png"
    tiles_mbtiles: Path | None = None  # an MBTiles file (raster png/jpg/webp), read by the station
    tiles_url: str | None = Field(default=None, pattern=r"^https?://\S+\{z\}\S*\{x\}\S*\{y\}\S*$")
    allow_online_tiles: bool = False
    tiles_max_zoom: int = Field(default=19, ge=1, le=24)
    tiles_attribution: str = Field(default="", max_length=300)
    session_hours: float = Field(default=12.0, gt=0.0, le=24.0 * 30)
    command_timeout_s: float = Field(default=30.0, gt=0.0, le=600.0)

    @model_validator(mode="after")
    def _tls_pair(self) -> "WebSettings":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if self.tiles_dir is not None and not self.tiles_dir.is_dir():
            raise ValueError(f"tiles_dir {self.tiles_dir} is not a folder")
        if self.tiles_mbtiles is not None:
            if self.tiles_dir is not None:
                raise ValueError("give tiles_dir or tiles_mbtiles, not both")
            if not self.tiles_mbtiles.is_file():
                raise ValueError(f"tiles_mbtiles {self.tiles_mbtiles} is not a file")
        return self


class StationConfig(_Frozen):
    station: StationSettings = Field(default_factory=StationSettings)
    vehicles: list[VehicleConfig] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    geofence: Geofence | None = None
    patrols: PatrolSettings = Field(default_factory=PatrolSettings)
    cameras: list[CameraConfig] = Field(default_factory=list)
    counting: CountingConfig = Field(default_factory=CountingConfig)
    response: ResponseSettings = Field(default_factory=ResponseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    grid: GridSettings = Field(default_factory=lambda: GridSettings())  # [grid], in city.py
    # the risk map, venues, daily reports, retention: in city.py
    risk: RiskSettings = Field(default_factory=lambda: RiskSettings())
    venues: list[VenueConfig] = Field(default_factory=list)
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings())
    retention: RetentionSettings = Field(default_factory=lambda: RetentionSettings())


def _vision_problems(raw: dict[str, Any]) -> list[str]:
    """Cross checks of [[cameras]] and [counting] on the raw document (done even when other fields have errors):
    duplicate camera ids, unknown vehicles, missing model files, a zones file that is missing or not usable."""
    problems: list[str] = []
    cameras = raw.get("cameras")
    vehicles = raw.get("vehicles")
    vehicle_ids = {v.get("id") for v in vehicles if isinstance(v, dict)} if isinstance(vehicles, list) else set()
    if isinstance(cameras, list):
        seen: dict[Any, int] = {}
        for i, cam in enumerate(cameras):
            if not isinstance(cam, dict):
                continue
            cid = cam.get("id")
            if isinstance(cid, str):
                if cid in seen:
                    problems.append(f"cameras.{i}.id: duplicate id {cid!r} (already used by cameras.{seen[cid]})")
                else:
                    seen[cid] = i
            vid = cam.get("vehicle_id")
            if isinstance(vid, str) and vid not in vehicle_ids:
                problems.append(f"cameras.{i}.vehicle_id: no vehicle {vid!r} in [[vehicles]]")
            model = cam.get("model_path")
            if model is None and cam.get("detector_preset", "drone") in ("drone", "elevated"):
                from vision.detector import preset_config  # the preset's model, when none is given

                model = str(preset_config(cam.get("detector_preset", "drone")).model_path)
            if isinstance(model, str) and not Path(model).exists():
                problems.append(f"cameras.{i}.model_path: model file not found: {model}")
    counting = raw.get("counting")
    if isinstance(counting, dict) and isinstance(counting.get("zones_file"), str):
        from missions.errors import ZoneError

        zones_file = counting["zones_file"]
        try:
            CountingConfig(zones_file=Path(zones_file)).zones()
        except FileNotFoundError:
            problems.append(f"counting.zones_file: zones file not found: {zones_file}")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"counting.zones_file: cannot read {zones_file}: {exc}")
        except ZoneError as exc:
            problems.append(f"counting.zones_file: {zones_file} is not a usable zones file: {exc}")
    return problems


def parse_config(raw: dict[str, Any], source: str | Path = "<config>") -> StationConfig:
    """Validate an already-parsed TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    config: StationConfig | None = None
    try:
        config = StationConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_render(e) for e in exc.errors())
    problems.extend(_duplicates(raw))
    problems.extend(_vision_problems(raw))
    problems.extend(_venue_problems(raw))
    limits = raw.get("limits")
    if isinstance(limits, dict) and not any(p.startswith("limits: ") for p in problems):
        problems.extend(f"limits: {p}" for p in _limits_inconsistencies(limits))
    if problems or config is None:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | Path) -> StationConfig:
    """Read and validate a TOML config file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read: {exc}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # the message ends with "(at line L, column C)"
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    return parse_config(raw, path)
