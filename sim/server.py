"""The MAVLink face of one simulated vehicle: a TCP listener, one codec per client, message dispatch, streams.

Each client connection is its own MAVLink channel, as each serial port is on ArduPilot: its own sequence
numbers and stream rates (REQUEST_DATA_STREAM, MAV_CMD_SET_MESSAGE_INTERVAL). Answers go to the client
that asked; things the vehicle says on its own (STATUSTEXT, MISSION_ITEM_REACHED, HOME_POSITION, ...)
go to every client. Bytes that do not parse are counted and dropped, never fatal.

Components, as on an ArduCopter with a servo gimbal (MNT1_TYPE=1) and two MAVLink cameras:
- 1, the autopilot. It speaks gimbal protocol v2 for the servo mount, which has no MAVLink identity of its
  own: GIMBAL_DEVICE_ATTITUDE_STATUS (streamed in EXTRA3 or by SET_MESSAGE_INTERVAL), GIMBAL_MANAGER_INFORMATION
  and GIMBAL_MANAGER_STATUS (on request) all come from component 1 with gimbal_device_id 1
  (AP_Mount_Backend::send_gimbal_device_attitude_status: flags ROLL_LOCK|PITCH_LOCK|YAW_IN_VEHICLE_FRAME, plus
  YAW_LOCK while the yaw target is earth-frame; q = roll 0, the earth-frame pitch, the yaw relative to the
  vehicle's nose, as demanded of the servos). MOUNT_STATUS no longer exists: asking for it is DENIED with
  "No ap_message for mavlink id (158)", like any message id the vehicle cannot send.
  MAV_CMD_DO_MOUNT_CONTROL, MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE (COMMAND_LONG
  or COMMAND_INT) and GIMBAL_MANAGER_SET_PITCHYAW point it; with MNT1_TYPE=0 the commands are FAILED, the message
  is ignored and no gimbal message is sent (AP_Mount has no backend). Commands addressed to the gimbal's
  usual id 154 are handled by the autopilot, as ArduPilot's routing does for a component it has not seen.
- 100, the RGB camera, and 101 (MAV_COMP_ID_CAMERA2), a radiometric thermal camera on the same gimbal (like a
  DJI H20T): each sends its own HEARTBEAT (MAV_TYPE_CAMERA), answers CAMERA_INFORMATION (the RGB camera: the
  model its video is rendered with, sim/rgb_camera.py) and takes pictures on MAV_CMD_IMAGE_START_CAPTURE. The thermal camera's frames (sim/thermal.py) are served over HTTP; its
  CAMERA_IMAGE_CAPTURED carries their URL.

Like SITL's SERIAL0, the first client to connect to a vehicle gets the console banner ArduPilot prints at
boot (AP_Vehicle::setup: "\n\nInit <firmware string>\n\nFree RAM: <bytes>\n") before any MAVLink; later
clients do not (SITL prints it once, after waiting for that first connection). SITL serves one client per
TCP port at a time (AP_HAL_SITL UARTDriver::_check_connection: "we only want 1 connection at a time"; a second
client waits in the listen backlog until the first leaves); this simulator serves several at once, each its
own channel, so that independent peers (the station, MAVProxy, test clients) can share a vehicle. A station
that relies on that would fail on SITL: give each client its own port there (SITL has SERIAL1/2 on +2/+3).

Mission uploads are paced like SITL's: the request for the next item goes out `item_pace_s` simulated
seconds after an item arrives (default ITEM_PACE_S), and the final ack waits for the checksum (sim/mission.py).
"""
from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim import copter as cp
from sim import geodesy
from sim import mission as ms
from sim import rgb_camera as rgb
from sim import thermal as th
from sim import thermal_camera as tc
from sim.copter import Copter, Mode

log = logging.getLogger(__name__)

AUTOPILOT, GIMBAL, CAMERA, THERMAL = 1, 154, 100, tc.COMPONENT_ID
_COMPONENTS = (AUTOPILOT, CAMERA, THERMAL)
FIRMWARE = (4, 7, 0)               # reported as SITL master does: ArduCopter V4.7.0-dev
FIRMWARE_TYPE = mavlink.FIRMWARE_VERSION_TYPE_DEV
GIT_HASH = "5151c8d2"
FIRMWARE_STRING = f"ArduCopter V{FIRMWARE[0]}.{FIRMWARE[1]}.{FIRMWARE[2]}-dev ({GIT_HASH})"
# AP_Vehicle::setup's console banner; SITL's HAL reports 128 KiB of free memory.
BOOT_BANNER = f"\n\nInit {FIRMWARE_STRING}\n\nFree RAM: 131072\n".encode()
# SITL took ~2.5 s for a 500-item upload (measured on these machines, ArduPilot master): 0.5 s of that is the
# checksum wait before the ack (sim/mission.py); the rest, less ~0.26 ms per item of the station's own work,
# is ~3.6 ms per item between an item arriving and the next request (a couple of 400 Hz loop passes).
ITEM_PACE_S = 0.0036
_MAX_BUFFERED_BYTES = 2_000_000     # above this a slow client stops getting streams (ArduPilot drops them too)
_PARAMS_PER_TICK = 60

# REQUEST_DATA_STREAM groups -> message ids (ArduPilot's STREAM_* lists, for the messages simulated here)
STREAM_GROUPS: dict[int, tuple[int, ...]] = {
    1: (29,),                                   # RAW_SENSORS: SCALED_PRESSURE
    2: (1, 125, 152, 42, 24, 62, 162),          # EXTENDED_STATUS: SYS_STATUS POWER_STATUS MEMINFO MISSION_CURRENT GPS_RAW_INT NAV_CONTROLLER_OUTPUT FENCE_STATUS
    3: (36, 65),                                # RC_CHANNELS: SERVO_OUTPUT_RAW RC_CHANNELS
    6: (33, 32),                                # POSITION: GLOBAL_POSITION_INT LOCAL_POSITION_NED
    10: (30, 164),                              # EXTRA1: ATTITUDE SIMSTATE
    11: (74,),                                  # EXTRA2: VFR_HUD
    12: (2, 147, 285, 193, 241),                # EXTRA3: SYSTEM_TIME BATTERY_STATUS GIMBAL_DEVICE_ATTITUDE_STATUS EKF_STATUS_REPORT VIBRATION
}
_GROUP_OF = {mid: g for g, mids in STREAM_GROUPS.items() for mid in mids}
# AUTOPILOT_VERSION HOME_POSITION EXTENDED_SYS_STATE GPS_GLOBAL_ORIGIN CAMERA_INFORMATION CAMERA_SETTINGS
# GIMBAL_MANAGER_INFORMATION GIMBAL_MANAGER_STATUS
_ON_REQUEST = (148, 242, 245, 49, 259, 260, 280, 281)
_GIMBAL_MESSAGES = (280, 281, 285)    # sent only while a mount is configured
_FROM_COMPONENT = {259: CAMERA, 260: CAMERA}


def _text(s: str, n: int) -> bytes:
    return s.encode()[:n]


