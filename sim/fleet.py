"""N simulated vehicles in one process: one simulated clock honouring the speed-up, one asyncio loop in a thread.

    fleet = SimFleet(vehicles=3, speedup=5, base_port=0)   # base_port=0: the OS picks free ports
    fleet.start()
    fleet.urls        # ["tcp:127.0.0.1:41023", ...]
    fleet.freeze(0)   # vehicle 0 goes silent and ignores input, sockets stay open
    fleet.stop()

Fault injection for tests: freeze/unfreeze (a vehicle that vanishes mid-command), drop_connections
(a link that flaps: client sockets closed, the port keeps listening and accepts reconnects).
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
from sim.params import ParamTable
from sim.server import Vehicle

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_HOME = Home(23.0469, 112.4651, 10.0, 0.0)   # Zhaoqing, Guangdong
MAX_PHYSICS_STEP_S = 0.05


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

    def __post_init__(self) -> None:
        if not 1 <= self.vehicles <= 250:
            raise ValueError(f"vehicles must be 1..250, got {self.vehicles}")
        if not (self.speedup > 0 and math.isfinite(self.speedup)):
            raise ValueError(f"speedup must be a positive number, got {self.speedup}")
        if self.base_port and not (1 <= self.base_port and self.base_port + 10 * (self.vehicles - 1) <= 65535):
            raise ValueError(f"ports {self.base_port}..{self.base_port + 10 * (self.vehicles - 1)} are out of range")
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
                 params: dict[str, float] | None = None) -> None:
        if home is None:
            home = DEFAULT_HOME
        elif not isinstance(home, Home):
            home = Home(*home)
        self.config = FleetConfig(vehicles, float(speedup), home, base_port, host, ready_after_s,
                                  position_after_s, spacing_m, tick_hz, tuple((params or {}).items()))
        self._vehicles: list[Vehicle] = []
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

    def _build(self) -> list[Vehicle]:
        cfg = self.config
        out = []
        for i in range(cfg.vehicles):
            lat, lon = geodesy.moved(cfg.home.lat_deg, cfg.home.lon_deg, 0.0, cfg.spacing_m * i)
            home = Home(lat, lon, cfg.home.alt_amsl_m, cfg.home.heading_deg)
            params = ParamTable(dict(cfg.params))
            params.force("SIM_SPEEDUP", cfg.speedup)
            model = Copter(i + 1, home, params, ready_after_s=cfg.ready_after_s,
                           position_after_s=cfg.position_after_s)
            port = cfg.base_port + 10 * i if cfg.base_port else 0
            out.append(Vehicle(model, cfg.host, port))
        return out

    async def _main(self, started: concurrent.futures.Future) -> None:
        self._stopping = asyncio.Event()
        vehicles = self._build()
        try:
            for v in vehicles:
                try:
                    await v.start()
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot listen on tcp:{v.host}:{v.port}: {exc.strerror}") from exc
                if v.port == 0 and v.server is not None:
                    v.port = v.server.sockets[0].getsockname()[1]
        except BaseException:
            for v in vehicles:
                await v.close()
            raise
        self._vehicles = vehicles
        started.set_result(True)
        try:
            await self._clock()
        finally:
            for v in vehicles:
                await v.close()

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
