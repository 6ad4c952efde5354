"""The audit trail, exported: every command and station action (who asked, when, what, the decision and the
vehicle's result), acknowledgements of alerts and notices, health officials' risk inputs, and retention purges.

    groundstation audit export --config C --from DATE_OR_TIME --to DATE_OR_TIME --out FILE.jsonl|FILE.csv [--tz ZONE]

--from and --to: YYYY-MM-DD (midnight) or YYYY-MM-DDTHH:MM[:SS] in --tz (default: the config's [reports] tz_name), or
with an explicit offset; the range is [from, to). JSON Lines: one record per line with its `detail`; CSV: one row per
record, `detail` as JSON in its column. Bad input exits with status 2.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

EXIT_BAD_INPUT = 2
COLUMNS = ("at_utc", "at_s", "record", "who", "what", "decision", "detail")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="export", required=True)
    export = sub.add_parser("export", help="export the audit trail of a period as JSON Lines or CSV")
    export.add_argument("--config", required=True, metavar="CONFIG.toml", help="station config: its database")
    export.add_argument("--from", dest="start", required=True, metavar="DATE_OR_TIME")
    export.add_argument("--to", dest="end", required=True, metavar="DATE_OR_TIME")
    export.add_argument("--tz", metavar="ZONE", help="time zone of --from/--to without an offset")
    export.add_argument("--out", required=True, metavar="FILE.jsonl|FILE.csv")


def parse_time(text: str, tz: ZoneInfo) -> float:
    """A date (midnight) or a date and time, in `tz` unless it carries an offset; ValueError if neither."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.timestamp()


def _fail(message: str) -> int:
    print(f"groundstation audit: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfoNotFoundError

    from groundstation.config import ConfigError, load_config
    from groundstation.shell import storage

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        tz = ZoneInfo(args.tz or config.reports.tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return _fail(f"unknown time zone {args.tz!r}")
    try:
        start_s, end_s = parse_time(args.start, tz), parse_time(args.end, tz)
    except ValueError as exc:
        return _fail(f"--from/--to must be YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]: {exc}")
    if end_s <= start_s:
        return _fail("--to must be after --from")
    out = Path(args.out)
    if out.suffix.lower() not in (".jsonl", ".csv"):
        return _fail(f"{out}: export to .jsonl or .csv")
    path = config.station.storage_path
    if not Path(path).exists():
        return _fail(f"no station database at {path}")
    conn = storage.open_database(path)
    try:
        rows = storage.audit_rows(conn, start_s, end_s)
    finally:
        conn.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        if out.suffix.lower() == ".jsonl":
            for r in rows:
                f.write(json.dumps({"at_utc": _utc(r["at_s"]), **r}, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for r in rows:
                writer.writerow([_utc(r["at_s"]), r["at_s"], r["record"], r["who"], r["what"], r["decision"],
                                 json.dumps(r["detail"], ensure_ascii=False, sort_keys=True)])
    print(f"{len(rows)} audit record(s) from {_utc(start_s)} to {_utc(end_s)} written to {out}")
    return 0


def _utc(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).isoformat(timespec="milliseconds")
