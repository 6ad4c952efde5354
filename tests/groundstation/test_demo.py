"""The path a newcomer takes: `make run` runs `groundstation demo`, the station with a simulated fleet flying the
demo's stored patrol schedules by itself. Run for real (the CLI, the simulator child process, the database) at
speed-up, with the demo config's settings but a temporary database: patrols launch, are flown, complete, and the
demo stops cleanly on SIGINT."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from groundstation.shell.storage import StorageError, StorageReader
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_base_port(vehicles: int) -> int:
    """A base port P with P, P+10, ... free (the simulator's vehicles listen there)."""
    for base in range(21000, 60000, 137):
        ports = [base + 10 * i for i in range(vehicles)]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


def demo_config(tmp_path: Path) -> Path:
    """config/demo.toml with the database and tlogs in tmp_path."""
    text = (ROOT / "config" / "demo.toml").read_text()
    text = re.sub(r'(?m)^storage_path = .*$', f'storage_path = "{tmp_path / "demo.sqlite"}"', text)
    text = re.sub(r'(?m)^tlog_dir = .*$', f'tlog_dir = "{tmp_path / "tlogs"}"', text)
    assert str(tmp_path) in text and tomllib.loads(text)["station"]["storage_path"].startswith(str(tmp_path))
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


def patrol_runs(db: Path) -> list[dict]:
    try:
        with StorageReader(db) as r:
            return r.patrol_runs()
    except StorageError:  # not created yet
        return []


@pytest.mark.slow
def test_make_run_flies_the_scheduled_patrols_by_itself(tmp_path):
    config = demo_config(tmp_path)
    db = tmp_path / "demo.sqlite"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    demo = subprocess.Popen([sys.executable, "-m", "groundstation", "demo", "--config", str(config), "--vehicles", "2",
                             "--speedup", "20", "--base-port", str(free_base_port(2))],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(r["status"] == "launched" or r["launched_at_s"] for r in patrol_runs(db)), 180,
                 "a demo patrol launched")
        wait_for(lambda: any(r["status"] == "completed" for r in patrol_runs(db)) or demo.poll() is not None, 300,
                 "a demo patrol completed")
        assert demo.poll() is None, "the demo is still running"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            _, stderr = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            _, stderr = demo.communicate()
    assert demo.returncode == 0, stderr[-3000:]
    assert "simulator stopped" in stderr
    runs = patrol_runs(db)
    completed = [r for r in runs if r["status"] == "completed"]
    assert completed, runs
    assert {r["schedule_id"] for r in runs} <= {s["schedule_id"] for s in StorageReader(db).schedules()}
    with StorageReader(db) as r:
        names = {s["name"] for s in r.schedules()}
        assert names == {"demo-plaza", "demo-market"}
        flown = completed[0]
        commands = [c for c in r.commands(flown["vehicle_id"], limit=1000) if c["request_id"].startswith(flown["run_id"])]
        assert {c["action"] for c in commands} == {"upload_mission", "set_mission_current", "set_mode", "arm",
                                                   "start_mission"}
        assert all(c["status"] == "accepted" and c["requested_by"].startswith("patrol:demo-") for c in commands)
        assert r.integrity() == "ok"