class Link(asyncio.Protocol):
    """One TCP client of one vehicle: its own codec (sequence numbers) and stream schedule."""

    def __init__(self, vehicle: "Vehicle") -> None:
        self.vehicle = vehicle
        self.transport: asyncio.Transport | None = None
        self.parser = mavlink.MAVLink(None, srcSystem=vehicle.sysid, srcComponent=AUTOPILOT)
        self.parser.robust_parsing = True
        self.codecs = {c: mavlink.MAVLink(None, srcSystem=vehicle.sysid, srcComponent=c) for c in _COMPONENTS}
        self.out: list[bytes] = []
        self.group_interval_s: dict[int, float] = {}      # stream group -> interval (sim s)
        self.msg_interval_s: dict[int, float] = {}        # message id -> interval override (sim s); <0 disables
        self.next_due: dict[int, float] = {}
        self.param_queue: list[int] = []
        self.bad_packets = 0
        self.peer = "?"

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.peer = str(transport.get_extra_info("peername"))
        if self.vehicle.boot_banner is not None:   # only the first client ever sees the boot text
            transport.write(self.vehicle.boot_banner)
            self.vehicle.boot_banner = None
        self.vehicle.links.add(self)
        log.info("vehicle %d: client %s connected", self.vehicle.sysid, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.vehicle.links.discard(self)
        self.vehicle.protocol.forget_peer_link(self)
        log.info("vehicle %d: client %s disconnected", self.vehicle.sysid, self.peer)

    def data_received(self, data: bytes) -> None:
        if self.vehicle.frozen:
            return
        try:
            msgs = self.parser.parse_buffer(data) or []
        except Exception as exc:  # pymavlink raises on some malformed frames even in robust mode
            self.bad_packets += 1
            log.debug("vehicle %d: unparseable bytes from %s: %s", self.vehicle.sysid, self.peer, exc)
            msgs = []
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                self.bad_packets += 1
                continue
            try:
                self.vehicle.handle(self, msg)
            except Exception:
                log.exception("vehicle %d: error handling %s", self.vehicle.sysid, msg.get_type())
        self.flush()

    # sending
    def send(self, msg, component: int = AUTOPILOT) -> None:
        codec = self.codecs[component]
        self.out.append(msg.pack(codec))
        codec.seq = (codec.seq + 1) % 256

    def flush(self) -> None:
        if self.out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def congested(self) -> bool:
        return self.transport is None or self.transport.get_write_buffer_size() > _MAX_BUFFERED_BYTES

    def interval_s(self, msgid: int) -> float:
        """Effective interval; 0 = not streamed."""
        if msgid in self.msg_interval_s:
            v = self.msg_interval_s[msgid]
            return v if v > 0 else 0.0
        g = _GROUP_OF.get(msgid)
        return self.group_interval_s.get(g, 0.0) if g is not None else 0.0


class Vehicle:
    """One simulated vehicle on its TCP port: owns the Copter model and the links to it."""

    def __init__(self, model: Copter, host: str, port: int, *, item_pace_s: float = ITEM_PACE_S,
                 boot_banner: bool = True, thermal: tc.ThermalCamera | None = None,
                 scene=lambda: th.ThermalScene(), run_in_worker=None) -> None:
        self.model = model
        self.sysid = model.sysid
        self.host = host
        self.port = port
        self.item_pace_s = item_pace_s
        self.boot_banner: bytes | None = BOOT_BANNER if boot_banner else None
        self.thermal = thermal
        self.on_relay: Callable[[int, bool], None] | None = None  # what is wired to the relays (the loudspeaker)
        self.scene = scene                    # () -> the ThermalScene now (the fleet's)
        self.rgb_camera = rgb.DEFAULT_RGB_CAMERA   # what component 100 reports (sim/rgb_camera.py renders it)
        self.video_url: str | None = None     # its video stream, when the fleet renders one
        self.run_in_worker = run_in_worker    # (fn) -> asyncio future; renders off the simulation loop
        self.gimbal_control = (0, 0)          # GIMBAL_MANAGER_STATUS primary control (sysid, compid)
        self.links: set[Link] = set()
        self.frozen = False
        self.protocol = _LinkedMissionProtocol(ms.MissionProtocol(model.store))
        self.server: asyncio.AbstractServer | None = None
        self._boot_wall = time.time()
        self._last_store_version = -1
        self.heartbeat_interval_s = 1.0
        self._next_heartbeat = 0.0
        self._after_ack: list[tuple[Link, object, int]] = []

    @property
    def url(self) -> str:
        return f"tcp:{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: Link(self), self.host, self.port, reuse_address=True)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for link in list(self.links):
            if link.transport is not None:
                link.transport.close()
        if self.server is not None:
            await self.server.wait_closed()

    def drop_connections(self) -> int:
        n = 0
        for link in list(self.links):
            if link.transport is not None:
                link.transport.abort()
                n += 1
        return n

    def _sync_totals(self) -> None:
        m = self.model
        if m.store.version != self._last_store_version:
            self._last_store_version = m.store.version
            m.params.force("MIS_TOTAL", m.store.count(ms.MISSION))
            m.params.force("RALLY_TOTAL", m.store.count(ms.RALLY))

    # ------------------------------------------------------------------ periodic work
    def tick(self) -> None:
        m = self.model
        now = m.time_s
        events = m.drain_events()
        replies = self.protocol.update(now)
        self._sync_totals()
        if self.frozen:
            return
        if not self.links:
            return
        for ev in events:
            self._broadcast_event(ev)
        for r in replies:
            self._send_protocol(r)
        cache: dict[int, object] = {}
        heartbeat = now >= self._next_heartbeat
        if heartbeat:
            self._next_heartbeat = now + self.heartbeat_interval_s
        for link in list(self.links):
            if heartbeat:
                link.send(self._heartbeat(), AUTOPILOT)
                link.send(mavlink.MAVLink_heartbeat_message(30, 8, 0, 0, 4, 3), CAMERA)   # MAV_TYPE_CAMERA, AUTOPILOT_INVALID
                if self.thermal is not None:
                    link.send(mavlink.MAVLink_heartbeat_message(30, 8, 0, 0, 4, 3), THERMAL)
            if not link.congested():
                self._streams(link, now, cache)
                self._params(link)
            link.flush()

    def _streams(self, link: Link, now: float, cache: dict) -> None:
        for msgid in _stream_ids(link):
            interval = link.interval_s(msgid)
            if interval <= 0:
                continue
            due = link.next_due.get(msgid, 0.0)
            if now + 1e-9 < due:
                continue
            # keep the phase; if far behind (speed-up, pause), restart from now
            link.next_due[msgid] = due + interval if now - due < interval else now + interval
            msg = cache.get(msgid)
            if msg is None:
                msg = self.build(msgid)
                cache[msgid] = msg
            if msg is not None:
                link.send(msg, _FROM_COMPONENT.get(msgid, AUTOPILOT))

    def _params(self, link: Link) -> None:
        if not link.param_queue:
            return
        batch, link.param_queue = link.param_queue[:_PARAMS_PER_TICK], link.param_queue[_PARAMS_PER_TICK:]
        for idx in batch:
            link.send(self._param_value(idx))

    # ------------------------------------------------------------------ message builders
    def _time_boot_ms(self) -> int:
        return int(self.model.time_s * 1000) & 0xFFFFFFFF

    def _heartbeat(self):
        m = self.model
        base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED \
            | mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
        if m.mode in (Mode.AUTO, Mode.GUIDED, Mode.LOITER, Mode.RTL, Mode.BRAKE):
            base |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if m.armed:
            base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        return mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                                 base, int(m.mode), m.system_status, 3)

    def build(self, msgid: int, component: int = AUTOPILOT):
        """Build one message from the current model state (None if it cannot be sent now)."""
        m = self.model
        t_ms = self._time_boot_ms()
        known = m.position_ok
        lat, lon = m.lat_lon_deg if known else (0.0, 0.0)
        lat_i, lon_i = int(round(lat * 1e7)), int(round(lon * 1e7))
        if msgid == 33:
            return mavlink.MAVLink_global_position_int_message(
                t_ms, lat_i, lon_i, int(m.alt_amsl_m * 1000) if known else 0, int(m.alt_rel_m * 1000),
                int(m.vn * 100), int(m.ve * 100), int(-m.vu * 100), int(m.yaw_deg * 100) % 36000)
        if msgid == 24:
            fix = 3 if known else 1
            return mavlink.MAVLink_gps_raw_int_message(
                int(m.time_s * 1e6), fix, lat_i, lon_i, int(m.alt_amsl_m * 1000) if known else 0,
                121 if known else 9999, 200 if known else 9999, int(m.groundspeed_m_s * 100),
                int(math.degrees(math.atan2(m.ve, m.vn)) % 360 * 100) if m.groundspeed_m_s > 0.1 else 0,
                int(m.params["SIM_GPS_NUMSATS"]) if known else 0,
                int(m.alt_amsl_m * 1000) if known else 0, 300 if known else 0, 500 if known else 0,
                40 if known else 0, 0, 0)
        if msgid == 30:
            roll, pitch, yaw = m.attitude_rad
            return mavlink.MAVLink_attitude_message(t_ms, roll, pitch, yaw, 0.0, 0.0, 0.0)
        if msgid == 74:
            return mavlink.MAVLink_vfr_hud_message(m.groundspeed_m_s, m.groundspeed_m_s, int(m.yaw_deg) % 360,
                                                   m.throttle_pct, m.alt_amsl_m, m.vu)
        if msgid == 1:
            present, enabled, health = m.sensors()
            b = m.battery
            return mavlink.MAVLink_sys_status_message(
                present, enabled, health, 250, int(b.voltage_v * 1000), int(b.current_a * 100),
                int(b.remaining_pct), 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if msgid == 147:
            b = m.battery
            cells = [int(b.cell_voltage_v * 1000)] * 3 + [65535] * 7
            return mavlink.MAVLink_battery_status_message(
                0, mavlink.MAV_BATTERY_FUNCTION_UNKNOWN, mavlink.MAV_BATTERY_TYPE_LIPO, 32767, cells,
                int(b.current_a * 100), int(b.consumed_mah), -1, int(b.remaining_pct), 0,
                mavlink.MAV_BATTERY_CHARGE_STATE_LOW if m.failsafe_battery else mavlink.MAV_BATTERY_CHARGE_STATE_OK,
                [0, 0, 0, 0], 0, 0)
        if msgid == 242:
            h = m.home_tuple()
            if h is None:
                return None
            hn, he = m.ne_of(h[0], h[1])
            return mavlink.MAVLink_home_position_message(
                int(round(h[0] * 1e7)), int(round(h[1] * 1e7)), int(h[2] * 1000), hn, he,
                -(h[2] - m.origin.alt_amsl_m), [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, int(m.time_s * 1e6))
        if msgid == 49:
            if not known:
                return None
            return mavlink.MAVLink_gps_global_origin_message(
                int(round(m.origin.lat_deg * 1e7)), int(round(m.origin.lon_deg * 1e7)),
                int(m.origin.alt_amsl_m * 1000), int(m.time_s * 1e6))
        if msgid == 193:
            good = m.ekf_ready
            return mavlink.MAVLink_ekf_status_report_message(
                m.ekf_flags(), 0.02 if good else 1.0, 0.02 if good else 1.0, 0.01, 0.01, 0.0, 0.0)
        if msgid == 42:
            items = m.store.count(ms.MISSION)
            return mavlink.MAVLink_mission_current_message(m.mission_current_seq, max(items - 1, 0),
                                                           m.mission_state, 0)
        if msgid == 62:
            roll, pitch, _ = m.attitude_rad
            return mavlink.MAVLink_nav_controller_output_message(
                math.degrees(roll), math.degrees(pitch), int(m.nav_bearing_deg), int(m.nav_bearing_deg),
                min(int(m.nav_target_distance_m), 65535), 0.0, 0.0, 0.0)
        if msgid == 32:
            return mavlink.MAVLink_local_position_ned_message(t_ms, m.north_m, m.east_m, -m.alt_m,
                                                              m.vn, m.ve, -m.vu)
        if msgid in _GIMBAL_MESSAGES:
            return self._gimbal_message(msgid, t_ms) if m.has_mount else None
        if msgid == 162:
            return mavlink.MAVLink_fence_status_message(1 if m.fence_breached else 0, m.fence_breach_count,
                                                        _fence_breach_type(m.fence_breached),
                                                        int(m.fence_breach_time_s * 1000), 0)
        if msgid == 164:
            roll, pitch, yaw = m.attitude_rad
            return mavlink.MAVLink_simstate_message(roll, pitch, yaw, 0.0, 0.0, -9.81, 0.0, 0.0, 0.0,
                                                    lat_i if known else int(m.origin.lat_deg * 1e7),
                                                    lon_i if known else int(m.origin.lon_deg * 1e7))
        if msgid == 2:
            return mavlink.MAVLink_system_time_message(int((self._boot_wall + m.time_s) * 1e6), t_ms)
        if msgid == 125:
            return mavlink.MAVLink_power_status_message(5000, 0, 0)
        if msgid == 152:
            return mavlink.MAVLink_meminfo_message(4096, 65535, 65535)
        if msgid == 241:
            return mavlink.MAVLink_vibration_message(int(m.time_s * 1e6), 0.01, 0.01, 0.01, 0, 0, 0)
        if msgid == 29:
            return mavlink.MAVLink_scaled_pressure_message(t_ms, 1013.25 - m.alt_amsl_m * 0.12, 0.0, 3100)
        if msgid == 36:
            pwm = 1000 + (10 * m.throttle_pct if m.armed else 0)
            return mavlink.MAVLink_servo_output_raw_message(int(m.time_s * 1e6) & 0xFFFFFFFF, 0, pwm, pwm, pwm, pwm,
                                                            0, 0, 0, 0)
        if msgid == 65:
            return mavlink.MAVLink_rc_channels_message(t_ms, 16, 1500, 1500, 1000, 1500, 1800, 1000, 1000, 1800,
                                                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255)
        if msgid == 245:
            landed = 1 if m.landed else 2
            if m.armed and not m.landed and m.vu > 0.3 and m.alt_rel_m < 2:
                landed = 3
            elif m.armed and not m.landed and m.mode == Mode.LAND:
                landed = 4
            return mavlink.MAVLink_extended_sys_state_message(0, landed)
        if msgid == 148:
            return self._autopilot_version()
        if msgid == 259 and component == THERMAL:
            cam = th.THERMAL_CAMERA
            return mavlink.MAVLink_camera_information_message(
                t_ms, list(tc.VENDOR.encode().ljust(32, b"\0")), list(tc.MODEL.encode().ljust(32, b"\0")),
                1, cam.focal_length_mm, cam.sensor_width_mm, cam.sensor_height_mm, cam.width_px, cam.height_px,
                0, mavlink.CAMERA_CAP_FLAGS_CAPTURE_IMAGE, 0, b"")
        if msgid == 259:
            cam = self.rgb_camera
            return mavlink.MAVLink_camera_information_message(
                t_ms, list(b"SkyGuard Sim".ljust(32, b"\0")), list(b"PatrolCam HD".ljust(32, b"\0")),
                1, round(cam.focal_length_mm, 3), cam.sensor_width_mm, round(cam.sensor_height_mm, 3), cam.width_px,
                cam.height_px, 0, 1 | 2 | 32, 0, b"")   # CAPTURE_IMAGE|CAPTURE_VIDEO|HAS_MODES
        if msgid == 260:
            return mavlink.MAVLink_camera_settings_message(t_ms, 0, 1.0, float("nan"))
        return None

    def _autopilot_version(self):
        major, minor, patch = FIRMWARE
        caps = (mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
                | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY)
        version = (major << 24) | (minor << 16) | (patch << 8) | FIRMWARE_TYPE
        return mavlink.MAVLink_autopilot_version_message(
            caps, version, 0, 0, 0, list(GIT_HASH.encode()), [0] * 8, [0] * 8, 0x1209, 0x5740, self.sysid,
            [0] * 18)

    def _gimbal_message(self, msgid: int, t_ms: int):
        """The servo mount's gimbal v2 messages, from the autopilot, gimbal_device_id 1 (AP_Mount_Backend)."""
        m = self.model
        p = m.params
        lock = m.gimbal_yaw_lock or m.gimbal_mode == cp.MOUNT_GPS_POINT
        if msgid == 285:
            flags = (mavlink.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | mavlink.GIMBAL_DEVICE_FLAGS_PITCH_LOCK
                     | mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
                     | (mavlink.GIMBAL_DEVICE_FLAGS_YAW_LOCK if lock else 0)
                     | (mavlink.GIMBAL_DEVICE_FLAGS_RETRACT if m.gimbal_mode == cp.MOUNT_RETRACT else 0)
                     | (mavlink.GIMBAL_DEVICE_FLAGS_NEUTRAL if m.gimbal_mode == cp.MOUNT_NEUTRAL else 0))
            q = th.quaternion(m.gimbal_yaw_deg, m.gimbal_pitch_deg)
            nan = float("nan")
            return mavlink.MAVLink_gimbal_device_attitude_status_message(0, 0, t_ms, flags, q, nan, nan, nan, 0,
                                                                         nan, nan, 1)
        if msgid == 280:
            caps = (mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_RETRACT | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_NEUTRAL
                    | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_RC_INPUTS
                    | mavlink.GIMBAL_MANAGER_CAP_FLAGS_CAN_POINT_LOCATION_LOCAL
                    | mavlink.GIMBAL_MANAGER_CAP_FLAGS_CAN_POINT_LOCATION_GLOBAL
                    | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_AXIS | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_LOCK
                    | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_AXIS | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_FOLLOW
                    | mavlink.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_LOCK)
            r = math.radians
            return mavlink.MAVLink_gimbal_manager_information_message(
                t_ms, caps, 1, r(p["MNT1_ROLL_MIN"]), r(p["MNT1_ROLL_MAX"]), r(p["MNT1_PITCH_MIN"]),
                r(p["MNT1_PITCH_MAX"]), r(p["MNT1_YAW_MIN"]), r(p["MNT1_YAW_MAX"]))
        flags = (mavlink.GIMBAL_MANAGER_FLAGS_ROLL_LOCK | mavlink.GIMBAL_MANAGER_FLAGS_PITCH_LOCK
                 | (mavlink.GIMBAL_MANAGER_FLAGS_YAW_LOCK if lock else 0))
        return mavlink.MAVLink_gimbal_manager_status_message(t_ms, flags, 1, *self.gimbal_control, 0, 0)

    def _param_value(self, index: int):
        p = self.model.params
        name = p.name_at(index)
        assert name is not None
        return mavlink.MAVLink_param_value_message(name.encode(), p[name], p.type_of(name), len(p), index)

    # ------------------------------------------------------------------ broadcasting
    def broadcast(self, msg, component: int = AUTOPILOT) -> None:
        for link in self.links:
            link.send(msg, component)

    def _broadcast_event(self, ev) -> None:
        if isinstance(ev, cp.StatusText):
            self.broadcast(mavlink.MAVLink_statustext_message(ev.severity, _text(ev.text, 50), 0, 0))
        elif isinstance(ev, cp.ItemReached):
            self.broadcast(mavlink.MAVLink_mission_item_reached_message(ev.seq))
        elif isinstance(ev, cp.MissionCurrentChanged):
            self.broadcast(self.build(42))
        elif isinstance(ev, cp.HomeChanged):
            msg = self.build(242)
            if msg is not None:
                self.broadcast(msg)
        elif isinstance(ev, cp.RelaySwitched):
            if self.on_relay is not None:
                self.on_relay(ev.number, ev.on)
        elif isinstance(ev, cp.ImageCaptured):
            q = th.quaternion(ev.heading_deg, ev.gimbal_pitch_deg)
            msg = mavlink.MAVLink_camera_image_captured_message(
                self._time_boot_ms(), int((self._boot_wall + ev.time_s) * 1e6), 0,
                int(round(ev.lat_deg * 1e7)), int(round(ev.lon_deg * 1e7)), int(ev.alt_amsl_m * 1000),
                int(ev.alt_rel_m * 1000), q, ev.index - 1, 1, f"sim://{self.sysid}/IMG_{ev.index:05d}.jpg".encode())
            self.broadcast(msg, CAMERA)

    def _send_protocol(self, r) -> None:
        link, (sysid, compid) = r.peer
        if link not in self.links:
            return
        if isinstance(r, ms.Request):
            link.send(mavlink.MAVLink_mission_request_message(sysid, compid, r.seq, r.mission_type))
        elif isinstance(r, ms.Said):
            link.send(mavlink.MAVLink_statustext_message(r.severity, _text(r.text, 50), 0, 0))
        else:
            link.send(mavlink.MAVLink_mission_ack_message(sysid, compid, r.result, r.mission_type))

    def _send_protocol_paced(self, replies: list) -> None:
        """Replies to an uploaded item: the next request after the per-item processing time, the rest now."""
        requests = [r for r in replies if isinstance(r, ms.Request)]
        for r in replies:
            if not isinstance(r, ms.Request):
                self._send_protocol(r)
        if not requests:
            return
        speedup = max(self.model.params["SIM_SPEEDUP"], 1e-6)
        delay_s = self.item_pace_s / speedup
        if delay_s <= 0:
            for r in requests:
                self._send_protocol(r)
            return

        def later() -> None:
            if self.frozen:
                return
            for r in requests:
                self._send_protocol(r)
                r.peer[0].flush()

        asyncio.get_running_loop().call_later(delay_s, later)

    # ------------------------------------------------------------------ dispatch
    def handle(self, link: Link, msg) -> None:
        handler = _HANDLERS.get(msg.get_type())
        if handler is None:
            return
        target = getattr(msg, "target_system", None)
        if target is not None and target not in (0, self.sysid):
            return
        handler(self, link, msg)
        self._sync_totals()

    def _ack(self, link: Link, msg, command: int, result: int, component: int = AUTOPILOT) -> None:
        link.send(mavlink.MAVLink_command_ack_message(command, result, 0, 0, msg.get_srcSystem(),
                                                      msg.get_srcComponent()), component)

    def _on_set_mode(self, link: Link, msg) -> None:
        if msg.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            result = cp.ACCEPTED if self.model.set_mode(msg.custom_mode) else cp.FAILED
        else:
            result = cp.UNSUPPORTED
        self._flush_events()
        self._ack(link, msg, mavlink.MAVLINK_MSG_ID_SET_MODE, result)

    def _flush_events(self) -> None:
        """Send what the model said while handling a request before the ACK, as ArduPilot does."""
        for ev in self.model.drain_events():
            self._broadcast_event(ev)

    def _on_heartbeat(self, link: Link, msg) -> None:
        pass

    def _on_request_data_stream(self, link: Link, msg) -> None:
        groups = list(STREAM_GROUPS) if msg.req_stream_id == 0 else [msg.req_stream_id]
        rate = msg.req_message_rate if msg.start_stop else 0
        for g in groups:
            if g in STREAM_GROUPS:
                link.group_interval_s[g] = 1.0 / rate if rate > 0 else 0.0
                for mid in STREAM_GROUPS[g]:
                    link.next_due.pop(mid, None)

    def _on_command_long(self, link: Link, msg) -> None:
        c = _Cmd(msg.command, (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7),
                 frame=None)
        self._command(link, msg, c)

    def _on_command_int(self, link: Link, msg) -> None:
        c = _Cmd(msg.command, (msg.param1, msg.param2, msg.param3, msg.param4, msg.x / 1e7, msg.y / 1e7, msg.z),
                 frame=msg.frame, x_raw=msg.x)
        self._command(link, msg, c)

    def _command(self, link: Link, msg, c: "_Cmd") -> None:
        comp = msg.target_component
        self._after_ack.clear()
        if comp == CAMERA:
            result = self._camera_command(link, msg, c)
            self._ack(link, msg, c.command, result, CAMERA)
        elif comp == THERMAL and self.thermal is not None:
            result = self._thermal_command(link, msg, c)
            self._ack(link, msg, c.command, result, THERMAL)
        elif comp in (0, AUTOPILOT, GIMBAL):
            result = self._autopilot_command(link, msg, c)
            self._flush_events()
            self._ack(link, msg, c.command, result, AUTOPILOT)
        # requested messages follow the ACK, as ArduPilot queues them for its next send slot
        for target, reply, component in self._after_ack:
            target.send(reply, component)
        self._after_ack.clear()

    def _reply(self, link: Link, msg, component: int = AUTOPILOT) -> None:
        self._after_ack.append((link, msg, component))

    def _camera_command(self, link: Link, msg, c: "_Cmd") -> int:
        m = self.model
        p = c.params
        if c.command == mavlink.MAV_CMD_IMAGE_START_CAPTURE:
            m.start_capture(p[1], int(p[2]))
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_IMAGE_STOP_CAPTURE:
            m.stop_capture()
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_DO_DIGICAM_CONTROL:
            m.start_capture(0.0, 1)
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_REQUEST_CAMERA_INFORMATION:
            self._reply(link, self.build(259), CAMERA)
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_REQUEST_CAMERA_SETTINGS:
            self._reply(link, self.build(260), CAMERA)
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_REQUEST_MESSAGE and int(p[0]) in (259, 260):
            self._reply(link, self.build(int(p[0])), CAMERA)
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_SET_CAMERA_MODE:
            return cp.ACCEPTED
        return cp.UNSUPPORTED

    def _thermal_command(self, link: Link, msg, c: "_Cmd") -> int:
        """The thermal camera (component 101): information on request, one frame per IMAGE_START_CAPTURE."""
        p = c.params
        if c.command == mavlink.MAV_CMD_REQUEST_CAMERA_INFORMATION or \
                (c.command == mavlink.MAV_CMD_REQUEST_MESSAGE and int(p[0]) == 259):
            self._reply(link, self.build(259, THERMAL), THERMAL)
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_IMAGE_START_CAPTURE:
            interval_s, count = p[1], int(p[2])
            if interval_s != 0 or count != 1:
                return cp.DENIED        # only single frames are simulated
            self._thermal_capture()
            return cp.ACCEPTED
        if c.command == mavlink.MAV_CMD_IMAGE_STOP_CAPTURE:
            return cp.ACCEPTED
        return cp.UNSUPPORTED

    def _thermal_capture(self) -> None:
        """Freeze the pose now, render off the loop, then announce the frame from component 101."""
        assert self.thermal is not None
        m = self.model
        lat, lon = m.lat_lon_deg if m.position_ok else (0.0, 0.0)
        pose = th.CameraPose(m.north_m, m.east_m, m.alt_m, (m.yaw_deg + m.gimbal_yaw_deg) % 360.0,
                             m.gimbal_pitch_deg)
        shot = tc.Shot(m.time_s, lat, lon, m.alt_amsl_m, m.alt_rel_m, m.origin.lat_deg, m.origin.lon_deg, pose)
        index = self.thermal.reserve_index()
        scene = self.scene()
        camera = self.thermal

        def take() -> tc.Capture:
            return camera.take(index, shot, scene)

        def announce(capture: tc.Capture) -> None:
            s = capture.shot
            msg = mavlink.MAVLink_camera_image_captured_message(
                int(s.time_s * 1000) & 0xFFFFFFFF, int((self._boot_wall + s.time_s) * 1e6), 0,
                int(round(s.lat_deg * 1e7)), int(round(s.lon_deg * 1e7)), int(round(s.alt_amsl_m * 1000)),
                int(round(s.alt_rel_m * 1000)), th.quaternion(s.pose.yaw_deg, s.pose.pitch_deg),
                capture.image_index, 1, capture.url.encode())
            if not self.frozen:
                self.broadcast(msg, THERMAL)
                for ln in list(self.links):
                    ln.flush()

        if self.run_in_worker is None:
            announce(take())
            return

        def done(fut) -> None:
            if fut.cancelled():
                return
            if fut.exception() is not None:
                log.error("vehicle %d: thermal frame %d failed: %s", self.sysid, index, fut.exception())
                return
            announce(fut.result())

        self.run_in_worker(take).add_done_callback(done)

    def _gimbal_command(self, link: Link, msg, c: "_Cmd") -> int:
        """MAV_CMD_DO_MOUNT_CONTROL / DO_GIMBAL_MANAGER_PITCHYAW / DO_GIMBAL_MANAGER_CONFIGURE, as AP_Mount
        handles them for its one (servo) backend; FAILED with no mount (MNT1_TYPE=0)."""
        m = self.model
        p = c.params
        if not m.has_mount:
            return cp.FAILED
        if c.command == mavlink.MAV_CMD_DO_MOUNT_CONTROL:   # AP_Mount_Backend::handle_command_do_mount_control
            mode = _int(p[6], -1)
            if mode == cp.MOUNT_MAVLINK_TARGETING:
                pitch, roll, yaw = p[0], p[1], p[2]
                if abs(pitch) > 90 or abs(roll) > 180 or abs(yaw) > 360:
                    m.events.append(cp.StatusText(cp.WARNING, "Mount: invalid angle targets"))
                    return cp.FAILED
                m.set_gimbal(pitch, yaw)
                return cp.ACCEPTED
            if mode == cp.MOUNT_GPS_POINT:   # x/y (param5/6) in degE7, param4 the altitude above home
                x, y = (c.x_raw, msg.y) if c.frame is not None else (p[4], p[5])
                m.set_roi(x / 1e7, y / 1e7, m.alt_from_frame(ms.FRAME_GLOBAL_RELATIVE_ALT, p[3]))
                return cp.ACCEPTED
            return cp.ACCEPTED if m.set_gimbal_mode(mode) else cp.FAILED
        flags = c.x_raw if c.frame is not None else _int(p[4])
        device = _int(p[6])
        if device not in (0, 1):        # 0: the primary gimbal, 1: the first (and only) one
            return cp.FAILED
        if c.command == mavlink.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE:
            return self._gimbal_configure(msg, p[0], p[1])
        if flags & mavlink.GIMBAL_MANAGER_FLAGS_RETRACT:
            m.set_gimbal_mode(cp.MOUNT_RETRACT)
            return cp.ACCEPTED
        if flags & mavlink.GIMBAL_MANAGER_FLAGS_NEUTRAL:
            m.set_gimbal_mode(cp.MOUNT_NEUTRAL)
            return cp.ACCEPTED
        yaw_lock = bool(flags & mavlink.GIMBAL_MANAGER_FLAGS_YAW_LOCK)
        if not math.isnan(p[0]) and not math.isnan(p[1]):
            m.set_gimbal(p[0], p[1], yaw_earth_frame=yaw_lock)
            return cp.ACCEPTED
        if not math.isnan(p[2]) and not math.isnan(p[3]):
            m.set_gimbal_rate(p[2], p[3], yaw_earth_frame=yaw_lock)
            return cp.ACCEPTED
        return cp.FAILED

    def _gimbal_configure(self, msg, sysid: float, compid: float) -> int:
        """AP_Mount_Backend::handle_command_do_gimbal_manager_configure: who has primary control."""
        if not (-3 <= sysid <= 255 and -3 <= compid <= 255):
            return cp.FAILED
        who = (msg.get_srcSystem(), msg.get_srcComponent())
        if int(sysid) == -2:
            self.gimbal_control = who                           # take control
        elif int(sysid) == -3:
            if self.gimbal_control == who:
                self.gimbal_control = (0, 0)                    # release it
        elif int(sysid) != -1:
            self.gimbal_control = (int(sysid), int(compid))
        return cp.ACCEPTED

    def _autopilot_command(self, link: Link, msg, c: "_Cmd") -> int:
        m = self.model
        p = c.params
        cmd = c.command
        if cmd == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
            force = int(round(p[1])) == cp.FORCE_ARM_MAGIC
            if p[0] == 1:
                return m.arm(force)
            if p[0] == 0:
                return m.disarm(force)
            return cp.DENIED
        if cmd == mavlink.MAV_CMD_DO_SET_MODE:
            if not int(p[0]) & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
                return cp.UNSUPPORTED
            return cp.ACCEPTED if m.set_mode(int(p[1])) else cp.FAILED
        if cmd == mavlink.MAV_CMD_NAV_TAKEOFF:
            return m.takeoff(p[6])
        if cmd == mavlink.MAV_CMD_DO_REPOSITION:
            return self._reposition(c)
        if cmd == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return cp.ACCEPTED if m.set_mode(Mode.RTL) else cp.FAILED
        if cmd == mavlink.MAV_CMD_NAV_LAND:
            return cp.ACCEPTED if m.set_mode(Mode.LAND) else cp.FAILED
        if cmd == mavlink.MAV_CMD_NAV_LOITER_UNLIM:
            return cp.ACCEPTED if m.set_mode(Mode.LOITER) else cp.FAILED
        if cmd == mavlink.MAV_CMD_DO_CHANGE_SPEED:
            return cp.ACCEPTED if m.set_speed(p[1]) else cp.FAILED
        if cmd == mavlink.MAV_CMD_DO_SET_HOME:
            if p[0] == 1:
                return cp.ACCEPTED if m.set_home(None, None, None) else cp.FAILED
            alt = p[6] if c.frame in (None, ms.FRAME_GLOBAL, ms.FRAME_GLOBAL_INT) else p[6] + m.origin.alt_amsl_m
            return cp.ACCEPTED if m.set_home(p[4], p[5], alt) else cp.FAILED
        if cmd in (mavlink.MAV_CMD_DO_SET_ROI_LOCATION, mavlink.MAV_CMD_DO_SET_ROI):
            if cmd == mavlink.MAV_CMD_DO_SET_ROI and int(p[0]) == mavlink.MAV_ROI_NONE:
                m.clear_roi()
                return cp.ACCEPTED
            if p[4] == 0 and p[5] == 0:
                m.clear_roi()
                return cp.ACCEPTED
            m.set_roi(p[4], p[5], m.alt_from_frame(c.frame if c.frame is not None else ms.FRAME_GLOBAL_RELATIVE_ALT, p[6]))
            return cp.ACCEPTED
        if cmd == mavlink.MAV_CMD_DO_SET_ROI_NONE:
            m.clear_roi()
            return cp.ACCEPTED
        if cmd in (mavlink.MAV_CMD_DO_MOUNT_CONTROL, mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
                   mavlink.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE):
            return self._gimbal_command(link, msg, c)
        if cmd == mavlink.MAV_CMD_CONDITION_YAW:
            return cp.ACCEPTED if m.condition_yaw(p[0], int(p[2]), bool(p[3])) else cp.FAILED
        if cmd == mavlink.MAV_CMD_DO_SET_MISSION_CURRENT:
            return cp.ACCEPTED if m.set_mission_current(int(p[0]), reset=bool(p[1])) else cp.FAILED
        if cmd == mavlink.MAV_CMD_MISSION_START:
            # GCS_MAVLINK_Copter::handle_MAV_CMD_MISSION_START (COMMAND_LONG and COMMAND_INT alike)
            if p[0] != 0 or p[1] != 0:
                return cp.DENIED        # first/last item are not supported
            return cp.ACCEPTED if m.start_mission() else cp.FAILED
        if cmd == mavlink.MAV_CMD_DO_FENCE_ENABLE:
            if int(p[0]) not in (0, 1, 2):
                return cp.FAILED
            m.params.set("FENCE_ENABLE", 1 if int(p[0]) == 1 else 0)
            return cp.ACCEPTED
        if cmd == mavlink.MAV_CMD_DO_SET_RELAY:
            m.set_relay(int(p[0]), int(p[1]))
            return cp.ACCEPTED
        if cmd in (mavlink.MAV_CMD_DO_SET_SERVO, mavlink.MAV_CMD_DO_REPEAT_RELAY, mavlink.MAV_CMD_DO_REPEAT_SERVO):
            return cp.ACCEPTED
        if cmd in (mavlink.MAV_CMD_IMAGE_START_CAPTURE, mavlink.MAV_CMD_IMAGE_STOP_CAPTURE,
                   mavlink.MAV_CMD_DO_DIGICAM_CONTROL, mavlink.MAV_CMD_REQUEST_CAMERA_INFORMATION):
            return self._camera_command(link, msg, c)
        if cmd == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
            return self._set_message_interval(link, int(p[0]), p[1])
        if cmd == mavlink.MAV_CMD_GET_MESSAGE_INTERVAL:
            mid = int(p[0])
            if mid != 0 and self.build(mid) is None and mid not in _GROUP_OF:
                return cp.FAILED
            interval = self.heartbeat_interval_s if mid == 0 else link.interval_s(mid)
            self._reply(link, mavlink.MAVLink_message_interval_message(mid, int(interval * 1e6) if interval > 0 else -1))
            return cp.ACCEPTED
        if cmd == mavlink.MAV_CMD_REQUEST_MESSAGE:
            mid = int(p[0])
            if mid == 22:  # PARAM_VALUE by index
                name = m.params.name_at(int(p[1]))
                if name is None:
                    return cp.FAILED
                self._reply(link, self._param_value(int(p[1])))
                return cp.ACCEPTED
            if mid == 0:
                self._reply(link, self._heartbeat())
                return cp.ACCEPTED
            built = self.build(mid)
            if built is None and mid in _GIMBAL_MESSAGES:
                return cp.ACCEPTED      # GCS_MAVLINK::handle_command_request_message queues it; no mount, no send
            if built is None:
                return cp.FAILED
            self._reply(link, built, _FROM_COMPONENT.get(mid, AUTOPILOT))
            return cp.ACCEPTED
        if cmd == mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            self._reply(link, self._autopilot_version())
            return cp.ACCEPTED
        if cmd == mavlink.MAV_CMD_GET_HOME_POSITION:
            built = self.build(242)
            if built is None:
                return cp.FAILED
            self._reply(link, built)
            return cp.ACCEPTED
        return cp.UNSUPPORTED

    def _reposition(self, c: "_Cmd") -> int:
        m = self.model
        p = c.params
        change_mode = int(p[1]) & 1  # MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
        if m.mode != Mode.GUIDED and not change_mode:
            return cp.DENIED
        lat, lon = p[4], p[5]
        if (lat == 0 and lon == 0) or not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat):
            return cp.DENIED
        if m.mode != Mode.GUIDED and not m.set_mode(Mode.GUIDED):
            return cp.FAILED
        frame = c.frame if c.frame is not None else ms.FRAME_GLOBAL_RELATIVE_ALT
        alt = None if math.isnan(p[6]) else m.alt_from_frame(frame, p[6])
        if p[0] > 0:
            m.set_speed(p[0])
        return cp.ACCEPTED if m.goto(lat, lon, alt) else cp.FAILED

    def _set_message_interval(self, link: Link, mid: int, interval_us: float) -> int:
        if mid == 0:
            if interval_us > 0:
                self.heartbeat_interval_s = interval_us / 1e6
            return cp.ACCEPTED
        # ArduPilot accepts an interval for any message it knows how to send, even one it cannot send yet
        # (HOME_POSITION before home is set): the stream starts once the message can be built. Any other id
        # (MOUNT_STATUS 158 among them) has no ap_message: GCS_MAVLINK::set_mavlink_message_id_interval says so
        # to every GCS and the command is DENIED.
        if mid not in _GROUP_OF and mid not in _ON_REQUEST:
            self.model.events.append(cp.StatusText(cp.INFO, f"No ap_message for mavlink id ({mid})"))
            return cp.DENIED
        if interval_us < 0:
            link.msg_interval_s[mid] = -1.0
        elif interval_us == 0:
            link.msg_interval_s.pop(mid, None)
        else:
            link.msg_interval_s[mid] = max(interval_us / 1e6, 0.001)
        link.next_due.pop(mid, None)
        return cp.ACCEPTED

    def _on_set_position_target_global_int(self, link: Link, msg) -> None:
        m = self.model
        if m.mode != Mode.GUIDED:
            return
        mask = msg.type_mask
        if not mask & 0b111:
            if msg.coordinate_frame not in (ms.FRAME_GLOBAL_INT, ms.FRAME_GLOBAL_RELATIVE_ALT_INT,
                                            ms.FRAME_GLOBAL_TERRAIN_ALT_INT, ms.FRAME_GLOBAL,
                                            ms.FRAME_GLOBAL_RELATIVE_ALT, ms.FRAME_GLOBAL_TERRAIN_ALT):
                return
            if msg.lat_int == 0 and msg.lon_int == 0:
                return
            m.goto(msg.lat_int / 1e7, msg.lon_int / 1e7, m.alt_from_frame(msg.coordinate_frame, msg.alt))
        elif not mask & 0b111000:
            m.set_velocity(msg.vx, msg.vy, msg.vz)
        if not mask & 1024 and m.flying:
            m.condition_yaw(math.degrees(msg.yaw) % 360.0, 0, False)

    def _on_set_position_target_local_ned(self, link: Link, msg) -> None:
        m = self.model
        if m.mode != Mode.GUIDED:
            return
        mask = msg.type_mask
        frame = msg.coordinate_frame
        if not mask & 0b111:
            if frame == mavlink.MAV_FRAME_LOCAL_NED:
                n, e, alt = msg.x, msg.y, -msg.z
            elif frame in (mavlink.MAV_FRAME_LOCAL_OFFSET_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED):
                dn, de = msg.x, msg.y
                if frame == mavlink.MAV_FRAME_BODY_OFFSET_NED:
                    yaw = math.radians(m.yaw_deg)
                    dn, de = dn * math.cos(yaw) - de * math.sin(yaw), dn * math.sin(yaw) + de * math.cos(yaw)
                n, e, alt = m.north_m + dn, m.east_m + de, m.alt_m - msg.z
            else:
                return
            lat, lon = _ne_to_latlon(m, n, e)
            m.goto(lat, lon, alt)
        elif not mask & 0b111000:
            vn, ve = msg.vx, msg.vy
            if frame in (mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED):
                yaw = math.radians(m.yaw_deg)
                vn, ve = vn * math.cos(yaw) - ve * math.sin(yaw), vn * math.sin(yaw) + ve * math.cos(yaw)
            m.set_velocity(vn, ve, msg.vz)

    # parameters
    def _on_param_request_list(self, link: Link, msg) -> None:
        for text in (FIRMWARE_STRING, "SkyGuard simulator (SITL-compatible)",
                     "Frame: QUAD/X"):
            link.send(mavlink.MAVLink_statustext_message(cp.INFO, text.encode(), 0, 0))
        link.param_queue = list(range(len(self.model.params)))

    def _on_param_request_read(self, link: Link, msg) -> None:
        p = self.model.params
        if msg.param_index >= 0:
            if p.name_at(msg.param_index) is None:
                return
            link.send(self._param_value(msg.param_index))
            return
        name = _param_name(msg.param_id)
        if name in p:
            link.send(self._param_value(p.index(name)))

    def _on_param_set(self, link: Link, msg) -> None:
        p = self.model.params
        name = _param_name(msg.param_id)
        if name not in p:
            return
        if not p.set(name, msg.param_value):
            if p.is_read_only(name):
                link.send(mavlink.MAVLink_statustext_message(cp.WARNING, f"Param write denied ({name})".encode(), 0, 0))
            return
        self.broadcast(self._param_value(p.index(name)))

    # missions
    def _peer(self, link: Link, msg) -> tuple:
        return (link, (msg.get_srcSystem(), msg.get_srcComponent()))

    def _mission_target_ok(self, msg) -> bool:
        return getattr(msg, "target_component", 0) in (0, AUTOPILOT)

    def _on_mission_count(self, link: Link, msg) -> None:
        if not self._mission_target_ok(msg):
            return
        peer = self._peer(link, msg)
        for r in self.protocol.count(peer, msg.mission_type, msg.count, self.model.time_s):
            self._send_protocol(r)

    def _on_mission_item(self, link: Link, msg, is_int: bool) -> None:
        if not self._mission_target_ok(msg):
            return
        if is_int or not ms.carries_location(msg.command, msg.mission_type):
            x, y = _int(msg.x, 2**31), _int(msg.y, 2**31)
        else:   # a NaN or huge float position is out of range: INVALID_PARAM5_X / 6_Y
            x, y = _int(msg.x * 1e7, 2**31), _int(msg.y * 1e7, 2**31)
        item = ms.Item(msg.seq, msg.frame, msg.command, msg.param1, msg.param2, msg.param3, msg.param4,
                       x, y, msg.z, msg.autocontinue, msg.mission_type)
        self._send_protocol_paced(self.protocol.item(self._peer(link, msg), item, self.model.time_s))

    def _on_mission_request_list(self, link: Link, msg) -> None:
        if not self._mission_target_ok(msg):
            return
        refused = self.protocol.download_refused(self._peer(link, msg), msg.mission_type)
        for r in refused:
            self._send_protocol(r)
        if not refused:
            link.send(mavlink.MAVLink_mission_count_message(msg.get_srcSystem(), msg.get_srcComponent(),
                                                            self.model.store.count(msg.mission_type),
                                                            msg.mission_type))

    def _on_mission_request(self, link: Link, msg, is_int: bool) -> None:
        if not self._mission_target_ok(msg):
            return
        peer = self._peer(link, msg)
        refused = self.protocol.download_refused(peer, msg.mission_type)
        if refused:
            for r in refused:
                self._send_protocol(r)
            return
        item = self.model.store.get(msg.mission_type, msg.seq, self.model.home_tuple())
        if isinstance(item, int):
            self._send_protocol(ms.Ack(peer, item, msg.mission_type))
            return
        src_sys, src_comp = msg.get_srcSystem(), msg.get_srcComponent()
        if is_int or not ms.carries_location(item.command, item.mission_type):
            x, y = item.x, item.y
        else:
            x, y = item.x / 1e7, item.y / 1e7
        cls = mavlink.MAVLink_mission_item_int_message if is_int else mavlink.MAVLink_mission_item_message
        link.send(cls(src_sys, src_comp, item.seq, item.frame, item.command, 0, item.autocontinue, item.param1,
                      item.param2, item.param3, item.param4, x, y, item.z, item.mission_type))

    def _on_mission_clear_all(self, link: Link, msg) -> None:
        if not self._mission_target_ok(msg):
            return
        peer = self._peer(link, msg)
        m = self.model
        if msg.mission_type == ms.MISSION and m.mode == Mode.AUTO and m.armed:
            self._send_protocol(ms.Ack(peer, ms.ERROR, msg.mission_type))
            return
        for r in self.protocol.clear_all(peer, msg.mission_type):
            self._send_protocol(r)

    def _on_mission_set_current(self, link: Link, msg) -> None:
        if not self.model.set_mission_current(msg.seq):
            link.send(self.build(42))
        self._flush_events()

    def _on_gimbal_manager_set_pitchyaw(self, link: Link, msg) -> None:
        """AP_Mount::handle_gimbal_manager_set_pitchyaw: angles in radians, or rates; never both."""
        m = self.model
        if not m.has_mount or msg.gimbal_device_id not in (0, 1) or not self._mission_target_ok(msg):
            return
        if msg.flags & mavlink.GIMBAL_MANAGER_FLAGS_RETRACT:
            m.set_gimbal_mode(cp.MOUNT_RETRACT)
            return
        if msg.flags & mavlink.GIMBAL_MANAGER_FLAGS_NEUTRAL:
            m.set_gimbal_mode(cp.MOUNT_NEUTRAL)
            return
        angles = not math.isnan(msg.pitch) and not math.isnan(msg.yaw)
        rates = not math.isnan(msg.pitch_rate) and not math.isnan(msg.yaw_rate)
        lock = bool(msg.flags & mavlink.GIMBAL_MANAGER_FLAGS_YAW_LOCK)
        if angles and rates:
            return
        if angles:
            m.set_gimbal(math.degrees(msg.pitch), math.degrees(msg.yaw), yaw_earth_frame=lock)
        elif rates:
            m.set_gimbal_rate(math.degrees(msg.pitch_rate), math.degrees(msg.yaw_rate), yaw_earth_frame=lock)

    def _on_timesync(self, link: Link, msg) -> None:
        if msg.tc1 == 0:
            link.send(mavlink.MAVLink_timesync_message(int(self.model.time_s * 1e9), msg.ts1))


class _LinkedMissionProtocol:
    """MissionProtocol whose peers are (link, (sysid, compid)); the sender identity is the (sysid, compid)."""

    def __init__(self, inner: ms.MissionProtocol) -> None:
        self.inner = inner

    def count(self, peer: tuple, mission_type: int, count: int, now_s: float) -> list:
        return self.inner.count(peer, peer[1], mission_type, count, now_s)

    def item(self, peer: tuple, item: ms.Item, now_s: float) -> list:
        return self.inner.item(peer, peer[1], item, now_s)

    def clear_all(self, peer: tuple, mission_type: int) -> list:
        return self.inner.clear_all(peer, mission_type)

    def download_refused(self, peer: tuple, mission_type: int) -> list:
        return self.inner.download_refused(peer, mission_type)

    def update(self, now_s: float) -> list:
        return self.inner.update(now_s)

    def forget_peer_link(self, link: Link) -> None:
        for mission_type, up in list(self.inner._uploads.items()):
            if up.peer[0] is link:
                self.inner.forget_peer(up.peer)


class _Cmd:
    __slots__ = ("command", "params", "frame", "x_raw")

    def __init__(self, command: int, params: tuple, frame: int | None, x_raw: int = 0) -> None:
        self.command = command
        self.params = params
        self.frame = frame
        self.x_raw = x_raw


def _stream_ids(link: Link) -> list[int]:
    ids = [mid for g, iv in link.group_interval_s.items() if iv > 0 for mid in STREAM_GROUPS[g]]
    ids.extend(mid for mid, iv in link.msg_interval_s.items() if iv > 0 and mid not in ids)
    return ids


def _int(value: float, default: int = 0) -> int:
    """int() of a MAVLink float that may be NaN or infinite (then `default`)."""
    return int(round(value)) if math.isfinite(value) else default


def _param_name(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    return raw.split("\0", 1)[0].strip()


def _fence_breach_type(mask: int) -> int:
    if mask & 4 or mask & 2:
        return mavlink.FENCE_BREACH_BOUNDARY
    if mask & 1:
        return mavlink.FENCE_BREACH_MAXALT
    return mavlink.FENCE_BREACH_NONE


def _ne_to_latlon(m: Copter, n: float, e: float) -> tuple[float, float]:
    return geodesy.moved(m.origin.lat_deg, m.origin.lon_deg, n, e)


_HANDLERS = {
    "HEARTBEAT": Vehicle._on_heartbeat,
    "SET_MODE": Vehicle._on_set_mode,
    "REQUEST_DATA_STREAM": Vehicle._on_request_data_stream,
    "COMMAND_LONG": Vehicle._on_command_long,
    "COMMAND_INT": Vehicle._on_command_int,
    "SET_POSITION_TARGET_GLOBAL_INT": Vehicle._on_set_position_target_global_int,
    "SET_POSITION_TARGET_LOCAL_NED": Vehicle._on_set_position_target_local_ned,
    "PARAM_REQUEST_LIST": Vehicle._on_param_request_list,
    "PARAM_REQUEST_READ": Vehicle._on_param_request_read,
    "PARAM_SET": Vehicle._on_param_set,
    "MISSION_COUNT": Vehicle._on_mission_count,
    "MISSION_ITEM": lambda v, link, msg: v._on_mission_item(link, msg, False),
    "MISSION_ITEM_INT": lambda v, link, msg: v._on_mission_item(link, msg, True),
    "MISSION_REQUEST_LIST": Vehicle._on_mission_request_list,
    "MISSION_REQUEST": lambda v, link, msg: v._on_mission_request(link, msg, False),
    "MISSION_REQUEST_INT": lambda v, link, msg: v._on_mission_request(link, msg, True),
    "MISSION_CLEAR_ALL": Vehicle._on_mission_clear_all,
    "MISSION_SET_CURRENT": Vehicle._on_mission_set_current,
    "GIMBAL_MANAGER_SET_PITCHYAW": Vehicle._on_gimbal_manager_set_pitchyaw,
    "TIMESYNC": Vehicle._on_timesync,
}
