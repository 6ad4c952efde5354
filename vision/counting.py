"""Crowds in one frame: the people placed on the ground, grouped into clusters, and how many people a set of
detections stands for, with an uncertainty (pure, no clock read).

Counting people in zones and grid cells across frames and drones, without counting anyone twice, is the
station core's job (groundstation.core.crowds, on the zones and grid of missions.areas).
"""
from __future__ import annotations

import math

import numpy as np

from dataclasses import dataclass

from missions.geo import latlon_to_enu
from vision.records import CrowdObservation, PersonOnGround


@dataclass(frozen=True)
class CountModel:
    """How a detector's boxes relate to the true count at its operating point: the probability that a box of
    a given confidence is a person (piecewise linear through ``precision_at``: (confidence, precision)), the
    share of the people in view it finds (``recall``), and the scene-to-scene spread of that share
    (``relative_sigma``, as a fraction of the count).

    The defaults were measured with the drone preset (VisDrone YOLO11n, bands) on the shared drone frames
    (visdrone/ and uav_unicamp/, 218 labelled people, boxes matched at IoU >= 0.3): precision 0.36 at
    confidence 0.15-0.2 rising to 1.0 above 0.7, recall 0.7 at tile_conf 0.2. Those are the evaluation frames
    themselves: refit on your own labelled footage (``vision eval`` prints precision and recall).
    """

    precision_at: tuple[tuple[float, float], ...] = (
        (0.15, 0.35), (0.25, 0.45), (0.35, 0.57), (0.45, 0.86), (0.55, 0.92), (0.7, 0.97), (0.85, 1.0)
    )
    recall: float = 0.7
    relative_sigma: float = 0.1

    def __post_init__(self):
        if not 0.0 < self.recall <= 1.0:
            raise ValueError(f"count model recall must be in (0, 1], got {self.recall}")
        xs = [c for c, _ in self.precision_at]
        if not self.precision_at or xs != sorted(xs) or not all(0.0 <= p <= 1.0 for _, p in self.precision_at):
            raise ValueError("count model precision_at must be (confidence, precision) pairs, confidences rising, precisions in [0, 1]")


def estimate_count(confidences, model: CountModel = CountModel()) -> tuple[float, float]:
    """(expected number of people, one-sigma) that detections with these confidences stand for.

    Each box is a person with probability p(confidence) (Bernoulli: sum p, variance sum p(1-p)); the people
    found are ``recall`` of those there (the misses add binomial variance), and the recall itself varies by
    ``relative_sigma`` of the count from scene to scene.
    """
    conf = np.asarray(list(confidences), dtype=float)
    xs = np.array([c for c, _ in model.precision_at])
    ps = np.array([p for _, p in model.precision_at])
    p = np.interp(conf, xs, ps) if len(conf) else np.zeros(0)
    found = float(p.sum())
    r = model.recall
    estimate = found / r
    variance = float((p * (1.0 - p)).sum()) / r**2 + found * (1.0 - r) / r**2 + (model.relative_sigma * estimate) ** 2
    return estimate, math.sqrt(variance)


def crowd_clusters(
    people: tuple[PersonOnGround, ...],
    radius_m: float,
    min_people: int,
    drone_id: str,
    time_s: float,
    count_model: CountModel | None = None,
) -> tuple[CrowdObservation, ...]:
    """Groups of at least ``min_people`` linked by gaps of at most ``radius_m`` (single linkage).

    ``radius_m`` of the record is the largest distance of a member from the centroid (at least half
    the linking distance, so two people side by side still cover an area); density is count over that
    disc's area; confidence is the members' mean detection confidence, scaled down when their
    position uncertainty is large compared with the linking distance. With ``count_model``, each cluster
    also carries the estimated number of people it stands for and its one-sigma uncertainty.
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
        estimate, sigma = (None, 0.0)
        if count_model is not None:
            estimate, sigma = estimate_count([people[i].confidence for i in members], count_model)
        out.append(
            CrowdObservation(clat, clon, len(members), radius, len(members) / (math.pi * radius**2), confidence,
                             drone_id, time_s, estimate, sigma, "detections")
        )
    return tuple(sorted(out, key=lambda c: -c.count))
