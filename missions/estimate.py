"""Flight estimates: path length, duration (speed, turns, acceleration), energy and battery share.

Duration model (rough, deliberately simple): the vehicle climbs to altitude, flies each leg with a
trapezoidal speed profile (constant acceleration up to the cruise speed), slows at each corner to
cruise * cos(turn angle) (so it stops for a turn of 90 degrees or more), returns, then descends fast
down to `land_slow_below_m` and at the landing speed below it (ArduCopter's LAND_SPEED).
Energy is flight power times duration (multirotor power varies little with cruise speed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from missions.errors import PlanError

Point2 = tuple[float, float]


@dataclass(frozen=True)
class VehicleProfile:
    """What a vehicle type can do; defaults fit an M30-class patrol quadcopter (about 40 min on a full battery)."""

    battery_capacity_wh: float = 262.0
    flight_power_w: float = 380.0  # average electrical power in flight
    reserve_pct: float = 25.0  # battery share that must remain at landing
    accel_m_s2: float = 2.5  # ArduCopter WPNAV_ACCEL default 250 cm/s/s
    climb_rate_m_s: float = 2.5  # WPNAV_SPEED_UP
    descent_rate_m_s: float = 1.5  # WPNAV_SPEED_DN
    land_speed_m_s: float = 0.5  # LAND_SPEED, below land_slow_below_m
    land_slow_below_m: float = 10.0

    def __post_init__(self) -> None:
        for name in ("battery_capacity_wh", "flight_power_w", "accel_m_s2", "climb_rate_m_s", "descent_rate_m_s", "land_speed_m_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise PlanError(f"vehicle profile: {name} must be positive, got {v}")
        if not 0.0 <= self.reserve_pct < 100.0:
            raise PlanError(f"vehicle profile: reserve_pct must be in [0, 100), got {self.reserve_pct}")

    def energy_wh(self, duration_s: float) -> float:
        return self.flight_power_w * duration_s / 3600.0

    def battery_pct_for(self, duration_s: float) -> float:
        return 100.0 * self.energy_wh(duration_s) / self.battery_capacity_wh

    def endurance_s(self, from_battery_pct: float = 100.0) -> float:
        """Flight time from `from_battery_pct` down to the reserve."""
        usable = max(0.0, from_battery_pct - self.reserve_pct) / 100.0 * self.battery_capacity_wh
        return usable * 3600.0 / self.flight_power_w


@dataclass(frozen=True)
class Estimate:
    length_m: float  # horizontal length flown
    duration_s: float  # takeoff to landed
    turns: int  # corners of more than TURN_DEG
    energy_wh: float
    battery_pct: float  # share of the battery's capacity the flight uses


TURN_DEG = 10.0


def turn_angle_deg(a: Point2, b: Point2, c: Point2) -> float:
    """Heading change at b going a -> b -> c, 0..180 degrees (0 when a leg has no length)."""
    h1 = math.atan2(b[1] - a[1], b[0] - a[0])
    h2 = math.atan2(c[1] - b[1], c[0] - b[0])
    if math.dist(a, b) < 1e-9 or math.dist(b, c) < 1e-9:
        return 0.0
    d = abs(math.degrees(h2 - h1)) % 360.0
    return 360.0 - d if d > 180.0 else d


def _leg_time_s(length_m: float, v_in: float, v_out: float, v: float, a: float) -> float:
    if length_m <= 0:
        return 0.0
    d_acc = (v * v - v_in * v_in) / (2 * a)
    d_dec = (v * v - v_out * v_out) / (2 * a)
    if d_acc + d_dec <= length_m:
        return (v - v_in) / a + (v - v_out) / a + (length_m - d_acc - d_dec) / v
    v_peak = math.sqrt(max(0.0, (2 * a * length_m + v_in * v_in + v_out * v_out) / 2))
    if v_peak < max(v_in, v_out):  # cannot reach the exit speed: coast at the mean speed
        return 2 * length_m / max(v_in + v_out, 1e-9)
    return (v_peak - v_in) / a + (v_peak - v_out) / a


def path_length_m(points: Sequence[Point2]) -> float:
    return sum(math.dist(points[i], points[i + 1]) for i in range(len(points) - 1))


def path_time_s(points: Sequence[Point2], speed_m_s: float, accel_m_s2: float) -> tuple[float, int]:
    """Horizontal flight time along the polyline (stopped at both ends) and its number of turns."""
    if speed_m_s <= 0:
        raise PlanError(f"speed must be positive, got {speed_m_s} m/s")
    pts = [p for i, p in enumerate(points) if i == 0 or math.dist(p, points[i - 1]) > 1e-9]
    if len(pts) < 2:
        return 0.0, 0
    corner_speed = [0.0] * len(pts)
    turns = 0
    for i in range(1, len(pts) - 1):
        ang = turn_angle_deg(pts[i - 1], pts[i], pts[i + 1])
        if ang > TURN_DEG:
            turns += 1
        corner_speed[i] = speed_m_s * max(0.0, math.cos(math.radians(ang)))
    t = 0.0
    for i in range(len(pts) - 1):
        t += _leg_time_s(math.dist(pts[i], pts[i + 1]), corner_speed[i], corner_speed[i + 1], speed_m_s, accel_m_s2)
    return t, turns


def vertical_time_s(alt_m: float, profile: VehicleProfile) -> float:
    """Climb to alt_m after takeoff plus the descent and landing from it."""
    climb = alt_m / profile.climb_rate_m_s
    slow = min(alt_m, profile.land_slow_below_m)
    descent = (alt_m - slow) / profile.descent_rate_m_s + slow / profile.land_speed_m_s
    return climb + descent


def estimate_flight(points: Sequence[Point2], alt_m: float, speed_m_s: float, profile: VehicleProfile,
                    extra_hold_s: float = 0.0) -> Estimate:
    """Estimate a flight along `points` (home ... home, local metres) at alt_m."""
    horizontal_s, turns = path_time_s(points, speed_m_s, profile.accel_m_s2)
    duration = horizontal_s + vertical_time_s(alt_m, profile) + extra_hold_s
    return Estimate(
        length_m=path_length_m(points), duration_s=duration, turns=turns,
        energy_wh=profile.energy_wh(duration), battery_pct=profile.battery_pct_for(duration),
    )
