"""The errors of mission planning: one tree under MissionError, each saying what is wrong and why."""
from __future__ import annotations


class MissionError(Exception):
    """Base of every error raised by missions/."""


class ZoneError(MissionError):
    """A zone file or zone geometry cannot be used (unreadable, empty, wrong type, self-intersecting)."""


class PlanError(MissionError):
    """A patrol cannot be planned with the parameters given (bad camera geometry, zone too small...)."""


class PlanRefused(MissionError):
    """A plan failed pre-flight validation; `reasons` lists every check that failed."""

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        self.reasons: tuple[str, ...] = tuple(reasons)
        super().__init__("plan refused: " + "; ".join(self.reasons))


class PlanFileError(MissionError):
    """A QGroundControl .plan document is malformed or uses something we do not support."""


class ScheduleError(MissionError):
    """A schedule is malformed: cron expression that does not parse, unknown time zone, bad interval."""


class NoVehicleAvailable(MissionError):
    """No vehicle can fly a plan now; `reasons` says why each candidate was passed over."""

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        self.reasons: tuple[str, ...] = tuple(reasons)
        super().__init__("no vehicle available: " + ("; ".join(self.reasons) or "no vehicles"))
