"""A station process for the kill -9 test: runs the real Station against the simulator and keeps flying.

    python -m tests.groundstation.station_child CONFIG.toml

Takes off with every vehicle, then sends go-tos between two points forever (through the checked
command API), so the test can kill it with SIGKILL mid-flight while commands are being recorded.
"""
from __future__ import annotations

import sys
import time

from groundstation.config import load_config
from groundstation.core.records import CommandRequest
from groundstation.shell.station import Station


def main(path: str) -> None:
    config = load_config(path)
    station = Station(config).start()
    ids = [v.id for v in config.vehicles]

    def ask(vid, action, **args):
        return station.request(CommandRequest(vid, action, args, requested_by="kill-test")).result(60)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        snap = station.snapshot()
        if all(s.link_up and s.ready_to_arm and s.position_known and s.home for s in (snap.get(v) for v in ids) if s):
            if len(snap) == len(ids):
                break
        time.sleep(0.1)
    for vid in ids:
        assert ask(vid, "set_mode", mode="GUIDED").ok and ask(vid, "arm").ok and ask(vid, "takeoff", alt_rel_m=20).ok
    print("airborne", flush=True)
    home = station.snapshot()[ids[0]].home
    i = 0
    while True:
        for vid in ids:
            north = 0.0005 if i % 2 else -0.0005
            outcome = ask(vid, "goto", lat_deg=home.lat_deg + north, lon_deg=home.lon_deg, alt_rel_m=25)
            print(f"{outcome.request_id} {outcome.status}", flush=True)
        i += 1
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1])
