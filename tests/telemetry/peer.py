"""A tiny scripted MAVLink vehicle for telemetry/ tests: real MAVLink 2 bytes over loopback sockets.

It behaves like ArduCopter where the tests need it (HEARTBEAT with custom modes, COMMAND_ACK with the
sender's ids, mission upload asked with MISSION_REQUEST, item 0 = home, frame 6 read back as 3, PARAM_VALUE,
a MAVLink camera at component 100 answering CAMERA_INFORMATION requests and image captures) and can misbehave
on purpose (boot text, garbage bytes, silence, dropped connections, lost items, refusals, failed captures).
It is a test fixture, not a simulator: each test scripts exactly the answers it needs.
"""
from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from tests.waiting import wait_for

COPTER_MODES = {"STABILIZE": 0, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6, "LAND": 9, "BRAKE": 17}


@dataclass
class PeerState:
    custom_mode: int = 4
    armed: bool = False
    lat_e7: int = int(-35.3632621 * 1e7)
    lon_e7: int = int(149.1652374 * 1e7)
    relative_alt_mm: int = 0
    prearm_ok: bool = True
    mission: dict = field(default_factory=lambda: {0: [], 1: [], 2: []})  # mission_type -> items
    params: dict = field(default_factory=lambda: {"SIM_SPEEDUP": 1.0, "WPNAV_SPEED": 1000.0, "ARMING_CHECK": 1.0})
    current_seq: int = 0


