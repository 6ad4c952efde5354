"""Limits and geofence the core enforces on every command (built from the config's [limits] and [geofence]).

The geofence's geometry is missions.fence's, the same the planner checks a patrol against."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from missions.fence import Area, FenceGeometry
from missions.geo import GeoPoint


@dataclass(frozen=True)
class Policy:
    """Limits and geofence the core enforces (built from the config's [limits] and [geofence])."""

    max_alt_rel_m: float = 120.0
    min_battery_to_launch_pct: float = 50.0
    battery_reserve_pct: float = 25.0
    low_battery_warning_pct: float = 35.0
    max_distance_from_home_m: float = 2000.0
    battery_use_pct_per_km: float = 4.0
    auto_rtl_below_reserve: bool = True
    inclusion: tuple[tuple[float, float], ...] | None = None  # (lat_deg, lon_deg) vertices
    radius_m: float | None = None  # around home
    exclusions: tuple[tuple[tuple[float, float], ...], ...] = ()

    @classmethod
    def from_config(cls, limits: Any, geofence: Any | None) -> "Policy":
        """From config.Limits / config.Geofence (duck-typed, so the core does not depend on pydantic)."""
        fence: dict[str, Any] = {}
        if geofence is not None:
            fence = {
                "inclusion": tuple(tuple(p) for p in geofence.inclusion) if geofence.inclusion else None,
                "radius_m": geofence.radius_m,
                "exclusions": tuple(tuple(tuple(p) for p in poly) for poly in geofence.exclusions),
            }
        return cls(
            max_alt_rel_m=limits.max_alt_rel_m,
            min_battery_to_launch_pct=limits.min_battery_to_launch_pct,
            battery_reserve_pct=limits.battery_reserve_pct,
            low_battery_warning_pct=limits.low_battery_warning_pct,
            max_distance_from_home_m=limits.max_distance_from_home_m,
            battery_use_pct_per_km=limits.battery_use_pct_per_km,
            auto_rtl_below_reserve=limits.auto_rtl_below_reserve,
            **fence,
        )

    @property
    def has_fence(self) -> bool:
        return self.inclusion is not None or self.radius_m is not None or bool(self.exclusions)

    @cached_property
    def _fence(self) -> FenceGeometry:
        """The fence as missions.fence areas: the inclusion polygon, the circle around home, the exclusions."""
        def ring(points: tuple[tuple[float, float], ...]) -> tuple[GeoPoint, ...]:
            return tuple(GeoPoint(lat, lon) for lat, lon in points)

        areas: list[Area] = []
        if self.inclusion is not None:
            areas.append(Area("the inclusion fence", True, ring(self.inclusion)))
        if self.radius_m is not None:
            areas.append(Area("the circular fence", True, radius_m=self.radius_m))  # no centre: around home
        areas += [Area(f"exclusion zone {i}", False, ring(poly)) for i, poly in enumerate(self.exclusions)]
        origin = next((a.exterior[0] for a in areas if a.exterior), GeoPoint(0.0, 0.0))
        return FenceGeometry(tuple(areas), origin)

    def fence_problem(self, lat_deg: float, lon_deg: float, home: tuple[float, float] | None) -> str | None:
        """Why a point is outside the fence, or None."""
        if not self._fence.areas:
            return None
        try:
            at, home_at = GeoPoint(lat_deg, lon_deg), None if home is None else GeoPoint(*home)
        except ValueError as e:
            return f"the fence cannot be checked: {e}"
        return self._fence.point_problem(at, home_at)

    def leg_problem(self, start: tuple[float, float], end: tuple[float, float]) -> str | None:
        """Why the straight leg start->end (lat, lon) leaves the inclusion polygon or crosses an exclusion (the
        circle around home is convex: the ends' fence_problem checks cover it)."""
        if not self._fence.areas:
            return None
        try:
            a, b = GeoPoint(*start), GeoPoint(*end)
        except ValueError as e:
            return f"the fence cannot be checked: {e}"
        problem = self._fence.leg_problem(a, b)
        return None if problem is None else f"the straight path there {problem}"
