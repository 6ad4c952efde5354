"""The station's config file: TOML, validated into frozen pydantic models.

`load_config(path)` returns a `StationConfig` or raises `ConfigError` whose `.problems` lists EVERY
problem found (pydantic's field errors rendered as ``vehicles.0.url: Field required`` lines, plus the
cross-field checks: duplicate vehicle ids/urls, fence polygons with fewer than 3 points or that cross
themselves, limits out of range or inconsistent). A file that is not TOML is refused with the line and
column of the first syntax error.

Relative paths (storage, tlog dir) are relative to the working directory the station runs in.
See config/example.toml for every field documented.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Latitude = Annotated[float, Field(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0)]
LatLon = tuple[Latitude, Longitude]

# Link URLs telemetry/ accepts: tcp:HOST:PORT, udp/udpin:HOST:PORT (listen), udpout:HOST:PORT, serial:DEVICE[:BAUD]
_URL_RE = re.compile(
    r"^(?:(?:tcp|udp|udpin|udpout):[A-Za-z0-9_.\-\[\]:]+:\d{1,5}|serial:/?[^\s:]+(?::\d+)?)$"
)


class ConfigError(Exception):
    """A config file that cannot be used; `.problems` holds one human-readable line per problem."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(f"{self.path}: {len(self.problems)} problem(s):\n" + "\n".join(f"  {p}" for p in self.problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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


def _polygon_problem(points: list[tuple[float, float]]) -> str | None:
    """Why a lat/lon ring is not a usable fence polygon, or None."""
    import shapely  # pure geometry, imported lazily so config loading stays cheap when unused

    from missions.geo import GeoPoint, LocalFrame

    if len(points) < 3:
        return f"a polygon needs at least 3 points, got {len(points)}"
    polygon = shapely.Polygon([(lon, lat) for lat, lon in points])
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        if reason.startswith(("Self-intersection", "Ring Self-intersection")):
            return f"polygon crosses itself ({reason})"
        return f"polygon is not usable ({reason})"
    centre = GeoPoint(sum(lat for lat, _ in points) / len(points), sum(lon for _, lon in points) / len(points))
    area_m2 = LocalFrame(centre).project(polygon).area
    if area_m2 < 1.0:
        return "polygon has no area (points are collinear or repeated)"
    return None


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
    grid: GridSettings = Field(default_factory=lambda: GridSettings())  # [grid], at the end of this module
    # the risk map, venues, daily reports, retention: at the end of this module
    risk: RiskSettings = Field(default_factory=lambda: RiskSettings())
    venues: list[VenueConfig] = Field(default_factory=list)
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings())
    retention: RetentionSettings = Field(default_factory=lambda: RetentionSettings())


def _render(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] not in ("missing", "value_error", "extra_forbidden") and "input" in error:
        shown = repr(error["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message += f" (got {shown})"
    return f"{loc}: {message}"


def _duplicates(raw: dict[str, Any]) -> list[str]:
    """Cross-entry checks on the raw vehicle list, done even when other fields have errors."""
    problems: list[str] = []
    vehicles = raw.get("vehicles")
    if not isinstance(vehicles, list):
        return problems
    for key in ("id", "url"):
        first_index: dict[Any, int] = {}
        for i, entry in enumerate(vehicles):
            if not isinstance(entry, dict):
                continue
            value = entry.get(key)
            if value is None or isinstance(value, (list, dict)):
                continue
            if value in first_index:
                problems.append(
                    f"vehicles.{i}.{key}: duplicate {key} {value!r} (already used by vehicles.{first_index[value]})"
                )
            else:
                first_index[value] = i
    return problems


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
    defaults: groundstation/shell/storage.py RETENTION (thermal readings 14 days, crowd observations 30, ...)."""

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
