"""Venues with a headcount limit, their data: the policy, the event the shell sends, the rows recorded and the state.
The decisions (occupancy, alerts, recounts) are venues.py.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


# --- policy (from the config's [[venues]]) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Venue:
    venue_id: str
    name: str
    limit_persons: int
    lat_deg: float  # where it is (alert routing, the map)
    lon_deg: float
    entrances: tuple[str, ...] = ()  # entrance ids


@dataclass(frozen=True)
class VenuePolicy:
    venues: tuple[Venue, ...] = ()


def scaled_limit(limit_persons: int, factor: float) -> int:
    """A capacity or limit times a risk factor, rounded down, at least 1 (unless it was 0)."""
    if limit_persons <= 0:
        return limit_persons
    return max(1, int(math.floor(limit_persons * factor + 1e-9)))


# --- events in, rows out ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueCrossed:
    """People crossed an entrance's line since the last batch (from the shell's line counters)."""

    venue_id: str
    entrance_id: str
    entered: int
    exited: int
    first_s: float  # capture times of the first and last crossing of the batch
    last_s: float
    stream_id: str = ""


@dataclass(frozen=True)
class VenueCountRow:
    venue_id: str
    entrance_id: str  # "" for a recount
    at_s: float
    entered: int
    exited: int
    occupancy: int
    limit_persons: int
    over_limit: bool
    note: str = ""


# --- state --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueView:
    venue_id: str
    name: str
    base_limit_persons: int
    limit_persons: int  # in force: the base times the risk factor
    lat_deg: float
    lon_deg: float
    occupancy: int = 0
    entered: int = 0  # since the start
    exited: int = 0
    over_since_s: float | None = None
    alert_id: str | None = None
    updated_at_s: float | None = None

    @property
    def over_limit(self) -> bool:
        return self.occupancy > self.limit_persons


@dataclass(frozen=True)
class VenueState:
    venues: Mapping[str, VenueView] = field(default_factory=lambda: _EMPTY)
    entrances: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # entrance id -> venue id


def initial(policy: VenuePolicy) -> VenueState:
    views = {v.venue_id: VenueView(v.venue_id, v.name, v.limit_persons, v.limit_persons, v.lat_deg, v.lon_deg)
             for v in policy.venues}
    entrances = {e: v.venue_id for v in policy.venues for e in v.entrances}
    return VenueState(MappingProxyType(views), MappingProxyType(entrances))


def snapshot(state: VenueState) -> tuple[VenueView, ...]:
    return tuple(state.venues.values())
