"""The web map's live updates, measured: Socket.IO fan-out latency (the station publishing a feed item -> a page's
Socket.IO client receiving it) p50/p99 and the web server's CPU share, at 20 drones x 10 Hz to 50 connected
clients (targets: p99 <= 50 ms, <= 25 % of one core), for each async mode (gevent, the default, and threading).

The server runs in its own process with web/fakes.py's station (it publishes vehicle states shaped like the real
ones, about 1 kB each, at the stated rate); the clients (logged in like a page, Socket.IO over WebSocket) run in two
other processes. CPU is the server process's user+system time over the measured window (it includes the
publisher, which stands for the station's feed callback). Latency is wall clock on one machine.
The video panel's capture -> browser latency: benchmarks/web_video.py.
Prints figures, never asserts.

    .venv/bin/python benchmarks/web_fanout.py [--drones 20] [--hz 10] [--clients 50] [--seconds 20]
                                              [--modes gevent,threading] [--json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark-password"


def vehicle_state(i: int, t: float) -> dict:
    """A vehicle item shaped like plain(VehicleState) (the station's feed)."""
    return {"vehicle_id": f"patrol-{i + 1}", "system_id": i + 1, "link_up": True, "lat_deg": 23.0469 + 1e-5 * t,
            "lon_deg": 112.4651 + 1e-4 * i, "alt_rel_m": 30.0, "alt_amsl_m": 40.0, "roll_deg": 0.5, "pitch_deg": -1.0,
            "heading_deg": (t * 10) % 360, "groundspeed_m_s": 8.0, "climb_m_s": 0.0, "battery_pct": 80.0,
            "battery_voltage_v": 12.1, "mode": "AUTO", "armed": True, "gps_fix_type": 3, "satellites_visible": 12,
            "ready_to_arm": True, "home": {"lat_deg": 23.0469, "lon_deg": 112.4651, "alt_amsl_m": 10.0},
            "mission_seq": 3, "mission_count": 12, "is_simulator": True, "last_message_s": t, "component_id": 1,
            "components": "frozenset({1, 100})", "vehicle_type": 2, "autopilot": 3, "custom_mode": 3,
            "firmware_version": "4.7.0-dev", "landed_state": 2, "mission_reached_seq": 2, "gimbal_pitch_deg": -45.0,
            "gimbal_roll_deg": 0.0, "gimbal_yaw_deg": 0.0, "prearm_ok": True, "ekf_ok": True,
            "messages_received": int(t * 50), "link_errors": 0, "boot_bytes_skipped": 0}


def serve(mode: str, drones: int, hz: float, interval_s: float, ready: mp.Queue, control: mp.Queue) -> None:
    import logging

    import psutil
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from web.auth import Passwords
    from web.fakes import FakeStation, MemoryUsers
    from web.server import WebServer
    from web.settings import ServerSettings

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    passwords = Passwords(PasswordHasher.from_parameters(CHEAPEST))
    station = FakeStation(vehicles=tuple(f"patrol-{i + 1}" for i in range(drones)), capacity=20_000)
    users = MemoryUsers()
    users.add("bench", "viewer", passwords.hash(PASSWORD), time.time())
    server = WebServer(station, users, ServerSettings(secret_key=b"b" * 32, port=0, async_mode=mode,
                                                     batch_interval_s=interval_s),
                       passwords=passwords).start()
    stop = threading.Event()
    published = [0]

    def publish() -> None:
        period = 1.0 / hz
        next_t = time.monotonic()
        while not stop.is_set():
            now = time.time()
            for i in range(drones):
                station.publish("vehicle", vehicle_state(i, now))
                published[0] += 1
            next_t += period
            stop.wait(max(0.0, next_t - time.monotonic()))

    ready.put(server.url)
    me = psutil.Process()
    while True:
        command = control.get()
        if command == "publish":
            threading.Thread(target=publish, daemon=True).start()
        elif command == "mark":
            t = me.cpu_times()
            control_reply = (time.monotonic(), t.user + t.system, published[0])
            ready.put(control_reply)
        elif command == "stop":
            stop.set()
            server.stop()
            ready.put("stopped")
            return


def clients(url: str, count: int, seconds: float, warmup_s: float, out: mp.Queue, start_at: float) -> None:
    """`count` pages: each logs in, loads /api/state and joins over a WebSocket speaking Engine.IO 4 / Socket.IO 5
    directly (websocket-client, one reading thread each): python-socketio's own client starts a thread per message,
    which on this 2-core machine costs more than the server under test."""
    import requests
    import websocket

    latencies: list[float] = []
    lock = threading.Lock()
    measuring = threading.Event()
    done = threading.Event()
    errors = [0]
    sockets = []
    for _ in range(count):
        session = requests.Session()
        session.post(url + "api/session", json={"name": "bench", "password": PASSWORD}).raise_for_status()
        state = session.get(url + "api/state").json()
        ws = websocket.create_connection(url.replace("http", "ws", 1) + "socket.io/?EIO=4&transport=websocket",
                                         cookie="; ".join(f"{k}={v}" for k, v in session.cookies.items()),
                                         skip_utf8_validation=True)  # its pure-Python check dominates
        assert ws.recv().startswith("0")  # Engine.IO open
        ws.send("40")  # Socket.IO connect
        assert ws.recv().startswith("40"), "connection refused"
        ws.send("421" + json.dumps(["join", {"seq": state["seq"]}]))  # emit with ack id 1
        sockets.append(ws)

    def read(ws) -> None:
        while not done.is_set():
            try:
                msg = ws.recv()
            except Exception:
                if not done.is_set():
                    errors[0] += 1
                return
            now = time.time()
            if msg == "2":  # Engine.IO ping
                ws.send("3")
            elif msg.startswith("42") and measuring.is_set():
                name, batch = json.loads(msg[2:])
                if name == "batch":
                    with lock:
                        latencies.extend(now - item["at_s"] for item in batch["items"])

    threads = [threading.Thread(target=read, args=(ws,), daemon=True) for ws in sockets]
    for t in threads:
        t.start()
    import psutil

    me = psutil.Process()
    time.sleep(max(0.0, start_at - time.time()) + warmup_s)
    cpu0, t0 = sum(me.cpu_times()[:2]), time.monotonic()
    measuring.set()
    time.sleep(seconds)
    measuring.clear()
    client_cpu = (sum(me.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0)
    done.set()
    for ws in sockets:
        try:
            ws.close()
        except Exception:
            errors[0] += 1
    out.put((latencies, errors[0], client_cpu))


def run_mode(mode: str, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    ready, control, out = ctx.Queue(), ctx.Queue(), ctx.Queue()
    server = ctx.Process(target=serve, args=(mode, args.drones, args.hz, args.interval, ready, control), daemon=True)
    server.start()
    url = ready.get(timeout=60)
    groups = [args.clients // 2, args.clients - args.clients // 2]
    start_at = time.time() + 8.0  # time for every client to log in and join
    procs = [ctx.Process(target=clients, args=(url, n, args.seconds, 2.0, out, start_at), daemon=True)
             for n in groups if n]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    control.put("publish")
    time.sleep(2.0)  # the clients' warm-up
    control.put("mark")
    t0, cpu0, pub0 = ready.get(timeout=30)
    time.sleep(args.seconds)
    control.put("mark")
    t1, cpu1, pub1 = ready.get(timeout=30)
    latencies: list[float] = []
    errors = 0
    client_cpu = []
    for _ in procs:
        got, errs, cpu = out.get(timeout=120)
        latencies.extend(got)
        errors += errs
        client_cpu.append(round(100.0 * cpu, 1))
    control.put("stop")
    ready.get(timeout=30)
    server.join(10)
    for p in procs:
        p.join(10)
    latencies.sort()
    ms = [x * 1000.0 for x in latencies]

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100.0 * len(ms)))] if ms else float("nan")

    expected = (pub1 - pub0) * args.clients
    return {"mode": mode, "batch_interval_s": args.interval, "drones": args.drones, "hz": args.hz, "clients": args.clients,
            "items_published_per_s": round((pub1 - pub0) / (t1 - t0), 1),
            "deliveries_measured": len(ms), "deliveries_expected_approx": expected,
            "p50_ms": round(pct(50), 2), "p99_ms": round(pct(99), 2), "max_ms": round(ms[-1], 2) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
            "server_cpu_pct_of_one_core": round(100.0 * (cpu1 - cpu0) / (t1 - t0), 1), "client_errors": errors,
            "client_processes_cpu_pct": client_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drones", type=int, default=20)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--modes", default="gevent,threading")
    parser.add_argument("--interval", type=float, default=0.01, metavar="S",
                        help="the server's batch interval (web.settings.ServerSettings.batch_interval_s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run_mode(mode, args) for mode in args.modes.split(",")]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['mode']:>9} (batches every {r['batch_interval_s'] * 1000:g} ms): {r['drones']} drones x {r['hz']:g} Hz to {r['clients']} clients: "
                  f"fan-out latency p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms (max {r['max_ms']} ms; "
                  f"{r['deliveries_measured']} deliveries), web server CPU {r['server_cpu_pct_of_one_core']} % of one "
                  f"core (targets: p99 <= 50 ms, <= 25 %)")
        print("video panel (MJPEG) capture -> browser latency: .venv/bin/python benchmarks/web_video.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
