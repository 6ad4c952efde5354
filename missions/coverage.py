"""Lawnmower (boustrophedon) coverage of a polygon with holes, and the camera coverage a path achieves.

Sweep lines run at a chosen angle, spaced from the camera swath and side overlap, centred so the
outer lines are at most half a spacing from the extremes. Where holes cut lines, consecutive
segments that overlap one-to-one form a cell (a discrete boustrophedon decomposition); each cell is
mowed back and forth, cells are visited in a greedy nearest-first order, and every connection that
would leave the flyable region is replaced by the shortest path inside it. The sweep angle, unless
given, is the candidate (every edge direction of the zone plus a 10 degree grid) whose path flies
fastest: fewer turns and less length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon

from missions.camera import Footprint
from missions.errors import PlanError
from missions.estimate import path_length_m, path_time_s
from missions.router import Router

Point2 = tuple[float, float]


@dataclass(frozen=True)
class Sweep:
    """A lawnmower path in local metres."""

    points: tuple[Point2, ...]
    angle_deg: float  # direction of the sweep lines, degrees counter-clockwise from east
    lines: int  # number of sweep segments
    length_m: float
    time_s: float


def _rot(p: Point2, c: float, s: float) -> Point2:
    return (p[0] * c - p[1] * s, p[0] * s + p[1] * c)


@dataclass(frozen=True)
class _Seg:
    line: int
    x0: float
    x1: float
    y: float


def _segments(region_r: Polygon | MultiPolygon, spacing_m: float, swath_m: float) -> list[list[_Seg]]:
    minx, miny, maxx, maxy = region_r.bounds
    extent = maxy - miny
    n = 1 if extent <= swath_m else math.ceil((extent - swath_m) / spacing_m - 1e-9) + 1
    first = miny + (extent - (n - 1) * spacing_m) / 2
    ys = [first + i * spacing_m for i in range(n)]
    lines = shapely.linestrings([[(minx - 1.0, y), (maxx + 1.0, y)] for y in ys])
    inters = shapely.intersection(region_r, lines)
    out: list[list[_Seg]] = []
    for i, (y, g) in enumerate(zip(ys, inters)):
        segs = []
        for part in shapely.get_parts(g):
            if part.geom_type != "LineString" or part.length < 1e-3:
                continue
            xs = shapely.get_coordinates(part)[:, 0]
            segs.append(_Seg(i, float(xs.min()), float(xs.max()), y))
        segs.sort(key=lambda s: s.x0)
        out.append(segs)
    return out


def _cells(lines: list[list[_Seg]]) -> list[list[_Seg]]:
    """Group segments into cells: runs of consecutive lines linked one-to-one by overlapping spans."""
    down: dict[_Seg, list[_Seg]] = {}
    up: dict[_Seg, list[_Seg]] = {}
    for i in range(len(lines) - 1):
        for s in lines[i]:
            for t in lines[i + 1]:
                if min(s.x1, t.x1) - max(s.x0, t.x0) > 0:
                    down.setdefault(s, []).append(t)
                    up.setdefault(t, []).append(s)
    assigned: set[_Seg] = set()
    cells = []
    for segs in lines:
        for s in segs:
            if s in assigned:
                continue
            cell, cur = [s], s
            assigned.add(s)
            while len(down.get(cur, ())) == 1 and len(up.get(down[cur][0], ())) == 1 and down[cur][0] not in assigned:
                cur = down[cur][0]
                cell.append(cur)
                assigned.add(cur)
            cells.append(cell)
    return cells


def _cell_path(cell: list[_Seg], from_first: bool, start_left: bool) -> list[Point2]:
    segs = cell if from_first else cell[::-1]
    pts: list[Point2] = []
    left = start_left
    for s in segs:
        a, b = ((s.x0, s.y), (s.x1, s.y)) if left else ((s.x1, s.y), (s.x0, s.y))
        pts += [a, b]
        left = not left
    return pts


def _order_greedy(variants: list[list[list[Point2]]], start: Point2 | None) -> list[tuple[int, int]]:
    """Greedy nearest-next ordering of cells (each with 4 entry variants); best over a few first choices."""
    n = len(variants)
    lengths = [[path_length_m(v) for v in vs] for vs in variants]
    starts = [(c, k) for c in range(n) for k in range(4)]  # cells come in order of their first line
    if start is not None:
        starts.sort(key=lambda ck: math.dist(start, variants[ck[0]][ck[1]][0]))
    starts = starts[:8]
    best: tuple[float, list[tuple[int, int]]] | None = None
    for c0, k0 in starts:
        used = {c0}
        order = [(c0, k0)]
        total = lengths[c0][k0] + (math.dist(start, variants[c0][k0][0]) if start is not None else 0.0)
        cur = variants[c0][k0][-1]
        while len(used) < n:
            cost, c, k = min(
                (math.dist(cur, variants[c][k][0]) + lengths[c][k], c, k)
                for c in range(n) if c not in used for k in range(4)
            )
            total += cost
            used.add(c)
            order.append((c, k))
            cur = variants[c][k][-1]
        if start is not None:
            total += math.dist(cur, start)
        if best is None or total < best[0]:
            best = (total, order)
    assert best is not None
    return best[1]


EXACT_ORDER_MAX_CELLS = 8
TIE_FRACTION = 0.01  # sweeps this close in flight time are ties


def _order_exact(variants: list[list[list[Point2]]], start: Point2 | None) -> list[tuple[int, int]]:
    """The shortest cell order and entry choice (Held-Karp over cells x 4 entries; straight connections).

    With a start, the tour returns to it. Exponential in the number of cells: use for a few only.
    """
    n = len(variants)
    entry = np.array([[v[0] for v in vs] for vs in variants])  # (n, 4, 2)
    exit_ = np.array([[v[-1] for v in vs] for vs in variants])
    length = np.array([[path_length_m(v) for v in vs] for vs in variants])  # (n, 4)
    d = np.linalg.norm(exit_[:, :, None, None, :] - entry[None, None, :, :, :], axis=-1)  # (n,4,n,4)
    full = (1 << n) - 1
    dp = np.full((1 << n, n, 4), np.inf)
    parent = np.full((1 << n, n, 4, 2), -1, dtype=np.int64)
    for c in range(n):
        dp[1 << c, c] = length[c] + (np.linalg.norm(entry[c] - np.asarray(start), axis=-1) if start is not None else 0.0)
    for mask in range(1, full + 1):
        cur = dp[mask]
        if not np.isfinite(cur).any():
            continue
        cand = (cur[:, :, None, None] + d).reshape(n * 4, n, 4)  # from (c,k) to (c2,k2)
        arg = cand.argmin(axis=0)  # (n, 4)
        best = np.take_along_axis(cand, arg[None], axis=0)[0] + length
        for c2 in range(n):
            if mask & (1 << c2):
                continue
            nm = mask | (1 << c2)
            better = best[c2] < dp[nm, c2]
            if better.any():
                dp[nm, c2] = np.where(better, best[c2], dp[nm, c2])
                parent[nm, c2, better, 0] = arg[c2][better] // 4
                parent[nm, c2, better, 1] = arg[c2][better] % 4
    final = dp[full] + (np.linalg.norm(exit_ - np.asarray(start), axis=-1) if start is not None else 0.0)
    c, k = np.unravel_index(int(final.argmin()), final.shape)
    order = []
    mask = full
    while c >= 0:
        order.append((int(c), int(k)))
        pc, pk = parent[mask, c, k]
        mask &= ~(1 << int(c))
        c, k = int(pc), int(pk)
    return order[::-1]


@dataclass(frozen=True)
class _Layout:
    angle_deg: float
    variants: list[list[list[Point2]]]
    nseg: int


def _layout(region: Polygon | MultiPolygon, spacing_m: float, swath_m: float, angle_deg: float) -> _Layout:
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    region_r = affinity.rotate(region, -angle_deg, origin=(0.0, 0.0))
    lines = _segments(region_r, spacing_m, swath_m)
    nseg = sum(len(x) for x in lines)
    if nseg == 0:
        raise PlanError("the zone is too small or too thin for a lawnmower pattern")
    variants = [[[_rot(p, c, s) for p in _cell_path(cell, f, lft)] for f in (True, False) for lft in (True, False)]
                for cell in _cells(lines)]
    return _Layout(angle_deg % 180.0, variants, nseg)


def _straight(layout: _Layout, order: list[tuple[int, int]]) -> list[Point2]:
    pts: list[Point2] = []
    for c, k in order:
        pts += layout.variants[c][k]
    return pts


def _routed(layout: _Layout, order: list[tuple[int, int]], router: Router) -> list[Point2]:
    pts: list[Point2] = []
    for p in _straight(layout, order):
        if not pts:
            pts.append(p)
        elif pts[-1] != p:
            pts += router.path(pts[-1], p)[1:]
    return pts


def _sweep(layout: _Layout, pts: list[Point2], speed_m_s: float, accel_m_s2: float, start: Point2 | None) -> Sweep:
    tour = ([start] if start is not None else []) + pts + ([start] if start is not None else [])
    t, _ = path_time_s(tour, speed_m_s, accel_m_s2)
    return Sweep(points=tuple(pts), angle_deg=layout.angle_deg, lines=layout.nseg, length_m=path_length_m(pts), time_s=t)


def _order(layout: _Layout, start: Point2 | None, exact: bool) -> list[tuple[int, int]]:
    if exact and len(layout.variants) <= EXACT_ORDER_MAX_CELLS:
        return _order_exact(layout.variants, start)
    return _order_greedy(layout.variants, start)


def sweep_at(region: Polygon | MultiPolygon, router: Router, spacing_m: float, swath_m: float, angle_deg: float,
             speed_m_s: float, accel_m_s2: float, start: Point2 | None = None) -> Sweep:
    """The lawnmower path over `region` (local metres) with sweep lines at `angle_deg`.

    `time_s` is the horizontal flight time of the tour from `start` through the path and back.
    """
    layout = _layout(region, spacing_m, swath_m, angle_deg)
    return _sweep(layout, _routed(layout, _order(layout, start, True), router), speed_m_s, accel_m_s2, start)


def candidate_angles_deg(region: Polygon | MultiPolygon, grid_deg: float = 10.0, max_edges: int = 24) -> list[float]:
    """Every distinct edge direction of the region's outer boundary (longest first) plus a regular grid."""
    polys = list(region.geoms) if isinstance(region, MultiPolygon) else [region]
    weight: dict[int, float] = {}
    for poly in polys:
        xy = np.asarray(poly.exterior.coords)
        d = np.diff(xy, axis=0)
        for dx, dy in d:
            ln = math.hypot(dx, dy)
            if ln > 1e-6:
                key = round(math.degrees(math.atan2(dy, dx)) % 180.0) % 180
                weight[key] = weight.get(key, 0.0) + ln
    edges = [float(k) for k, _ in sorted(weight.items(), key=lambda kv: -kv[1])[:max_edges]]
    grid = [i * grid_deg for i in range(int(round(180.0 / grid_deg)))]
    out: list[float] = []
    for a in edges + grid:
        if all(min(abs(a - b), 180.0 - abs(a - b)) > 0.5 for b in out):
            out.append(a)
    return out


