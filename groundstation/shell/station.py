"""The station shell: composes the fleet's links (telemetry/), the pure core and storage, and owns the threads.

Threads and who owns what:
- one core thread owns the domain state (`core.state.StationState`) and drains ONE bounded inbox (`Inbox`);
  it supplies `now_s = time.time()` to `core.dispatch.handle` and carries out the actions it returns;
- link threads (inside telemetry/) only put events into the inbox, and never block doing so;
- a small worker pool runs the blocking telemetry calls of `SendCommand` actions; each result comes back
  to the inbox as a `CommandFinished` event;
- the storage writer thread owns the database connection (see storage/writer.py; the patrol schedules are re-read
  through it on each tick, when the table changed). A command's audit row is
  committed BEFORE the command is sent to the vehicle (write-ahead audit), so the record never misses a
  command that reached a vehicle.

Inbox policies: shell/inbox.py.

The web map (web/, through shell/web_bridge.py) is a client of this API (view(), feed, request()); restarting it
never touches the links.
"""
from __future__ import annotations

import collections
import functools
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from groundstation.config import StationConfig
from groundstation.core import crowds, risk
from groundstation.core.dispatch import handle
from groundstation.core.notice_data import Deliver
from groundstation.core.patrols import PatrolState, SchedulesLoaded, Tick
from groundstation.core.policy import Policy
from groundstation.core.records import (
    CommandFinished,
    CommandOutcome,
    CommandRequest,
    CommandRow,
    EventRow,
    Record,
    Reply,
    SendCommand,
    VehicleConfigured,
    VehicleUnavailable,
    plain,
)
from groundstation.core.response_data import (
    AlertRow,
    Broadcast,
    BroadcastFinished,
    ScreenThermal,
    StopBroadcast,
    ThermalScreened,
)
from groundstation.core.state import StationState, initial_state
from groundstation.core.venue_data import VenuePolicy
from groundstation.core.venue_data import initial as initial_venues
from groundstation.core.venue_data import snapshot as venue_snapshot
from groundstation.shell import schedules
from groundstation.shell.housekeeping import Housekeeping
from groundstation.shell.inbox import EMPTY, WAKE, Inbox
from groundstation.shell.venue_lines import VenueLines
from groundstation.shell.feed import Feed
from groundstation.shell.notifier import Notifier
from groundstation.shell.snapshots import Snapshots
from groundstation.shell.storage import StorageError, StorageWriter, risk_history
from telemetry.errors import (
    CommandRefused,
    CommandTimeout,
    LinkDown,
    MissionError,
    ParamError,
    TelemetryError,
)
from telemetry.records import CommandAck, StateUpdated, VehicleState

log = logging.getLogger("groundstation.station")

