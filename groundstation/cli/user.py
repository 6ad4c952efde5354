"""Users of the web map (stored in the station database, passwords hashed with argon2): add, list, remove, and
set a new password. There is no default password: the first admin is made here.

    groundstation user add --config C --role admin NAME          # asks the password twice
    echo "$PASSWORD" | groundstation user add --config C --role operator NAME --password-stdin
    groundstation user list --config C [--json]
    groundstation user set-password --config C NAME [--password-stdin]
    groundstation user remove --config C NAME

Roles: viewer (sees everything), operator (also commands: RTL, land, abort a patrol, approve/deny/abort a crowd
response, acknowledge alerts), admin (also users and patrol schedules). Bad input exits with status 2.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
import time

EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="user_command", metavar="add|list|set-password|remove", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="CONFIG.toml", help="station config: its database")
        p.add_argument("--db", metavar="STATION.sqlite", help="the station database (default: the config's)")

    add = sub.add_parser("add", help="add a user")
    common(add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")

    ls = sub.add_parser("list", help="list users and roles")
    common(ls)
    ls.add_argument("--json", action="store_true")

    pw = sub.add_parser("set-password", help="set a new password (the user's sessions end)")
    common(pw)
    pw.add_argument("name", metavar="NAME")
    pw.add_argument("--password-stdin", action="store_true")

    rm = sub.add_parser("remove", help="remove a user")
    common(rm)
    rm.add_argument("name", metavar="NAME")


def _fail(message: str, status: int = EXIT_BAD_INPUT) -> int:
    print(f"groundstation user: error: {message}", file=sys.stderr)
    return status


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or asked twice on the terminal (ValueError when they differ)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from groundstation.config import ConfigError, load_config
    from groundstation.shell import storage
    from web.auth import Passwords, check_name
    from web.errors import InvalidInput

    db = args.db
    if db is None and args.config:
        try:
            db = str(load_config(args.config).station.storage_path)
        except ConfigError as e:
            return _fail(str(e))
    if db is None:
        return _fail("give --config or --db")
    try:
        conn = storage.open_database(db)
    except storage.StorageError as e:
        return _fail(str(e), 1)
    try:
        if args.user_command == "list":
            rows = [{k: r[k] for k in ("name", "role", "created_at_s", "updated_at_s")} for r in storage.user_rows(conn)]
            if args.json:
                print(json.dumps(rows, sort_keys=True))
            else:
                for r in rows:
                    print(f"{r['name']}  {r['role']}")
                if not rows:
                    print("no users")
            return 0
        check_name(args.name)
        if args.user_command == "remove":
            if not storage.delete_user(conn, args.name):
                return _fail(f"no user {args.name!r}")
            print(f"removed user {args.name}")
            return 0
        if args.user_command == "add" and storage.user_row(conn, args.name) is not None:
            return _fail(f"a user named {args.name!r} already exists")
        if args.user_command == "set-password" and storage.user_row(conn, args.name) is None:
            return _fail(f"no user {args.name!r}")
        try:
            password_hash = Passwords().hash(read_password(args.password_stdin))
        except ValueError as e:
            return _fail(str(e))
        if args.user_command == "add":
            storage.insert_user(conn, args.name, args.role, password_hash, time.time())
            print(f"added {args.role} {args.name}")
        else:
            storage.update_user(conn, args.name, time.time(), password_hash=password_hash)
            print(f"new password set for {args.name}")
        return 0
    except InvalidInput as e:
        return _fail(e.message)
    except storage.DuplicateUser as e:
        return _fail(str(e))
    except storage.StorageError as e:
        return _fail(str(e), 1)
    finally:
        conn.close()