def best_sweep(region: Polygon | MultiPolygon, router: Router, spacing_m: float, swath_m: float, speed_m_s: float,
               accel_m_s2: float, start: Point2 | None = None, angle_deg: float | None = None,
               finalists: int = 3) -> Sweep:
    """The lawnmower path at `angle_deg`, or at the candidate angle whose tour flies fastest.

    Every candidate is laid out and ordered greedily with straight connections; the `finalists`
    fastest (plus the one with the fewest lines among those within TIE_FRACTION of the fastest) are
    then ordered exactly (when they have few cells) and routed inside the region. Sweeps within
    TIE_FRACTION of the fastest count as ties, won by the fewest lines, then the shortest path.
    """
    if angle_deg is not None:
        return sweep_at(region, router, spacing_m, swath_m, angle_deg, speed_m_s, accel_m_s2, start)
    layouts = [_layout(region, spacing_m, swath_m, a) for a in candidate_angles_deg(region)]
    rough = sorted(
        (_sweep(lay, _straight(lay, _order_greedy(lay.variants, start)), speed_m_s, accel_m_s2, start).time_s, i)
        for i, lay in enumerate(layouts)
    )
    chosen = [i for _, i in rough[:finalists]]
    near = [i for t, i in rough if t <= rough[0][0] * (1 + TIE_FRACTION)]
    fewest = min(near, key=lambda i: layouts[i].nseg)
    if fewest not in chosen:
        chosen.append(fewest)
    sweeps = [_sweep(layouts[i], _routed(layouts[i], _order(layouts[i], start, True), router), speed_m_s, accel_m_s2, start)
              for i in chosen]
    fastest = min(sw.time_s for sw in sweeps)
    ties = [sw for sw in sweeps if sw.time_s <= fastest * (1 + TIE_FRACTION)]
    return min(ties, key=lambda sw: (sw.lines, sw.length_m))


