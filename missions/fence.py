"""Geofence geometry: does a point, a straight leg or a whole flight path keep to a geofence (inside every
inclusion area, outside every exclusion area)? The one geometry behind the station's command checks
(groundstation.core.policy) and the planner's pre-flight check (missions.planner.check_mission).

An area is a polygon (its holes are not part of it) or a circle; a circle may be centred on home (the
circular fence around home), which is then given with each check. Polygons are tested with shapely in
missions.geo's local projection about a fixed origin: it is affine in lon/lat, so containment there is
containment in degrees, and a tolerance can be given in metres (an inclusion grown by it, an exclusion shrunk
by it). A circle is tested by the distance to its centre; as a region (path lengths, the planner's routing)
it is a 128-sided polygon.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import shapely
from shapely.geometry import LineString, Point, Polygon

from missions.geo import GeoPoint, LocalFrame, distance_m
from missions.mission import Fence

_CIRCLE_QUAD_SEGS = 32  # a circle as a region: 4 x 32 sides


@dataclass(frozen=True)
class Area:
    """One inclusion or exclusion area of a geofence, named as the messages say it.

    A polygon (`exterior`, optional `holes`) or a circle (`radius_m` about `centre`; no centre: about home)."""

    name: str
    inclusion: bool
    exterior: tuple[GeoPoint, ...] = ()
    holes: tuple[tuple[GeoPoint, ...], ...] = ()
    radius_m: float | None = None
    centre: GeoPoint | None = None

    @property
    def is_circle(self) -> bool:
        return self.radius_m is not None


def areas_of(fence: Fence) -> tuple[Area, ...]:
    """The areas of an uploadable fence (missions.mission.Fence): inclusions first, each kind numbered from 1."""
    polygons = [p for p in fence.polygons if p.inclusion], [p for p in fence.polygons if not p.inclusion]
    circles = [c for c in fence.circles if c.inclusion], [c for c in fence.circles if not c.inclusion]
    out: list[Area] = []
    for inclusion, word in ((True, "inclusion"), (False, "exclusion")):
        which = 0 if inclusion else 1
        out += [Area(f"fence {word} polygon {i + 1}", inclusion, p.vertices) for i, p in enumerate(polygons[which])]
        out += [Area(f"fence {word} circle {i + 1}", inclusion, radius_m=c.radius_m, centre=c.centre)
                for i, c in enumerate(circles[which])]
    return tuple(out)


def _where(p: GeoPoint) -> str:
    return f"({p.lat_deg:.6f}, {p.lon_deg:.6f})"


@dataclass(frozen=True)
class FenceGeometry:
    """A geofence's areas, tested in the local frame about `origin`, `tolerance_m` in the vehicle's favour."""

    areas: tuple[Area, ...]
    origin: GeoPoint
    tolerance_m: float = 0.0

    @property
    def frame(self) -> LocalFrame:
        return LocalFrame(self.origin)

    @property
    def has_inclusion(self) -> bool:
        return any(a.inclusion for a in self.areas)

    @cached_property
    def _polygons(self) -> dict[int, Polygon]:
        """The polygon areas in local metres, by index in `areas`."""
        frame = self.frame
        return {i: Polygon([frame.to_xy(p) for p in a.exterior], [[frame.to_xy(p) for p in h] for h in a.holes])
                for i, a in enumerate(self.areas) if not a.is_circle}

    @cached_property
    def _tested(self) -> dict[int, Polygon]:
        """The polygons as tested: inclusions grown by the tolerance, exclusions shrunk by it (unless tiny)."""
        tol = self.tolerance_m
        if tol <= 0:
            return self._polygons
        return {i: poly.buffer(tol) if self.areas[i].inclusion
                else (poly.buffer(-tol) if poly.area > 4 * tol ** 2 else poly)
                for i, poly in self._polygons.items()}

    def _centre(self, area: Area, home: GeoPoint | None) -> GeoPoint | None:
        return area.centre if area.centre is not None else home

    def _region(self, i: int, home: GeoPoint | None) -> Polygon | None:
        """Area i as a polygon in local metres (None: a circle about an unknown home)."""
        area = self.areas[i]
        if not area.is_circle:
            return self._polygons[i]
        centre = self._centre(area, home)
        if centre is None:
            return None
        return Point(self.frame.to_xy(centre)).buffer(area.radius_m, quad_segs=_CIRCLE_QUAD_SEGS)

    def inside(self, home: GeoPoint | None = None) -> Polygon | None:
        """Where the vehicle may be (local metres): the intersection of every inclusion area (the vehicle must be
        inside each of them, as ArduPilot does), exclusions not taken out; None when there is no inclusion."""
        region = None
        for i, area in enumerate(self.areas):
            if area.inclusion:
                poly = self._region(i, home)
                if poly is not None:
                    region = poly if region is None else region.intersection(poly)
        return region

    def exclusion_regions(self, home: GeoPoint | None = None) -> tuple[tuple[str, Polygon], ...]:
        """Every exclusion area as (name, polygon in local metres)."""
        regions = ((a.name, self._region(i, home)) for i, a in enumerate(self.areas) if not a.inclusion)
        return tuple((name, poly) for name, poly in regions if poly is not None)

    def _breaks(self, i: int, geom: Point | LineString) -> bool:
        """Whether a point or a leg (local metres) breaks polygon area i: leaves an inclusion, touches an exclusion."""
        poly = self._tested[i]
        return not poly.covers(geom) if self.areas[i].inclusion else poly.intersects(geom)

    def point_problem(self, at: GeoPoint, home: GeoPoint | None = None) -> str | None:
        """Why a point breaks the fence (the first area it breaks, in order), or None."""
        xy = Point(self.frame.to_xy(at))
        for i, area in enumerate(self.areas):
            if not area.is_circle:
                if self._breaks(i, xy):
                    return f"{_where(at)} is {'outside' if area.inclusion else 'inside'} {area.name}"
                continue
            centre = self._centre(area, home)
            if centre is None:
                return f"home is unknown, so {area.name} cannot be checked"
            d = distance_m(centre.lat_deg, centre.lon_deg, at.lat_deg, at.lon_deg)
            if area.inclusion and d > area.radius_m + self.tolerance_m:
                origin = "home" if area.centre is None else f"the centre of {area.name}"
                return f"{_where(at)} is {d:.0f} m from {origin}, beyond the fence radius {area.radius_m:g} m"
            if not area.inclusion and d <= area.radius_m - self.tolerance_m:
                return f"{_where(at)} is inside {area.name}"
        return None

    def leg_problem(self, start: GeoPoint, end: GeoPoint, home: GeoPoint | None = None) -> str | None:
        """How the straight leg start -> end breaks the fence ("leaves <area>" / "crosses <area>"), or None.

        A circle is convex: a leg stays inside an inclusion circle when both its ends do (a circle about an
        unknown home is left to point_problem, which says so)."""
        if start == end:
            return None
        a, b = self.frame.to_xy(start), self.frame.to_xy(end)
        line = LineString([a, b])
        for i, area in enumerate(self.areas):
            if not area.is_circle:
                if self._breaks(i, line):
                    return f"{'leaves' if area.inclusion else 'crosses'} {area.name}"
                continue
            centre = self._centre(area, home)
            if centre is None:
                continue
            c = self.frame.to_xy(centre)
            if area.inclusion and max(math.dist(a, c), math.dist(b, c)) > area.radius_m + self.tolerance_m:
                return f"leaves {area.name}"
            if not area.inclusion and line.distance(Point(c)) <= area.radius_m - self.tolerance_m:
                return f"crosses {area.name}"
        return None

    def path_problems(self, path: Sequence[GeoPoint], home: GeoPoint | None = None) -> list[str]:
        """Every way the path (straight legs between its points) breaks the fence, with how far: the metres
        outside the inclusion areas and where it first leaves them, then the metres inside each exclusion."""
        if not path:
            return []
        frame = self.frame
        pts = [frame.to_xy(p) for p in path]
        legs = [LineString([a, b]) for a, b in zip(pts[:-1], pts[1:]) if math.dist(a, b) > 1e-6]
        reasons: list[str] = []
        inside = self.inside(home)
        if inside is not None:
            allowed = inside.buffer(self.tolerance_m) if self.tolerance_m > 0 else inside
            outside = [leg.difference(allowed) for leg in legs]
            if not allowed.covers(Point(pts[0])) or any(not g.is_empty for g in outside):
                out_m = sum(leg.difference(inside).length for leg in legs)
                first_out = next((g for g in outside if not g.is_empty), None)
                at = frame.to_geo(*shapely.get_coordinates(first_out)[0]) if first_out is not None else path[0]
                reasons.append(f"the path leaves the geofence for {out_m:.0f} m (first at {at.lat_deg:.6f}, "
                               f"{at.lon_deg:.6f})")
        tol = self.tolerance_m
        for name, poly in self.exclusion_regions(home):
            core = poly.buffer(-tol) if tol > 0 and poly.area > 4 * tol ** 2 else poly
            if any(leg.intersects(core) for leg in legs):
                inside_m = sum(leg.intersection(poly).length for leg in legs)
                reasons.append(f"the path crosses {name} for {inside_m:.0f} m")
        return reasons
