"""Fly a scripted check flight on one vehicle: connect, wait until ready, GUIDED, arm, take off to 20 m,
fly 100 m, upload a 4-waypoint mission and read it back, AUTO to the last item, RTL, land, disarm.

Prints one line per step with its wall time (or one JSON object with --json). Refuses a vehicle without SIM_*
parameters unless --allow-real-vehicle. Exit status 0 when every step passed, 1 when one failed, 2 on bad usage.
The flight runs through a station (the station's checks, limits and audit trail, recorded in --db as requested
by "flight-test"); --config takes the limits and geofence from a station config file.
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="vehicle link: tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or a serial device")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of step lines")
    parser.add_argument("--allow-real-vehicle", action="store_true",
                        help="fly a vehicle that has no SIM_* parameters (a real aircraft!)")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="budget for the whole test (default 900)")
    parser.add_argument("--alt-m", type=float, default=20.0, help="take-off and mission altitude (default 20)")
    parser.add_argument("--tlog-dir", default=None, help="write .tlog files of the test here")
    parser.add_argument("--vehicle-id", default="flight-test", help="name used in logs and tlog files")
    parser.add_argument("--db", default="var/flight-test.sqlite",
                        help="station database for the audit trail (default var/flight-test.sqlite)")
    parser.add_argument("--config", default=None, help="take [limits] and [geofence] from this station config")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from groundstation.config import ConfigError, load_config, parse_config
    from groundstation.shell.flighttest import FlightPlan, FlightTest
    from groundstation.shell.station import Station
    from groundstation.shell.storage import StorageError

    if not args.timeout_s > 0 or not 0 < args.alt_m <= 120:
        print("flight-test: --timeout-s must be > 0 and --alt-m in (0, 120]", file=sys.stderr)
        return 2
    raw = {"station": {"name": "flight-test", "storage_path": args.db, "tlog_dir": args.tlog_dir},
           "vehicles": [{"id": args.vehicle_id, "url": args.url}]}
    try:
        if args.config:
            base = load_config(args.config)
            raw["limits"] = base.limits.model_dump()
            if base.geofence is not None:
                raw["geofence"] = base.geofence.model_dump()
        config = parse_config(raw, source="flight-test")
    except ConfigError as exc:
        problems = "; ".join(p.replace("vehicles.0.url: ", "bad link URL: ") for p in exc.problems)
        print(f"flight-test: {problems}", file=sys.stderr)
        return 2

    def show(step) -> None:
        if not args.json:
            mark = "ok  " if step.ok else "FAIL"
            print(f"{mark} {step.name:<18} {step.wall_s:8.2f} s  {step.detail}", flush=True)

    plan = FlightPlan(alt_m=args.alt_m, timeout_s=args.timeout_s)
    try:
        with Station(config) as station:
            report = FlightTest(station, args.vehicle_id, plan=plan, allow_real_vehicle=args.allow_real_vehicle,
                                on_step=show).run()
    except StorageError as exc:
        print(f"flight-test: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict()), flush=True)
    else:
        total = sum(s.wall_s for s in report.steps)
        print(f"{'PASSED' if report.ok else 'FAILED'} in {total:.1f} s (audit trail in {args.db})", flush=True)
    return 0 if report.ok else 1
