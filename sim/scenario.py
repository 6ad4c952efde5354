"""A scenario: the simulated city as one TOML file - its map, counting zones and grid, drones, patrol schedules,
the people who walk and gather in it, and the station settings that go with it.

`load_scenario(path)` returns a validated, frozen `Scenario` or raises `ScenarioError`, whose `.problems` lists
EVERY mistake found, each with where it is (`gatherings.0.zone: unknown zone 'plazza' (zones: plaza, market)`):
a file that is missing or not a file, not TOML, unknown or missing fields, negative sizes and durations, unknown
zones and surfaces, polygons that are not polygons, and anything placed outside the map. config/scenarios/
zhaoqing.toml is the documented example (every field, with its unit).

Units and frames: positions are [east_m, north_m] metres from the map origin (a lat/lon); durations are
SIMULATED seconds (the simulator's clock, which runs `speedup` times faster than the wall clock; the demo turns
the station's durations into wall-clock seconds by dividing by the speed-up); speeds in m/s; temperatures in °C.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim import geodesy
from sim.ground import SURFACES

Point = tuple[float, float]                      # [east_m, north_m] from the map origin
Polygon = Annotated[list[Point], Field(min_length=3)]
Seconds = Annotated[float, Field(ge=0.0, le=1e7)]


def _surface(name: str) -> str:
    if name not in SURFACES:
        raise ValueError(f"unknown surface {name!r} (surfaces: {', '.join(SURFACES)})")
    return name


Surface = Annotated[str, AfterValidator(_surface)]
_ID = r"^[A-Za-z0-9_\-]{1,32}$"


class ScenarioError(Exception):
    """A scenario file that cannot be used; `.problems` holds one line per mistake, each saying where it is."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(f"{self.path}: {len(self.problems)} problem(s):\n" + "\n".join(f"  {p}" for p in self.problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Meta(_Frozen):
    name: str = Field(min_length=1, max_length=64, pattern=_ID)
    description: str = ""
    seed: int = Field(default=1, ge=0)
    speedup: float = Field(default=5.0, gt=0.0, le=100.0)     # the demo's default speed-up for this scenario
    ambient_c: float = Field(default=25.0, gt=-40.0, lt=55.0)  # air temperature (thermal frames)


class OrthophotoSpec(_Frozen):
    """A local aerial image that replaces the procedural ground texture where it covers the map."""
    path: Path
    north_west: Point                     # where the image's north-west corner lies
    m_per_px: float = Field(gt=0.0, le=10.0)


class MapSpec(_Frozen):
    origin: tuple[Annotated[float, Field(ge=-90.0, le=90.0)], Annotated[float, Field(ge=-180.0, le=180.0)]]
    extent: tuple[float, float, float, float]  # west, south, east, north (m): nothing may lie outside it
    background: Surface = "concrete"
    cell_m: float = Field(default=0.1, ge=0.02, le=1.0)      # ground texture resolution
    orthophoto: OrthophotoSpec | None = None

    @field_validator("extent")
    @classmethod
    def _extent(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        west, south, east, north = v
        if not (east > west and north > south):
            raise ValueError(f"needs west < east and south < north, got {list(v)}")
        if (east - west) > 3000 or (north - south) > 3000:
            raise ValueError("a map at most 3 km on a side (the ground is one raster in memory)")
        return v


class HomeSpec(_Frozen):
    position: Point = (0.0, 0.0)
    alt_amsl_m: float = Field(default=10.0, ge=-500.0, le=9000.0)
    heading_deg: float = Field(default=0.0, ge=0.0, lt=360.0)


class AreaSpec(_Frozen):
    """A surface that is not a counting zone: a road, a lawn, a roof..."""
    surface: Surface
    polygon: Polygon
    rgb: tuple[Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=255)],
               Annotated[int, Field(ge=0, le=255)]] | None = None


class ZoneSpec(_Frozen):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=64)
    names: dict[str, str] = Field(default_factory=dict)   # language -> the zone's name spoken in it
    capacity: int = Field(ge=0, le=100_000)              # the safe number of people
    polygon: Polygon
    surface: Surface | None = None                        # None: the map's background shows through
    dwell_s: Seconds | None = None                        # over capacity this long is a gathering


class GridSpec(_Frozen):
    cell_m: float = Field(default=50.0, gt=0.0, le=10_000.0)
    origin: Point | None = None                           # south-west anchor (default: the map's south-west corner)
    cell_capacity: int | None = Field(default=None, ge=0, le=100_000)


