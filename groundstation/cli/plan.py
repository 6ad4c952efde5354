"""Plan a patrol over a zone (GeoJSON or KML) and write a QGroundControl .plan.

Prints the waypoints, the flight's length (m) and duration (s) and the share of the zone's area the
camera footprint covers; with --json exactly {"waypoints", "length_m", "duration_s", "coverage"}.
Bad input (a missing, empty or unreadable file, a self-intersecting polygon, a zone outside the
fence, an altitude over the limit) is reported on stderr with exit status 2, and no file is written.
"""
from __future__ import annotations

import argparse
import sys

EXIT_BAD_INPUT = 2  # bad input, here and in `schedule`
PATTERNS = ("lawnmower", "perimeter", "route", "orbit")  # as missions.planner.PATTERNS (not imported: nothing heavy
# is loaded to build the parser)


def latlon(text: str) -> tuple[float, float]:
    """An argparse type: LAT,LON in degrees."""
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON in degrees, got {text!r}") from None
    return lat, lon


def add_patrol_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which patrol to plan: shared by `plan` and `schedule add`."""
    parser.add_argument("--zone", required=True, metavar="ZONE", help="zone file: GeoJSON (.geojson/.json) or KML (.kml)")
    parser.add_argument("--pattern", required=True, choices=PATTERNS)
    parser.add_argument("--alt", required=True, type=float, metavar="M", help="altitude above home (m)")
    parser.add_argument("--camera-hfov", type=float, default=84.0, metavar="DEG", help="horizontal field of view (default 84)")
    parser.add_argument("--camera-vfov", type=float, default=66.0, metavar="DEG", help="vertical field of view (default 66)")
    parser.add_argument("--overlap", type=float, default=0.2, metavar="F", help="lawnmower side overlap, 0..1 (default 0.2)")
    parser.add_argument("--gimbal-pitch", type=float, default=-90.0, metavar="DEG", help="-90 = straight down (default)")
    parser.add_argument("--speed", type=float, default=8.0, metavar="M_S", help="cruise speed (default 8 m/s)")
    parser.add_argument("--zone-name", help="which inclusion zone, when the file has several")
    parser.add_argument("--home", type=latlon, metavar="LAT,LON",
                        help="take-off and landing place (default: the file's home point, else the pattern's start)")
    parser.add_argument("--radius", type=float, default=50.0, metavar="M", help="orbit radius (default 50 m)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_patrol_arguments(parser)
    parser.add_argument("--out", required=True, metavar="PATROL.plan", help="QGroundControl .plan to write")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--inset", type=float, metavar="M", help="perimeter: distance in from the boundary (default half the swath)")
    parser.add_argument("--centre", type=latlon, metavar="LAT,LON", help="orbit centre (default the file's orbit point, else the zone's centre)")
    parser.add_argument("--laps", type=int, default=1, help="orbit laps (default 1)")
    parser.add_argument("--loiter", type=float, default=0.0, metavar="S", help="hold at the end of the pattern (s)")
    parser.add_argument("--sweep-angle", type=float, metavar="DEG", help="lawnmower line direction, degrees from east (default: best)")
    parser.add_argument("--config", metavar="CONFIG.toml", help="station config: its altitude limit and geofence apply")
    parser.add_argument("--max-alt", type=float, metavar="M", help="altitude limit (default 120 m, or the config's)")
    parser.add_argument("--battery-pct", type=float, metavar="PCT", help="refuse the plan unless it can be flown from this charge")


def _fail(message: str) -> int:
    print(f"groundstation plan: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _write_atomically(path, text: str) -> None:
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from missions.camera import Camera
    from missions.errors import MissionError, PlanRefused
    from missions.estimate import VehicleProfile
    from missions.geo import GeoPoint
    from missions.planner import PatrolSpec, PlanLimits, plan_patrol
    from missions.qgcplan import dumps_plan
    from missions.zone import zones_from_text

    zone_path = Path(args.zone)
    out_path = Path(args.out)
    try:
        text = zone_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _fail(f"zone file {zone_path} not found")
    except IsADirectoryError:
        return _fail(f"zone file {zone_path} is a directory")
    except UnicodeDecodeError:
        return _fail(f"zone file {zone_path} is not UTF-8 text")
    except OSError as e:
        return _fail(f"cannot read zone file {zone_path}: {e.strerror or e}")
    if not out_path.parent.is_dir() and str(out_path.parent):
        return _fail(f"the output directory {out_path.parent} does not exist")

    limits = PlanLimits()
    fence = None
    home = GeoPoint(*args.home) if args.home else None
    try:
        if args.config:
            from groundstation.config import ConfigError, load_config
            try:
                cfg = load_config(args.config)
            except ConfigError as e:
                return _fail(str(e))
            limits = cfg.limits.plan_limits()
            fence = cfg.geofence.plan_fence(home) if cfg.geofence is not None else None
        if args.max_alt is not None:
            limits = PlanLimits(max_alt_m=args.max_alt, allow_above_120_m=limits.allow_above_120_m)
        zones = zones_from_text(text, zone_path.name)
        spec = PatrolSpec(
            pattern=args.pattern, alt_m=args.alt, speed_m_s=args.speed,
            camera=Camera(hfov_deg=args.camera_hfov, vfov_deg=args.camera_vfov),
            gimbal_pitch_deg=args.gimbal_pitch, side_overlap=args.overlap, inset_m=args.inset,
            orbit_centre=GeoPoint(*args.centre) if args.centre else None, orbit_radius_m=args.radius,
            orbit_laps=args.laps, loiter_s=args.loiter, sweep_angle_deg=args.sweep_angle,
        )
        vehicle = VehicleProfile() if args.battery_pct is not None else None
        plan = plan_patrol(zones, spec, zone_name=args.zone_name, home=home, fence=fence, limits=limits,
                           vehicle=vehicle, battery_pct=args.battery_pct)
    except PlanRefused as e:
        return _fail("plan refused:\n" + "\n".join(f"  - {r}" for r in e.reasons))
    except (MissionError, ValueError) as e:
        return _fail(str(e))

    try:
        _write_atomically(out_path, dumps_plan(plan.mission_file()))
    except OSError as e:
        return _fail(f"cannot write {out_path}: {e.strerror or e}")

    waypoints = [{"lat_deg": round(w.lat_deg, 7), "lon_deg": round(w.lon_deg, 7), "alt_m": spec.alt_m} for w in plan.waypoints]
    if args.json:
        print(json.dumps({
            "waypoints": waypoints, "length_m": round(plan.estimate.length_m, 1),
            "duration_s": round(plan.estimate.duration_s, 1), "coverage": round(plan.coverage, 4),
        }))
        return 0
    print(f"{args.pattern} patrol over {zone_path.name} at {spec.alt_m:g} m, {spec.speed_m_s:g} m/s -> {out_path}")
    print(f"home {plan.home.lat_deg:.7f}, {plan.home.lon_deg:.7f}")
    for i, w in enumerate(waypoints, 1):
        print(f"  {i:3d}  {w['lat_deg']:.7f}  {w['lon_deg']:.7f}  {w['alt_m']:g} m")
    angle = f", sweep {plan.sweep_angle_deg:.0f} deg from east" if plan.sweep_angle_deg is not None else ""
    print(f"length {plan.estimate.length_m:.0f} m (home to home), duration {plan.estimate.duration_s:.0f} s "
          f"({plan.estimate.duration_s / 60:.1f} min, {plan.estimate.turns} turns{angle})")
    print(f"coverage {100 * plan.coverage:.1f} % of {plan.zone_area_m2:.0f} m2; battery about "
          f"{plan.estimate.battery_pct:.0f} % of a {VehicleProfile().battery_capacity_wh:g} Wh pack")
    return 0
