"""Serve the web map alone, as a client of a running station's port (groundstation/shell/remote_port.py): the same
web code as inside the station, reaching the station's state, commands, records and users through that one narrow
interface. Stopping or restarting this process never touches the station or its links; a new one continues the
station's numbered live updates, so open pages go on with no gap.

Reads [web] of the station's config file (address, TLS, tiles, the session key beside the database: sessions
survive a restart) and the station port's token (a file of mode 0600 beside the database, made by the station).
Runs until SIGINT or SIGTERM. Exit status 2: config refused; 1: the token or the web server could not be used.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading

log = logging.getLogger("groundstation.web")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--station", required=True, metavar="URL",
                        help="the running station's port, e.g. http://127.0.0.1:8091/ (the station logs it)")
    parser.add_argument("--config", required=True, metavar="FILE", help="the station's config (TOML): [web] is used")
    parser.add_argument("--token-file", metavar="FILE",
                        help="the station port's token (default: station-port.token beside the station database)")
    parser.add_argument("--web-port", type=int, default=None, metavar="P",
                        help="serve the web map on port P (default: the config's [web] port; 0: any free port)")
    parser.add_argument("--wait-s", type=float, default=30.0, metavar="S",
                        help="wait this long for the station to answer before serving anyway (default 30 s)")


def serve(args: argparse.Namespace, stop: threading.Event, out=None) -> int:
    """Serve until `stop` is set; the address is printed on `out` (default stdout) as `web map: URL`."""
    from groundstation.cli.run import apply_log_level, load_or_report
    from groundstation.shell.remote_port import (
        PortError,
        RemotePort,
        RemoteUsers,
        load_token,
        token_path,
        wait_for_station,
    )
    from groundstation.shell.web_bridge import server_settings
    from web.server import WebServer, WebServerError

    config = load_or_report(args.config)
    if config is None:
        return 2
    apply_log_level(args, config)
    try:
        token = load_token(args.token_file or token_path(config))
    except PortError as exc:
        log.error("%s", exc)
        return 1
    port = RemotePort(args.station, token)
    if not wait_for_station(port, args.wait_s):
        log.warning("the station at %s does not answer yet; serving anyway (pages show it as unavailable)",
                    port.url)
    try:
        server = WebServer(port, RemoteUsers(args.station, token), server_settings(config, args.web_port)).start()
    except (WebServerError, OSError) as exc:
        log.error("the web map is not served: %s", exc)
        return 1
    print(f"web map: {server.url}", file=out or sys.stdout, flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    from groundstation.cli.run import install_signal_handlers

    stop = threading.Event()
    install_signal_handlers(stop)
    return serve(args, stop)