class CameraSpec(_Frozen):
    """Each drone's RGB video camera and how the station analyses its stream."""
    width_px: int = Field(default=1280, ge=64, le=3840)
    height_px: int = Field(default=720, ge=48, le=2160)
    hfov_deg: float = Field(default=50.0, gt=5.0, lt=150.0)
    fps: float = Field(default=5.0, gt=0.0, le=30.0)      # frames the camera streams per wall-clock second
    jpeg_quality: int = Field(default=93, ge=30, le=100)
    # the video link's latency (wall-clock seconds from capture to the frame leaving the drone): a radio link adds
    # 0.1-0.5 s. The station needs telemetry newer than a frame to place its people (it interpolates the pose, it
    # does not extrapolate): its vision worker takes the poses that came in before it waits for its next frame, so
    # this must exceed 1/analyses_per_s + 1/fps, or frames are placed with a pose up to that much too old.
    latency_s: float = Field(default=1.0, ge=0.0, le=10.0)
    analyses_per_s: float = Field(default=2.0, gt=0.0, le=30.0)   # the station's vision rate per camera (wall)
    # the station's detector for these cameras (groundstation.config [[cameras]]): unset, the product's defaults
    detector_preset: Literal["drone", "elevated"] | None = None
    model_path: Path | None = None                        # relative to the working directory, as in the config
    imgsz: int | None = Field(default=None, ge=64, le=4096)


class DroneSpec(_Frozen):
    id: str = Field(pattern=_ID)
    position: Point | None = None                         # where it starts (default: 10 m east of the last)


class PatrolSpec(_Frozen):
    name: str = Field(min_length=1, max_length=64)
    zone: str
    pattern: Literal["lawnmower", "perimeter"] = "lawnmower"
    alt_m: float = Field(default=25.0, gt=5.0, le=120.0)
    gimbal_pitch_deg: float = Field(default=-45.0, ge=-90.0, le=0.0)
    speed_m_s: float = Field(default=8.0, gt=0.0, le=20.0)
    every_s: float = Field(default=600.0, gt=0.0, le=1e7)
    first_after_s: Seconds = 30.0                         # the first patrol flies this long after the start


class WalkerSpec(_Frozen):
    """`count` people walking a path at a speed, spread along it (a closed loop, or back and forth)."""
    count: int = Field(default=1, ge=1, le=1000)
    path: Annotated[list[Point], Field(min_length=2)]
    speed_m_s: float = Field(default=1.3, gt=0.0, le=5.0)
    loop: bool = False
    start_s: Seconds = 0.0
    end_s: Seconds | None = None
    fevered: int = Field(default=0, ge=0)                 # how many of them have a fever (fever_c)
    fever_c: float = Field(default=38.6, ge=35.0, le=43.0)


