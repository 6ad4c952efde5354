"""N simulated vehicles in one process: one simulated clock honouring the speed-up, one asyncio loop in a thread.

    fleet = SimFleet(vehicles=3, speedup=5, base_port=0)   # base_port=0: the OS picks free ports
    fleet.start()
    fleet.urls        # ["tcp:127.0.0.1:41023", ...]
    fleet.freeze(0)   # vehicle 0 goes silent and ignores input, sockets stay open
    fleet.stop()

Fault injection for tests: freeze/unfreeze (a vehicle that vanishes mid-command), drop_connections
(a link that flaps: client sockets closed, the port keeps listening and accepts reconnects).

Loudspeaker: every vehicle carries one on its companion computer (sim/speaker.py), an HTTP endpoint on the
vehicle's MAVLink port + 5 (vehicle i: 5765+10*i; with base_port=0 a port the OS picks: `speaker_urls`), in the
simulator's clock; relay n switched on plays the pre-loaded clip n + 1 (`speaker(i).played()` says what played).

Thermal camera: every vehicle carries one (component 101, sim/thermal_camera.py). What it sees is the fleet's
ThermalScene, set with `set_thermal_scene(...)` (all vehicles see the same people). Its frames are served over
HTTP on loopback by one small server per vehicle, on the vehicle's MAVLink port + 6 (vehicle i: 5766+10*i;
never another vehicle's MAVLink port, which are 10 apart) or, with base_port=0, on a port the OS picks
(`thermal_ports`). Frames are rendered on a worker thread, never on the simulation loop.

Mission upload pace: `item_pace_s` simulated seconds per uploaded item (default sim.server.ITEM_PACE_S, the
SITL-like figure); tests that upload very large missions may pass a smaller one.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from sim import geodesy
from sim.copter import Copter, Home
from sim.file_server import FileServer
from sim.params import ParamTable
from sim.server import ITEM_PACE_S, Vehicle
from sim.speaker import SpeakerServer
from sim.thermal import ThermalScene
from sim.thermal_camera import ThermalCamera

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_HOME = Home(23.0469, 112.4651, 10.0, 0.0)   # Zhaoqing, Guangdong
MAX_PHYSICS_STEP_S = 0.05
THERMAL_PORT_OFFSET = 6    # vehicle i serves its thermal frames on http://host:(5760 + 10*i + 6)
SPEAKER_PORT_OFFSET = 5    # vehicle i's loudspeaker endpoint: http://host:(5760 + 10*i + 5)


@dataclass(frozen=True)
class FleetConfig:
    vehicles: int = 1
    speedup: float = 1.0
    home: Home = DEFAULT_HOME
    base_port: int = 5760          # vehicle i listens on base_port + 10*i; 0 = any free port
    host: str = "127.0.0.1"
    ready_after_s: float = 40.0    # simulated seconds before arming is allowed (SITL: ~40 s)
    position_after_s: float | None = None   # simulated seconds of 0,0 position (default min(20, ready/2))
    spacing_m: float = 10.0        # vehicle i starts spacing_m * i east of home
    tick_hz: float = 50.0          # wall-clock loop rate
    params: tuple[tuple[str, float], ...] = ()
    item_pace_s: float = ITEM_PACE_S   # simulated seconds per uploaded mission item (SITL-like)
    boot_banner: bool = True       # the first client of each vehicle gets SITL's console banner first

    def __post_init__(self) -> None:
        if not 1 <= self.vehicles <= 250:
            raise ValueError(f"vehicles must be 1..250, got {self.vehicles}")
        if not (self.speedup > 0 and math.isfinite(self.speedup)):
            raise ValueError(f"speedup must be a positive number, got {self.speedup}")
        last = self.base_port + 10 * (self.vehicles - 1) + THERMAL_PORT_OFFSET
        if self.base_port and not (1 <= self.base_port and last <= 65535):
            raise ValueError(f"ports {self.base_port}..{last} are out of range")
        if self.item_pace_s < 0:
            raise ValueError("item_pace_s must be >= 0")
        if self.ready_after_s < 0:
            raise ValueError("ready_after_s must be >= 0")
        if not (-90 <= self.home.lat_deg <= 90 and -180 <= self.home.lon_deg <= 180):
            raise ValueError(f"home {self.home.lat_deg},{self.home.lon_deg} is not a valid position")
        if self.tick_hz <= 0:
            raise ValueError("tick_hz must be > 0")
        ParamTable(dict(self.params))   # unknown names raise KeyError here, before anything starts


class SimFleet:
    """Runs the vehicles in a background thread; all public methods are thread-safe."""

    def __init__(self, vehicles: int = 1, speedup: float = 1.0, home: Home | tuple | None = None,
                 base_port: int = 5760, host: str = "127.0.0.1", ready_after_s: float = 40.0,
                 position_after_s: float | None = None, spacing_m: float = 10.0, tick_hz: float = 50.0,
                 params: dict[str, float] | None = None, item_pace_s: float = ITEM_PACE_S,
                 boot_banner: bool = True) -> None:
        if home is None:
            home = DEFAULT_HOME
        elif not isinstance(home, Home):
            home = Home(*home)
        self.config = FleetConfig(vehicles, float(speedup), home, base_port, host, ready_after_s,
                                  position_after_s, spacing_m, tick_hz, tuple((params or {}).items()),
                                  float(item_pace_s), boot_banner)
        self._vehicles: list[Vehicle] = []
        self._file_servers: list[FileServer] = []
        self._speakers: list[SpeakerServer] = []
        self._scene = ThermalScene()
        self._renderer: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self.sim_time_s = 0.0
        self.ticks = 0
        self.tick_overruns = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 10.0) -> "SimFleet":
        if self._thread is not None:
            raise RuntimeError("fleet already started")
        started: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="sim-fleet", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=timeout_s)
        except BaseException:
            self._thread.join(timeout=timeout_s)
            self._thread = None
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout=timeout_s)
        self._thread = None

    def __enter__(self) -> "SimFleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self, started: concurrent.futures.Future) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(started))
        except BaseException as exc:   # reported to start() if it happened before start-up finished
            if not started.done():
                started.set_exception(exc)
            else:
                log.exception("simulator loop failed")
        finally:
            loop.close()

    def _build(self, loop: asyncio.AbstractEventLoop) -> list[Vehicle]:
        cfg = self.config
        renderer = self._renderer
        assert renderer is not None

        def run_in_worker(fn):
            return loop.run_in_executor(renderer, fn)

        out = []
        for i in range(cfg.vehicles):
            lat, lon = geodesy.moved(cfg.home.lat_deg, cfg.home.lon_deg, 0.0, cfg.spacing_m * i)
            home = Home(lat, lon, cfg.home.alt_amsl_m, cfg.home.heading_deg)
            params = ParamTable(dict(cfg.params))
            params.force("SIM_SPEEDUP", cfg.speedup)
            model = Copter(i + 1, home, params, ready_after_s=cfg.ready_after_s,
                           position_after_s=cfg.position_after_s)
            port = cfg.base_port + 10 * i if cfg.base_port else 0
            out.append(Vehicle(model, cfg.host, port, item_pace_s=cfg.item_pace_s, boot_banner=cfg.boot_banner,
                               scene=lambda: self._scene, run_in_worker=run_in_worker))
        return out

    async def _main(self, started: concurrent.futures.Future) -> None:
        self._stopping = asyncio.Event()
        self._renderer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-thermal")
        vehicles = self._build(asyncio.get_running_loop())
        try:
            for v in vehicles:
                try:
                    await v.start()
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot listen on tcp:{v.host}:{v.port}: {exc.strerror}") from exc
                if v.port == 0 and v.server is not None:
                    v.port = v.server.sockets[0].getsockname()[1]
                http_port = v.port + THERMAL_PORT_OFFSET if self.config.base_port else 0
                try:
                    files = FileServer(self.config.host, http_port)
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot serve thermal frames on {self.config.host}:{http_port}: "
                                             f"{exc.strerror}") from exc
                self._file_servers.append(files)
                v.thermal = ThermalCamera(v.sysid, files)
                speaker_port = v.port + SPEAKER_PORT_OFFSET if self.config.base_port else 0
                try:
                    speaker = SpeakerServer(self.config.host, speaker_port, clock=lambda: self.sim_time_s).start()
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot serve the loudspeaker on {self.config.host}:{speaker_port}: "
                                             f"{exc.strerror}") from exc
                self._speakers.append(speaker)
                v.on_relay = _relay_to(speaker)
        except BaseException:
            await self._close(vehicles)
            raise
        self._vehicles = vehicles
        started.set_result(True)
        try:
            await self._clock()
        finally:
            await self._close(vehicles)

    async def _close(self, vehicles: list[Vehicle]) -> None:
        for v in vehicles:
            await v.close()
        for files in self._file_servers:
            files.close()
        self._file_servers = []
        for speaker in self._speakers:
            speaker.stop()
        self._speakers = []
        if self._renderer is not None:
            self._renderer.shutdown(wait=True, cancel_futures=True)

    async def _clock(self) -> None:
        assert self._stopping is not None
        period = 1.0 / self.config.tick_hz
        speedup = self.config.speedup
        last = time.monotonic()
        next_tick = last + period
        while not self._stopping.is_set():
            delay = next_tick - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                    break
                except asyncio.TimeoutError:
                    pass
            now = time.monotonic()
            if now - next_tick > period:
                self.tick_overruns += 1
                next_tick = now + period
            else:
                next_tick += period
            wall_dt = min(now - last, 0.5)   # a stalled process does not teleport the vehicles
            last = now
            self._advance(wall_dt * speedup)

    def _advance(self, sim_dt: float) -> None:
        # Streams are scheduled in simulated time, so with a speed-up each physics sub-step also sends
        # whatever fell due in it (up to 1/MAX_PHYSICS_STEP_S = 20 Hz simulated, or tick_hz at 1x).
        steps = max(1, math.ceil(sim_dt / MAX_PHYSICS_STEP_S - 1e-9))
        dt = sim_dt / steps
        for _ in range(steps):
            for v in self._vehicles:
                v.model.step(dt)
                try:
                    v.tick()
                except Exception:
                    log.exception("vehicle %d: tick failed", v.sysid)
        self.sim_time_s += sim_dt
        self.ticks += 1

    # ------------------------------------------------------------------ queries
    @property
    def ports(self) -> list[int]:
        return [v.port for v in self._vehicles]

    @property
    def urls(self) -> list[str]:
        return [v.url for v in self._vehicles]

    @property
    def thermal_ports(self) -> list[int]:
        """The HTTP port serving each vehicle's thermal frames."""
        return [v.thermal.files.port for v in self._vehicles if v.thermal is not None]

    @property
    def speaker_urls(self) -> list[str]:
        """Each vehicle's loudspeaker endpoint (its companion computer), http://host:port."""
        return [s.url for s in self._speakers]

    def speaker(self, i: int) -> SpeakerServer:
        """Vehicle i's loudspeaker (what it played: `.played()`)."""
        return self._speakers[i]

    # ------------------------------------------------------------------ thermal scene
    def set_thermal_scene(self, scene: ThermalScene) -> None:
        """What every vehicle's thermal camera sees from now on (captures already taken keep theirs)."""
        if not isinstance(scene, ThermalScene):
            raise TypeError(f"expected a ThermalScene, got {type(scene).__name__}")
        self._scene = scene

    @property
    def thermal_scene(self) -> ThermalScene:
        return self._scene

    def __len__(self) -> int:
        return len(self._vehicles)

    def call(self, fn: Callable[[], T], timeout_s: float = 5.0) -> T:
        """Run fn in the simulator thread (to read or change a vehicle safely) and return its result."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("fleet not running")

        async def _call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(_call(), self._loop).result(timeout_s)

    def model(self, i: int) -> Copter:
        """The vehicle model (read it through call() for a consistent view)."""
        return self._vehicles[i].model

    def vehicle(self, i: int) -> Vehicle:
        return self._vehicles[i]

    # ------------------------------------------------------------------ fault injection
    def freeze(self, i: int) -> None:
        """Vehicle i goes silent and ignores input; its sockets stay open (it 'vanishes mid-command')."""
        self.call(lambda: setattr(self._vehicles[i], "frozen", True))

    def unfreeze(self, i: int) -> None:
        self.call(lambda: setattr(self._vehicles[i], "frozen", False))

    def drop_connections(self, i: int) -> int:
        """Close every client socket of vehicle i (a flapping link); the port keeps accepting. Returns how many."""
        return self.call(lambda: self._vehicles[i].drop_connections())

    def client_count(self, i: int) -> int:
        return self.call(lambda: len(self._vehicles[i].links))


def _relay_to(speaker: SpeakerServer) -> Callable[[int, bool], None]:
    """Relay n switched on plays the speaker's pre-loaded clip n + 1 (when there is one)."""
    def on_relay(number: int, on: bool) -> None:
        if on and number + 1 in speaker.preloaded:
            speaker.play_preloaded(number + 1)
    return on_relay
