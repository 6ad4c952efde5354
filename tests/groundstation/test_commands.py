"""`groundstation run` and `groundstation demo` as processes: bad config, bad storage, a short demo."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from groundstation.shell.storage import StorageReader

ROOT = Path(__file__).resolve().parents[2]


def groundstation(*args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "groundstation", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_run_refuses_a_bad_config_listing_every_problem(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[station]\nname = 3\n[[vehicles]]\nid = "a"\n[[vehicles]]\nid = "a"\nurl = "tcp:x:1"\n'
                   '[limits]\nmax_alt_rel_m = "high"\n')
    result = groundstation("run", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"{cfg}: config refused, 4 problem(s):"
    for expected in ("station.name:", "vehicles.0.url: Field required", "limits.max_alt_rel_m:",
                     "vehicles.1.id: duplicate id 'a'"):
        assert any(line.strip().startswith(expected) for line in lines), result.stderr
    assert not (tmp_path / "var").exists(), "nothing is created for a refused config"


def test_run_refuses_a_file_that_is_not_toml(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[station\nname = 1\n")
    result = groundstation("run", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2 and "not valid TOML" in result.stderr and "line 1" in result.stderr


def test_run_with_unusable_storage_exits_with_a_clear_error(tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[station]\nstorage_path = "{tmp_path}/blocker/s.sqlite"\n'
                   '[[vehicles]]\nid = "a"\nurl = "tcp:127.0.0.1:1"\n')
    result = groundstation("run", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 1 and "cannot open storage" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_flies_and_stops_the_simulator(tmp_path):
    port = free_port()
    cfg = tmp_path / "demo.toml"
    cfg.write_text((ROOT / "config" / "demo.toml").read_text().replace("var/", f"{tmp_path}/var/"))
    result = groundstation("demo", "--scripted", "--vehicles", "1", "--speedup", "20", "--ready-after-s", "2", "--duration", "8",
                           "--base-port", str(port), "--config", str(cfg), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "demo arm -> accepted" in result.stderr
    with StorageReader(tmp_path / "var" / "demo.sqlite") as r:
        assert any(c["action"] == "takeoff" and c["status"] == "accepted" for c in r.commands("patrol-1"))
    with socket.socket() as s:  # the simulator child is gone: its port is free again
        s.bind(("127.0.0.1", port))


def test_demo_refuses_a_busy_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = groundstation("demo", "--vehicles", "1", "--base-port", str(port), cwd=tmp_path)
    assert result.returncode == 1 and f"port {port} is in use" in result.stderr
