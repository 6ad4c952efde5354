"""Schedules with an injected clock: cron in a time zone across DST changes, intervals, missed runs."""
from datetime import datetime, timedelta, timezone

import pytest

from missions.errors import ScheduleError
from missions.schedule import Schedule, due_runs, fire_times, next_fire

UTC = timezone.utc


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def sched(**kw):
    return Schedule(**({"schedule_id": "s1", "plan_ref": "park"} | kw))


def test_daily_in_shanghai_fires_at_local_morning():
    s = sched(cron="0 8 * * *", tz_name="Asia/Shanghai")
    assert next_fire(s, utc(2025, 1, 1)) == utc(2025, 1, 2, 0, 0)  # 08:00 CST = 00:00 UTC
    assert next_fire(s, utc(2025, 1, 2, 0, 0)) == utc(2025, 1, 3, 0, 0)  # strictly after


@pytest.mark.parametrize("tz,cron,after,expected", [
    # America/New_York springs forward on 2025-03-09 02:00 EST -> 03:00 EDT
    ("America/New_York", "0 9 * * *", utc(2025, 3, 8, 15), utc(2025, 3, 9, 13)),  # 09:00 EDT = 13:00 UTC (was 14:00)
    ("America/New_York", "0 9 * * *", utc(2025, 3, 7, 15), utc(2025, 3, 8, 14)),  # 09:00 EST = 14:00 UTC
    ("America/New_York", "30 2 * * *", utc(2025, 3, 8, 12), utc(2025, 3, 9, 7, 30)),  # skipped 02:30 -> 03:30 EDT
    ("America/New_York", "30 2 * * *", utc(2025, 3, 9, 8), utc(2025, 3, 10, 6, 30)),  # back to 02:30 EDT next day
    # falls back on 2025-11-02 02:00 EDT -> 01:00 EST: 01:30 happens twice, a daily job fires once
    ("America/New_York", "30 1 * * *", utc(2025, 11, 1, 12), utc(2025, 11, 2, 5, 30)),
    ("America/New_York", "30 1 * * *", utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)),
    # Europe/Berlin: 2025-03-30 02:00 CET -> 03:00 CEST; 2025-10-26 03:00 CEST -> 02:00 CET
    ("Europe/Berlin", "0 12 * * *", utc(2025, 3, 29, 12), utc(2025, 3, 30, 10)),
    ("Europe/Berlin", "0 12 * * *", utc(2025, 10, 25, 11), utc(2025, 10, 26, 11)),
    # cron day-of-week: 0 and 7 are Sunday; 2025-03-09 is a Sunday
    ("UTC", "0 6 * * 0", utc(2025, 3, 5), utc(2025, 3, 9, 6)),
    ("UTC", "0 6 * * 7", utc(2025, 3, 5), utc(2025, 3, 9, 6)),
    ("UTC", "0 6 * * 1", utc(2025, 3, 5), utc(2025, 3, 10, 6)),
])
def test_cron_next_fire_across_dst(tz, cron, after, expected):
    assert next_fire(sched(cron=cron, tz_name=tz), after) == expected


def test_hourly_job_fires_in_both_repeated_hours_when_clocks_go_back():
    s = sched(cron="*/30 * * * *", tz_name="America/New_York")
    times = fire_times(s, utc(2025, 11, 2, 4, 45), utc(2025, 11, 2, 7, 15))
    # 00:00 local.. : 01:00 EDT, 01:30 EDT, 01:00 EST, 01:30 EST, 02:00 EST — every 30 minutes of real time
    assert times == [utc(2025, 11, 2, 5, 0) + timedelta(minutes=30 * i) for i in range(5)]


def test_every_15_minutes_through_spring_forward_has_no_hole_and_no_duplicate():
    s = sched(cron="*/15 * * * *", tz_name="America/New_York")
    times = fire_times(s, utc(2025, 3, 9, 6, 0), utc(2025, 3, 9, 8, 0))
    assert times == [utc(2025, 3, 9, 6, 15) + timedelta(minutes=15 * i) for i in range(8)]


def test_interval_schedule_on_an_anchored_grid():
    s = sched(interval_s=3600, anchor_utc=utc(2025, 1, 1, 0, 20))
    assert next_fire(s, utc(2025, 6, 1, 10, 0)) == utc(2025, 6, 1, 10, 20)
    assert next_fire(s, utc(2025, 6, 1, 10, 20)) == utc(2025, 6, 1, 11, 20)
    assert next_fire(s, utc(2024, 1, 1)) == utc(2025, 1, 1, 0, 20)
    assert len(fire_times(s, utc(2025, 6, 1), utc(2025, 6, 2))) == 24


