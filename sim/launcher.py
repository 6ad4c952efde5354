"""Command-line front of the simulator, shared by `groundstation sim` and `python -m sim`."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

DEFAULT_HOME_TEXT = "23.0469,112.4651,10,0"


def _home(text: str):
    from sim.copter import Home
    parts = text.split(",")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"expected LAT,LON,ALT[,HDG], got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers in LAT,LON,ALT[,HDG], got {text!r}") from None
    lat, lon, alt = values[:3]
    hdg = values[3] if len(values) == 4 else 0.0
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"latitude/longitude out of range in {text!r}")
    return Home(lat, lon, alt, hdg % 360.0)


def _param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip().upper(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}") from None


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def _whole(lo: int, hi: int, kind: str = "whole number", name: str = ""):
    """An argparse type: a whole number in lo..hi."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind}: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{name + ' ' if name else ''}must be {lo}..{hi}, got {v}")
        return v
    return parse


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if v < 0 or v != v:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default=None, metavar="FILE",
                        help="simulate a city (sim/scenario.py): its drones, home, people and rendered video")
    parser.add_argument("--footage", default=None, metavar="DIR",
                        help="drone footage people's appearances are cut from (default ../shared/data)")
    parser.add_argument("--fps", type=_positive, default=None, metavar="F",
                        help="the scenario's cameras stream F frames per wall-clock second instead")
    parser.add_argument("--vehicles", type=_whole(1, 250), default=None, metavar="N",
                        help="number of vehicles (default 1; a scenario has its own)")
    parser.add_argument("--speedup", type=_positive, default=1.0, metavar="K",
                        help="simulated time runs K times faster than wall time (default 1)")
    parser.add_argument("--home", type=_home, default=None, metavar="LAT,LON,ALT,HDG",
                        help=f"home of vehicle 1 (default Zhaoqing {DEFAULT_HOME_TEXT}); "
                             "vehicle i starts --spacing-m*i metres east of it")
    parser.add_argument("--base-port", type=_whole(0, 65535, "port number", "port"), default=5760, metavar="P",
                        help="vehicle i listens on tcp:HOST:P+10*i (default 5760, like SITL); 0 = free ports")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--ready-after-s", type=_seconds, default=40.0, metavar="S",
                        help="simulated seconds before the vehicles can arm (default 40, like SITL)")
    parser.add_argument("--position-after-s", type=_seconds, default=None, metavar="S",
                        help="simulated seconds of 0,0 position after start (default min(20, ready/2))")
    parser.add_argument("--spacing-m", type=_seconds, default=10.0, metavar="M",
                        help="distance between the vehicles' homes, east-west (default 10)")
    parser.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                        help="override a vehicle parameter at start (repeatable), e.g. BATT_CAPACITY=2000")


def run(args: argparse.Namespace) -> int:
    from sim.fleet import DEFAULT_HOME, SimFleet
    from sim.scenario import ScenarioError, load_scenario

    scenario = None
    if args.scenario is not None:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"sim: {exc}", file=sys.stderr)
            return 2
        if args.vehicles is not None or args.home is not None:
            print("sim: a scenario has its own drones and home: leave out --vehicles and --home", file=sys.stderr)
            return 2
        if args.fps is not None:
            scenario = scenario.model_copy(update={"camera": scenario.camera.model_copy(update={"fps": args.fps})})
    try:
        fleet = SimFleet(vehicles=args.vehicles or 1, speedup=args.speedup,
                         home=None if scenario is not None else (args.home or DEFAULT_HOME),
                         base_port=args.base_port, host=args.host, ready_after_s=args.ready_after_s,
                         position_after_s=args.position_after_s, spacing_m=args.spacing_m,
                         params=dict(args.param), scenario=scenario, footage_dir=args.footage)
    except (ValueError, KeyError) as exc:
        print(f"sim: {exc}", file=sys.stderr)
        return 2
    if scenario is not None:
        from sim.appearance import AppearanceError
        try:
            fleet.sprites()      # people's appearances: refuse now, not when the first camera is watched
        except AppearanceError as exc:
            print(f"sim: {exc}", file=sys.stderr)
            return 1
    stop = threading.Event()

    def _on_signal(signum, frame) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            fleet.start()
        except OSError as exc:
            print(f"sim: {exc}", file=sys.stderr)
            return 1
        for i, url in enumerate(fleet.urls):
            print(f"vehicle {i + 1} listening on {url}", flush=True)
        for i, url in enumerate(fleet.video_urls):
            print(f"vehicle {i + 1} video on {url}", flush=True)
        if fleet.truth_url is not None:
            print(f"ground truth on {fleet.truth_url}", flush=True)
        while not stop.wait(0.5):
            if fleet._thread is None or not fleet._thread.is_alive():
                print("sim: simulator thread stopped unexpectedly", file=sys.stderr)
                return 1
        print("sim: stopping", flush=True)
        return 0
    finally:
        fleet.stop()
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim",
                                     description="Simulated ArduCopter vehicles that speak MAVLink 2 on TCP.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    args = parser.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)