_LOG_LEVELS = MappingProxyType({"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL})
_STOP = object()
AUDIT_COMMIT_TIMEOUT_S = 5.0


class FleetLike(Protocol):
    """What the station needs from telemetry.fleet.Fleet (a test double can provide the same)."""

    def add(self, vehicle_id: str, url: str, **kwargs: Any) -> Any: ...
    def get(self, vehicle_id: str) -> Any: ...
    def close(self) -> None: ...


def default_fleet_factory(on_event: Callable[[object], None]) -> FleetLike:
    from telemetry.fleet import Fleet  # imported here: pymavlink is heavy and tests may use a double

    return Fleet(on_event=on_event)


@dataclass(frozen=True)
class StationCounters:
    """What the station has done so far (for the benchmark and the logs)."""

    events_handled: int  # events the core handled (states after coalescing, plus everything else)
    state_updates_received: int  # StateUpdated events from the links, before coalescing
    state_updates_coalesced: int  # ... replaced by a newer one before the core saw them
    telemetry_events_received: int  # every event from the links, StateUpdated included
    link_messages_received: int  # MAVLink messages decoded by the links (per the latest states seen)
    commands_requested: int
    commands_refused_inbox_full: int
    commands_sent: int
    commands_finished: int
    inbox_depth: int
    inbox_max_depth: int
    inbox_overflowed: int
    rows_written: int
    write_errors: int
    storage_queue_depth: int


class Station:
    """The running station. `Station(config).start()`, `.request(CommandRequest) -> Future[CommandOutcome]`,
    `.snapshot()`, `.counters()`, `.stop()`."""

    def __init__(self, config: StationConfig, *,
                 fleet_factory: Callable[[Callable[[object], None]], FleetLike] = default_fleet_factory,
                 clock: Callable[[], float] = time.time,
                 audit_commit_timeout_s: float = AUDIT_COMMIT_TIMEOUT_S,
                 auto_tick: bool = True):
        """auto_tick=False: no timer thread; the caller drives the patrol schedules with `tick()` (tests, with
        an injected `clock`)."""
        self.config = config
        self._auto_tick = auto_tick
        self._schedules_seen: tuple | None = None
        self._tick_lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._ticker_stop = threading.Event()
        self._fleet_factory = fleet_factory
        self._clock = clock
        self._audit_timeout_s = audit_commit_timeout_s
        settings = config.station
        self._inbox = Inbox(settings.inbox_size)
        self._writer = StorageWriter(settings.storage_path)
        self._state = initial_state(Policy.from_config(config.limits, config.geofence), config.patrols.policy(),
                                    config.counting.policy(), config.response.policy(config.counting))
        # notices to grid officers (shell/notifier.py): the [grid] cells and routing, deliveries on its own threads
        self._notifier = Notifier(config, self._inbox.put_event, clock)
        self._state = self._notifier.install(self._state)
        # --- the risk map, venues, retention and daily reports (issue 13): core/risk.py, core/venues.py,
        # shell/venue_lines.py (entrance lines counted on every frame), shell/housekeeping.py (purge, reports)
        self._state = risk.install(replace(self._state, venues=initial_venues(
            VenuePolicy(tuple(v.venue() for v in config.venues)))), config.risk.policy())
        self._venue_lines = VenueLines(config, self._inbox.put_event)
        self._housekeeping = Housekeeping(config, self._writer, clock)
        # alerts' evidence snapshots, people blurred by the vision workers (shell/snapshots.py, vision/privacy.py)
        self._snapshots = Snapshots(config, self._writer, self.video_sources, clock,
                                    on_stored=lambda row: self.feed.publish("snapshot", clock(), plain(row)))
        # --- end of the issue 13 set-up
        self._screener: Any = None  # shell/screening.ThermalScreener, made at start
        self._loudspeaker: Any = None  # shell/loudspeaker.Loudspeaker, made at start
        self._vision: Any = None  # vision_streams.VisionStreams when cameras are configured
        self._vision_latency_ms: dict[str, collections.deque[float]] = {}
        self._published: StationState = self._state
        self.feed = Feed()  # live updates for clients: every recorded row and vehicle state, numbered
        self._view_lock = threading.Lock()  # held while the published state and its feed items change together
        self._futures: dict[str, Future[CommandOutcome]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._fleet: FleetLike | None = None
        self._core_thread: threading.Thread | None = None
        self._running = False
        self._closing = False
        self._telemetry_events = 0
        self._requested = 0
        self._sent = 0
        self._finished = 0

    # --- life cycle -------------------------------------------------------------------------------------

    def start(self) -> "Station":
        """Open storage (raises StorageError), start the core thread, then connect every vehicle."""
        self._writer.start()
        self._pool = ThreadPoolExecutor(self.config.station.command_workers, thread_name_prefix="station-cmd")
        self._running = True
        self._core_thread = threading.Thread(target=self._core_loop, name="station-core", daemon=True)
        self._core_thread.start()
        try:
            self._load_schedules(at_start=True)
        except (sqlite3.Error, StorageError, ValueError) as exc:
            log.error("cannot read the patrol schedules: %s", exc)
        self._load_risk()  # issue 13: the risk map's evidence from before this start
        if self._auto_tick:
            self._ticker = threading.Thread(target=self._tick_loop, name="station-ticker", daemon=True)
            self._ticker.start()
        if self.config.cameras:
            self._start_vision()
        self._start_response()
        log.info("station %s: storage %s, %d vehicle(s)", self.config.station.name,
                 self.config.station.storage_path, len(self.config.vehicles))
        try:
            self._fleet = self._fleet_factory(self._on_telemetry)
        except Exception:
            self.stop()
            raise
        tlog_dir = self.config.station.tlog_dir
        for vehicle in self.config.vehicles:
            self._inbox.put_event(VehicleConfigured(vehicle.id, vehicle.url, vehicle.system_id))
            try:
                self._fleet.add(vehicle.id, vehicle.url, link_timeout_s=vehicle.link_timeout_s,
                                tlog_dir=None if tlog_dir is None else str(tlog_dir),
                                target_system=vehicle.system_id, stream_rates_hz=vehicle.stream_rates_hz)
            except Exception as exc:  # a broken entry must not stop the others
                log.error("vehicle %s: cannot set up link %s: %s", vehicle.id, vehicle.url, exc)
                self._inbox.put_event(VehicleUnavailable(vehicle.id, vehicle.url, f"{type(exc).__name__}: {exc}"))
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Close the links, let commands in flight finish, drain the inbox, write everything, close storage."""
        with self._lock:
            if not self._running:
                return
            self._running = False
        deadline = time.monotonic() + timeout_s
        if self._vision is not None:
            try:
                self._vision.stop(max(1.0, timeout_s / 2))
            except Exception:
                log.exception("stopping the vision workers failed")
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(5.0)
        if self._fleet is not None:
            try:
                self._fleet.close()
            except Exception:
                log.exception("closing the fleet failed")
        self._closing = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._notifier.close()  # deliveries in flight finish (each has its timeout)
        self._housekeeping.close(max(0.1, deadline - time.monotonic()))  # a purge or report in progress finishes
        self._inbox.put_event(_STOP)
        if self._core_thread is not None:
            self._core_thread.join(max(0.1, deadline - time.monotonic()))
            if self._core_thread.is_alive():
                log.error("station core thread did not finish in time")
        self._snapshots.close(max(0.1, deadline - time.monotonic()))  # snapshots being taken are written first
        if self._loudspeaker is not None:  # no speech prepared into the cache once stopped
            self._loudspeaker.close(max(0.1, deadline - time.monotonic()))
        with self._lock:
            leftovers, self._futures = self._futures, {}
        for request_id, future in leftovers.items():
            future.set_result(CommandOutcome(request_id, "", "", "failed", "station stopped"))
        self._writer.close(max(0.1, deadline - time.monotonic()))
        log.info("station %s stopped", self.config.station.name)

    def __enter__(self) -> "Station":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- public API -------------------------------------------------------------------------------------

    def request(self, request: CommandRequest) -> Future[CommandOutcome]:
        """Ask for a command; the Future resolves with its outcome (accepted, refused or failed), never raises."""
        future: Future[CommandOutcome] = Future()
        request_id = request.request_id or uuid.uuid4().hex
        request = replace(request, request_id=request_id)
        with self._lock:
            self._requested += 1
            if not self._running:
                future.set_result(self._shell_refusal(request, "station not running", record=False))
                return future
            if request_id in self._futures:
                future.set_result(self._shell_refusal(request, f"duplicate request id {request_id!r}"))
                return future
            self._futures[request_id] = future
        if not self._inbox.put_request(request):
            with self._lock:
                self._futures.pop(request_id, None)
            future.set_result(self._shell_refusal(
                request, f"station busy: inbox full ({self._inbox.depth()} events waiting); try again"))
        return future

    def abort_patrol(self, vehicle_id: str, requested_by: str = "operator", reason: str = "") -> Future[CommandOutcome]:
        """Abort the automatic patrol flown by a vehicle: the run is recorded aborted (who, why) and the vehicle
        sent home (RTL, through the checks). The Future resolves with the RTL's outcome, or a refusal."""
        return self.request(CommandRequest(vehicle_id, "abort_patrol", {"reason": reason} if reason else {},
                                           requested_by=requested_by))

    def tick(self) -> None:
        """Reload the schedules if the table changed, then let the core look at them (Tick at the clock's now).
        The timer thread calls this every [patrols].tick_s; with auto_tick=False tests call it."""
        if not self._running:
            return
        try:
            self._load_schedules(at_start=False)
        except (sqlite3.Error, StorageError, ValueError) as exc:
            log.error("cannot read the patrol schedules: %s", exc)
        self._inbox.put_event(Tick())
        self._housekeeping.tick()  # issue 13: retention purge and daily reports, when due (own thread)

    def patrol_state(self) -> PatrolState:
        """The patrol part of the core's latest state (active runs, schedules, resume points)."""
        return self._published.patrols

    def _load_schedules(self, at_start: bool) -> None:
        """Reload the schedules when the table changed (or at start): the query runs on the storage writer."""
        with self._tick_lock:
            seen = self._schedules_seen
            fingerprint, parts = self._writer.call(
                lambda conn: schedules.load_for_station(conn, at_start=at_start, seen=seen))
            self._schedules_seen = fingerprint
        if parts is not None:
            self._inbox.put_event(SchedulesLoaded(*parts))

    def _tick_loop(self) -> None:
        period = self.config.patrols.tick_s
        while not self._ticker_stop.wait(period):
            try:
                self.tick()
            except Exception:  # pragma: no cover - never let the timer die
                log.exception("patrol tick failed")

    def crowd_snapshot(self) -> crowds.CrowdSnapshot:
        """Latest zone counts (with gathering flags), occupied grid cells, recent crowds and stream views."""
        return crowds.snapshot(self._published.crowds, self._clock())

    def vision_latencies_ms(self) -> dict[str, list[float]]:
        """Per stream, frame capture to handled in the core (ms, wall clock), for the most recent frames.
        Meaningful for live sources and real-time replays (their capture clock is wall time)."""
        with self._lock:
            return {sid: list(d) for sid, d in self._vision_latency_ms.items()}

    def video_sources(self) -> dict[str, str]:
        """Per camera stream, the address of its worker's MJPEG of analysed frames (the web map proxies them)."""
        return self._vision.video_urls() if self._vision is not None else {}

    def snapshot_path(self, alert_id: str) -> Path | None:
        """The evidence snapshot of an alert (a JPEG, every person blurred: shell/snapshots.py), when one was taken and
        is still kept; else None. For the web map to serve to logged-in users."""
        return self._snapshots.path(alert_id)

    def vision_alive(self) -> dict[str, bool]:
        """Per stream, whether its worker process is running."""
        return self._vision.alive() if self._vision is not None else {}

    def _start_vision(self) -> None:
        from groundstation.shell.vision_streams import VisionStreams

        for camera in self.config.cameras:
            self._inbox.put_event(crowds.StreamConfigured(camera.id, camera.vehicle_id, camera.source))
        try:
            self._vision = VisionStreams(self.config, self._inbox.put_event,
                                         self._venue_lines.tap(self._inbox.put_latest),  # entrance lines counted
                                         clock=self._clock).start()
        except Exception:  # the station and its links run without vision
            log.exception("cannot start the vision workers")
            self._vision = None

    def view(self) -> dict[str, Any]:
        """A JSON-able snapshot of what the station knows now, with `seq`, the number of the last feed item it
        includes: apply the feed's items after it (`feed.since(seq)`, `feed.subscribe`) to keep it current."""
        with self._view_lock:
            state, seq = self._published, self.feed.seq
        now = self._clock()
        snap = crowds.snapshot(state.crowds, now)
        return {
            "seq": seq,
            "at_s": now,
            "vehicles": {vid: plain(replace(v.state or VehicleState(vehicle_id=vid), link_up=v.link_up))
                         for vid, v in state.vehicles.items()},
            "zones": [plain(z) for z in snap.zones],
            "cells": [plain(c) for c in snap.cells],
            "crowds": [plain(c) for c in snap.crowds],
            "people": snap.people,
            "responses": [{k: v for k, v in plain(r).items() if k not in ("chain", "screenings")}
                          for r in state.responses.responses.values()],
            "patrol_runs": [{k: v for k, v in plain(r).items() if k not in ("items", "index_map")}
                            for r in state.patrols.runs.values()],
            # issue 13: the risk map (each area's level, since when, why) and the venues' occupancy and limits
            "risk": risk.snapshot(state),
            "venues": [{**plain(v), "over_limit": v.over_limit} for v in venue_snapshot(state.venues)],
        }

    def vehicle_reader(self, vehicle_id: str) -> "VehicleReader":
        """Read-only access to a vehicle's link for tools (state, parameters, the mission on board); every
        command goes through request(). KeyError if the vehicle is not configured."""
        if self._fleet is None:
            raise KeyError(f"{vehicle_id}: the station is not running")
        link = self._fleet.get(vehicle_id)
        if link is None:
            raise KeyError(f"{vehicle_id}: no such vehicle")
        return VehicleReader(link)

    def snapshot(self) -> dict[str, VehicleState]:
        """Latest state per vehicle (link_up as the station sees it)."""
        state = self._published
        return {
            vid: replace(view.state or VehicleState(vehicle_id=vid), link_up=view.link_up)
            for vid, view in state.vehicles.items()
        }

    def counters(self) -> StationCounters:
        w = self._writer.counters()
        inbox = self._inbox
        with self._lock:
            requested, sent, finished, telemetry = self._requested, self._sent, self._finished, self._telemetry_events
        return StationCounters(
            events_handled=self._published.events_handled,
            state_updates_received=inbox.states_received,
            state_updates_coalesced=inbox.states_coalesced,
            telemetry_events_received=telemetry,
            link_messages_received=sum(v.state.messages_received for v in self._published.vehicles.values()
                                       if v.state is not None),
            commands_requested=requested,
            commands_refused_inbox_full=inbox.requests_refused,
            commands_sent=sent,
            commands_finished=finished,
            inbox_depth=inbox.depth(),
            inbox_max_depth=inbox.max_depth,
            inbox_overflowed=inbox.overflowed,
            rows_written=w.rows_written,
            write_errors=w.write_errors,
            storage_queue_depth=w.queue_depth,
        )

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the core has handled everything queued before this call and every row it produced is
        committed (for tests and tools). False if that did not happen within timeout_s."""
        deadline = time.monotonic() + timeout_s
        if self._running:
            barrier = _Barrier()
            self._inbox.put_event(barrier)
            if not barrier.reached.wait(timeout_s):
                return False
        return self._writer.flush(max(0.0, deadline - time.monotonic()))

    # --- link threads ---------------------------------------------------------------------------------

    def _on_telemetry(self, event: object) -> None:
        """Called from link threads: must never block or raise."""
        try:
            with self._lock:
                self._telemetry_events += 1
            if isinstance(event, StateUpdated):
                self._inbox.put_state(event)
                if self._vision is not None:
                    self._vision.on_state(event)
            else:
                self._inbox.put_event(event)
        except Exception:  # pragma: no cover - defensive: never break a link thread
            log.exception("dropping telemetry event %r", event)

    # --- the core thread --------------------------------------------------------------------------------

    def _core_loop(self) -> None:
        while True:
            item = self._inbox.get(0.2)
            for state_event in self._inbox.take_states():
                self._apply(state_event)
            if item is _STOP:
                for state_event in self._inbox.take_states():
                    self._apply(state_event)
                return
            if isinstance(item, _Barrier):
                item.reached.set()
            elif item is not EMPTY and item is not WAKE:
                self._apply(item)

    def _apply(self, event: object) -> None:
        try:
            self._state, actions = handle(self._state, event, self._clock())  # type: ignore[arg-type]
        except Exception as exc:  # the core answers its own bugs; this is the last guard: a request still ends
            log.exception("core failed on %r; event skipped", event)
            if isinstance(event, CommandRequest):
                outcome = self._shell_refusal(event, f"internal error in the station core: {type(exc).__name__}: {exc}")
                with self._lock:
                    future = self._futures.pop(event.request_id, None)
                if future is not None:
                    future.set_result(outcome)
            return
        rows = [a.row for a in actions if isinstance(a, Record)]
        with self._view_lock:  # a client's view() sees the state and the feed number that go together
            self._published = self._state
            now = self._clock()
            for row in rows:
                self.feed.publish(_feed_kind(row), now, plain(row))
            if isinstance(event, StateUpdated):
                vid = event.state.vehicle_id
                view = self._state.vehicles.get(vid)
                if view is not None and view.state is not None:
                    self.feed.publish("vehicle", now, plain(replace(view.state, link_up=view.link_up)))
        if isinstance(event, crowds.VisionObserved) and event.frame is not None:
            latency_ms = (time.time() - event.frame.capture_time_s) * 1000.0
            with self._lock:
                self._vision_latency_ms.setdefault(event.stream_id, collections.deque(maxlen=10_000)).append(latency_ms)
        seq = self._writer.submit(rows) if rows else 0
        for row in rows:
            if isinstance(row, EventRow):
                log.log(_LOG_LEVELS.get(row.severity, logging.INFO), "%s: %s", row.vehicle_id or "station", row.text)
            elif isinstance(row, AlertRow):
                self._snapshots.on_alert(row)  # its evidence snapshot, in the background (never blocks)
        for action in actions:
            if isinstance(action, SendCommand):
                with self._lock:
                    self._sent += 1
                assert self._pool is not None
                try:
                    self._pool.submit(self._execute, action, seq)
                except RuntimeError:  # pool shut down while stopping
                    self._inbox.put_event(CommandFinished(action.request_id, action.vehicle_id, action.action, False,
                                                          error_kind="station_stopped", error="station stopping"))
            elif isinstance(action, (ScreenThermal, Broadcast, StopBroadcast)):
                try:
                    self._pool.submit(self._payload, action)
                except RuntimeError:  # pool shut down while stopping
                    log.warning("station stopping: %s of %s not done", type(action).__name__, action.response_id)
            elif isinstance(action, Deliver):  # a notice to a grid officer (shell/notifier.py)
                self._notifier.deliver(action)
            elif isinstance(action, Reply):
                with self._lock:
                    future = self._futures.pop(action.outcome.request_id, None)
                if future is not None:
                    # answered once the records of the decision are committed: what a requester is told is in the
                    # audit trail, even if the station dies the next moment
                    self._writer.after_committed(functools.partial(future.set_result, action.outcome))

    def _shell_refusal(self, request: CommandRequest, reason: str, record: bool = True) -> CommandOutcome:
        """A request refused before it reached the core (inbox full, station stopped): still recorded."""
        if record:
            now = self._clock()
            self._writer.submit([
                CommandRow(request.request_id, request.vehicle_id, str(request.action), plain(request.args),
                           request.requested_by, now, "refused", reason),
                EventRow(request.vehicle_id, now, "decision", "warning",
                         f"refused {request.action} requested by {request.requested_by}: {reason}",
                         {"request_id": request.request_id, "action": request.action, "decision": "refused"}),
            ])
        log.warning("%s: refused %s: %s", request.vehicle_id, request.action, reason)
        return CommandOutcome(request.request_id, request.vehicle_id, str(request.action), "refused_by_station", reason)

    # --- the worker pool ------------------------------------------------------------------------------

    def _start_response(self) -> None:
        """The crowd response's payload adapters: thermal screening and the loudspeaker (speech synthesis is
        prepared for every zone's message in the background, so that a broadcast costs no synthesis)."""
        from groundstation.shell.loudspeaker import Loudspeaker
        from groundstation.shell.screening import ThermalScreener

        settings = self.config.response
        self._screener = ThermalScreener(self._camera_info, settings.screening())
        self._loudspeaker = Loudspeaker(settings.synthesizer(), {v.id: v.speaker_url for v in self.config.vehicles
                                                                 if v.speaker_url}, self._clock)
        self._prepare_speech(self._state.response_policy)

    def _prepare_speech(self, policy: Any) -> None:
        """Synthesize every zone's loudspeaker message in the background (cached), so a broadcast costs none."""
        messages = sorted({zp.messages for zp in (*policy.zones.values(), policy.default) if zp.messages})
        if messages and self._loudspeaker is not None and self.config.response.broadcast == "speaker":
            self._loudspeaker.prepare_in_background(messages)

    def _camera_info(self, vehicle_id: str, component_id: int) -> Any:
        vehicle = self._fleet.get(vehicle_id) if self._fleet is not None else None
        if vehicle is None:
            raise LinkDown(f"vehicle {vehicle_id} has no link")
        return vehicle.camera_information(component_id)

    def _payload(self, action: ScreenThermal | Broadcast | StopBroadcast) -> None:
        """Runs a payload job of the crowd response on a worker thread; its result goes back to the inbox, always."""
        result: Any = None
        try:
            if isinstance(action, ScreenThermal):
                result = self._screener.screen(action)
            elif isinstance(action, Broadcast):
                result = self._loudspeaker.broadcast(action)
            else:
                self._loudspeaker.stop(action)
        except Exception as exc:  # a bug in an adapter must not lose the answer the core waits for
            log.exception("%s of %s failed unexpectedly", type(action).__name__, action.response_id)
            if isinstance(action, ScreenThermal):
                result = ThermalScreened(action.response_id, action.shot, (), f"internal error: {exc!r}",
                                         action.image.file_url)
            elif isinstance(action, Broadcast):
                result = BroadcastFinished(action.response_id, action.broadcast_id, False, f"internal error: {exc!r}")
        if result is not None:
            self._inbox.put_event(result)

    def observe(self, event: crowds.VisionObserved) -> None:
        """What a camera saw (as a vision worker reports it): counted like the vision streams' results."""
        from groundstation.shell.vision_streams import merge_observed

        self._venue_lines.tap(self._inbox.put_latest)(event.stream_id, event, merge_observed)

    def respond(self, action: str, response_id: str, requested_by: str = "operator", **args: Any
                ) -> Future[CommandOutcome]:
        """An operator's decision on a crowd response: approve_response, deny_response or abort_response
        (then = resume | rtl, reason). Checked and recorded like every request."""
        return self.request(CommandRequest("", action, {"response_id": response_id, **args}, requested_by=requested_by))

    def acknowledge_notice(self, notice_id: str | None = None, *, alert_id: str | None = None,
                           requested_by: str = "operator", officer_id: str | None = None, token: str | None = None,
                           note: str = "") -> Future[CommandOutcome]:
        """Acknowledge a notice to a grid officer: an officer's link (notice_id, officer_id and the link's token; the
        web endpoint of [grid] ack_base_url calls this), or an operator (a notice, or every notice of alert_id).
        Checked and recorded like every request (core/notices.py)."""
        return self.request(self._notifier.acknowledgement(notice_id, alert_id=alert_id, by=requested_by,
                                                           officer_id=officer_id, token=token, note=note))

    def reload_zones(self, requested_by: str = "operator") -> Future[CommandOutcome]:
        """Read [counting] zones_file and [grid] file again (an admin changed one) and count, route and map by them from
        now on (core/zones.py: checked and recorded like every request; refused while a removed zone has a gathering
        or a response, or a removed grid unit a notice open)."""
        from groundstation.core.zones import ZonesRead
        from missions.errors import MissionError

        path = self.config.counting.zones_file
        try:
            counting, response_policy, notice_policy = self.config.grid.policies(self.config.counting,
                                                                                 self.config.response)
        except (OSError, UnicodeDecodeError, ValueError, MissionError) as exc:
            request = CommandRequest("", "load_zones", {"file": str(path)}, requested_by, uuid.uuid4().hex)
            future: Future[CommandOutcome] = Future()
            future.set_result(self._shell_refusal(request, f"cannot read the zones file {path}: {exc}"))
            return future
        zones = [{"id": z.zone_id, "name": z.name, "capacity": z.capacity_persons,
                  "mode": response_policy.zone(z.zone_id).mode} for z in counting.zones if not z.zone_id.startswith("grid:")]
        sources = [p.name for p in (path, self.config.grid.file) if p is not None]
        read = ZonesRead(counting, response_policy, notice_policy if self.config.grid.file is not None else None,
                         " and ".join(sources))
        future = self.request(CommandRequest("", "load_zones", {"file": str(path), "zones": zones}, requested_by,
                                             attachment=read))
        future.add_done_callback(lambda f: self._prepare_speech(response_policy)
                                 if f.result().status == "accepted" else None)
        return future

    # --- issue 13: the risk map and venues (station actions, checked and recorded like every request) ---------------

    def risk_input(self, unit_id: str, *, cases: int = 0, close_contacts: int = 0, lockdown: bool | None = None,
                   note: str = "", requested_by: str = "health") -> Future[CommandOutcome]:
        """A health official's input for a cell or community (core/risk.py): new cases, close contacts, a lockdown
        declared (True) or lifted (False). The map is redrawn at once."""
        args: dict[str, Any] = {"unit_id": unit_id}
        args.update({k: v for k, v in (("cases", cases), ("close_contacts", close_contacts)) if v})
        if lockdown is not None:
            args["lockdown"] = lockdown
        if note:
            args["note"] = note
        return self.request(CommandRequest("", "risk_input", args, requested_by=requested_by))

    def recompute_risk(self, requested_by: str = "operator", reason: str = "") -> Future[CommandOutcome]:
        """Redraw the risk map now."""
        return self.request(CommandRequest("", "recompute_risk", {"reason": reason} if reason else {},
                                           requested_by=requested_by))

    def set_venue_occupancy(self, venue_id: str, occupancy: int, requested_by: str = "operator", note: str = ""
                            ) -> Future[CommandOutcome]:
        """An operator's recount of a venue's occupancy."""
        args: dict[str, Any] = {"venue_id": venue_id, "occupancy": occupancy}
        if note:
            args["note"] = note
        return self.request(CommandRequest("", "set_venue_occupancy", args, requested_by=requested_by))

    def _load_risk(self) -> None:
        """Put the risk map's evidence from the database (what still weighs) into the inbox (core/risk.on_loaded)."""
        policy = self._state.risk.policy
        horizon_s = max((r.half_life_s for r in policy.rules), default=0.0) * policy.forget_half_lives
        since_s = self._clock() - horizon_s
        try:
            self._inbox.put_event(self._writer.call(lambda conn: risk_history(conn, since_s)))
        except (sqlite3.Error, StorageError, ValueError) as exc:
            log.error("cannot read the risk map's evidence: %s", exc)

    # --- end of issue 13's API

    def response_state(self) -> Any:
        """The crowd-response part of the core's latest state (active responses, cooldowns)."""
        return self._published.responses

    def _execute(self, cmd: SendCommand, audit_seq: int) -> None:
        """Runs a checked command on a worker thread; the result goes back to the inbox, always."""
        started = time.monotonic()
        finished: CommandFinished
        vehicle = None
        try:
            if self._closing:
                raise _NotSent("station stopping; command not sent")
            if not self._writer.wait_committed(audit_seq, self._audit_timeout_s):
                if not cmd.command.safety:
                    raise _NotSent("audit trail not writable; command not sent")
                log.error("%s: audit row not committed, sending safety action %s anyway", cmd.vehicle_id, cmd.action)
            if self._fleet is None:
                raise _NotSent("no fleet")
            vehicle = self._fleet.get(cmd.vehicle_id)
            if vehicle is None:
                raise LinkDown(f"vehicle {cmd.vehicle_id} has no link")
            result = cmd.command.send(vehicle)
            elapsed = time.monotonic() - started
            if isinstance(result, CommandAck):
                finished = CommandFinished(cmd.request_id, cmd.vehicle_id, cmd.action, True, result.command,
                                           result.result, result.result_name, result.attempts, result.round_trip_s)
            else:  # no ACK (a mission transfer, a mode already set) or a record (e.g. a captured image)
                finished = CommandFinished(cmd.request_id, cmd.vehicle_id, cmd.action, True, round_trip_s=elapsed,
                                           result_name="DONE", detail=None if result is None else repr(result)[:200],
                                           value=result)
        except CommandRefused as exc:
            finished = CommandFinished(cmd.request_id, cmd.vehicle_id, cmd.action, False, exc.command, exc.result,
                                       exc.result_name, round_trip_s=time.monotonic() - started,
                                       error_kind="refused", error=str(exc))
        except MissionError as exc:
            finished = CommandFinished(cmd.request_id, cmd.vehicle_id, cmd.action, False, None, exc.result,
                                       exc.result_name, round_trip_s=time.monotonic() - started,
                                       error_kind="mission", error=str(exc))
        except (CommandTimeout, LinkDown, ParamError, TelemetryError, _NotSent) as exc:
            kind = {CommandTimeout: "timeout", LinkDown: "link_down", ParamError: "param",
                    _NotSent: "not_sent"}.get(type(exc), type(exc).__name__)
            command = getattr(exc, "command", None)
            finished = CommandFinished(cmd.request_id, cmd.vehicle_id, cmd.action, False, command,
                                       attempts=getattr(exc, "attempts", None),
                                       round_trip_s=time.monotonic() - started, error_kind=kind, error=str(exc))
        except Exception as exc:  # a bug in a lower layer must not lose the result
            log.exception("%s: %s failed unexpectedly", cmd.vehicle_id, cmd.action)
            finished = CommandFinished(cmd.request_id, cmd.vehicle_id, cmd.action, False,
                                       round_trip_s=time.monotonic() - started, error_kind="internal",
                                       error=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._finished += 1
        if vehicle is not None and vehicle.state is not None:
            # the core sees the vehicle as the command left it (an arm confirmed from HEARTBEAT: armed) before the
            # result, whichever of this and the link's own StateUpdated reaches the inbox first
            self._inbox.put_state(StateUpdated(vehicle.state, time.monotonic()))
        self._inbox.put_event(finished)


def _feed_kind(row: Any) -> str:
    """EventRow -> "event", ResponseStepRow -> "response_step", ... (the row's type in snake case)."""
    name = type(row).__name__.removesuffix("Row")
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


class VehicleReader:
    """The read-only part of a telemetry Vehicle: what a tool may look at without going through the checks."""

    def __init__(self, vehicle: Any):
        self._v = vehicle
        self.vehicle_id: str = vehicle.vehicle_id
        self.url: str = vehicle.url

    @property
    def state(self) -> VehicleState:
        return self._v.state

    @property
    def link_down_reason(self) -> str:
        return self._v.link_down_reason

    @property
    def tlog_paths(self) -> list[Any]:
        return self._v.tlog_paths

    def wait_until(self, predicate: Callable[[VehicleState], bool], timeout_s: float, what: str = "condition"
                   ) -> VehicleState:
        return self._v.wait_until(predicate, timeout_s, what)

    def wait_ready(self, timeout_s: float) -> VehicleState:
        return self._v.wait_ready(timeout_s)

    def get_param(self, name: str, **kwargs: Any) -> float:
        return self._v.get_param(name, **kwargs)

    def fetch_params(self, **kwargs: Any) -> dict[str, float]:
        return self._v.fetch_params(**kwargs)

    def download_mission(self, **kwargs: Any) -> list[Any]:
        return self._v.download_mission(**kwargs)


class _NotSent(Exception):
    pass


class _Barrier:
    """Put through the inbox by flush(): the core sets `reached` when it gets there."""

    def __init__(self) -> None:
        self.reached = threading.Event()