def test_disabled_schedule_never_fires():
    s = sched(cron="* * * * *", enabled=False)
    assert next_fire(s, utc(2025, 1, 1)) is None
    assert due_runs(s, utc(2025, 1, 1), utc(2025, 1, 2)) == []


def test_normal_tick_fires_the_run_that_just_came_due():
    s = sched(cron="0 8 * * *", tz_name="Asia/Shanghai")
    runs = due_runs(s, last_checked_utc=utc(2025, 1, 1, 23, 59, 55), now_utc=utc(2025, 1, 2, 0, 0, 0))
    assert [(r.scheduled_utc, r.fire) for r in runs] == [(utc(2025, 1, 2), True)]
    assert due_runs(s, utc(2025, 1, 2, 0, 0, 0), utc(2025, 1, 2, 0, 0, 5)) == []  # already handled


def test_missed_runs_while_down_coalesce_latest_fires_within_grace():
    s = sched(cron="0 */6 * * *", tz_name="UTC", grace_s=900)
    # the station was down from 01:00 on day 1 to 12:10 on day 2
    runs = due_runs(s, last_checked_utc=utc(2025, 1, 1, 1, 0), now_utc=utc(2025, 1, 2, 12, 10))
    assert [r.scheduled_utc.hour for r in runs] == [6, 12, 18, 0, 6, 12]
    assert [r.fire for r in runs] == [False] * 5 + [True]
    assert "coalesced" in runs[0].reason and "grace" in runs[-1].reason


def test_missed_run_beyond_grace_is_recorded_not_flown():
    s = sched(cron="0 */6 * * *", tz_name="UTC", grace_s=900)
    runs = due_runs(s, last_checked_utc=utc(2025, 1, 1, 1, 0), now_utc=utc(2025, 1, 2, 12, 30))
    assert not any(r.fire for r in runs)
    assert "beyond the 900 s grace period" in runs[-1].reason


def test_missed_runs_across_dst_change():
    # daily 02:30 New York; down from Saturday evening to Monday 03:00: Sunday's run (skipped wall time,
    # so 03:30 EDT) and Monday's 02:30 EDT fall in the gap; Monday's is 30 min old, within a 1 h grace
    s = sched(cron="30 2 * * *", tz_name="America/New_York", grace_s=3600)
    runs = due_runs(s, utc(2025, 3, 8, 23), utc(2025, 3, 10, 7, 0))
    assert [(r.scheduled_utc, r.fire) for r in runs] == [(utc(2025, 3, 9, 7, 30), False), (utc(2025, 3, 10, 6, 30), True)]


def test_no_last_check_uses_last_fired_and_a_new_schedule_never_fires_for_the_past():
    s = sched(cron="0 * * * *")
    assert due_runs(s, None, utc(2025, 1, 1, 12)) == []
    s = sched(cron="0 * * * *", last_fired_utc=utc(2025, 1, 1, 10))
    assert [r.scheduled_utc.hour for r in due_runs(s, None, utc(2025, 1, 1, 12, 5))] == [11, 12]


@pytest.mark.parametrize("kw,match", [
    (dict(cron="61 * * * *"), "does not parse"),
    (dict(cron="* * *"), "5 fields"),
    (dict(cron="every day"), "5 fields|does not parse"),
    (dict(cron=""), "empty cron"),
    (dict(cron="0 0 30 2 *"), "never fires"),
    (dict(cron="0 8 * * *", tz_name="Mars/Olympus"), "unknown time zone"),
    (dict(cron="0 8 * * *", interval_s=600), "exactly one"),
    (dict(), "exactly one"),
    (dict(interval_s=10), "at least 60 s"),
    (dict(cron="0 8 * * *", last_fired_utc=datetime(2025, 1, 1)), "timezone-aware"),
    (dict(cron="0 8 * * *", schedule_id=""), "needs an id"),
])
def test_bad_schedules_are_refused(kw, match):
    with pytest.raises(ScheduleError, match=match):
        sched(**kw)


def test_naive_clock_is_refused():
    with pytest.raises(ScheduleError, match="timezone-aware"):
        next_fire(sched(cron="0 8 * * *"), datetime(2025, 1, 1))
