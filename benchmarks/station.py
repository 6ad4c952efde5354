"""Station benchmark: the station against 20 simulated vehicles streaming at ArduPilot-like rates.

Prints (never asserts): MAVLink messages/s the station handled, the station process's CPU share, operator
command round trips p50/p99 (request -> outcome through the core, audit trail and link; and the COMMAND_ACK
part alone), acks lost (resends + timeouts; must be 0), and a 500-item mission upload over loopback.

The simulator runs in its own process so the CPU figure is the station's alone.
    .venv/bin/python benchmarks/station.py [--vehicles 20] [--seconds 20] [--commands 200] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import wait
from pathlib import Path

import psutil

from groundstation.config import load_config
from groundstation.core.records import CommandRequest
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader

# What MAVProxy asks ArduPilot for ("streamrate 4" on every stream group), with position and attitude at
# 10 Hz as a map display wants them: ~100 messages/s per vehicle with heartbeats.
ARDUPILOT_LIKE_RATES_HZ = {
    "GLOBAL_POSITION_INT": 10.0, "ATTITUDE": 10.0, "LOCAL_POSITION_NED": 4.0, "SIMSTATE": 4.0, "VFR_HUD": 4.0,
    "SYS_STATUS": 4.0, "POWER_STATUS": 4.0, "MEMINFO": 4.0, "MISSION_CURRENT": 4.0, "GPS_RAW_INT": 4.0,
    "NAV_CONTROLLER_OUTPUT": 4.0, "FENCE_STATUS": 4.0, "SERVO_OUTPUT_RAW": 4.0, "RC_CHANNELS": 4.0,
    "SCALED_PRESSURE": 4.0, "SYSTEM_TIME": 4.0, "BATTERY_STATUS": 4.0, "EKF_STATUS_REPORT": 4.0,
    "VIBRATION": 4.0, "MOUNT_STATUS": 4.0, "HOME_POSITION": 0.5, "EXTENDED_SYS_STATE": 1.0,
}


def start_sim(vehicles: int, ready_after_s: float) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "--vehicles", str(vehicles), "--base-port", "0",
         "--ready-after-s", str(ready_after_s)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    urls: list[str] = []
    while len(urls) < vehicles:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"simulator exited early (status {proc.poll()})")
        if m := re.search(r"listening on (tcp:\S+)", line):
            urls.append(m.group(1))
    return proc, urls


def write_config(folder: Path, urls: list[str]) -> Path:
    rates = ", ".join(f"{k} = {v}" for k, v in ARDUPILOT_LIKE_RATES_HZ.items())
    vehicles = "".join(
        f'[[vehicles]]\nid = "v{i + 1}"\nurl = "{url}"\nsystem_id = {i + 1}\nstream_rates_hz = {{ {rates} }}\n\n'
        for i, url in enumerate(urls))
    path = folder / "bench.toml"
    path.write_text(
        f'[station]\nname = "bench"\nstorage_path = "{folder / "bench.sqlite"}"\ninbox_size = 4000\n\n{vehicles}'
        '[limits]\nmax_alt_rel_m = 120.0\n\n[geofence]\nradius_m = 5000.0\n')
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def messages_received(station: Station) -> int:
    return sum(s.messages_received or 0 for s in station.snapshot().values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the streaming measurement")
    ap.add_argument("--commands", type=int, default=200, help="operator commands for the round-trip figures")
    ap.add_argument("--mission-items", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    sim, urls = start_sim(args.vehicles, ready_after_s=3.0)
    me = psutil.Process(os.getpid())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config(write_config(Path(tmp), urls))
            station = Station(config).start()
            try:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    states = station.snapshot().values()
                    if len(states) == args.vehicles and all(s.link_up and s.ready_to_arm for s in states):
                        break
                    time.sleep(0.5)
                else:
                    raise SystemExit("vehicles not ready after 90 s")
                time.sleep(3.0)  # let the requested stream rates settle

                # 1. streaming: messages/s and CPU share over a quiet window
                m0, c0, t0 = messages_received(station), me.cpu_times(), time.monotonic()
                time.sleep(args.seconds)
                m1, c1, t1 = messages_received(station), me.cpu_times(), time.monotonic()
                wall_s = t1 - t0
                msgs_per_s = (m1 - m0) / wall_s
                cpu_share = ((c1.user - c0.user) + (c1.system - c0.system)) / wall_s

                # 2. operator commands while all vehicles stream: set_mode GUIDED/LOITER in turn on every vehicle
                ids = sorted(station.snapshot())
                total_ms, ack_ms, outcomes = [], [], []
                for n in range(args.commands):
                    vid = ids[n % len(ids)]
                    mode = "LOITER" if (n // len(ids)) % 2 == 0 else "GUIDED"
                    started = time.monotonic()
                    fut = station.request(CommandRequest(vid, "set_mode", {"mode": mode}, requested_by="bench"))
                    wait([fut], timeout=30)
                    outcome = fut.result(timeout=0)
                    total_ms.append((time.monotonic() - started) * 1000)
                    outcomes.append(outcome)
                    if outcome.round_trip_s is not None and outcome.ok:
                        ack_ms.append(outcome.round_trip_s * 1000)

                # 3. a 500-item mission upload through the station (checked, audited, sent over loopback)
                home = station.snapshot()[ids[0]].home
                items = [{"command": 16, "frame": 3, "lat_deg": home.lat_deg + 0.0001 * (i % 50),
                          "lon_deg": home.lon_deg + 0.0001 * (i // 50), "alt_m": 30.0}
                         for i in range(args.mission_items)]
                started = time.monotonic()
                fut = station.request(CommandRequest(ids[0], "upload_mission", {"items": items}, requested_by="bench"))
                upload = fut.result(timeout=60)
                upload_s = time.monotonic() - started
                station.flush()
                rows = StorageReader(config.station.storage_path).commands(decision="sent", limit=100_000)
            finally:
                station.stop()
    finally:
        sim.terminate()
        sim.wait(10)

    bench_rows = [r for r in rows if r["requested_by"] == "bench" and r["action"] == "set_mode"]
    resends = sum(max(0, (r["attempts"] or 1) - 1) for r in bench_rows)
    timeouts = sum(1 for o in outcomes if o.status == "failed")
    figures = {
        "vehicles": args.vehicles,
        "messages_per_s": round(msgs_per_s, 1),
        "messages_per_s_per_vehicle": round(msgs_per_s / args.vehicles, 1),
        "station_cpu_share_of_one_core": round(cpu_share, 3),
        "commands": len(outcomes),
        "commands_ok": sum(o.ok for o in outcomes),
        "ack_round_trip_ms_p50": round(statistics.median(ack_ms), 2) if ack_ms else None,
        "ack_round_trip_ms_p99": round(percentile(ack_ms, 99), 2) if ack_ms else None,
        "command_total_ms_p50": round(statistics.median(total_ms), 1),
        "command_total_ms_p99": round(percentile(total_ms, 99), 1),
        "acks_lost": resends + timeouts,
        "mission_items": args.mission_items,
        "mission_upload_ok": upload.ok,
        "mission_upload_s": round(upload_s, 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"vehicles                      {args.vehicles}")
        print(f"messages handled              {msgs_per_s:.0f} /s ({msgs_per_s / args.vehicles:.0f} per vehicle)")
        print(f"station CPU                   {cpu_share * 100:.1f} % of one core")
        print(f"commands (set_mode)           {figures['commands_ok']}/{len(outcomes)} accepted")
        print(f"  COMMAND_ACK round trip      p50 {figures['ack_round_trip_ms_p50']} ms, "
              f"p99 {figures['ack_round_trip_ms_p99']} ms")
        print(f"  request -> outcome          p50 {figures['command_total_ms_p50']} ms, "
              f"p99 {figures['command_total_ms_p99']} ms (core checks, audit commit, ACK and the HEARTBEAT confirming the mode)")
        print(f"acks lost                     {figures['acks_lost']} (resends {resends}, timeouts {timeouts})")
        print(f"{args.mission_items}-item mission upload      {upload_s * 1000:.0f} ms "
              f"({'ok' if upload.ok else 'FAILED: ' + upload.reason}) (target < 1 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
