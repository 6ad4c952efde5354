"""The daily report of one day, per district: maps, plots and tables (patrol coverage and hours flown, gatherings and
how they ended, crowd responses with timings, fever hints, risk changes, alert handling times, venues).

    groundstation report --config C --date YYYY-MM-DD [--district X] [--tz ZONE] --out FILE.pdf|.html

The day runs midnight to midnight in --tz (default: the config's [reports] tz_name). A day without records exits
with status 1 and says what the database holds; a bad date, district or output name exits with status 2. The station
also writes the previous day's report by itself when [reports] dir is set (shell/housekeeping.py).
"""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

EXIT_NO_DATA = 1
EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="CONFIG.toml", help="station config: its database, grid")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the day to report")
    parser.add_argument("--district", metavar="ID_OR_NAME", help="only this district of the grid")
    parser.add_argument("--tz", metavar="ZONE", help="IANA time zone of the day (default: [reports] tz_name)")
    parser.add_argument("--out", required=True, metavar="FILE.pdf|FILE.html", help="where to write it")


def _fail(message: str, status: int = EXIT_BAD_INPUT) -> int:
    print(f"groundstation report: {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from groundstation.config import ConfigError, load_config
    from groundstation.shell.report import NoData, ReportError, write_report

    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        return _fail(f"error: --date {args.date!r} is not a date (YYYY-MM-DD)")
    if args.tz is not None:
        try:
            ZoneInfo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            return _fail(f"error: unknown time zone {args.tz!r} (use an IANA name such as Asia/Shanghai)")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(f"error: {exc}")
    out = Path(args.out)
    if not getattr(args, "verbose", False):  # WeasyPrint logs each layout step at INFO
        for name in ("weasyprint", "fontTools"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        write_report(config, day, out, args.district, args.tz)
    except NoData as exc:
        return _fail(str(exc), EXIT_NO_DATA)
    except ReportError as exc:
        return _fail(f"error: {exc}")
    print(f"daily report of {day.isoformat()} written to {out}")
    return 0
