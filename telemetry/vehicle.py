"""One vehicle as the station sees it: its link, its latest state, and the commands it can be given.

    v = Vehicle("copter-1", "tcp:127.0.0.1:5760", on_event=inbox.put, link_timeout_s=3.0)  # see LinkSettings
    v.start()                      # returns at once; the link thread connects (and reconnects) by itself
    v.wait_ready(60)               # link up, GPS position, pre-arm checks passing
    v.set_mode("GUIDED"); v.arm(); v.takeoff(20)
    v.upload_mission(items); v.set_current_mission_item(1); v.set_mode("GUIDED"); v.arm(); v.start_mission()
    v.point_gimbal(-60); v.set_roi(lat, lon, 0); v.set_relay(0, True)
    v.camera_information(101); v.capture_image(101)   # a camera component of the vehicle (MAVLink camera protocol)

Threads: the link thread (see link.py) decodes every message, folds it into the state under a condition
variable, and calls `on_event` with LinkChanged, StateUpdated (at most every `state_event_period_s`, at once
when armed/mode/readiness/link/home change), StatusText, MissionProgress and LinkError events. `on_event` runs in
the link thread: it must be quick (put the event in a queue). Commands, mission transfers and parameter calls
run in the caller's thread, wait on a Subscription for their answer, and raise errors from telemetry/errors.py.

On every link-up a short-lived helper thread asks for the message rates in `stream_rates_hz` (with
MAV_CMD_SET_MESSAGE_INTERVAL; a refused OPTIONAL_STREAMS one, e.g. the gimbal's on a vehicle without one, is only
logged), for AUTOPILOT_VERSION and HOME_POSITION, and probes for a SIM_* parameter.
`is_simulator` is True once any SIM_* parameter was seen, False only after a complete `fetch_params()` found
none, and None while unknown.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

from telemetry import codec, mission_transfer, parameters
from telemetry.errors import (
    CaptureFailed,
    CommandRefused,
    CommandTimeout,
    InvalidRequest,
    LinkDown,
    NotConfirmed,
    ReplyTimeout,
    TelemetryError,
    WaitTimeout,
)
from telemetry.link import Link, LinkSettings
from telemetry.records import (
    CameraInformation,
    CapturedImage,
    CommandAck,
    LinkChanged,
    LinkError,
    MissionItem,
    MissionType,
    StateUpdated,
    StatusText,
    TelemetryEvent,
    VehicleState,
)
from telemetry.tlog import TlogRecorder
from telemetry.tracker import StateTracker
from telemetry.transport import parse_url

log = logging.getLogger(__name__)
_MAV = codec.mavlink

# What the station asks every vehicle to stream (Hz) unless told otherwise; {} asks for nothing.
DEFAULT_STREAM_RATES_HZ: Mapping[str, float] = MappingProxyType({
    "GLOBAL_POSITION_INT": 5.0,
    "ATTITUDE": 4.0,
    "VFR_HUD": 2.0,
    "SYS_STATUS": 1.0,
    "GPS_RAW_INT": 1.0,
    "EKF_STATUS_REPORT": 1.0,
    "EXTENDED_SYS_STATE": 1.0,
    "MISSION_CURRENT": 1.0,
    "HOME_POSITION": 0.2,
    "GIMBAL_DEVICE_ATTITUDE_STATUS": 2.0,
})

# Streams a vehicle may lack (no gimbal; firmware without gimbal protocol v2 or without MOUNT_STATUS): their refusal
# is logged once per Vehicle at INFO, not reported as a link error. A refusal of any other stream is a LinkError.
OPTIONAL_STREAMS = frozenset({"GIMBAL_DEVICE_ATTITUDE_STATUS", "MOUNT_STATUS"})

def _text(raw) -> str:
    """A MAVLink char[] field as text (pymavlink gives str for char arrays, lists for uint8 ones)."""
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = bytes(int(b) & 0xFF for b in raw).decode("utf-8", errors="replace")
    return raw.split("\0", 1)[0].strip()


def _known(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _captured_image(component_id: int, m) -> CapturedImage:
    euler = codec.euler_deg(m.q)
    roll, pitch, yaw = euler if euler is not None else (None, None, None)
    return CapturedImage(
        component_id=component_id, image_index=m.image_index, file_url=_text(m.file_url),
        time_utc_s=m.time_utc / 1e6 if m.time_utc else None, lat_deg=m.lat * 1e-7, lon_deg=m.lon * 1e-7,
        alt_amsl_m=m.alt * 1e-3, alt_rel_m=m.relative_alt * 1e-3,
        yaw_deg=None if yaw is None else yaw % 360.0, pitch_deg=pitch, roll_deg=roll, ok=m.capture_result == 1)


def _refusal_reason(texts: Sequence[tuple[int, str]]) -> str:
    """The reason for a refusal from the (severity, text) pairs of its window: those at WARNING or worse when
    there are any, else all of them; each text once, in order."""
    serious = [text for severity, text in texts if severity <= _MAV.MAV_SEVERITY_WARNING]
    chosen = serious or [text for _, text in texts]
    return "; ".join(dict.fromkeys(chosen))


# Parameters that exist only in simulators (ArduPilot SITL has them; so does our sim/).
SIMULATOR_PROBE_PARAMS = ("SIM_SPEEDUP",)


class Vehicle:
    def __init__(
        self,
        vehicle_id: str,
        url: str,
        *,
        on_event: Callable[[TelemetryEvent], None] | None = None,
        link: LinkSettings | None = None,
        tlog_dir: Path | None = None,
        stream_rates_hz: Mapping[str, float] | None = None,
        state_event_period_s: float = 0.1,
        confirm_timeout_s: float = 3.0,
        **link_settings,
    ):
        """`link` holds the link's settings (ids, heartbeat, timeouts, back-off: see LinkSettings); keyword
        arguments named like its fields override single ones, e.g. `Vehicle(id, url, link_timeout_s=1.5)`."""
        try:
            endpoint = parse_url(url)
        except ValueError as exc:
            raise InvalidRequest(f"{vehicle_id}: {exc}") from exc
        known = {f.name for f in dataclasses.fields(LinkSettings)}
        unknown = sorted(set(link_settings) - known)
        if unknown:
            raise InvalidRequest(f"{vehicle_id}: unknown settings {', '.join(unknown)}; "
                                 f"link settings are {', '.join(sorted(known))}")
        settings = dataclasses.replace(link or LinkSettings(), **link_settings)
        problems = settings.problems()
        rates = dict(DEFAULT_STREAM_RATES_HZ if stream_rates_hz is None else stream_rates_hz)
        for name in rates:
            try:
                codec.message_id(name)
            except KeyError:
                problems.append(f"stream_rates_hz: unknown message {name!r}")
        if problems:
            raise InvalidRequest(f"{vehicle_id}: " + "; ".join(problems))

        self.vehicle_id = vehicle_id
        self.url = url
        self._on_event = on_event
        self._stream_rates = rates
        self._state_period = state_event_period_s
        self._confirm_timeout = confirm_timeout_s
        self._cond = threading.Condition(threading.Lock())  # guards _tracker; notified on every batch
        self._tracker = StateTracker(vehicle_id)
        self._waiters = 0
        self._pending: list[TelemetryEvent] = []  # link thread only
        self._last_state_emit = -math.inf
        self._emitted_count = -1
        self._last_prearm_text = ""
        self._tlog = (TlogRecorder(Path(tlog_dir), vehicle_id, on_error=self._on_tlog_error)
                      if tlog_dir is not None else None)
        self._command_locks: dict[int, threading.Lock] = {}
        self._command_locks_guard = threading.Lock()
        self._mission_lock = threading.Lock()
        self._param_lock = threading.Lock()
        self._param_types: dict[str, int] = {}
        self._configure_lock = threading.Lock()
        self._optional_refusals_logged: set[str] = set()  # configure thread only
        self._capture_locks: dict[int, threading.Lock] = {}  # camera component -> one capture at a time
        self._capture_sequence = itertools.count(1)  # IMAGE_START_CAPTURE sequence numbers, under the guard below
        self._link = Link(
            vehicle_id,
            endpoint,
            settings,
            on_message=self._on_message,
            on_batch=self._on_batch,
            on_link_change=self._on_link_change,
            on_error=self._on_error,
            on_tick=self._on_tick,
            record=self._tlog.record if self._tlog is not None else None,
        )

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "Vehicle":
        """Start the link thread; never blocks waiting for the vehicle."""
        self._link.start()
        return self

    def close(self) -> None:
        """Stop the link thread, fail pending requests with LinkDown, close the tlogs."""
        self._link.close()
        with self._cond:
            self._tracker.set("link_up", False)
            self._cond.notify_all()
        if self._tlog is not None:
            self._tlog.close()

    def __enter__(self) -> "Vehicle":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def tlog_paths(self) -> list[Path]:
        """Session tlog first, then one per flight so far."""
        if self._tlog is None:
            return []
        return ([self._tlog.session_path] if self._tlog.session_path else []) + list(self._tlog.flight_paths)

    # --- state -----------------------------------------------------------------------------------

    @property
    def link_down_reason(self) -> str:
        """Why the link is down ("" while it is up), e.g. "cannot open tcp:...: Connection refused"."""
        return "" if self._link.up else self._link.down_reason

    @property
    def state(self) -> VehicleState:
        with self._cond:
            return self._tracker.snapshot()

    def wait_until(self, predicate: Callable[[VehicleState], bool], timeout_s: float, what: str = "condition") -> VehicleState:
        """Block until `predicate(state)` holds; returns that state. Raises WaitTimeout (a TimeoutError)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                state = self._tracker.snapshot()
                if predicate(state):
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"{self.vehicle_id}: {what} not reached within {timeout_s:g} s", state)
                self._waiters += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiters -= 1

    def wait_ready(self, timeout_s: float) -> VehicleState:
        """Link up, a GPS position, and pre-arm checks passing (SYS_STATUS pre-arm bit / EKF status)."""
        try:
            return self.wait_until(
                lambda s: s.link_up and s.position_known and s.ready_to_arm, timeout_s, "ready to arm"
            )
        except WaitTimeout as exc:
            s = exc.last_state
            if not s.link_up:
                why = f"link down ({self._link.down_reason})"
            elif not s.position_known:
                why = f"no position yet (GPS fix {s.gps_fix_type}, lat/lon {s.lat_deg}, {s.lon_deg})"
            else:
                why = f"pre-arm checks not passing (prearm bit {s.prearm_ok}, EKF ok {s.ekf_ok})"
            if self._last_prearm_text:
                why += f"; last vehicle message: {self._last_prearm_text!r}"
            raise WaitTimeout(f"{self.vehicle_id}: not ready to arm after {timeout_s:g} s: {why}", s) from None

    # --- commands --------------------------------------------------------------------------------

    def command_long(
        self, command: int, params: Sequence[float] = (), *, timeout_s: float = 1.5, retries: int = 3,
        target_component: int | None = None,
    ) -> CommandAck:
        """Send COMMAND_LONG and wait for its COMMAND_ACK (re-sent up to `retries` times, `confirmation`
        counting up). Raises CommandRefused (MAV_RESULT + STATUSTEXT reason), CommandTimeout or LinkDown."""
        if len(params) > 7:
            raise InvalidRequest(f"{codec.command_name(command)}: at most 7 params, got {len(params)}")
        p = [float(x) for x in params] + [0.0] * (7 - len(params))

        def make(attempt: int, target: tuple[int, int]):
            return self._link.encoder.command_long_encode(target[0], target[1], command, min(attempt, 255), *p)

        return self._run_command(command, make, timeout_s, retries, target_component)

    def command_int(
        self, command: int, params: Sequence[float] = (), *, frame: int = _MAV.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        lat_deg: float = 0.0, lon_deg: float = 0.0, alt_m: float = 0.0, timeout_s: float = 1.5, retries: int = 3,
        target_component: int | None = None,
    ) -> CommandAck:
        """Send COMMAND_INT (params 1-4, position as lat/lon degrees and altitude in `frame`) and wait for
        the COMMAND_ACK, with the same retries and errors as command_long()."""
        if len(params) > 4:
            raise InvalidRequest(f"{codec.command_name(command)}: COMMAND_INT takes at most 4 params")
        p = [float(x) for x in params] + [0.0] * (4 - len(params))
        x = codec.deg_to_e7(lat_deg) if frame in codec.GLOBAL_FRAMES else int(lat_deg)
        y = codec.deg_to_e7(lon_deg) if frame in codec.GLOBAL_FRAMES else int(lon_deg)

        def make(attempt: int, target: tuple[int, int]):
            return self._link.encoder.command_int_encode(target[0], target[1], frame, command, 0, 0, *p, x, y,
                                                         float(alt_m))

        return self._run_command(command, make, timeout_s, retries, target_component)

    def _command_lock(self, command: int) -> threading.Lock:
        with self._command_locks_guard:
            return self._command_locks.setdefault(command, threading.Lock())

    def _run_command(self, command: int, make, timeout_s: float, retries: int,
                     component: int | None = None) -> CommandAck:
        """Send `make(attempt, (system, component))` until a COMMAND_ACK for `command` comes back.

        The reason for a refusal: ArduPilot explains a refused command in a STATUSTEXT, sent just before the ACK
        (or just after it), and not always at WARNING: "No ap_message for mavlink id (158)" is INFO. So every
        STATUSTEXT from the addressed component (or the autopilot) is collected from the first send until the
        ACK, whatever its severity, and, when none came, the first one within 0.3 s after a refusing ACK. If the
        window holds texts at WARNING or worse, only those make the reason (so routine INFO chatter that happens
        to fall in the window is not blamed); otherwise all of them down to INFO (DEBUG never). Texts outside the
        window are never attached. `component` addresses another component of the vehicle (a camera): then only
        its ACK counts."""
        name = codec.command_name(command)
        link = self._link
        with self._command_lock(command):  # two same-id commands in flight could not be told apart
            system, autopilot = link.target(name)
            target = (system, autopilot if component is None else component)
            speakers = {target[1], autopilot}

            def match(m) -> bool:
                if m.get_type() == "STATUSTEXT":
                    return m.get_srcComponent() in speakers and m.severity <= _MAV.MAV_SEVERITY_INFO
                return (
                    m.command == command
                    and m.target_system in (0, link.source_system)
                    and m.target_component in (0, link.source_component)
                    and (component is None or m.get_srcComponent() == component)
                )

            with link.subscribe(("COMMAND_ACK", "STATUSTEXT"), match) as sub:
                texts: list[tuple[int, str]] = []
                t0 = time.monotonic()
                attempts = 0
                try:
                    for attempt in range(retries + 1):
                        attempts += 1
                        link.send(make(attempt, target))
                        deadline = time.monotonic() + timeout_s
                        while True:
                            m = sub.get(deadline - time.monotonic())
                            if m is None:
                                break
                            if m.get_type() == "STATUSTEXT":
                                texts.append((m.severity, m.text))
                                continue
                            if m.result == _MAV.MAV_RESULT_IN_PROGRESS:
                                deadline = time.monotonic() + timeout_s
                                continue
                            ack = CommandAck(command, m.result, codec.result_name(m.result), attempts,
                                             time.monotonic() - t0)
                            if m.result == _MAV.MAV_RESULT_ACCEPTED:
                                return ack
                            if not texts:
                                texts.extend(self._late_texts(sub))
                            raise CommandRefused(command, name, m.result, ack.result_name, _refusal_reason(texts))
                except LinkDown as exc:
                    raise LinkDown(f"{self.vehicle_id}: {name}: {exc}") from exc
        raise CommandTimeout(command, name, attempts, timeout_s)

    @staticmethod
    def _late_texts(sub, wait_s: float = 0.3) -> list[tuple[int, str]]:
        """ArduPilot may send the STATUSTEXT that explains a refusal just after the ACK: wait briefly for it."""
        deadline = time.monotonic() + wait_s
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                m = sub.get(remaining)
                if m is None:
                    break
                if m.get_type() == "STATUSTEXT":
                    return [(m.severity, m.text)]
        except LinkDown:
            pass
        return []

    def _confirm(self, what: str, predicate: Callable[[VehicleState], bool], timeout_s: float | None) -> VehicleState:
        timeout_s = self._confirm_timeout if timeout_s is None else timeout_s
        if not predicate(self.state):
            self._request_heartbeat_now()
        try:
            return self.wait_until(predicate, timeout_s, what)
        except WaitTimeout as exc:
            s = exc.last_state
            raise NotConfirmed(f"{self.vehicle_id}: {what}", timeout_s,
                               f"mode {s.mode}, {'armed' if s.armed else 'disarmed'}") from None

    def _request_heartbeat_now(self) -> None:
        """Ask for a HEARTBEAT at once (MAV_CMD_REQUEST_MESSAGE, not waited for) so that a mode or arming
        change is confirmed without waiting up to a second for the periodic one. A vehicle that ignores the
        request is still confirmed by its next periodic HEARTBEAT."""
        try:
            system, component = self._link.target("REQUEST_MESSAGE(HEARTBEAT)")
            self._link.send(self._link.encoder.command_long_encode(
                system, component, _MAV.MAV_CMD_REQUEST_MESSAGE, 0, _MAV.MAVLINK_MSG_ID_HEARTBEAT, 0, 0, 0, 0, 0, 0))
        except LinkDown:
            pass

    def arm(self, force: bool = False, *, timeout_s: float = 1.5, retries: int = 3,
            confirm_timeout_s: float | None = None) -> CommandAck:
        """Arm (force=True skips the pre-arm checks, ArduPilot's 21196 magic); confirmed from HEARTBEAT."""
        ack = self.command_long(_MAV.MAV_CMD_COMPONENT_ARM_DISARM, [1, codec.ARM_FORCE_MAGIC if force else 0],
                                timeout_s=timeout_s, retries=retries)
        self._confirm("arm", lambda s: s.armed, confirm_timeout_s)
        return ack

    def disarm(self, force: bool = False, *, timeout_s: float = 1.5, retries: int = 3,
               confirm_timeout_s: float | None = None) -> CommandAck:
        ack = self.command_long(_MAV.MAV_CMD_COMPONENT_ARM_DISARM, [0, codec.ARM_FORCE_MAGIC if force else 0],
                                timeout_s=timeout_s, retries=retries)
        self._confirm("disarm", lambda s: not s.armed, confirm_timeout_s)
        return ack

    def mode_number(self, mode: str) -> int:
        """custom_mode number of a mode name for this vehicle's type (ArduCopter numbering until known)."""
        modes = codec.mode_map(self.state.vehicle_type)
        by_name = {name: number for number, name in modes.items()}
        number = by_name.get(mode.upper())
        if number is None:
            raise InvalidRequest(f"{self.vehicle_id}: unknown mode {mode!r}; known: {', '.join(sorted(by_name))}")
        return number

    def set_mode(self, mode: str, *, timeout_s: float = 1.5, retries: int = 3,
                 confirm_timeout_s: float | None = None) -> CommandAck | None:
        """Change flight mode with MAV_CMD_DO_SET_MODE (SET_MODE if unsupported); confirmed from HEARTBEAT.
        Returns the COMMAND_ACK, or None when the vehicle was already in that mode or had to use SET_MODE."""
        mode = mode.upper()
        number = self.mode_number(mode)
        state = self.state
        if state.mode == mode and state.link_up:
            return None
        ack = None
        try:
            ack = self.command_long(_MAV.MAV_CMD_DO_SET_MODE, [_MAV.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number],
                                    timeout_s=timeout_s, retries=retries)
        except CommandRefused as exc:
            if exc.result != _MAV.MAV_RESULT_UNSUPPORTED:
                raise
            target = self._link.target("SET_MODE")
            self._link.send(self._link.encoder.set_mode_encode(
                target[0], _MAV.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number))
        self._confirm(f"mode {mode}", lambda s: s.mode == mode, confirm_timeout_s)
        return ack

    def start_mission(self, *, timeout_s: float = 1.5, retries: int = 3,
                      confirm_timeout_s: float | None = None) -> CommandAck:
        """Start the uploaded mission with MAV_CMD_MISSION_START, confirmed by mode AUTO in HEARTBEAT.

        This is how ArduCopter flies a mission with no RC input: a plain mode change to AUTO on the ground
        leaves an AUTO takeoff waiting for throttle (unless AUTO_OPTIONS bit 1 is set), while MISSION_START
        switches to AUTO *and* marks the vehicle auto-armed, so the takeoff item runs. It starts or resumes the
        mission at its current item (set it first with set_current_mission_item(); MIS_RESTART=1 restarts from
        item 1). Arm first, in GUIDED: on the ground ArduCopter refuses AUTO unless the current item leads to a
        takeoff. param1/param2 (first/last item) stay 0: ArduCopter answers anything else with DENIED. Sent as
        COMMAND_LONG, which every ArduPilot version takes (newer ones also take COMMAND_INT).

        Returns the COMMAND_ACK; raises CommandRefused (e.g. FAILED when the mode change to AUTO was refused),
        CommandTimeout, LinkDown, or NotConfirmed when accepted but AUTO never shows in HEARTBEAT."""
        ack = self.command_long(_MAV.MAV_CMD_MISSION_START, [0, 0], timeout_s=timeout_s, retries=retries)
        self._confirm("mission start (mode AUTO)", lambda s: s.mode == "AUTO", confirm_timeout_s)
        return ack

    def takeoff(self, alt_rel_m: float, *, timeout_s: float = 1.5, retries: int = 3) -> CommandAck:
        """MAV_CMD_NAV_TAKEOFF to `alt_rel_m` above home (ArduCopter: armed, in GUIDED)."""
        if not 0 < alt_rel_m < 10000:
            raise InvalidRequest(f"{self.vehicle_id}: takeoff altitude {alt_rel_m} m out of range")
        return self.command_long(_MAV.MAV_CMD_NAV_TAKEOFF, [0, 0, 0, 0, 0, 0, alt_rel_m],
                                 timeout_s=timeout_s, retries=retries)

    def goto(self, lat_deg: float, lon_deg: float, alt_rel_m: float, *, groundspeed_m_s: float | None = None,
             timeout_s: float = 1.5, retries: int = 3) -> CommandAck | None:
        """Guided go-to: MAV_CMD_DO_REPOSITION in COMMAND_INT (switches to GUIDED); when the vehicle does not
        support it, SET_POSITION_TARGET_GLOBAL_INT (needs GUIDED already; no ACK, returns None)."""
        if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180):
            raise InvalidRequest(f"{self.vehicle_id}: goto to invalid position {lat_deg}, {lon_deg}")
        speed = -1.0 if groundspeed_m_s is None else groundspeed_m_s
        try:
            return self.command_int(
                _MAV.MAV_CMD_DO_REPOSITION, [speed, _MAV.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, 0, math.nan],
                frame=_MAV.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_rel_m,
                timeout_s=timeout_s, retries=retries,
            )
        except CommandRefused as exc:
            if exc.result != _MAV.MAV_RESULT_UNSUPPORTED:
                raise
        target = self._link.target("SET_POSITION_TARGET_GLOBAL_INT")
        self._link.send(self._link.encoder.set_position_target_global_int_encode(
            0, target[0], target[1], _MAV.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b110111111000,
            codec.deg_to_e7(lat_deg), codec.deg_to_e7(lon_deg), alt_rel_m, 0, 0, 0, 0, 0, 0, 0, 0))
        return None

    def point_gimbal(self, pitch_deg: float, yaw_deg: float = 0.0, *, timeout_s: float = 1.5,
                     retries: int = 3) -> CommandAck:
        """Point the gimbal: pitch 0 at the horizon, -90 straight down; yaw relative to the vehicle's nose, degrees.

        Gimbal protocol v2 first: MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW (angles in param1/2, rates NaN, flags 0 =
        yaw in the vehicle frame, no YAW_LOCK; gimbal device 0 = the primary one). A vehicle that answers it
        UNSUPPORTED (firmware without gimbal manager) gets MAV_CMD_DO_MOUNT_CONTROL in MAVLink-targeting mode
        instead. MAV_RESULT_FAILED is not retried that way: ArduPilot answers FAILED when it has no mount
        configured (MNT1_TYPE = 0) or not that gimbal, and the old command would fail the same way; it raises
        CommandRefused. The angles reached are reported in VehicleState.gimbal_*_deg."""
        if not (-90.0 <= pitch_deg <= 90.0 and -360.0 <= yaw_deg <= 360.0):
            raise InvalidRequest(f"{self.vehicle_id}: gimbal pitch {pitch_deg} / yaw {yaw_deg} out of range")
        try:
            return self.command_long(_MAV.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
                                     [pitch_deg, yaw_deg, math.nan, math.nan, 0, 0, 0],
                                     timeout_s=timeout_s, retries=retries)
        except CommandRefused as exc:
            if exc.result != _MAV.MAV_RESULT_UNSUPPORTED:
                raise
        return self.command_long(_MAV.MAV_CMD_DO_MOUNT_CONTROL,
                                 [pitch_deg, 0.0, yaw_deg, 0, 0, 0, _MAV.MAV_MOUNT_MODE_MAVLINK_TARGETING],
                                 timeout_s=timeout_s, retries=retries)

    def set_roi(self, lat_deg: float, lon_deg: float, alt_rel_m: float, *, timeout_s: float = 1.5,
                retries: int = 3) -> CommandAck:
        """Look at a place: MAV_CMD_DO_SET_ROI_LOCATION in COMMAND_INT (altitude above home). ArduCopter turns
        the vehicle (in GUIDED and AUTO) and points the gimbal, if it has one, at it until clear_roi()."""
        if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180) or (lat_deg == 0 and lon_deg == 0):
            raise InvalidRequest(f"{self.vehicle_id}: region of interest at invalid position {lat_deg}, {lon_deg}")
        return self.command_int(_MAV.MAV_CMD_DO_SET_ROI_LOCATION, [0, 0, 0, 0],
                                frame=_MAV.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, lat_deg=lat_deg, lon_deg=lon_deg,
                                alt_m=alt_rel_m, timeout_s=timeout_s, retries=retries)

    def clear_roi(self, *, timeout_s: float = 1.5, retries: int = 3) -> CommandAck:
        """Stop looking at the region of interest: MAV_CMD_DO_SET_ROI_NONE (the gimbal returns to its default
        mode, the vehicle's yaw to the mode's own)."""
        return self.command_long(_MAV.MAV_CMD_DO_SET_ROI_NONE, [0], timeout_s=timeout_s, retries=retries)

    def set_relay(self, number: int, on: bool, *, timeout_s: float = 1.5, retries: int = 3) -> CommandAck:
        """Switch relay `number` on or off: MAV_CMD_DO_SET_RELAY (ArduPilot numbers relays from 0: RELAY1_* is 0).
        Used to trigger a clip pre-loaded on the vehicle's loudspeaker."""
        if not 0 <= number <= 255 or int(number) != number:
            raise InvalidRequest(f"{self.vehicle_id}: relay number {number!r} not in 0..255")
        return self.command_long(_MAV.MAV_CMD_DO_SET_RELAY, [int(number), 1 if on else 0],
                                 timeout_s=timeout_s, retries=retries)

    # --- cameras (MAVLink camera protocol, addressed to a camera component of this vehicle) -------------------

    def camera_information(self, component_id: int, *, timeout_s: float = 3.0,
                           retries: int = 3) -> CameraInformation:
        """CAMERA_INFORMATION of the camera at `component_id` (MAV_COMP_ID_CAMERA 100, CAMERA2 101, ...), asked
        with MAV_CMD_REQUEST_MESSAGE sent to that component. Raises CommandRefused, CommandTimeout, LinkDown,
        or ReplyTimeout when the request was accepted but no CAMERA_INFORMATION came within `timeout_s`."""
        self._check_component(component_id)
        link = self._link
        with link.subscribe(("CAMERA_INFORMATION",), lambda m: m.get_srcComponent() == component_id) as sub:
            self.command_long(_MAV.MAV_CMD_REQUEST_MESSAGE, [_MAV.MAVLINK_MSG_ID_CAMERA_INFORMATION],
                              target_component=component_id, timeout_s=min(timeout_s, 1.5), retries=retries)
            m = sub.get(timeout_s)
        if m is None:
            raise ReplyTimeout(f"{self.vehicle_id}: CAMERA_INFORMATION from component {component_id}", timeout_s)
        return CameraInformation(
            component_id=component_id, vendor=_text(m.vendor_name), model=_text(m.model_name),
            focal_length_mm=_known(m.focal_length), sensor_width_mm=_known(m.sensor_size_h),
            sensor_height_mm=_known(m.sensor_size_v), width_px=m.resolution_h, height_px=m.resolution_v,
            flags=m.flags, firmware_version=m.firmware_version, definition_uri=_text(m.cam_definition_uri))

    def capture_image(self, component_id: int, timeout_s: float = 10.0, *, command_timeout_s: float = 1.5,
                      retries: int = 3) -> CapturedImage:
        """Take one picture with the camera at `component_id` and return its CAMERA_IMAGE_CAPTURED.

        Sends MAV_CMD_IMAGE_START_CAPTURE to that component (param2 interval 0, param3 one image, param4 a
        capture sequence number, counting up per Vehicle, so that a re-sent command is not taken twice), then
        waits up to `timeout_s` for the camera's CAMERA_IMAGE_CAPTURED. The image is matched by component: the
        first one that camera reports after the command went out (its image_index counts the camera's own
        images and cannot be tied to our sequence number), so one capture per camera runs at a time here; do
        not run interval captures on the same camera meanwhile. Raises CommandRefused / CommandTimeout /
        LinkDown for the command, ReplyTimeout when no CAMERA_IMAGE_CAPTURED came in time, and CaptureFailed
        (carrying the record) when the camera reports the capture failed."""
        self._check_component(component_id)
        link = self._link
        with self._command_locks_guard:
            capture_lock = self._capture_locks.setdefault(component_id, threading.Lock())
            sequence = next(self._capture_sequence)
        with capture_lock:
            with link.subscribe(("CAMERA_IMAGE_CAPTURED",), lambda m: m.get_srcComponent() == component_id) as sub:
                self.command_long(_MAV.MAV_CMD_IMAGE_START_CAPTURE, [0, 0, 1, sequence],
                                  target_component=component_id, timeout_s=command_timeout_s, retries=retries)
                m = sub.get(timeout_s)
        if m is None:
            raise ReplyTimeout(f"{self.vehicle_id}: CAMERA_IMAGE_CAPTURED from component {component_id}",
                               timeout_s)
        image = _captured_image(component_id, m)
        if not image.ok:
            raise CaptureFailed(f"{self.vehicle_id}: camera {component_id} failed to capture image "
                                f"{image.image_index} (capture_result {m.capture_result})", image)
        return image

    def _check_component(self, component_id: int) -> None:
        if not 1 <= component_id <= 255 or int(component_id) != component_id:
            raise InvalidRequest(f"{self.vehicle_id}: component id {component_id!r} not in 1..255")

    def rtl(self, **kwargs) -> CommandAck | None:
        """Return to launch (mode RTL, confirmed from HEARTBEAT)."""
        return self.set_mode("RTL", **kwargs)

    def land(self, **kwargs) -> CommandAck | None:
        """Land where it is (mode LAND, confirmed from HEARTBEAT)."""
        return self.set_mode("LAND", **kwargs)

    def set_message_interval(self, message: str | int, rate_hz: float, *, timeout_s: float = 1.5,
                             retries: int = 3) -> CommandAck:
        """MAV_CMD_SET_MESSAGE_INTERVAL; rate_hz <= 0 stops the message."""
        try:
            msg_id = codec.message_id(message)
        except KeyError:
            raise InvalidRequest(f"{self.vehicle_id}: unknown MAVLink message {message!r}") from None
        interval_us = -1.0 if rate_hz <= 0 else 1e6 / rate_hz
        return self.command_long(_MAV.MAV_CMD_SET_MESSAGE_INTERVAL, [msg_id, interval_us],
                                 timeout_s=timeout_s, retries=retries)

    def request_message(self, message: str | int, *, timeout_s: float = 1.5, retries: int = 3) -> CommandAck:
        """MAV_CMD_REQUEST_MESSAGE: ask for one instance of a message now."""
        try:
            msg_id = codec.message_id(message)
        except KeyError:
            raise InvalidRequest(f"{self.vehicle_id}: unknown MAVLink message {message!r}") from None
        return self.command_long(_MAV.MAV_CMD_REQUEST_MESSAGE, [msg_id], timeout_s=timeout_s, retries=retries)

    # --- missions --------------------------------------------------------------------------------

    def upload_mission(self, items: Sequence[MissionItem], mission_type: MissionType = MissionType.MISSION, *,
                       timeout_s: float = 30.0, item_timeout_s: float = 1.0, max_retries: int = 5) -> None:
        """Upload exactly `items` as seq 0..n-1 (ArduPilot missions: seq 0 is the home slot, which the
        vehicle overwrites). The list's `mission_type` argument wins over the items' own field."""
        with self._mission_lock:
            mission_transfer.upload(self._link, items, mission_type, timeout_s=timeout_s,
                                    item_timeout_s=item_timeout_s, max_retries=max_retries)
        if mission_type is MissionType.MISSION:
            self._set_state("mission_count", len(items))

    def download_mission(self, mission_type: MissionType = MissionType.MISSION, *, timeout_s: float = 30.0,
                         item_timeout_s: float = 1.0, max_retries: int = 5) -> list[MissionItem]:
        with self._mission_lock:
            items = mission_transfer.download(self._link, mission_type, timeout_s=timeout_s,
                                              item_timeout_s=item_timeout_s, max_retries=max_retries)
        if mission_type is MissionType.MISSION:
            self._set_state("mission_count", len(items))
        return items

    def clear_mission(self, mission_type: MissionType = MissionType.MISSION, *, timeout_s: float = 1.5,
                      retries: int = 3) -> None:
        with self._mission_lock:
            mission_transfer.clear(self._link, mission_type, item_timeout_s=timeout_s, max_retries=retries)
        if mission_type is MissionType.MISSION:
            self._set_state("mission_count", 0)

    def set_current_mission_item(self, seq: int, *, timeout_s: float = 1.5, retries: int = 3) -> None:
        """Make `seq` the current mission item: MAV_CMD_DO_SET_MISSION_CURRENT, or, for a vehicle that does not
        support it, MISSION_SET_CURRENT confirmed by MISSION_CURRENT."""
        if seq < 0:
            raise InvalidRequest(f"{self.vehicle_id}: mission item {seq} < 0")
        try:
            self.command_long(_MAV.MAV_CMD_DO_SET_MISSION_CURRENT, [seq], timeout_s=timeout_s, retries=retries)
            return
        except CommandRefused as exc:
            if exc.result != _MAV.MAV_RESULT_UNSUPPORTED:
                raise
        link = self._link
        with link.subscribe(("MISSION_CURRENT",), lambda m: m.seq == seq) as sub:
            for _ in range(retries + 1):
                target = self._link.target("MISSION_SET_CURRENT")
                link.send(link.encoder.mission_set_current_encode(target[0], target[1], seq))
                if sub.get(timeout_s) is not None:
                    return
        raise CommandTimeout(_MAV.MAV_CMD_DO_SET_MISSION_CURRENT, "MISSION_SET_CURRENT", retries + 1, timeout_s)

    # --- parameters ------------------------------------------------------------------------------

    def get_param(self, name: str, *, timeout_s: float = 1.0, retries: int = 3) -> float:
        value, ptype = parameters.read(self._link, name, timeout_s=timeout_s, retries=retries)
        self._param_types[name] = ptype
        return value

    def set_param(self, name: str, value: float, *, timeout_s: float = 1.0, retries: int = 3) -> float:
        """Set and return the value the vehicle reports back (ParamError if it kept something else)."""
        ptype = self._param_types.get(name)
        if ptype is None:
            ptype = parameters.read(self._link, name, timeout_s=timeout_s, retries=retries)[1]
            self._param_types[name] = ptype
        with self._param_lock:
            return parameters.write(self._link, name, value, ptype, timeout_s=timeout_s, retries=retries)

    def fetch_params(self, *, timeout_s: float = 60.0) -> dict[str, float]:
        with self._param_lock:
            params = parameters.fetch_all(self._link, timeout_s=timeout_s)
        self._param_types.update({name: ptype for name, (_, ptype) in params.items()})
        self._set_state("is_simulator", any(name.startswith("SIM_") for name in params))
        return {name: value for name, (value, _) in params.items()}

    # --- link-thread callbacks -------------------------------------------------------------------

    def _set_state(self, name: str, value) -> None:
        with self._cond:
            self._tracker.set(name, value)
            state = self._tracker.snapshot()
        self._emit(StateUpdated(state, time.monotonic()))
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Wake the threads in wait_until. Always after the StateUpdated showing the change was emitted: whoever
        learns from a returned command that the vehicle armed (or changed mode) finds the listener told first."""
        with self._cond:
            self._cond.notify_all()

    def _emit(self, event: TelemetryEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("%s: on_event callback failed for %s", self.vehicle_id, type(event).__name__)

    def _on_message(self, msg, now: float) -> None:
        tracker = self._tracker
        with self._cond:
            was_armed = tracker.get("armed")
            tracker.update(msg, now, self._pending)
            armed = tracker.get("armed")
        if armed != was_armed and self._tlog is not None:
            if armed:
                self._tlog.start_flight(time.time())
            else:
                self._tlog.end_flight()

    def _on_batch(self, now: float) -> None:
        with self._cond:
            waiters = self._waiters > 0
            self._tracker.set("boot_bytes_skipped", self._link.boot_bytes_skipped)
            self._tracker.set("components", self._link.components_seen)
            count = self._tracker.get("messages_received")
            significant = self._tracker.take_significant()
            state = None
            if significant or (count != self._emitted_count and now - self._last_state_emit >= self._state_period):
                state = self._tracker.snapshot()
                self._emitted_count = count
                self._last_state_emit = now
        if self._pending:
            pending, self._pending = self._pending, []
            for event in pending:
                if isinstance(event, StatusText) and event.text.startswith("PreArm"):
                    self._last_prearm_text = event.text
                self._emit(event)
        if state is not None:
            self._emit(StateUpdated(state, now))
        if waiters:
            self._wake_waiters()

    def _on_link_change(self, up: bool, reason: str, now: float) -> None:
        with self._cond:
            self._tracker.set("link_up", up)
            if up:
                self._tracker.set("system_id", self._link.target_system)
                self._tracker.set("component_id", self._link.target_component)
            self._tracker.take_significant()
            state = self._tracker.snapshot()
        log.info("%s: link %s (%s)", self.vehicle_id, "up" if up else "down", reason)
        self._emit(LinkChanged(self.vehicle_id, up, reason, now))
        self._emit(StateUpdated(state, now))
        self._wake_waiters()
        if up:
            threading.Thread(target=self._configure, name=f"configure-{self.vehicle_id}", daemon=True).start()

    def _on_error(self, kind: str, detail: str, count: int, now: float) -> None:
        with self._cond:
            for _ in range(count):
                self._tracker.count_error()
        log.warning("%s: link error %s x%d: %s", self.vehicle_id, kind, count, detail)
        self._emit(LinkError(self.vehicle_id, kind, detail, now, count))

    def _on_tlog_error(self, message: str) -> None:
        log.error("%s: %s", self.vehicle_id, message)
        self._emit(LinkError(self.vehicle_id, "tlog", message, time.monotonic()))

    def _on_tick(self, now: float) -> None:
        if self._tlog is not None:
            self._tlog.flush()

    def _configure(self) -> None:
        """After each link-up: stream rates, version, home, simulator probe. Failures become LinkError events
        (but a refused OPTIONAL_STREAMS rate is only logged, once per Vehicle)."""
        with self._configure_lock:
            problems = []
            try:
                for name, rate_hz in self._stream_rates.items():
                    try:
                        self.set_message_interval(name, rate_hz, timeout_s=1.0, retries=2)
                    except CommandRefused as exc:
                        if name not in OPTIONAL_STREAMS:
                            problems.append(f"{name} at {rate_hz:g} Hz: {exc}")
                        elif name not in self._optional_refusals_logged:
                            self._optional_refusals_logged.add(name)
                            log.info("%s: optional stream %s not available: %s", self.vehicle_id, name, exc)
                    except CommandTimeout as exc:
                        problems.append(f"{name} at {rate_hz:g} Hz: {exc}")
                for name in ("AUTOPILOT_VERSION", "HOME_POSITION"):
                    try:
                        self.request_message(name, timeout_s=1.0, retries=1)
                    except (CommandRefused, CommandTimeout):
                        pass  # optional: HOME_POSITION is refused until home is set; it is streamed anyway
                if self.state.is_simulator is None:
                    for name in SIMULATOR_PROBE_PARAMS:
                        try:
                            self.get_param(name, timeout_s=1.0, retries=1)  # a SIM_ PARAM_VALUE sets is_simulator
                            break
                        except TelemetryError:
                            pass
            except LinkDown:
                return  # the next link-up configures again
            except Exception:
                log.exception("%s: configuring the link failed", self.vehicle_id)
                return
            if problems:
                self._emit(LinkError(self.vehicle_id, "setup", "; ".join(problems), time.monotonic(),
                                     len(problems)))