class ScriptedVehicle:
    """Serves one TCP client at a time on a free loopback port (or UDP, see `udp=`)."""

    def __init__(self, system_id: int = 1, *, udp: str | None = None, heartbeat_hz: float = 10.0,
                 telemetry_hz: float = 10.0, request_with_int: bool = False):
        self.system_id = system_id
        self.state = PeerState()
        self.heartbeat_hz = heartbeat_hz
        self.telemetry_hz = telemetry_hz
        self.request_with_int = request_with_int
        self.lock = threading.RLock()
        self.received: list = []  # every decoded message from the station
        self.command_results: dict[int, object] = {}  # command -> MAV_RESULT | callable(msg) -> result | None
        self.statustext_before_ack: dict[int, str | tuple[int, str]] = {}  # command -> text or (severity, text)
        self.statustext_after_ack: dict[int, str | tuple[int, str]] = {}
        self.boot_text = b""  # sent on every new TCP connection before any MAVLink (like SITL's console banner)
        self.cameras: set[int] = {mavlink.MAV_COMP_ID_CAMERA}  # components that answer the camera protocol
        self.capture_result: int | None = 1  # CAMERA_IMAGE_CAPTURED.capture_result; None: never report one
        self.images_taken = 0
        self.ignore_items_once: set[int] = set()  # mission item seqs whose first arrival is "lost"
        self.mission_ack_result: int | None = None  # force an error MISSION_ACK at the end of upload
        self.param_refuse: set[str] = set()  # PARAM_SET ignored (value kept) for these names
        self.drop_param_indices_once: set[int] = set()
        self.confirm_mode_in_heartbeat = True
        self.confirm_arm_in_heartbeat = True
        self.silent = False  # stop sending anything (a frozen vehicle)
        self.mute_replies = False  # keep streaming, never answer requests
        self._stop = threading.Event()
        self._udp = udp
        self._client: socket.socket | None = None
        self._client_addr = None
        self._mav = mavlink.MAVLink(None, srcSystem=system_id, srcComponent=1)
        self._mav.robust_parsing = True
        self._send_lock = threading.Lock()
        self.connections = 0
        if udp is None:
            self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._server.bind(("127.0.0.1", 0))
            self._server.listen(1)
            self.port = self._server.getsockname()[1]
        elif udp == "server":  # the station connects with udpout: we listen
            self._server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._server.bind(("127.0.0.1", 0))
            self.port = self._server.getsockname()[1]
        else:  # udp == "client": the station listens with udpin:, we send to it
            self._server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._server.bind(("127.0.0.1", 0))
            self.port = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        if self._udp == "server":
            return f"udpout:127.0.0.1:{self.port}"
        return f"tcp:127.0.0.1:{self.port}"

    def start(self, udp_target_port: int | None = None) -> "ScriptedVehicle":
        if self._udp == "client":
            self._client_addr = ("127.0.0.1", udp_target_port)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.drop_connection()
        self._server.close()

    # --- controls for tests ------------------------------------------------------------------------

    def drop_connection(self) -> None:
        with self._send_lock:
            if self._client is not None:
                try:
                    self._client.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._client.close()
                self._client = None

    def send_raw(self, data: bytes) -> None:
        with self._send_lock:
            self._write(data)

    def send(self, msg, src_component: int = 1) -> None:
        with self._send_lock:
            self._mav.srcComponent = src_component
            buf = msg.pack(self._mav)
            self._mav.seq = (self._mav.seq + 1) % 256
            self._write(buf)

    def messages(self, mtype: str) -> list:
        with self.lock:
            return [m for m in self.received if m.get_type() == mtype]

    def wait_for(self, predicate, timeout_s: float = 10.0):
        def first():
            with self.lock:
                return next((m for m in self.received if predicate(m)), None)

        return wait_for(first, timeout_s, "the peer receiving the expected message")

    # --- internals -------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            if self._udp is None:
                if self._client is not None:
                    self._client.sendall(data)
            elif self._client_addr is not None:
                self._server.sendto(data, self._client_addr)
        except OSError:
            pass

    def _run(self) -> None:
        next_hb = next_tm = time.monotonic()
        parser = mavlink.MAVLink(None)
        parser.robust_parsing = True
        while not self._stop.is_set():
            now = time.monotonic()
            if not self.silent:
                if now >= next_hb:
                    self._send_heartbeat()
                    next_hb = now + 1.0 / self.heartbeat_hz
                if now >= next_tm:
                    self._send_telemetry()
                    next_tm = now + 1.0 / self.telemetry_hz
            socks = [self._server] if (self._udp or self._client is None) else [self._client]
            if self._udp is None and self._client is not None:
                socks.append(self._server)
            try:
                ready, _, _ = select.select(socks, [], [], 0.01)
            except (OSError, ValueError):
                continue
            for s in ready:
                if s is self._server and self._udp is None:
                    conn, _ = self._server.accept()
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.drop_connection()
                    with self._send_lock:
                        self._client = conn
                        if self.boot_text:
                            self._write(self.boot_text)
                    self.connections += 1
                    parser = mavlink.MAVLink(None)
                    parser.robust_parsing = True
                    continue
                try:
                    if self._udp:
                        data, addr = s.recvfrom(65536)
                        if self._udp == "server":
                            self._client_addr = addr
                    else:
                        data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    if self._udp is None:
                        self.drop_connection()
                    continue
                for msg in parser.parse_buffer(data) or []:
                    if msg.get_type() in ("BAD_DATA",) or msg.get_type().startswith("UNKNOWN"):
                        continue
                    with self.lock:
                        self.received.append(msg)
                    if not self.mute_replies and not self.silent:
                        self._answer(msg)

    def _send_heartbeat(self) -> None:
        st = self.state
        base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (mavlink.MAV_MODE_FLAG_SAFETY_ARMED if st.armed else 0)
        self.send(self._mav.heartbeat_encode(mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                             base, st.custom_mode, mavlink.MAV_STATE_STANDBY))
        # a gimbal component heartbeat, which must not be taken for the vehicle
        self.send(self._mav.heartbeat_encode(mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0),
                  src_component=154)
        for camera in sorted(self.cameras):
            self.send(self._mav.heartbeat_encode(mavlink.MAV_TYPE_CAMERA, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0),
                      src_component=camera)

    def _send_telemetry(self) -> None:
        st = self.state
        self.send(self._mav.global_position_int_encode(0, st.lat_e7, st.lon_e7, 584000 + st.relative_alt_mm,
                                                       st.relative_alt_mm, 100, 0, 0, 9000))
        prearm = mavlink.MAV_SYS_STATUS_PREARM_CHECK
        self.send(self._mav.sys_status_encode(prearm, prearm, prearm if st.prearm_ok else 0, 0, 12600, 0, 87,
                                              0, 0, 0, 0, 0, 0))
        self.send(self._mav.gps_raw_int_encode(0, 3, st.lat_e7, st.lon_e7, 584000, 100, 100, 0, 0, 10))
        self.send(self._mav.home_position_encode(-353632621, 1491652374, 584000, 0, 0, 0, [1, 0, 0, 0], 0, 0, 0))
        self.send(self._mav.mission_current_encode(st.current_seq))

    def _ack(self, msg, command: int, result: int, src_component: int = 1) -> None:
        self.send(self._mav.command_ack_encode(command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()),
                  src_component)

    def _statustext(self, said: str | tuple[int, str], src_component: int = 1) -> None:
        severity, text = said if isinstance(said, tuple) else (mavlink.MAV_SEVERITY_CRITICAL, said)
        self.send(self._mav.statustext_encode(severity, text.encode()), src_component)

    def _camera_command(self, msg) -> None:
        """A camera component: CAMERA_INFORMATION on request, one CAMERA_IMAGE_CAPTURED per capture."""
        mav, comp = self._mav, msg.target_component
        rule = self.command_results.get(msg.command)
        known = (mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAV_CMD_IMAGE_START_CAPTURE)
        if rule is not None or msg.command not in known:
            result = rule(msg) if callable(rule) else (rule if rule is not None else mavlink.MAV_RESULT_UNSUPPORTED)
            if result is not None:
                self._ack(msg, msg.command, result, comp)
            return
        if msg.command == mavlink.MAV_CMD_REQUEST_MESSAGE:
            if int(msg.param1) != mavlink.MAVLINK_MSG_ID_CAMERA_INFORMATION:
                self._ack(msg, msg.command, mavlink.MAV_RESULT_DENIED, comp)
                return
            self._ack(msg, msg.command, mavlink.MAV_RESULT_ACCEPTED, comp)
            self.send(mav.camera_information_encode(
                0, list(b"Scripted".ljust(32, b"\0")), list(f"Cam {comp}".encode().ljust(32, b"\0")),
                0x01020304, 4.5, 6.17, 4.55, 4000, 3000, 0, mavlink.CAMERA_CAP_FLAGS_CAPTURE_IMAGE, 0,
                b"http://cam/def.xml"), comp)
            return
        self._ack(msg, msg.command, mavlink.MAV_RESULT_ACCEPTED, comp)
        if self.capture_result is None:
            return
        index = self.images_taken
        self.images_taken += 1
        st = self.state
        # camera looking north-east (yaw 45), 30 degrees below the horizon, level
        q = [0.8923991, 0.0990458, -0.2391176, 0.3696438]
        self.send(mav.camera_image_captured_encode(
            0, 1_700_000_000_000_000 + index, 0, st.lat_e7, st.lon_e7, 584000 + st.relative_alt_mm,
            st.relative_alt_mm, q, index, self.capture_result, f"http://cam/{comp}/IMG_{index:04d}.jpg".encode()),
            comp)

    def _answer(self, msg) -> None:
        t = msg.get_type()
        mav = self._mav
        st = self.state
        if t in ("COMMAND_LONG", "COMMAND_INT") and msg.target_component in self.cameras:
            self._camera_command(msg)
        elif t in ("COMMAND_LONG", "COMMAND_INT") and msg.target_component in (0, 1):
            if msg.command in self.statustext_before_ack:
                self._statustext(self.statustext_before_ack[msg.command])
            rule = self.command_results.get(msg.command, mavlink.MAV_RESULT_ACCEPTED)
            result = rule(msg) if callable(rule) else rule
            if result is None:
                return  # never answer
            if result == mavlink.MAV_RESULT_ACCEPTED:
                self._apply(msg)
            self._ack(msg, msg.command, result)
            if msg.command in self.statustext_after_ack:
                self._statustext(self.statustext_after_ack[msg.command])
        elif t == "SET_MODE":
            st.custom_mode = msg.custom_mode
        elif t == "MISSION_COUNT":
            self._upload = {"type": msg.mission_type, "count": msg.count, "items": {}}
            if msg.count == 0:
                st.mission[msg.mission_type] = []
                self.send(mav.mission_ack_encode(msg.get_srcSystem(), msg.get_srcComponent(), 0, msg.mission_type))
            else:
                self._request(msg, 0)
        elif t in ("MISSION_ITEM_INT", "MISSION_ITEM") and getattr(self, "_upload", None):
            up = self._upload
            if msg.seq in self.ignore_items_once:
                self.ignore_items_once.discard(msg.seq)
                return  # "lost": the station must resend
            up["items"][msg.seq] = msg
            nxt = len(up["items"])
            if nxt < up["count"]:
                self._request(msg, nxt)
            else:
                items = [up["items"][i] for i in range(up["count"])]
                st.mission[up["type"]] = items
                result = self.mission_ack_result if self.mission_ack_result is not None else 0
                self._upload = None
                self.send(mav.mission_ack_encode(msg.get_srcSystem(), msg.get_srcComponent(), result, up["type"]))
        elif t == "MISSION_REQUEST_LIST":
            self.send(mav.mission_count_encode(msg.get_srcSystem(), msg.get_srcComponent(),
                                               len(st.mission[msg.mission_type]), msg.mission_type))
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            items = st.mission[msg.mission_type]
            if msg.seq < len(items):
                it = items[msg.seq]
                frame = 3 if it.frame == 6 else it.frame  # ArduPilot reads back frame 6 as 3
                self.send(mav.mission_item_int_encode(msg.get_srcSystem(), msg.get_srcComponent(), msg.seq, frame,
                                                      it.command, 0, it.autocontinue, it.param1, it.param2,
                                                      it.param3, it.param4, it.x, it.y, it.z, msg.mission_type))
        elif t == "MISSION_CLEAR_ALL":
            st.mission[msg.mission_type] = []
            self.send(mav.mission_ack_encode(msg.get_srcSystem(), msg.get_srcComponent(), 0, msg.mission_type))
        elif t == "MISSION_SET_CURRENT":
            st.current_seq = msg.seq
            self.send(mav.mission_current_encode(msg.seq))
        elif t == "PARAM_REQUEST_READ":
            names = list(st.params)
            name = msg.param_id if msg.param_index < 0 else (names[msg.param_index] if msg.param_index < len(names) else None)
            if name in st.params:
                self._param_value(name)
        elif t == "PARAM_SET":
            if msg.param_id in st.params:
                if msg.param_id not in self.param_refuse:
                    st.params[msg.param_id] = msg.param_value
                self._param_value(msg.param_id)
        elif t == "PARAM_REQUEST_LIST":
            for i, name in enumerate(st.params):
                if i in self.drop_param_indices_once:
                    self.drop_param_indices_once.discard(i)
                    continue
                self._param_value(name)

    def _param_value(self, name: str) -> None:
        names = list(self.state.params)
        self.send(self._mav.param_value_encode(name.encode(), self.state.params[name], 9, len(names),
                                               names.index(name)))

    def _request(self, msg, seq: int) -> None:
        mt = self._upload["type"]
        if self.request_with_int:
            req = self._mav.mission_request_int_encode(msg.get_srcSystem(), msg.get_srcComponent(), seq, mt)
        else:
            req = self._mav.mission_request_encode(msg.get_srcSystem(), msg.get_srcComponent(), seq, mt)
        self.send(req)

    def _apply(self, msg) -> None:
        st = self.state
        c = msg.command
        if c == mavlink.MAV_CMD_COMPONENT_ARM_DISARM and self.confirm_arm_in_heartbeat:
            st.armed = msg.param1 == 1
        elif c == mavlink.MAV_CMD_DO_SET_MODE and self.confirm_mode_in_heartbeat:
            st.custom_mode = int(msg.param2)
        elif c == mavlink.MAV_CMD_NAV_TAKEOFF:
            st.relative_alt_mm = int(msg.param7 * 1000)
        elif c == mavlink.MAV_CMD_DO_SET_MISSION_CURRENT:
            st.current_seq = int(msg.param1)
        elif c == mavlink.MAV_CMD_MISSION_START and self.confirm_mode_in_heartbeat:
            st.custom_mode = COPTER_MODES["AUTO"]
        elif c == mavlink.MAV_CMD_DO_REPOSITION:
            st.lat_e7, st.lon_e7 = msg.x, msg.y
            st.custom_mode = COPTER_MODES["GUIDED"]
