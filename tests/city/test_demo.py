"""`groundstation demo --scenario FILE`: a bad scenario is refused with every problem; a short run with
`--duration S --json` prints one JSON summary of what happened (the loop scenario: its gathering answered)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared import DATA, MODELS, ROOT, need

LOOP = ROOT / "tests" / "city" / "loop.toml"


def base_config(tmp_path: Path) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(f"""
[station]
storage_path = "{tmp_path / 'demo.sqlite'}"
tlog_dir = "{tmp_path / 'tlogs'}"

[[vehicles]]
id = "replaced-by-the-scenario"
url = "tcp:127.0.0.1:5760"

[response]
speech_cache_dir = "{tmp_path / 'speech'}"
""", encoding="utf-8")
    return path


def free_base_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 20 > 65535:
            continue
        try:
            for off in (0, 5, 6, 7, 9):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", base + off))
        except OSError:
            continue
        return base


def demo(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groundstation", "demo", "--no-web", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout_s)


def test_a_bad_scenario_is_refused_with_every_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(LOOP.read_text(encoding="utf-8").replace('zone = "plaza"\ncentre', 'zone = "square"\ncentre')
                   .replace("size = 9", "size = -9"), encoding="utf-8")
    done = demo("--scenario", str(bad), "--config", str(base_config(tmp_path)))
    assert done.returncode == 2
    assert "scenario refused, 2 problem(s)" in done.stderr
    assert "gatherings.0.size: Input should be greater than or equal to 1" in done.stderr
    missing = demo("--scenario", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and "not found: no such file" in missing.stderr
    assert demo("--scenario", str(LOOP), "--vehicles", "2").returncode == 2


@pytest.mark.slow
def test_a_short_run_prints_one_json_summary(tmp_path):
    need(MODELS / "yolo11n_visdrone" / "yolo11n_visdrone_from_tflite_int8.pt"), need(DATA / "uav_unicamp")
    scenario = tmp_path / "loop.toml"
    # the patrol flies 12 s (wall) in, once the station's vision is up
    scenario.write_text(LOOP.read_text(encoding="utf-8").replace("first_after_s = 5.0", "first_after_s = 60.0"),
                        encoding="utf-8")
    done = demo("--scenario", str(scenario), "--config", str(base_config(tmp_path)), "--duration", "45", "--json",
                "--ready-after-s", "2", "--base-port", str(free_base_port()), timeout_s=240.0)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)                                  # stdout holds the summary and nothing else
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    assert {"patrols_completed", "gatherings", "responses", "broadcasts", "fever_alerts",
            "counts_vs_truth"} <= set(summary)
    assert summary["gatherings"] == 1 and summary["fever_alerts"] == 0
    (response,) = summary["responses"]
    assert response["zone"] == "plaza" and response["steps"][:4] == ["confirmed", "approaching", "thermal_sampling",
                                                                     "broadcasting"]
    assert summary["broadcasts"] == 1
    (plaza,) = summary["counts_vs_truth"]
    assert plaza["zone"] == "plaza" and plaza["true"] == 9 and plaza["seen"] >= 6
    assert "video cam-drone-1: http://127.0.0.1:" in done.stderr and "simulator truth: http://" in done.stderr
