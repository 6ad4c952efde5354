"""Run the station against a simulated fleet.

By default (`make run`) the simulator runs a city, config/scenarios/zhaoqing.toml (--scenario FILE for another,
sim/scenario.py): its drones, its people, rendered video from every drone's camera (MJPEG over HTTP) and thermal
frames of the same people. The station's config is built from the scenario (groundstation/shell/
scenario_config.py) on top of --config's [station], [limits], [patrols] and [web]: vision on every drone's video,
the scenario's counting zones and grid, its patrol schedules (stored in var/<scenario>.sqlite, replacing same-named
ones) and the crowd response. The addresses (video streams, the simulator's truth, the web map) are printed; with
--json, when the run ends (--duration S, or Ctrl-C) one JSON summary goes to stdout and everything else to stderr:
{"patrols_completed", "gatherings", "responses": [{"zone", "outcome", "steps", ...}], "broadcasts", "fever_alerts",
"counts_vs_truth": [{"zone", "seen", "true", ...}]}. The speed-up defaults to the scenario's.

With --scenario none, the older demonstration: a bare fleet (config/demo.toml's limits and geofence) and, with
--scripted, a short flight through the station's checked command API: GUIDED, arm, take off, fly to a point inside
the fence, a go-to outside the fence (refused by the station, on purpose), a patrol mission started in AUTO that
ends with a return to launch. Without --scripted that fleet patrols by itself: two recurring patrol schedules are
stored in the demo database (config/demo-zones.geojson: a lawnmower over the "plaza" every 2 minutes, a perimeter
of the "market" every 3 minutes, wall time; the first ones about 20 s after start), and the station fires them,
assigns a ready drone with enough battery, starts its mission in AUTO and records every run (`groundstation schedule
list --config config/demo.toml`).

Runs until Ctrl-C / SIGTERM (or --duration), then stops the station and the simulator. Everything is recorded
in the demo database (var/<scenario>.sqlite, or var/demo.sqlite without a scenario; --config's when given).
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("groundstation.demo")

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "config" / "scenarios" / "zhaoqing.toml"
FIRST_PATROL_AFTER_S = 20.0
DEMO_ZONES = Path(__file__).resolve().parents[2] / "config" / "demo-zones.geojson"
# (name, zone in DEMO_ZONES, pattern, altitude m, every s)
DEMO_SCHEDULES = (("demo-plaza", "plaza", "lawnmower", 25.0, 120.0), ("demo-market", "market", "perimeter", 30.0, 180.0))
TAKEOFF_ALT_M = 30.0
DEMO_ADMIN = "demo-admin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), metavar="FILE",
                        help="the simulated city: drones, zones, patrols, people, rendered video (default "
                             "config/scenarios/zhaoqing.toml); 'none': a bare fleet flying the older demo")
    parser.add_argument("--json", action="store_true",
                        help="when the run ends (--duration, or Ctrl-C), print one JSON summary of what happened "
                             "(a scenario run; everything else goes to stderr)")
    parser.add_argument("--vehicles", type=int, default=None, metavar="N",
                        help="a bare fleet of N simulated vehicles flying the older demo, no scenario (a scenario "
                             "has its own drones)")
    parser.add_argument("--speedup", type=float, default=None, metavar="K",
                        help="simulated time runs K times faster than wall time (default: the scenario's; 10 "
                             "without one)")
    parser.add_argument("--base-port", type=int, default=5760, metavar="P",
                        help="vehicle i listens on P+10*i, like SITL (default 5760)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE",
                        help="station settings, limits and geofence (its [[vehicles]] are replaced)")
    parser.add_argument("--ready-after-s", type=float, default=None, metavar="S",
                        help="simulated seconds before a vehicle can arm (the simulator's default is SITL's ~40 s)")
    parser.add_argument("--duration", type=float, default=0.0, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--watch-only", action="store_true", help="connect and record, but fly nothing")
    parser.add_argument("--scripted", action="store_true",
                        help="fly the scripted demonstration instead of the scheduled patrols")
    from groundstation.cli.run import add_web_arguments

    add_web_arguments(parser)  # --web-port, --no-web


def ensure_demo_admin(config) -> str:
    """The web map's demo admin (DEMO_ADMIN) with a new random password, returned to be printed once (each demo run
    sets a new one; a real station makes its users with `groundstation user add`)."""
    import secrets

    from groundstation.shell import storage
    from web.auth import Passwords

    password = secrets.token_urlsafe(12)
    password_hash = Passwords().hash(password)
    conn = storage.open_database(config.station.storage_path)
    try:
        if not storage.update_user(conn, DEMO_ADMIN, time.time(), role="admin", password_hash=password_hash):
            storage.insert_user(conn, DEMO_ADMIN, "admin", password_hash, time.time())
    finally:
        conn.close()
    return password


def ensure_demo_schedules(config) -> None:
    """Store the demo's patrol schedules in the station database unless schedules of those names exist.
    A new schedule is stored as if created one interval ago, less FIRST_PATROL_AFTER_S: its first patrol
    flies soon after the demo starts instead of a whole interval later."""
    from groundstation.shell.schedules import NewSchedule, ScheduleInputError, add_schedule

    for name, zone, pattern, alt_m, every_s in DEMO_SCHEDULES:
        try:
            add_schedule(config.station.storage_path,
                         NewSchedule(name, str(DEMO_ZONES), pattern, alt_m, interval_s=every_s, zone_name=zone,
                                     grace_s=60.0), time.time() - every_s + FIRST_PATROL_AFTER_S, config)
            log.info("demo: patrol schedule %s stored (%s of %s every %g s)", name, pattern, zone, every_s)
        except ScheduleInputError as exc:
            if "already exists" not in str(exc):
                raise
            log.info("demo: patrol schedule %s already stored", name)


def _ports_free(ports: list[int]) -> str | None:
    import socket

    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # as the simulator's servers bind: a port left in TIME_WAIT by an earlier run is free
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return f"port {port} is in use (a SITL or another simulator running?); choose --base-port"
    return None


def _wait_listening(ports: list[int], sim: subprocess.Popen, timeout_s: float) -> str | None:
    import socket

    deadline = time.monotonic() + timeout_s
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        if sim.poll() is not None:
            return f"the simulator exited with status {sim.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5):
                pass
            pending.pop(0)
        except OSError:
            time.sleep(0.2)
    return None if not pending else f"the simulator did not listen on port {pending[0]} within {timeout_s:g} s"


def _offset(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> tuple[float, float]:
    from missions.geo import enu_to_latlon

    lat, lon = enu_to_latlon(lat_deg, lon_deg, east_m, north_m)
    return float(lat), float(lon)


def _fly(station, vehicle_id: str, index: int, stop: threading.Event, ready_timeout_s: float) -> None:
    """One vehicle's demonstration flight, through the station's checked command API."""
    from groundstation.core.records import CommandRequest

    def wait(predicate, timeout_s: float, what: str) -> bool:
        deadline = time.monotonic() + timeout_s
        while not stop.is_set() and time.monotonic() < deadline:
            state = station.snapshot().get(vehicle_id)
            if state is not None and predicate(state):
                return True
            stop.wait(0.2)
        if not stop.is_set():
            log.warning("%s: demo gave up waiting for %s", vehicle_id, what)
        return False

    def ask(action: str, **args) -> bool:
        if stop.is_set():
            return False
        outcome = station.request(CommandRequest(vehicle_id, action, args, requested_by="demo")).result(60)
        log.info("%s: demo %s -> %s (%s)", vehicle_id, action, outcome.status, outcome.reason)
        return outcome.ok

    if not wait(lambda s: s.link_up and s.ready_to_arm and s.position_known and s.home is not None,
                ready_timeout_s, "the vehicle to be ready"):
        return
    home = station.snapshot()[vehicle_id].home
    if not (ask("set_mode", mode="GUIDED") and ask("arm") and ask("takeoff", alt_rel_m=TAKEOFF_ALT_M)):
        return
    if not wait(lambda s: (s.alt_rel_m or 0) > TAKEOFF_ALT_M - 3, 120, "the take-off"):
        return
    lat, lon = _offset(home.lat_deg, home.lon_deg, 250.0, -150.0 + 120.0 * index)
    if ask("goto", lat_deg=lat, lon_deg=lon, alt_rel_m=TAKEOFF_ALT_M + 10 * index):
        wait(lambda s: s.lat_deg is not None and abs(s.lat_deg - lat) < 1e-4 and abs(s.lon_deg - lon) < 1e-4,
             120, "the go-to")
    far_lat, far_lon = _offset(home.lat_deg, home.lon_deg, 1200.0, 0.0)
    ask("goto", lat_deg=far_lat, lon_deg=far_lon, alt_rel_m=TAKEOFF_ALT_M)  # refused: outside the fence
    # a small patrol: a square of waypoints, then return to launch (the station adds the home slot)
    corners = [(-150.0, -200.0), (-150.0, 100.0), (200.0, 100.0), (200.0, -200.0)]
    items = [{"command": 16, "lat_deg": p[0], "lon_deg": p[1], "alt_m": TAKEOFF_ALT_M}
             for p in (_offset(home.lat_deg, home.lon_deg, n, e + 120.0 * index) for n, e in corners)]
    items.append({"command": 20})  # MAV_CMD_NAV_RETURN_TO_LAUNCH
    if ask("upload_mission", items=items) and ask("set_mission_current", seq=1) and ask("start_mission"):
        if wait(lambda s: not s.armed, 600, "the patrol and landing"):
            return
    ask("rtl")
    wait(lambda s: not s.armed, 300, "landing back home")

def run(args: argparse.Namespace) -> int:
    from groundstation.cli.run import apply_log_level, install_signal_handlers, load_or_report, serve
    from groundstation.config import VehicleConfig

    if args.scenario != "none" and not (args.vehicles is not None and args.scenario == str(DEFAULT_SCENARIO)):
        return run_scenario(args)     # (--vehicles N alone: the bare fleet of earlier demos)
    args.vehicles = 3 if args.vehicles is None else args.vehicles
    args.speedup = 10.0 if args.speedup is None else args.speedup
    if not 1 <= args.vehicles <= 50:
        print("--vehicles must be 1..50", file=sys.stderr)
        return 2
    if not args.speedup > 0:
        print("--speedup must be > 0", file=sys.stderr)
        return 2
    config = load_or_report(args.config)
    if config is None:
        return 2
    apply_log_level(args, config)
    ports = [args.base_port + 10 * i for i in range(args.vehicles)]
    if ports[-1] > 65535 or args.base_port < 1:
        print(f"ports {ports[0]}..{ports[-1]} are out of range", file=sys.stderr)
        return 2
    problem = _ports_free(ports)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    vehicles = [VehicleConfig(id=f"patrol-{i + 1}", url=f"tcp:127.0.0.1:{port}") for i, port in enumerate(ports)]
    config = config.model_copy(update={"vehicles": vehicles})

    if not args.watch_only and not args.scripted:
        from groundstation.shell.schedules import ScheduleInputError
        from groundstation.shell.storage import StorageError
        try:
            ensure_demo_schedules(config)
        except (ScheduleInputError, StorageError) as exc:
            print(f"cannot store the demo patrol schedules: {exc}", file=sys.stderr)
            return 1

    admin_password = None
    if not args.no_web and config.web.enabled:
        from groundstation.shell.storage import StorageError
        try:
            admin_password = ensure_demo_admin(config)
        except StorageError as exc:
            print(f"cannot store the demo admin of the web map: {exc}", file=sys.stderr)
            return 1

    command = [sys.executable, "-m", "groundstation", "sim", "--vehicles", str(args.vehicles),
               "--speedup", f"{args.speedup:g}", "--base-port", str(args.base_port)]
    if args.ready_after_s is not None:
        command += ["--ready-after-s", f"{args.ready_after_s:g}"]
    log.info("starting the simulator: %s", " ".join(command[1:]))
    sim = subprocess.Popen(command, start_new_session=True)  # Ctrl-C reaches us; we stop it ourselves
    stop = threading.Event()
    install_signal_handlers(stop)
    try:
        problem = _wait_listening(ports, sim, 30.0)
        if problem:
            log.error("%s", problem)
            return 1
        ready_after = 40.0 if args.ready_after_s is None else args.ready_after_s
        ready_timeout_s = ready_after / args.speedup + 60.0

        def on_started(station, stop_event):
            if admin_password is not None:
                print(f"web map login: {DEMO_ADMIN} / {admin_password}  (a new password every demo run)", flush=True)
            if args.duration > 0:
                timer = threading.Timer(args.duration, stop_event.set)
                timer.daemon = True
                timer.start()
            if args.watch_only or not args.scripted:
                return  # the stored schedules fly the patrols
            for i, v in enumerate(config.vehicles):
                threading.Thread(target=_fly, args=(station, v.id, i, stop_event, ready_timeout_s),
                                 name=f"demo-{v.id}", daemon=True).start()

        return serve(config, stop, status_every_s=10.0, on_started=on_started, web_port=args.web_port,
                     web=not args.no_web, station_port=args.station_port)
    finally:
        stop.set()
        if sim.poll() is None:
            sim.terminate()
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        log.info("simulator stopped")


# --- a scenario: the simulated city (the default) --------------------------------------------------------------------


def _scenario_ports(base_port: int, drones: int) -> dict[str, list[int]]:
    """The simulator's port scheme (sim/fleet.py): vehicle i's MAVLink P+10i, speaker +5, thermal +6, video +7;
    the truth at P+9."""
    from sim.fleet import SPEAKER_PORT_OFFSET, THERMAL_PORT_OFFSET, TRUTH_PORT_OFFSET, VIDEO_PORT_OFFSET

    mav = [base_port + 10 * i for i in range(drones)]
    return {"mavlink": mav, "speaker": [p + SPEAKER_PORT_OFFSET for p in mav],
            "thermal": [p + THERMAL_PORT_OFFSET for p in mav], "video": [p + VIDEO_PORT_OFFSET for p in mav],
            "truth": [base_port + TRUTH_PORT_OFFSET]}


def run_scenario(args: argparse.Namespace) -> int:
    """`groundstation demo [--scenario FILE]`: the simulator runs the scenario's city (its drones, people and rendered
    video) as a child process; the station gets its config from the scenario (groundstation/shell/scenario_config.py),
    with vision on every drone's video stream, the scenario's patrol schedules and the crowd response. Prints the
    addresses; with --json, one summary of the run on stdout when it ends (everything else on stderr)."""
    import contextlib
    import json

    from groundstation.cli.run import apply_log_level, install_signal_handlers, load_or_report, serve
    from groundstation.config import ConfigError
    from groundstation.shell import scenario_config as sc
    from sim.scenario import ScenarioError, load_scenario

    out = sys.stderr if args.json else sys.stdout
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"{exc.path}: scenario refused, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.vehicles is not None:
        print(f"--vehicles: the scenario has its own drones ({len(scenario.drones)}); leave it out", file=sys.stderr)
        return 2
    speedup = scenario.scenario.speedup if args.speedup is None else args.speedup
    if not speedup > 0:
        print("--speedup must be > 0", file=sys.stderr)
        return 2
    base = load_or_report(args.config)
    if base is None:
        return 2
    apply_log_level(args, base)
    ports = _scenario_ports(args.base_port, len(scenario.drones))
    every = [p for group in ports.values() for p in group]
    if args.base_port < 1 or max(every) > 65535:
        print(f"ports {min(every)}..{max(every)} are out of range", file=sys.stderr)
        return 2
    problem = _ports_free(every)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    host = "127.0.0.1"
    storage = None if args.config != str(DEFAULT_CONFIG) else Path("var") / f"{scenario.scenario.name}.sqlite"
    try:
        config = sc.station_config(
            scenario, vehicle_urls=[f"tcp:{host}:{p}" for p in ports["mavlink"]],
            speaker_urls=[f"http://{host}:{p}" for p in ports["speaker"]],
            video_urls=[f"http://{host}:{p}/video" for p in ports["video"]], speedup=speedup,
            workdir=Path("var") / "scenarios", base=base, storage_path=storage)
    except ConfigError as exc:
        print(f"the station config made from {args.scenario} is refused:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if not args.watch_only and not args.scripted:
        from groundstation.shell.schedules import ScheduleInputError
        from groundstation.shell.storage import StorageError
        try:
            names = sc.store_patrols(config, scenario, speedup, time.time())
            log.info("demo: patrol schedules %s stored", ", ".join(names) or "(none)")
        except (ScheduleInputError, StorageError) as exc:
            print(f"cannot store the scenario's patrol schedules: {exc}", file=sys.stderr)
            return 1
    admin_password = None
    if not args.no_web and config.web.enabled:
        from groundstation.shell.storage import StorageError
        try:
            admin_password = ensure_demo_admin(config)
        except StorageError as exc:
            print(f"cannot store the demo admin of the web map: {exc}", file=sys.stderr)
            return 1

    command = [sys.executable, "-m", "groundstation", "sim", "--scenario", str(args.scenario),
               "--speedup", f"{speedup:g}", "--base-port", str(args.base_port)]
    if args.ready_after_s is not None:
        command += ["--ready-after-s", f"{args.ready_after_s:g}"]
    log.info("starting the simulator: %s", " ".join(command[1:]))
    sim = subprocess.Popen(command, start_new_session=True, stdout=sys.stderr if args.json else None)
    stop = threading.Event()
    install_signal_handlers(stop)
    started_s = time.time()
    truth = sc.TruthLog(f"http://{host}:{ports['truth'][0]}/world")
    try:
        problem = _wait_listening(ports["mavlink"] + ports["video"] + ports["truth"], sim, 60.0)
        if problem:
            log.error("%s", problem)
            return 1
        truth.start()
        print(f"scenario {scenario.scenario.name}: {len(scenario.drones)} drones, speed-up {speedup:g}; "
              f"station records in {config.station.storage_path}", file=out, flush=True)
        for camera in config.cameras:
            print(f"video {camera.id}: {camera.source}", file=out, flush=True)
        print(f"simulator truth: {truth.url}", file=out, flush=True)

        def on_started(station, stop_event):
            if admin_password is not None:
                print(f"web map login: {DEMO_ADMIN} / {admin_password}  (a new password every demo run)", file=out,
                      flush=True)
            if args.duration > 0:
                timer = threading.Timer(args.duration, stop_event.set)
                timer.daemon = True
                timer.start()
            if args.scripted and not args.watch_only:
                ready_after = 40.0 if args.ready_after_s is None else args.ready_after_s
                for i, v in enumerate(config.vehicles):
                    threading.Thread(target=_fly, args=(station, v.id, i, stop_event, ready_after / speedup + 60.0),
                                     name=f"demo-{v.id}", daemon=True).start()

        with contextlib.redirect_stdout(out):   # --json: only the summary goes to stdout
            status = serve(config, stop, status_every_s=10.0, on_started=on_started, web_port=args.web_port,
                           web=not args.no_web, web_out=out, station_port=args.station_port)
    finally:
        stop.set()
        truth.stop()
        if sim.poll() is None:
            sim.terminate()
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        log.info("simulator stopped")
    if args.json:
        result = sc.summary(config.station.storage_path, started_s, truth, [z.id for z in scenario.zones])
        result = {"scenario": scenario.scenario.name, "speedup": speedup,
                  "duration_s": round(time.time() - started_s, 1), **result}
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return status

