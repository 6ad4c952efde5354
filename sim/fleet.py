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

A city (`scenario=`, sim/scenario.py): the fleet then simulates its world (sim/world.py): one drone per
[[drones]] entry, starting where the scenario puts it, home at the scenario's home; the same people for every
camera, moving in the simulator's clock; the thermal cameras see them (the scene is the world at the capture's
instant: `set_thermal_scene` is then refused); each loudspeaker play is heard by the people within the scenario's
hearing radius of the drone (`heard`), who react as the scenario says. Every vehicle's RGB camera (component 100,
sim/rgb_camera.py) then streams rendered video as MJPEG over HTTP (sim/video_server.py) on the vehicle's MAVLink
port + 7 (vehicle i: 5767+10*i; `video_urls`), at the scenario's frame rate in wall-clock time, rendered on one
renderer thread only while someone watches; each frame carries its capture time (X-Timestamp: the wall-clock
instant of the simulation state it shows) and leaves the drone the scenario's link latency after it. The ground truth is served as JSON at the first vehicle's port + 9
(5769; `truth_url`, sim/truth_server.py) and in-process by `truth()`. People's appearances are cut from the drone
footage in `footage_dir` (default ../shared/data beside the project; sim/appearance.py) when the video starts.
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

from pathlib import Path

from sim import geodesy
from sim.appearance import DEFAULT_FOOTAGE, Sprite, load_sprites
from sim.copter import Copter, Home
from sim.file_server import FileServer
from sim.params import ParamTable
from sim.pinhole import CameraModel, CameraPose
from sim.rgb_camera import DEFAULT_RGB_CAMERA, jpeg_bytes
from sim.rgb_camera import render as render_rgb
from sim.scenario import Scenario
from sim.server import ITEM_PACE_S, Vehicle
from sim.speaker import SpeakerServer
from sim.thermal import ThermalScene
from sim.thermal_camera import ThermalCamera
from sim.truth_server import TruthServer
from sim.video_server import VideoFrame, VideoServer
from sim.world import Heard, World

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_HOME = Home(23.0469, 112.4651, 10.0, 0.0)   # Zhaoqing, Guangdong
MAX_PHYSICS_STEP_S = 0.05
THERMAL_PORT_OFFSET = 6    # vehicle i serves its thermal frames on http://host:(5760 + 10*i + 6)
SPEAKER_PORT_OFFSET = 5    # vehicle i's loudspeaker endpoint: http://host:(5760 + 10*i + 5)
VIDEO_PORT_OFFSET = 7      # vehicle i's video stream: http://host:(5760 + 10*i + 7)/video (with a scenario)
TRUTH_PORT_OFFSET = 9      # the ground truth: http://host:(5760 + 9)/world (with a scenario)
MIN_CAMERA_UP_M = 0.3      # a camera on a landed drone still sits this high
HEARD_POLL_S = 0.2         # how often (simulated s) the loudspeakers are checked for new plays


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
    starts_en: tuple[tuple[float, float], ...] = ()   # each vehicle's start, metres east/north of home (default spacing)

    def __post_init__(self) -> None:
        if not 1 <= self.vehicles <= 250:
            raise ValueError(f"vehicles must be 1..250, got {self.vehicles}")
        if not (self.speedup > 0 and math.isfinite(self.speedup)):
            raise ValueError(f"speedup must be a positive number, got {self.speedup}")
        last = self.base_port + 10 * (self.vehicles - 1) + max(THERMAL_PORT_OFFSET, VIDEO_PORT_OFFSET, TRUTH_PORT_OFFSET)
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
        if self.starts_en and len(self.starts_en) != self.vehicles:
            raise ValueError(f"{len(self.starts_en)} start positions for {self.vehicles} vehicles")
        ParamTable(dict(self.params))   # unknown names raise KeyError here, before anything starts


