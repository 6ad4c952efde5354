"""Run the station with a config file: links to every vehicle, the safety-checking core and the recorder.

Runs until SIGINT or SIGTERM, then shuts down cleanly. A config with problems is refused with every
problem listed (exit status 2); storage that cannot be opened exits with status 1.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading

log = logging.getLogger("groundstation.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="station config (TOML); see config/example.toml")
    parser.add_argument("--status-every-s", type=float, default=30.0, metavar="S",
                        help="log a one-line status this often (default 30 s)")
    add_web_arguments(parser)


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--web-port", type=int, default=None, metavar="P",
                        help="serve the web map on port P (default: the config's [web] port, 8080; 0: any free port)")
    parser.add_argument("--no-web", action="store_true", help="do not serve the web map")
    parser.add_argument("--station-port", type=int, default=None, metavar="P",
                        help="also serve the station's port on loopback port P (0: any free port) for a web map run "
                             "as its own process (`groundstation web --station URL`); token beside the database")


def load_or_report(path: str):
    """The validated config, or None after printing every problem to stderr."""
    from groundstation.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{exc.path}: config refused, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def apply_log_level(args: argparse.Namespace, config) -> None:
    if not getattr(args, "verbose", False):
        logging.getLogger().setLevel(config.station.log_level)


def status_line(station) -> str:
    snapshot = station.snapshot()
    c = station.counters()
    up = sum(1 for s in snapshot.values() if s.link_up)
    armed = sum(1 for s in snapshot.values() if s.armed)
    return (f"status: {up}/{len(snapshot)} links up, {armed} armed; {c.events_handled} events handled "
            f"({c.state_updates_received} state updates received), {c.commands_sent} commands sent, "
            f"{c.rows_written} rows recorded, inbox {c.inbox_depth}")


def start_web(station, config, web_port: int | None, out=None):
    """Serve the web map next to the running station and print its address (on `out`, default stdout); None (logged)
    when it cannot start: the station and its links run on without it."""
    from groundstation.shell.web_bridge import StationWeb
    from web.server import WebServerError

    try:
        web = StationWeb(station, config, web_port).start()
    except (WebServerError, OSError) as exc:
        log.error("the web map is not served: %s", exc)
        return None
    print(f"web map: {web.url}", file=out or sys.stdout, flush=True)
    return web


def serve(config, stop: threading.Event, status_every_s: float = 30.0, on_started=None, *,
          web_port: int | None = None, web: bool = True, web_out=None, station_port: int | None = None) -> int:
    """Run a Station (and, when `web` and the config's [web] enabled say so, the web map next to it, its address
    printed on `web_out`, default stdout) until `stop` is set (the signal handlers set it); return the exit status."""
    from groundstation.shell.station import Station
    from groundstation.shell.storage import StorageError

    station = Station(config)
    try:
        station.start()
    except StorageError as exc:
        log.error("cannot open storage: %s", exc)
        return 1
    web_server = port_service = None
    try:
        if station_port is not None:
            from groundstation.shell.remote_port import StationPortService

            port_service = StationPortService(station, config, station_port).start()
            print(f"station port: {port_service.url} (token in {port_service.token_file})", file=web_out or sys.stdout,
                  flush=True)
        if web and config.web.enabled:
            web_server = start_web(station, config, web_port, web_out)
        if on_started is not None:
            on_started(station, stop)
        while not stop.wait(status_every_s):
            log.info("%s", status_line(station))
    finally:
        if web_server is not None:
            web_server.stop()
        if port_service is not None:
            port_service.stop()
        log.info("stopping: %s", status_line(station))
        station.stop()
    return 0


def install_signal_handlers(stop: threading.Event) -> None:
    import signal

    def on_signal(signum, frame):
        log.info("%s received, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    apply_log_level(args, config)
    stop = threading.Event()
    install_signal_handlers(stop)
    return serve(config, stop, args.status_every_s, web_port=args.web_port, web=not args.no_web,
                 station_port=args.station_port)
