"""Recurring patrol schedules in the station database: add, list, remove.

    groundstation schedule add --config C --name N --zone Z.geojson --pattern lawnmower --alt 50 \
        --cron "0 */2 * * *" --tz Asia/Shanghai
    groundstation schedule list --config C [--json]
    groundstation schedule remove --config C ID_OR_NAME

`add` plans the patrol and checks it (zone readable and valid, inside the config's geofence, under its
altitude limit; the cron expression or interval and the time zone valid) BEFORE storing anything: bad
input exits with status 2 and stores nothing. The mission as planned is stored with the schedule; a running
station picks new and removed schedules up on its next tick (WAL: safe while it runs).

Missed runs: of the fire times that fell while nothing could fire them (station down), only the latest is
flown, and only within the schedule's grace period (--grace, default the config's [patrols].grace_s); the
others are recorded as missed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from groundstation.cli.plan import EXIT_BAD_INPUT, add_patrol_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="schedule_command", metavar="add|list|remove", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="CONFIG.toml", help="station config: its database, geofence and limits")
        p.add_argument("--db", metavar="STATION.sqlite", help="the station database (default: the config's)")

    add = sub.add_parser("add", help="add a schedule")
    common(add)
    add.add_argument("--name", required=True)
    add_patrol_arguments(add)
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help='5-field cron expression, e.g. "0 */2 * * *"')
    when.add_argument("--every", type=float, metavar="S", help="interval in seconds (at least 60)")
    add.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA time zone of the cron expression (default UTC)")
    add.add_argument("--grace", type=float, metavar="S", help="missed-run grace period (default: the config's)")
    add.add_argument("--cover", type=float, metavar="S",
                     help="rotation: keep the zone covered this long after each fire, relieving drones in turn")
    add.add_argument("--json", action="store_true", help="print the stored schedule as JSON")

    ls = sub.add_parser("list", help="list schedules with their next fire time and last run")
    common(ls)
    ls.add_argument("--json", action="store_true")

    rm = sub.add_parser("remove", help="remove a schedule (its recorded runs stay)")
    common(rm)
    rm.add_argument("schedule", metavar="ID_OR_NAME")


def _fail(message: str) -> int:
    print(f"groundstation schedule: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _when(t: float | None, tz_name: str) -> str:
    if t is None:
        return "-"
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(t, ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


def run(args: argparse.Namespace) -> int:
    from groundstation.config import ConfigError, load_config
    from groundstation.shell.schedules import NewSchedule, ScheduleInputError, add_schedule, list_schedules, remove_schedule
    from groundstation.shell.storage import StorageError

    config = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as e:
            return _fail(str(e))
    db = args.db or (str(config.station.storage_path) if config is not None else None)
    if db is None:
        return _fail("give --config or --db")
    try:
        if args.schedule_command == "add":
            grace = args.grace if args.grace is not None else (config.patrols.grace_s if config is not None else 600.0)
            new = NewSchedule(name=args.name, zone_path=args.zone, pattern=args.pattern, alt_m=args.alt, cron=args.cron,
                              interval_s=args.every, tz_name=args.tz, grace_s=grace, cover_s=args.cover,
                              speed_m_s=args.speed, overlap=args.overlap, gimbal_pitch_deg=args.gimbal_pitch,
                              camera_hfov_deg=args.camera_hfov, camera_vfov_deg=args.camera_vfov,
                              zone_name=args.zone_name, home=args.home, radius_m=args.radius)
            row = add_schedule(db, new, time.time(), config)
            if args.json:
                print(json.dumps(row, sort_keys=True))
            else:
                plan = row["plan"]
                print(f"added schedule {row['schedule_id']} {row['name']!r}: {args.pattern} at {args.alt:g} m, "
                      f"{plan['waypoints']} waypoints, {plan['length_m']:.0f} m, {plan['duration_s']:.0f} s, "
                      f"coverage {100 * plan['coverage']:.1f} %")
            return 0
        if args.schedule_command == "list":
            rows = list_schedules(db, time.time())
            if args.json:
                print(json.dumps(rows, sort_keys=True))
                return 0
            if not rows:
                print("no schedules")
            for r in rows:
                when = f"cron {r['cron']!r} {r['tz_name']}" if r["cron"] else f"every {r['interval_s']:g} s"
                last = r["last_run"]
                print(f"{r['schedule_id']}  {r['name']}  {when}  {'enabled' if r['enabled'] else 'disabled'}  "
                      f"next {_when(r['next_fire_s'], r['tz_name'])}  last fired {_when(r['last_fired_s'], r['tz_name'])}"
                      f"  last run {last['status'] + ' ' + (last['reason'] or '') if last else '-'}")
            return 0
        row = remove_schedule(db, args.schedule)
        print(f"removed schedule {row['schedule_id']} {row['name']!r}")
        return 0
    except ScheduleInputError as e:
        return _fail(str(e))
    except StorageError as e:
        print(f"groundstation schedule: storage error: {e}", file=sys.stderr)
        return 1
