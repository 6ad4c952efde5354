"""The `groundstation` command line: routes each subcommand to its module here (groundstation/cli/); each module
has `add_arguments(parser)` and `run(args) -> int`."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> (module under groundstation.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run the station with a config file"),
    "demo": ("demo", "run the station against a simulated fleet (the README's main job)"),
    "sim": ("sim", "run simulated ArduCopter vehicles (SITL-compatible TCP ports)"),
    "flight-test": ("flight_test", "fly a scripted check flight on one vehicle"),
    "vision": ("vision", "count people in video, evaluate accuracy, benchmark speed"),
    "plan": ("plan", "plan a patrol mission and write a QGroundControl .plan"),
    "schedule": ("schedule", "add, list or remove recurring patrol schedules in the station database"),
    "user": ("user", "add, list or remove users of the web map (argon2 passwords, roles)"),
    "report": ("report", "write the daily report of a day (PDF or HTML): patrols, gatherings, responses, risk, alerts"),
    "audit": ("audit", "export the audit trail of a period (JSON Lines or CSV)"),
    "web": ("web", "serve the web map alone, against a running station's port"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groundstation", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"groundstation.cli.{module_name}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
