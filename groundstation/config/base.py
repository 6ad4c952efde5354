"""The config package's shared pieces: the frozen pydantic base, ConfigError, the lat/lon types, the polygon check
the fence uses, and the rendering of pydantic's errors and the vehicle list's cross checks as problem lines."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Latitude = Annotated[float, Field(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0)]
LatLon = tuple[Latitude, Longitude]


class ConfigError(Exception):
    """A config file that cannot be used; `.problems` holds one human-readable line per problem."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(f"{self.path}: {len(self.problems)} problem(s):\n" + "\n".join(f"  {p}" for p in self.problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
