"""Recurring patrol schedules, the pure half: when a schedule fires and what is due at start-up.

A schedule fires by a cron expression (5 fields, standard semantics: day-of-week 0 or 7 = Sunday;
@hourly, @daily... allowed) read in its IANA time zone, or every `interval_s` seconds on a grid
anchored at `anchor_utc` (absolute time: intervals ignore the wall clock).

Daylight-saving policy (cron only):
- a wall time skipped when clocks go forward fires the length of the gap later
  (02:30 on the spring-forward night of America/New_York fires at 03:30 EDT);
- a wall time that happens twice when clocks go back fires once, at its first occurrence, unless
  the expression fires every hour (hour field `*`), in which case it fires at both occurrences.

Missed-run policy (`due_runs`), "coalesce with a grace period": of the fire times that fell in
(last_checked, now], only the latest may fire, and only if it is at most `grace_s` old; every other
one is reported as missed (to be recorded, never flown late). Time is always passed in: nothing here
reads a clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from missions.errors import ScheduleError

UTC = timezone.utc
_DST_WINDOW = timedelta(hours=3)  # larger than any daylight-saving shift
_MAX_CANDIDATES = 20_000


def _aware(dt: datetime, name: str) -> datetime:
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ScheduleError(f"{name} must be a timezone-aware datetime, got {dt!r}")
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """A recurring patrol: what to fly (`plan_ref`, a zone or plan name) and when."""

    schedule_id: str
    plan_ref: str
    cron: str | None = None
    interval_s: float | None = None
    tz_name: str = "UTC"
    enabled: bool = True
    last_fired_utc: datetime | None = None
    anchor_utc: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    grace_s: float = 900.0

    def __post_init__(self) -> None:
        if not self.schedule_id:
            raise ScheduleError("a schedule needs an id")
        if (self.cron is None) == (self.interval_s is None):
            raise ScheduleError("give exactly one of a cron expression and an interval")
        try:
            ZoneInfo(self.tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone {self.tz_name!r} (use an IANA name such as Asia/Shanghai)") from None
        if self.cron is not None:
            _parse_cron(self.cron)
        if self.interval_s is not None:
            if isinstance(self.interval_s, bool) or not isinstance(self.interval_s, (int, float)) \
                    or not math.isfinite(self.interval_s) or self.interval_s < 60:
                raise ScheduleError(f"the interval must be at least 60 s, got {self.interval_s!r}")
        _aware(self.anchor_utc, "anchor_utc")
        if self.last_fired_utc is not None:
            _aware(self.last_fired_utc, "last_fired_utc")
        if not (math.isfinite(self.grace_s) and self.grace_s >= 0):
            raise ScheduleError(f"the grace period must be a non-negative number of seconds, got {self.grace_s}")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)


def _parse_cron(expr: str) -> croniter:
    text = (expr or "").strip()
    if not text:
        raise ScheduleError("empty cron expression")
    if not text.startswith("@") and len(text.split()) != 5:
        raise ScheduleError(f"cron expression {expr!r} must have 5 fields: minute hour day-of-month month day-of-week")
    try:
        it = croniter(text, datetime(2000, 1, 1))
        it.get_next(datetime)  # an expression that can never match (e.g. 30 February) fails here
    except CroniterBadDateError:
        raise ScheduleError(f"cron expression {expr!r} never fires") from None
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as e:
        raise ScheduleError(f"cron expression {expr!r} does not parse: {e}") from None
    return it


def _every_hour(expr: str) -> bool:
    return croniter(expr.strip()).expanded[1] == ["*"]


def _wall_to_utc(wall: datetime, tz: ZoneInfo, both_in_fold: bool) -> list[datetime]:
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first > second:  # in a spring-forward gap: fold=0 reads it with the old offset, i.e. shifted by the gap
        return [first]
    return [first, second] if both_in_fold else [first]  # repeated wall time (clocks went back)


def next_fire(schedule: Schedule, after_utc: datetime) -> datetime | None:
    """The first fire time strictly after `after_utc` (UTC), or None for a disabled schedule."""
    after = _aware(after_utc, "after_utc")
    if not schedule.enabled:
        return None
    if schedule.interval_s is not None:
        anchor = schedule.anchor_utc.astimezone(UTC)
        step = timedelta(seconds=schedule.interval_s)
        if after < anchor:
            return anchor
        k = math.floor((after - anchor) / step) + 1
        return anchor + k * step
    assert schedule.cron is not None
    tz = schedule.tz
    both = _every_hour(schedule.cron)
    wall_after = after.astimezone(tz).replace(tzinfo=None)
    it = croniter(schedule.cron.strip(), wall_after - _DST_WINDOW)
    found: list[datetime] = []
    for _ in range(_MAX_CANDIDATES):
        try:
            wall = it.get_next(datetime)
        except CroniterBadDateError:
            break
        found += [t for t in _wall_to_utc(wall, tz, both) if t > after]
        if found and wall > wall_after + _DST_WINDOW:
            break
    return min(found) if found else None


def fire_times(schedule: Schedule, after_utc: datetime, until_utc: datetime, limit: int = 10_000) -> list[datetime]:
    """Fire times in (after_utc, until_utc], oldest first; at most `limit`, the newest kept."""
    after = _aware(after_utc, "after_utc")
    until = _aware(until_utc, "until_utc")
    if not schedule.enabled or until <= after:
        return []
    if schedule.interval_s is not None:
        out: list[datetime] = []
        t: datetime | None = after
        while True:
            t = next_fire(schedule, t)
            if t is None or t > until:
                return out[-limit:]
            out.append(t)
    assert schedule.cron is not None
    tz = schedule.tz
    both = _every_hour(schedule.cron)
    wall_until = until.astimezone(tz).replace(tzinfo=None) + _DST_WINDOW
    it = croniter(schedule.cron.strip(), after.astimezone(tz).replace(tzinfo=None) - _DST_WINDOW)
    found: set[datetime] = set()
    while True:
        try:
            wall = it.get_next(datetime)
        except CroniterBadDateError:
            break
        if wall > wall_until:
            break
        found.update(t for t in _wall_to_utc(wall, tz, both) if after < t <= until)
    return sorted(found)[-limit:] if limit > 0 else []


@dataclass(frozen=True)
class DueRun:
    schedule_id: str
    scheduled_utc: datetime
    fire: bool  # True: launch it now; False: record it as missed
    reason: str


def due_runs(schedule: Schedule, last_checked_utc: datetime | None, now_utc: datetime, limit: int = 1000) -> list[DueRun]:
    """What to do about the runs that fell in (last_checked, now]: see the module's missed-run policy.

    With no last check, the schedule's last fire time is used; with neither, nothing is due (a new
    schedule never fires for the past). At most `limit` entries (the newest) are listed.
    """
    now = _aware(now_utc, "now_utc")
    since = last_checked_utc if last_checked_utc is not None else schedule.last_fired_utc
    if since is None or not schedule.enabled:
        return []
    since = _aware(since, "last_checked_utc")
    if schedule.last_fired_utc is not None:
        since = max(since, _aware(schedule.last_fired_utc, "last_fired_utc"))
    times = fire_times(schedule, since, now, limit)
    out = []
    for i, t in enumerate(times):
        age = (now - t).total_seconds()
        if i == len(times) - 1 and age <= schedule.grace_s:
            out.append(DueRun(schedule.schedule_id, t, True, "due" if age < 1 else f"due {age:.0f} s ago, within the grace period"))
        elif i == len(times) - 1:
            out.append(DueRun(schedule.schedule_id, t, False, f"missed: {age:.0f} s late, beyond the {schedule.grace_s:.0f} s grace period"))
        else:
            out.append(DueRun(schedule.schedule_id, t, False, "missed: superseded by a later run (coalesced)"))
    return out
