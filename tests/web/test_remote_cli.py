"""The two processes as a newcomer starts them: `groundstation run --station-port 0 --no-web` prints its station
port, and `groundstation web --station URL` serves the map from it (what the API answers without and with a login),
with the simulated fleet's links up in the station all along."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.waiting import wait_for
from tests.web.test_remote_web import toml_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class Process:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "groundstation", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def printed(self, prefix: str, timeout_s: float = 120.0) -> str:
        def find():
            for line in self.output:
                if line.startswith(prefix):
                    return line[len(prefix):].split()[0]
            assert self.proc.poll() is None, "".join(self.output)
            return None
        return wait_for(find, timeout_s, f"{prefix!r} printed")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(30)


def test_run_serves_its_port_and_web_serves_the_map_from_it(tmp_path, sim):
    config = toml_config(tmp_path, sim.urls)
    station = Process("run", "--config", str(config), "--no-web", "--station-port", "0")
    web = None
    try:
        port_url = station.printed("station port: ")
        web = Process("web", "--station", port_url, "--config", str(config), "--web-port", "0")
        map_url = web.printed("web map: ")
        assert requests.get(map_url + "api/openapi.json", timeout=10).status_code == 200
        assert requests.get(map_url + "api/vehicles", timeout=10).status_code == 401, "no login: 401"
        assert "web map:" not in "".join(station.output), "--no-web: the station serves no map itself"
    finally:
        if web is not None:
            assert web.stop() == 0, "".join(web.output)
        assert station.stop() == 0, "".join(station.output)
