"""Which drone flies a patrol, and when to launch the next one so a zone stays covered round the clock.

Pure: vehicle states and times come in as arguments. Rotation assumes a landed drone is ready again
(battery swapped or charged to 100 %) `recharge_s` after landing, and that `transit_s` covers the
flight between base and zone including climb and landing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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


@dataclass(frozen=True)
class Sortie:
    vehicle_id: str
    launch_utc: datetime
    on_station_utc: datetime
    leave_station_utc: datetime  # the latest moment it must turn back to land with the reserve
    landed_utc: datetime


@dataclass(frozen=True)
class RotationPlan:
    sorties: tuple[Sortie, ...]
    gaps: tuple[tuple[datetime, datetime], ...]  # times within the horizon with no drone on station


def plan_rotation(vehicles: Sequence[VehicleStatus], start_utc: datetime, horizon_s: float, transit_s: float,
                  profile: VehicleProfile, recharge_s: float = 1800.0, handover_s: float = 60.0) -> RotationPlan:
    """Sorties that keep a drone on station from the first arrival until start + horizon.

    Each next drone is launched so that it arrives `handover_s` before the one on station must
    leave. When no drone can be ready in time the plan records the gap and launches the first
    that can. Raises NoVehicleAvailable when no vehicle can do a useful sortie at all.
    """
    if horizon_s <= 0 or transit_s < 0 or recharge_s < 0 or handover_s < 0:
        raise MissionError("horizon must be positive and transit, recharge and handover times non-negative")
    ready = {v.vehicle_id: start_utc for v in vehicles if v.available}
    battery = {v.vehicle_id: v.battery_pct for v in vehicles if v.available}
    if not ready:
        raise NoVehicleAvailable([f"{v.vehicle_id}: not available" for v in vehicles])
    end = start_utc + timedelta(seconds=horizon_s)
    transit = timedelta(seconds=transit_s)
    handover = timedelta(seconds=handover_s)
    sorties: list[Sortie] = []
    gaps: list[tuple[datetime, datetime]] = []
    wanted_on_station = start_utc + transit  # when the next drone should be on station
    while True:
        best: tuple[datetime, float, str] | None = None
        for vid in sorted(ready):
            station_s = profile.endurance_s(battery[vid]) - 2 * transit_s
            if station_s <= handover_s:
                continue
            launch = max(ready[vid], wanted_on_station - transit)
            cand = (launch + transit, -station_s, vid)
            if best is None or cand < best:
                best = cand
        if best is None:
            raise NoVehicleAvailable([
                f"{vid}: {battery[vid]:.0f} % gives {profile.endurance_s(battery[vid]):.0f} s of flight, "
                f"not enough for 2 x {transit_s:.0f} s of transit and a handover" for vid in sorted(ready)])
        on_station, neg_station, vid = best
        if sorties and on_station > sorties[-1].leave_station_utc:
            gaps.append((sorties[-1].leave_station_utc, min(on_station, end)))
        leave = on_station + timedelta(seconds=-neg_station)
        sortie = Sortie(vid, on_station - transit, on_station, leave, leave + transit)
        sorties.append(sortie)
        ready[vid] = sortie.landed_utc + timedelta(seconds=recharge_s)
        battery[vid] = 100.0
        if leave >= end:
            break
        wanted_on_station = leave - handover
    return RotationPlan(tuple(sorties), tuple(g for g in gaps if g[0] < end))
