"""Which drone flies a patrol: the nearest available one that can fly it and still land with the reserve.

Pure: vehicle states come in as arguments. (When to launch the next drone of a rotation is decided by the
station core: groundstation.core.patrols, relief_lead_s and rotation_action.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from missions.errors import MissionError, NoVehicleAvailable
from missions.estimate import VehicleProfile
from missions.geo import GeoPoint, haversine_m


@dataclass(frozen=True)
class VehicleStatus:
    vehicle_id: str
    battery_pct: float
    available: bool  # landed or idle, link up, not reserved by another job
    position: GeoPoint | None = None


@dataclass(frozen=True)
class Assignment:
    vehicle_id: str
    transit_m: float  # from the vehicle to the plan's start
    battery_pct_needed: float  # plan + transit
    battery_pct_at_landing: float


def assign_vehicle(vehicles: Sequence[VehicleStatus], plan_energy_wh: float, start: GeoPoint,
                   profile: VehicleProfile, speed_m_s: float = 8.0) -> Assignment:
    """The available vehicle that can fly the plan (and reach its start) and still land with the reserve.

    Among those, the nearest to the start wins, then the fullest battery. Raises NoVehicleAvailable
    with one reason per vehicle when none can.
    """
    if plan_energy_wh < 0 or speed_m_s <= 0:
        raise MissionError("plan energy must be >= 0 Wh and speed > 0 m/s")
    plan_pct = 100.0 * plan_energy_wh / profile.battery_capacity_wh
    ok: list[tuple[float, float, str, Assignment]] = []
    reasons: list[str] = []
    for v in vehicles:
        if not v.available:
            reasons.append(f"{v.vehicle_id}: not available")
            continue
        transit = haversine_m(v.position, start) if v.position is not None else 0.0
        need = plan_pct + profile.battery_pct_for(transit / speed_m_s)
        left = v.battery_pct - need
        if left < profile.reserve_pct:
            reasons.append(f"{v.vehicle_id}: has {v.battery_pct:.0f} %, needs {need:.0f} % plus a {profile.reserve_pct:.0f} % reserve")
            continue
        ok.append((transit, -v.battery_pct, v.vehicle_id, Assignment(v.vehicle_id, transit, need, left)))
    if not ok:
        raise NoVehicleAvailable(reasons)
    return min(ok, key=lambda t: t[:3])[3]