class SimFleet:
    """Runs the vehicles in a background thread; all public methods are thread-safe."""

    def __init__(self, vehicles: int = 1, speedup: float = 1.0, home: Home | tuple | None = None,
                 base_port: int = 5760, host: str = "127.0.0.1", ready_after_s: float = 40.0,
                 position_after_s: float | None = None, spacing_m: float = 10.0, tick_hz: float = 50.0,
                 params: dict[str, float] | None = None, item_pace_s: float = ITEM_PACE_S,
                 boot_banner: bool = True, scenario: Scenario | None = None,
                 footage_dir: Path | str | None = None) -> None:
        starts: tuple[tuple[float, float], ...] = ()
        if scenario is not None:
            # the city decides the drones and their home; `vehicles` and `home` must not say otherwise
            if home is not None:
                raise ValueError("a scenario sets the home: do not pass home= too")
            vehicles = len(scenario.drones)
            hlat, hlon = scenario.home_latlon()
            home = Home(hlat, hlon, scenario.home.alt_amsl_m, scenario.home.heading_deg)
            hx, hy = scenario.home.position
            starts = tuple((e - hx, n - hy) for e, n in scenario.drone_positions())
        if home is None:
            home = DEFAULT_HOME
        elif not isinstance(home, Home):
            home = Home(*home)
        self.config = FleetConfig(vehicles, float(speedup), home, base_port, host, ready_after_s,
                                  position_after_s, spacing_m, tick_hz, tuple((params or {}).items()),
                                  float(item_pace_s), boot_banner, starts)
        self.scenario = scenario
        self.world = World(scenario) if scenario is not None else None
        self.footage_dir = Path(footage_dir) if footage_dir is not None else DEFAULT_FOOTAGE
        self.rgb_camera = (CameraModel.from_hfov(scenario.camera.width_px, scenario.camera.height_px,
                                                 scenario.camera.hfov_deg) if scenario is not None
                           else DEFAULT_RGB_CAMERA)
        self._heard: tuple[Heard, ...] = ()
        self._heard_seen: list[float] = []
        self._next_heard_poll = 0.0
        self._snapshots: tuple[_Snapshot, ...] = ()
        self._origins_en: list[tuple[float, float]] = []
        self._video_servers: list[VideoServer] = []
        self._truth_server: TruthServer | None = None
        self._video_thread: threading.Thread | None = None
        self._video_stop = threading.Event()
        self._sprites: tuple[Sprite, ...] | None = None
        self.frames_rendered = 0
        self.render_s = 0.0
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
            east, north = cfg.starts_en[i] if cfg.starts_en else (cfg.spacing_m * i, 0.0)
            lat, lon = geodesy.moved(cfg.home.lat_deg, cfg.home.lon_deg, north, east)
            home = Home(lat, lon, cfg.home.alt_amsl_m, cfg.home.heading_deg)
            params = ParamTable(dict(cfg.params))
            params.force("SIM_SPEEDUP", cfg.speedup)
            model = Copter(i + 1, home, params, ready_after_s=cfg.ready_after_s,
                           position_after_s=cfg.position_after_s)
            port = cfg.base_port + 10 * i if cfg.base_port else 0
            vehicle = Vehicle(model, cfg.host, port, item_pace_s=cfg.item_pace_s, boot_banner=cfg.boot_banner,
                              scene=self._scene_now, run_in_worker=run_in_worker)
            vehicle.rgb_camera = self.rgb_camera
            out.append(vehicle)
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
                if self.world is not None:
                    video_port = v.port + VIDEO_PORT_OFFSET if self.config.base_port else 0
                    try:
                        video = VideoServer(self.config.host, video_port, name=f"vehicle {v.sysid}")
                    except OSError as exc:
                        raise OSError(exc.errno, f"cannot serve video on {self.config.host}:{video_port}: "
                                                 f"{exc.strerror}") from exc
                    self._video_servers.append(video)
                    v.video_url = video.url
            if self.world is not None:
                truth_port = self.config.base_port + TRUTH_PORT_OFFSET if self.config.base_port else 0
                try:
                    self._truth_server = TruthServer(self.truth, self.config.host, truth_port)
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot serve the ground truth on {self.config.host}:{truth_port}: "
                                             f"{exc.strerror}") from exc
                self._origins_en = [self._map_offset(v.model.origin) for v in vehicles]
                self._heard_seen = [-1.0] * len(vehicles)
        except BaseException:
            await self._close(vehicles)
            raise
        self._vehicles = vehicles
        if self.world is not None:
            self._snapshot_poses(time.time())
            self._video_stop.clear()
            self._video_thread = threading.Thread(target=self._video_loop, name="sim-video", daemon=True)
            self._video_thread.start()
        started.set_result(True)
        try:
            await self._clock()
        finally:
            await self._close(vehicles)

    async def _close(self, vehicles: list[Vehicle]) -> None:
        self._video_stop.set()
        if self._video_thread is not None:
            self._video_thread.join(timeout=10.0)
            self._video_thread = None
        for video in self._video_servers:
            video.close()
        self._video_servers = []
        if self._truth_server is not None:
            self._truth_server.close()
            self._truth_server = None
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
        if self.world is not None:
            self._snapshot_poses(time.time())
            if self.sim_time_s >= self._next_heard_poll:
                self._next_heard_poll = self.sim_time_s + HEARD_POLL_S
                self._poll_speakers()

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

    @property
    def video_urls(self) -> list[str]:
        """Each vehicle's video stream (MJPEG over HTTP); empty without a scenario."""
        return [v.url for v in self._video_servers]

    def video_server(self, i: int) -> VideoServer:
        """Vehicle i's video server (fault injection: `drop_viewers()`, `paused`)."""
        return self._video_servers[i]

    @property
    def truth_url(self) -> str | None:
        return self._truth_server.url if self._truth_server is not None else None

    # ------------------------------------------------------------------ thermal scene
    def set_thermal_scene(self, scene: ThermalScene) -> None:
        """What every vehicle's thermal camera sees from now on (captures already taken keep theirs). Refused with
        a scenario: the thermal cameras then see the world."""
        if not isinstance(scene, ThermalScene):
            raise TypeError(f"expected a ThermalScene, got {type(scene).__name__}")
        if self.world is not None:
            raise RuntimeError("this fleet simulates a scenario: its thermal cameras see the world")
        self._scene = scene

    @property
    def thermal_scene(self) -> ThermalScene:
        return self._scene_now()

    def _scene_now(self) -> ThermalScene:
        if self.world is None:
            return self._scene
        return self.world.thermal_scene(self.world.people(self.sim_time_s, self._heard))

    # ------------------------------------------------------------------ the world (with a scenario)
    @property
    def heard(self) -> tuple[Heard, ...]:
        """The loudspeaker broadcasts the world has heard, in the order they started."""
        return self._heard

    def truth(self) -> dict:
        """The world now: simulated and wall time, every person, the true count per zone, broadcasts heard,
        the drones (map frame: metres east/north of the scenario's origin). Empty without a scenario."""
        world = self.world
        if world is None:
            return {}
        t, heard, snapshots = self.sim_time_s, self._heard, self._snapshots
        people = world.people(t, heard)
        counts = {z.id: 0 for z in world.scenario.zones}
        for p in people:
            if p.zone is not None:
                counts[p.zone] += 1
        return {
            "scenario": world.scenario.scenario.name, "sim_time_s": round(t, 3), "wall_time_s": time.time(),
            "speedup": self.config.speedup, "zones": counts,
            "people": [{"id": p.person_id, "east_m": round(p.east_m, 2), "north_m": round(p.north_m, 2),
                        "lat_deg": round(lat, 7), "lon_deg": round(lon, 7), "skin_c": round(p.skin_c, 2),
                        "group": p.group, "activity": p.activity, "zone": p.zone}
                       for p, (lat, lon) in ((p, world.latlon(p.east_m, p.north_m)) for p in people)],
            "heard": [{"time_s": h.time_s, "east_m": round(h.east_m, 2), "north_m": round(h.north_m, 2),
                       "radius_m": h.radius_m, "vehicle": h.vehicle, "clip_id": h.clip_id} for h in heard],
            "vehicles": [{"index": i, "east_m": round(sn.pose.east_m, 2), "north_m": round(sn.pose.north_m, 2),
                          "up_m": round(sn.pose.up_m, 2), "camera_yaw_deg": round(sn.pose.yaw_deg, 1),
                          "camera_pitch_deg": round(sn.pose.pitch_deg, 1)} for i, sn in enumerate(snapshots)],
        }

    def camera_pose(self, i: int) -> CameraPose:
        """Vehicle i's camera pose now, in the scenario's map frame."""
        return self._snapshots[i].pose

    def sprites(self) -> tuple[Sprite, ...]:
        """People's appearances (cut from the footage on first use)."""
        if self._sprites is None:
            self._sprites = load_sprites(self.footage_dir)
        return self._sprites

    def _map_offset(self, origin: Home) -> tuple[float, float]:
        assert self.scenario is not None
        mlat, mlon = self.scenario.map.origin
        north, east = geodesy.offset_m(mlat, mlon, origin.lat_deg, origin.lon_deg)
        return east, north

    def _snapshot_poses(self, wall_s: float) -> None:
        """Each camera's pose now, in the map frame, with the wall-clock instant of this state (the simulator
        thread; the renderer reads the tuple)."""
        out = []
        for v, (oe, on) in zip(self._vehicles, self._origins_en):
            m = v.model
            pose = CameraPose(on + m.north_m, oe + m.east_m, max(m.alt_m, MIN_CAMERA_UP_M),
                              (m.yaw_deg + m.gimbal_yaw_deg) % 360.0, m.gimbal_pitch_deg)
            out.append(_Snapshot(self.sim_time_s, wall_s, pose))
        self._snapshots = tuple(out)

    def _poll_speakers(self) -> None:
        """New plays on any loudspeaker become broadcasts the world hears (from where the drone is now)."""
        assert self.scenario is not None
        radius = self.scenario.people.hearing_radius_m
        new = []
        for i, speaker in enumerate(self._speakers):
            for clip in speaker.played():
                if clip.started_at_s > self._heard_seen[i]:
                    self._heard_seen[i] = clip.started_at_s
                    pose = self._snapshots[i].pose
                    new.append(Heard(clip.started_at_s, pose.east_m, pose.north_m, radius, i, clip.clip_id))
        if new:
            self._heard = tuple(sorted(self._heard + tuple(new), key=lambda h: h.time_s))
            for h in new:
                log.info("vehicle %d: broadcast %s heard within %g m", h.vehicle + 1, h.clip_id, h.radius_m)

    def render_frame(self, i: int, truth: bool = False, snapshot: "_Snapshot | None" = None):
        """Vehicle i's camera frame now (or at `snapshot`, one of its pose snapshots) as an RGB array and, with
        truth=True, who is in view (sim.rgb_camera.InView)."""
        assert self.world is not None
        snap = snapshot if snapshot is not None else self._snapshots[i]
        people = self.world.people(snap.sim_time_s, self._heard)
        return render_rgb(self.world.ground, self.world.figures(people), snap.pose, self.rgb_camera, self.sprites(),
                          truth=truth)

    def _video_loop(self) -> None:
        """The renderer thread: every camera someone watches gets a frame every 1/fps wall seconds (frames are
        skipped, never queued, when rendering falls behind)."""
        assert self.scenario is not None and self.world is not None
        period = 1.0 / self.scenario.camera.fps
        quality = self.scenario.camera.jpeg_quality
        try:
            self.world.ground     # built here, not on the simulation loop
            self.sprites()
        except Exception:
            log.exception("the video cannot start (the ground or the people's appearances)")
            return
        latency = self.scenario.camera.latency_s
        counters = [0] * len(self._video_servers)
        in_flight: list[tuple[float, VideoServer, VideoFrame]] = []   # (when it leaves the drone, where, what)
        next_due = time.monotonic()
        while not self._video_stop.is_set():
            delay = next_due - time.monotonic()
            if delay > 0 and self._video_stop.wait(delay):
                return
            next_due = max(next_due + period, time.monotonic())
            now = time.monotonic()
            while in_flight and in_flight[0][0] <= now:
                _, server, frame = in_flight.pop(0)
                server.publish(frame)
            for i, server in enumerate(self._video_servers):
                if server.viewers == 0 or server.paused:
                    continue
                snap = self._snapshots[i]
                try:
                    t0 = time.perf_counter()
                    frame, _ = self.render_frame(i, snapshot=snap)   # the state the time stamp names
                    jpeg = jpeg_bytes(frame, quality)
                    self.render_s += time.perf_counter() - t0
                except Exception:
                    log.exception("vehicle %d: rendering failed", i + 1)
                    continue
                in_flight.append((time.monotonic() - (time.time() - snap.wall_s) + latency, server,
                                  VideoFrame(jpeg, counters[i], snap.wall_s, snap.sim_time_s)))
                counters[i] += 1
                self.frames_rendered += 1

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


@dataclass(frozen=True)
class _Snapshot:
    """A camera's pose (map frame) at one simulator tick, with that tick's simulated and wall-clock time."""
    sim_time_s: float
    wall_s: float
    pose: CameraPose


def _relay_to(speaker: SpeakerServer) -> Callable[[int, bool], None]:
    """Relay n switched on plays the speaker's pre-loaded clip n + 1 (when there is one)."""
    def on_relay(number: int, on: bool) -> None:
        if on and number + 1 in speaker.preloaded:
            speaker.play_preloaded(number + 1)
    return on_relay