# --- camera coverage --------------------------------------------------------------------------


def swept_footprints(points: Sequence[Point2], fp: Footprint, look_at: Point2 | None = None):
    """The ground the camera sees along the path: union over legs of the hull of the leg's two footprints.

    The camera faces along each leg, or towards `look_at` (a region of interest) when given.
    """
    body = np.asarray(fp.corners())  # (4, 2): x forward, y left
    hulls = []
    for a, b in zip(points[:-1], points[1:]):
        if math.dist(a, b) < 1e-9 and look_at is None:
            continue
        poses = []
        for p in (a, b):
            if look_at is not None:
                h = math.atan2(look_at[1] - p[1], look_at[0] - p[0])
            else:
                h = math.atan2(b[1] - a[1], b[0] - a[0])
            c, s = math.cos(h), math.sin(h)
            rot = np.array([[c, -s], [s, c]])
            poses.append(body @ rot.T + np.asarray(p))
        hulls.append(np.vstack(poses))
    if not hulls:
        return Polygon()
    geoms = shapely.convex_hull(shapely.multipoints(hulls))
    return shapely.union_all(geoms)


def coverage_fraction(points: Sequence[Point2], fp: Footprint, target: Polygon | MultiPolygon,
                      look_at: Point2 | None = None) -> float:
    """Share of `target`'s area that the camera footprint sees along the path (0..1)."""
    if target.is_empty or target.area <= 0:
        return 0.0
    seen = swept_footprints(points, fp, look_at)
    return float(min(1.0, seen.intersection(target).area / target.area))
