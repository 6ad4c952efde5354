"""Shortest paths inside a free region (local metres): straight when visible, else via a visibility graph.

The graph's nodes are the region's reflex corners (where a shortest path can bend); two points are
mutually visible when the segment between them stays inside the region (within a small tolerance, so
paths may run along its boundary).
"""
from __future__ import annotations

import heapq
import math

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from missions.errors import PlanError

Point2 = tuple[float, float]


class Router:
    """Answers path queries in one region; builds its graph lazily on the first detour needed."""

    def __init__(self, region: Polygon | MultiPolygon, tolerance_m: float = 0.05) -> None:
        self._region = region
        self._check = region.buffer(tolerance_m)
        shapely.prepare(self._check)
        self._nodes: list[Point2] | None = None
        self._adj: list[list[tuple[int, float]]] | None = None

    def contains(self, p: Point2) -> bool:
        return bool(shapely.contains_xy(self._check, p[0], p[1]))

    def visible(self, a: Point2, b: Point2) -> bool:
        if a == b:
            return self.contains(a)
        return bool(self._check.covers(LineString([a, b])))

    def _visible_many(self, a: Point2, targets: list[Point2]) -> np.ndarray:
        if not targets:
            return np.zeros(0, dtype=bool)
        lines = shapely.linestrings([[a, t] for t in targets])
        return shapely.covers(self._check, lines)

    def _graph(self) -> tuple[list[Point2], list[list[tuple[int, float]]]]:
        if self._nodes is None or self._adj is None:
            nodes = _reflex_vertices(self._region)
            adj: list[list[tuple[int, float]]] = [[] for _ in nodes]
            for i in range(len(nodes)):
                rest = nodes[i + 1:]
                vis = self._visible_many(nodes[i], rest)
                for k in np.flatnonzero(vis):
                    j = i + 1 + int(k)
                    d = math.dist(nodes[i], nodes[j])
                    adj[i].append((j, d))
                    adj[j].append((i, d))
            self._nodes, self._adj = nodes, adj
        return self._nodes, self._adj

    def path(self, a: Point2, b: Point2) -> list[Point2]:
        """The shortest path from a to b inside the region, both ends included."""
        if self.visible(a, b):
            return [a, b]
        for p, what in ((a, "start"), (b, "end")):
            if not self.contains(p):
                raise PlanError(f"the path's {what} ({p[0]:.1f}, {p[1]:.1f}) m is outside the flyable region")
        nodes, adj = self._graph()
        n = len(nodes)
        from_a = self._visible_many(a, nodes)
        to_b = self._visible_many(b, nodes)
        # Dijkstra over nodes 0..n-1, a = n, b = n+1
        dist = [math.inf] * (n + 2)
        prev = [-1] * (n + 2)
        dist[n] = 0.0
        heap = [(0.0, n)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            if u == n + 1:
                break
            if u == n:
                edges = [(int(j), math.dist(a, nodes[j])) for j in np.flatnonzero(from_a)]
            else:
                edges = list(adj[u])
                if to_b[u]:
                    edges.append((n + 1, math.dist(nodes[u], b)))
            for v, w in edges:
                nd = d + w
                if nd < dist[v]:
                    dist[v], prev[v] = nd, u
                    heapq.heappush(heap, (nd, v))
        if math.isinf(dist[n + 1]):
            raise PlanError("no path inside the flyable region joins two parts of the plan (is the zone cut in two?)")
        out: list[Point2] = []
        u = n + 1
        while u != -1:
            out.append(b if u == n + 1 else a if u == n else nodes[u])
            u = prev[u]
        return out[::-1]


def _reflex_vertices(region: Polygon | MultiPolygon) -> list[Point2]:
    """Vertices where the free region's boundary turns away from it (bends of shortest paths)."""
    polys = list(region.geoms) if isinstance(region, MultiPolygon) else [region]
    out: list[Point2] = []
    for poly in polys:
        poly = orient(poly, 1.0)  # exterior counter-clockwise, holes clockwise: free space on the left
        for ring in [poly.exterior, *poly.interiors]:
            pts = list(ring.coords)[:-1]
            m = len(pts)
            for i in range(m):
                (x0, y0), (x1, y1), (x2, y2) = pts[i - 1], pts[i], pts[(i + 1) % m]
                cross = (x1 - x0) * (y2 - y1) - (y1 - y0) * (x2 - x1)
                if cross < 0:
                    out.append((x1, y1))
    return out
