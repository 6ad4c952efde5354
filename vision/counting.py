"""Crowds in one frame: the people placed on the ground, grouped into clusters (pure, no clock read).

Counting people in zones and grid cells across frames and drones, without counting anyone twice, is the
station core's job (groundstation.core.crowds, on the zones and grid of missions.areas).
"""
from __future__ import annotations

import math

import numpy as np

from missions.geo import latlon_to_enu
from vision.records import CrowdObservation, PersonOnGround


def crowd_clusters(
    people: tuple[PersonOnGround, ...], radius_m: float, min_people: int, drone_id: str, time_s: float
) -> tuple[CrowdObservation, ...]:
    """Groups of at least ``min_people`` linked by gaps of at most ``radius_m`` (single linkage).

    ``radius_m`` of the record is the largest distance of a member from the centroid (at least half
    the linking distance, so two people side by side still cover an area); density is count over that
    disc's area; confidence is the members' mean detection confidence, scaled down when their
    position uncertainty is large compared with the linking distance.
    """
    if len(people) < max(1, min_people):
        return ()
    lat0, lon0 = people[0].lat_deg, people[0].lon_deg
    east, north = latlon_to_enu(lat0, lon0, [p.lat_deg for p in people], [p.lon_deg for p in people])
    xy = np.stack([east, north], axis=1)
    parent = list(range(len(people)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    for i, j in zip(*np.nonzero(np.triu(dist <= radius_m, k=1))):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(people)):
        groups.setdefault(root(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < min_people:
            continue
        centre = xy[members].mean(axis=0)
        spread = float(np.max(np.hypot(*(xy[members] - centre).T)))
        radius = max(spread, radius_m / 2.0)
        mean_conf = float(np.mean([people[i].confidence for i in members]))
        mean_unc = float(np.mean([people[i].uncertainty_m for i in members]))
        confidence = mean_conf * float(np.clip(1.0 - mean_unc / (4.0 * radius_m), 0.1, 1.0))
        clat = float(np.mean([people[i].lat_deg for i in members]))
        clon = float(np.mean([people[i].lon_deg for i in members]))
        out.append(
            CrowdObservation(clat, clon, len(members), radius, len(members) / (math.pi * radius**2), confidence, drone_id, time_s)
        )
    return tuple(sorted(out, key=lambda c: -c.count))