class GatheringSpec(_Frozen):
    """People who walk to a place, stand there together, and leave by themselves after `lasts_s` or, each with
    `react_probability`, `react_delay_s` after hearing a broadcast."""
    id: str = Field(pattern=_ID)
    zone: str
    centre: Point | None = None                           # default: the zone's centroid
    size: int = Field(ge=1, le=500)
    radius_m: float = Field(default=4.0, gt=0.0, le=100.0)
    spacing_m: float = Field(default=1.4, gt=0.0, le=10.0)   # people stand at least this far apart
    start_s: Seconds = 0.0
    grow_s: Seconds = 60.0                                # members arrive spread over this long
    lasts_s: Seconds = 1800.0                             # after this long they leave by themselves
    react_probability: float = Field(default=0.9, ge=0.0, le=1.0)
    react_delay_s: tuple[Seconds, Seconds] = (5.0, 30.0)
    fevered: int = Field(default=0, ge=0)
    fever_c: float = Field(default=38.6, ge=35.0, le=43.0)
    approach_m: float = Field(default=30.0, ge=0.0, le=500.0)   # they walk in from this far away (0: there from start_s)
    leave_m: float = Field(default=30.0, ge=0.0, le=500.0)      # and walk this far away when they leave

    @model_validator(mode="after")
    def _consistent(self) -> "GatheringSpec":
        problems = []
        if self.react_delay_s[1] < self.react_delay_s[0]:
            problems.append(f"react_delay_s must be [shortest, longest], got {list(self.react_delay_s)}")
        if self.fevered > self.size:
            problems.append(f"fevered ({self.fevered}) is more than the gathering's size ({self.size})")
        capacity = (self.radius_m / (0.5 * self.spacing_m) + 1.0) ** 2 * 0.8
        if self.size > capacity:
            problems.append(f"{self.size} people cannot stand {self.spacing_m:g} m apart within {self.radius_m:g} m "
                            "(raise radius_m or lower spacing_m)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PeopleSpec(_Frozen):
    skin_c: float = Field(default=34.5, ge=30.0, le=37.0)      # a healthy person's facial skin temperature
    skin_sd_c: float = Field(default=0.3, ge=0.0, le=2.0)
    height_m: tuple[float, float] = (1.55, 1.85)
    walk_speed_m_s: float = Field(default=1.3, gt=0.0, le=5.0)
    hearing_radius_m: float = Field(default=40.0, gt=0.0, le=1000.0)   # who hears a drone's loudspeaker

    @field_validator("height_m")
    @classmethod
    def _heights(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.8 <= v[0] <= v[1] <= 2.3:
            raise ValueError(f"must be [shortest, tallest] within 0.8..2.3 m, got {list(v)}")
        return v


class StationSpec(_Frozen):
    """Station settings that belong to the scenario: groundstation.config's [counting] and [response] fields
    (durations in simulated seconds; the demo divides every *_s field by the speed-up, except gtts_timeout_s)."""
    counting: dict[str, Any] = Field(default_factory=dict)
    response: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Frozen):
    scenario: Meta
    map: MapSpec
    home: HomeSpec = Field(default_factory=HomeSpec)
    areas: list[AreaSpec] = Field(default_factory=list)
    zones: list[ZoneSpec] = Field(default_factory=list)
    grid: GridSpec = Field(default_factory=GridSpec)
    camera: CameraSpec = Field(default_factory=CameraSpec)
    drones: list[DroneSpec] = Field(min_length=1, max_length=50)
    patrols: list[PatrolSpec] = Field(default_factory=list)
    walkers: list[WalkerSpec] = Field(default_factory=list)
    gatherings: list[GatheringSpec] = Field(default_factory=list)
    people: PeopleSpec = Field(default_factory=PeopleSpec)
    station: StationSpec = Field(default_factory=StationSpec)
    source: Path | None = Field(default=None, exclude=True)   # the file it was read from (set by load_scenario)

    # --- derived ---------------------------------------------------------------------------------------------
    def zone(self, zone_id: str) -> ZoneSpec:
        return next(z for z in self.zones if z.id == zone_id)

    def latlon(self, point: Point) -> tuple[float, float]:
        """A map point as latitude/longitude (the simulator's flat-earth geodesy)."""
        return geodesy.moved(self.map.origin[0], self.map.origin[1], point[1], point[0])

    def home_latlon(self) -> tuple[float, float]:
        return self.latlon(self.home.position)

    def drone_positions(self) -> list[Point]:
        """Where each drone starts: its position, else 10 m east of the previous one (the first: home)."""
        out: list[Point] = []
        for d in self.drones:
            if d.position is not None:
                out.append(d.position)
            elif out:
                out.append((out[-1][0] + 10.0, out[-1][1]))
            else:
                out.append(self.home.position)
        return out

    def zone_centroid(self, zone_id: str) -> Point:
        return polygon_centroid(self.zone(zone_id).polygon)

    def grid_origin(self) -> Point:
        return self.grid.origin if self.grid.origin is not None else (self.map.extent[0], self.map.extent[1])


def polygon_centroid(polygon: list[Point]) -> Point:
    """The area centroid of a simple polygon (the vertex mean when it has no area)."""
    a = cx = cy = 0.0
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-9:
        return (sum(p[0] for p in polygon) / n, sum(p[1] for p in polygon) / n)
    return (cx / (3.0 * a), cy / (3.0 * a))


def inside(point: Point, polygon: list[Point]) -> bool:
    """Even-odd point-in-polygon for map points (sim.geodesy's rule)."""
    return geodesy.inside_polygon(point[1], point[0], [(n, e) for e, n in polygon])


# --- cross checks ------------------------------------------------------------------------------------------------


def _segments_cross(p1: Point, p2: Point, p3: Point, p4: Point) -> bool:
    def orient(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2 = orient(p3, p4, p1), orient(p3, p4, p2)
    d3, d4 = orient(p1, p2, p3), orient(p1, p2, p4)
    return (d1 * d2 < 0) and (d3 * d4 < 0)


def _polygon_problem(polygon: list[Point]) -> str | None:
    n = len(polygon)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            if _segments_cross(polygon[i], polygon[(i + 1) % n], polygon[j], polygon[(j + 1) % n]):
                return f"polygon crosses itself (edges {i} and {j})"
    area = 0.5 * abs(sum(polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1]
                         for i in range(n)))
    if area < 1.0:
        return "polygon has no area (points collinear or repeated)"
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        else None


def _point(value: Any) -> Point | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        e, n = _number(value[0]), _number(value[1])
        if e is not None and n is not None:
            return (e, n)
    return None


def _points(value: Any) -> list[Point] | None:
    if not isinstance(value, list):
        return None
    pts = [_point(v) for v in value]
    return None if any(p is None for p in pts) else pts   # type: ignore[return-value]


def _entries(raw: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = raw.get(key)
    return [(i, e) for i, e in enumerate(value) if isinstance(e, dict)] if isinstance(value, list) else []


def _cross_problems(raw: dict[str, Any]) -> list[str]:
    """Checks across sections, on the raw document: done even when fields have errors (those are reported by the
    models), each check skipping values it cannot read."""
    problems: list[str] = []
    extent = raw.get("map", {}).get("extent") if isinstance(raw.get("map"), dict) else None
    bounds = [_number(v) for v in extent] if isinstance(extent, list) and len(extent) == 4 else None
    if bounds is not None and (None in bounds or not (bounds[2] > bounds[0] and bounds[3] > bounds[1])):
        bounds = None

    def on_map(where: str, p: Point | None) -> None:
        if p is None or bounds is None:
            return
        west, south, east, north = bounds
        if not (west <= p[0] <= east and south <= p[1] <= north):
            problems.append(f"{where}: point [{p[0]:g}, {p[1]:g}] is outside the map (extent west {west:g}, south "
                            f"{south:g}, east {east:g}, north {north:g})")

    home = raw.get("home")
    if isinstance(home, dict) and "position" in home:
        on_map("home.position", _point(home["position"]))
    zone_ids: dict[str, int] = {}
    polygons: dict[str, list[Point]] = {}
    for i, z in _entries(raw, "zones"):
        zid = z.get("id")
        if isinstance(zid, str):
            if zid in zone_ids:
                problems.append(f"zones.{i}.id: duplicate id {zid!r} (already used by zones.{zone_ids[zid]})")
            zone_ids.setdefault(zid, i)
        polygon = _points(z.get("polygon"))
        if polygon is None or len(polygon) < 3:
            continue
        for k, p in enumerate(polygon):
            on_map(f"zones.{i}.polygon.{k}", p)
        if (why := _polygon_problem(polygon)) is not None:
            problems.append(f"zones.{i}.polygon: {why}")
        elif isinstance(zid, str):
            polygons.setdefault(zid, polygon)
    for i, a in _entries(raw, "areas"):
        polygon = _points(a.get("polygon"))
        if polygon is None or len(polygon) < 3:
            continue
        for k, p in enumerate(polygon):
            on_map(f"areas.{i}.polygon.{k}", p)
        if (why := _polygon_problem(polygon)) is not None:
            problems.append(f"areas.{i}.polygon: {why}")
    known = ", ".join(zone_ids) or "none defined"

    def zone_ref(where: str, zone: Any) -> bool:
        if isinstance(zone, str) and zone not in zone_ids:
            problems.append(f"{where}: unknown zone {zone!r} (zones: {known})")
            return False
        return isinstance(zone, str)

    drone_ids: dict[str, int] = {}
    for i, d in _entries(raw, "drones"):
        did = d.get("id")
        if isinstance(did, str):
            if did in drone_ids:
                problems.append(f"drones.{i}.id: duplicate id {did!r} (already used by drones.{drone_ids[did]})")
            drone_ids.setdefault(did, i)
        if "position" in d:
            on_map(f"drones.{i}.position", _point(d["position"]))
    names: dict[str, int] = {}
    for i, p in _entries(raw, "patrols"):
        zone_ref(f"patrols.{i}.zone", p.get("zone"))
        name = p.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(f"patrols.{i}.name: duplicate name {name!r} (already used by patrols.{names[name]})")
            names.setdefault(name, i)
    for i, w in _entries(raw, "walkers"):
        path = _points(w.get("path"))
        if path is not None:
            for k, p in enumerate(path):
                on_map(f"walkers.{i}.path.{k}", p)
            if len(path) >= 2 and sum(math.dist(path[k], path[k + 1]) for k in range(len(path) - 1)) < 0.5:
                problems.append(f"walkers.{i}.path: the path has no length")
        start, end = _number(w.get("start_s", 0.0)), _number(w.get("end_s"))
        if start is not None and end is not None and end <= start:
            problems.append(f"walkers.{i}.end_s: must be after start_s ({start:g}), got {end:g}")
        count, fevered = _number(w.get("count", 1)), _number(w.get("fevered", 0))
        if count is not None and fevered is not None and fevered > count:
            problems.append(f"walkers.{i}.fevered: {fevered:g} is more than count ({count:g})")
    gathering_ids: dict[str, int] = {}
    for i, g in _entries(raw, "gatherings"):
        gid = g.get("id")
        if isinstance(gid, str):
            if gid in gathering_ids:
                problems.append(f"gatherings.{i}.id: duplicate id {gid!r} (already used by gatherings."
                                f"{gathering_ids[gid]})")
            gathering_ids.setdefault(gid, i)
        zone = g.get("zone")
        if not zone_ref(f"gatherings.{i}.zone", zone) or zone not in polygons:
            continue
        given = _point(g["centre"]) if "centre" in g else None
        if "centre" in g and given is None:
            continue
        centre = given if given is not None else polygon_centroid(polygons[zone])
        on_map(f"gatherings.{i}.centre", centre)
        if given is not None and not inside(centre, polygons[zone]):
            problems.append(f"gatherings.{i}.centre: [{centre[0]:g}, {centre[1]:g}] is not inside zone {zone!r}")
        radius = _number(g.get("radius_m", 4.0))
        if radius is None or radius <= 0 or bounds is None:
            continue
        for label, (dx, dy) in (("east", (radius, 0)), ("west", (-radius, 0)), ("north", (0, radius)),
                                ("south", (0, -radius))):
            p = (centre[0] + dx, centre[1] + dy)
            if not (bounds[0] <= p[0] <= bounds[2] and bounds[1] <= p[1] <= bounds[3]):
                problems.append(f"gatherings.{i}.radius_m: the gathering's {label} edge [{p[0]:g}, {p[1]:g}] is "
                                "outside the map")
                break
    grid = raw.get("grid")
    if isinstance(grid, dict) and "origin" in grid:
        on_map("grid.origin", _point(grid["origin"]))
    photo = raw.get("map", {}).get("orthophoto") if isinstance(raw.get("map"), dict) else None
    if isinstance(photo, dict) and isinstance(photo.get("path"), str) and not Path(photo["path"]).is_file():
        problems.append(f"map.orthophoto.path: not a file: {photo['path']}")
    station = raw.get("station")
    for section in ("counting", "response"):
        fields = station.get(section) if isinstance(station, dict) else None
        for key, value in (fields.items() if isinstance(fields, dict) else ()):
            number = _number(value)
            if key.endswith("_s") and number is not None and number < 0:
                problems.append(f"station.{section}.{key}: must be >= 0 seconds, got {number:g}")
    return problems


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


def parse_scenario(raw: dict[str, Any], source: str | Path = "<scenario>") -> Scenario:
    """Validate an already-parsed TOML document; raise ScenarioError listing every problem."""
    base = Path(source).parent if isinstance(source, Path) else Path(".")
    photo = raw.get("map", {}).get("orthophoto") if isinstance(raw.get("map"), dict) else None
    if isinstance(photo, dict) and isinstance(photo.get("path"), str) and not Path(photo["path"]).is_absolute():
        raw = {**raw, "map": {**raw["map"], "orthophoto": {**photo, "path": str(base / photo["path"])}}}  # relative
        # to the scenario file
    problems: list[str] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_render(e) for e in exc.errors())
    problems.extend(p for p in _cross_problems(raw) if p not in problems)
    if problems or scenario is None:
        raise ScenarioError(source, problems)
    return scenario.model_copy(update={"source": Path(source) if isinstance(source, Path) else None})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError listing every problem."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(path, ["not found: no such file"])
    if not path.is_file():
        raise ScenarioError(path, ["not a file (a scenario is one TOML file)"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, [f"cannot read: {exc}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, [f"not valid TOML: {exc}"]) from None
    return parse_scenario(raw, path)
