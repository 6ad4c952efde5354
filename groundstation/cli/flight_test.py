"""Fly a scripted check flight on one vehicle: connect, wait until ready, GUIDED, arm, take off to 20 m,
fly 100 m, upload a 4-waypoint mission and read it back, AUTO to the last item, RTL, land, disarm.

Prints one line per step with its wall time (or one JSON object with --json). Refuses a vehicle without SIM_*
parameters unless --allow-real-vehicle. Exit status 0 when every step passed, 1 when one failed, 2 on bad usage.
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


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from groundstation.flighttest import FlightPlan, FlightTest
    from telemetry.errors import InvalidRequest
    from telemetry.vehicle import Vehicle

    if not args.timeout_s > 0 or not 0 < args.alt_m <= 120:
        print("flight-test: --timeout-s must be > 0 and --alt-m in (0, 120]", file=sys.stderr)
        return 2
    try:
        vehicle = Vehicle(args.vehicle_id, args.url, tlog_dir=Path(args.tlog_dir) if args.tlog_dir else None)
    except InvalidRequest as exc:
        print(f"flight-test: {exc}", file=sys.stderr)
        return 2

    def show(step) -> None:
        if not args.json:
            mark = "ok  " if step.ok else "FAIL"
            print(f"{mark} {step.name:<18} {step.wall_s:8.2f} s  {step.detail}", flush=True)

    plan = FlightPlan(alt_m=args.alt_m, timeout_s=args.timeout_s)
    with vehicle:
        report = FlightTest(vehicle, plan=plan, allow_real_vehicle=args.allow_real_vehicle, on_step=show).run()
    if args.json:
        print(json.dumps(report.to_dict()), flush=True)
    else:
        total = sum(s.wall_s for s in report.steps)
        print(f"{'PASSED' if report.ok else 'FAILED'} in {total:.1f} s", flush=True)
    return 0 if report.ok else 1
