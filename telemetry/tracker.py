"""Vehicle state tracking: folds decoded MAVLink messages from one vehicle into a VehicleState.

Pure bookkeeping (no I/O, no clock: `now_s` is passed in), not thread-safe by itself — the Vehicle calls it
under its lock from the link thread. Per-message work is one dict lookup and a few field writes; the frozen
VehicleState snapshot is only built when someone asks for it.
"""
from __future__ import annotations

import math
from dataclasses import fields
from typing import Callable

from telemetry import codec
from telemetry.records import GeoPoint, MissionProgress, StatusText, TelemetryEvent, VehicleState

_MAV = codec.mavlink
_ARMED = _MAV.MAV_MODE_FLAG_SAFETY_ARMED
_CUSTOM = _MAV.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
_PREARM = _MAV.MAV_SYS_STATUS_PREARM_CHECK
_EKF_GOOD = _MAV.EKF_ATTITUDE | _MAV.EKF_POS_HORIZ_ABS
_EKF_BAD = _MAV.EKF_CONST_POS_MODE | _MAV.EKF_UNINITIALIZED
_YAW_IN_VEHICLE_FRAME = _MAV.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
_YAW_IN_EARTH_FRAME = _MAV.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
_YAW_LOCK = _MAV.GIMBAL_DEVICE_FLAGS_YAW_LOCK

# Fields whose change is worth an immediate StateUpdated event (the rest go out at the periodic rate).
SIGNIFICANT = frozenset({"armed", "mode", "ready_to_arm", "link_up", "home", "system_id", "is_simulator", "landed_state"})


class StateTracker:
    def __init__(self, vehicle_id: str):
        self._f: dict[str, object] = {f.name: f.default for f in fields(VehicleState)}
        self._f["vehicle_id"] = vehicle_id
        self._snapshot: VehicleState | None = None
        self._modes: dict[int, str] | None = None
        self._modes_type: int | None = None
        self.significant = False  # set when a SIGNIFICANT field changed since the last take_significant()
        self._handlers: dict[str, Callable[[object, float, list], None]] = {
            "HEARTBEAT": self._heartbeat,
            "GLOBAL_POSITION_INT": self._global_position_int,
            "ATTITUDE": self._attitude,
            "VFR_HUD": self._vfr_hud,
            "SYS_STATUS": self._sys_status,
            "GPS_RAW_INT": self._gps_raw_int,
            "EKF_STATUS_REPORT": self._ekf_status_report,
            "HOME_POSITION": self._home_position,
            "MISSION_CURRENT": self._mission_current,
            "MISSION_ITEM_REACHED": self._mission_item_reached,
            "EXTENDED_SYS_STATE": self._extended_sys_state,
            "MOUNT_STATUS": self._mount_status,
            "GIMBAL_DEVICE_ATTITUDE_STATUS": self._gimbal_device_attitude_status,
            "STATUSTEXT": self._statustext,
            "AUTOPILOT_VERSION": self._autopilot_version,
            "PARAM_VALUE": self._param_value,
        }

    # --- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> VehicleState:
        if self._snapshot is None:
            self._snapshot = VehicleState(**self._f)
        return self._snapshot

    def get(self, name: str):
        return self._f[name]

    def take_significant(self) -> bool:
        sig, self.significant = self.significant, False
        return sig

    # --- writing ---------------------------------------------------------------------------------

    def set(self, name: str, value) -> None:
        if self._f[name] != value:
            self._f[name] = value
            self._snapshot = None
            if name in SIGNIFICANT:
                self.significant = True

    def count_error(self) -> None:
        self._f["link_errors"] += 1
        self._snapshot = None

    def update(self, msg, now_s: float, events: list[TelemetryEvent]) -> None:
        """Fold one message from the vehicle in; append any events it causes to `events`."""
        f = self._f
        f["messages_received"] += 1
        f["last_message_s"] = now_s
        self._snapshot = None
        handler = self._handlers.get(msg.get_type())
        if handler is not None:
            handler(msg, now_s, events)

    # --- handlers --------------------------------------------------------------------------------

    def _mode_name(self, mav_type: int, custom_mode: int) -> str:
        if self._modes is None or self._modes_type != mav_type:
            self._modes = codec.mode_map(mav_type)
            self._modes_type = mav_type
        return self._modes.get(custom_mode, f"MODE_{custom_mode}")

    def _heartbeat(self, m, now_s, events) -> None:
        # Only the autopilot's own heartbeat (the link filters to its component) describes the vehicle.
        self.set("armed", bool(m.base_mode & _ARMED))
        self.set("vehicle_type", m.type)
        self.set("autopilot", m.autopilot)
        self.set("custom_mode", m.custom_mode)
        self.set("mode", self._mode_name(m.type, m.custom_mode) if m.base_mode & _CUSTOM else f"BASE_{m.base_mode}")

    def _global_position_int(self, m, now_s, events) -> None:
        f = self._f
        f["lat_deg"] = m.lat * 1e-7
        f["lon_deg"] = m.lon * 1e-7
        f["alt_amsl_m"] = m.alt * 1e-3
        f["alt_rel_m"] = m.relative_alt * 1e-3
        if m.hdg != 65535:
            f["heading_deg"] = m.hdg * 0.01
        f["groundspeed_m_s"] = math.hypot(m.vx, m.vy) * 0.01
        f["climb_m_s"] = -m.vz * 0.01
        self._update_ready()

    def _attitude(self, m, now_s, events) -> None:
        # the heading from ATTITUDE (float, the highest-rate source) and GLOBAL_POSITION_INT (centidegrees); VFR_HUD's
        # whole degrees at a low rate only until one of those came: a stale heading misplaces what cameras see
        self._f["roll_deg"] = math.degrees(m.roll)
        self._f["pitch_deg"] = math.degrees(m.pitch)
        self._f["heading_deg"] = math.degrees(m.yaw) % 360.0

    def _vfr_hud(self, m, now_s, events) -> None:
        self._f["groundspeed_m_s"] = float(m.groundspeed)
        self._f["climb_m_s"] = float(m.climb)
        if self._f["heading_deg"] is None:
            self._f["heading_deg"] = float(m.heading % 360)

    def _sys_status(self, m, now_s, events) -> None:
        self._f["battery_pct"] = float(m.battery_remaining) if m.battery_remaining >= 0 else None
        self._f["battery_voltage_v"] = m.voltage_battery * 1e-3 if m.voltage_battery not in (0, 65535) else None
        if m.onboard_control_sensors_present & _PREARM and m.onboard_control_sensors_enabled & _PREARM:
            self.set("prearm_ok", bool(m.onboard_control_sensors_health & _PREARM))
        else:
            self.set("prearm_ok", None)
        self._update_ready()

    def _gps_raw_int(self, m, now_s, events) -> None:
        self._f["gps_fix_type"] = m.fix_type
        self._f["satellites_visible"] = m.satellites_visible if m.satellites_visible != 255 else None
        self._update_ready()

    def _ekf_status_report(self, m, now_s, events) -> None:
        self.set("ekf_ok", (m.flags & _EKF_GOOD) == _EKF_GOOD and not (m.flags & _EKF_BAD))
        self._update_ready()

    def _update_ready(self) -> None:
        prearm, ekf = self._f["prearm_ok"], self._f["ekf_ok"]
        if prearm is None and ekf is None:
            ready = False  # nothing tells us the vehicle would arm
        else:
            ready = prearm is not False and ekf is not False
        self.set("ready_to_arm", ready)

    def _home_position(self, m, now_s, events) -> None:
        self.set("home", GeoPoint(m.latitude * 1e-7, m.longitude * 1e-7, m.altitude * 1e-3))

    def _mission_current(self, m, now_s, events) -> None:
        if self._f["mission_seq"] != m.seq:
            self.set("mission_seq", m.seq)
            events.append(MissionProgress(self._f["vehicle_id"], m.seq, None, now_s))

    def _mission_item_reached(self, m, now_s, events) -> None:
        self.set("mission_reached_seq", m.seq)
        events.append(MissionProgress(self._f["vehicle_id"], self._f["mission_seq"], m.seq, now_s))

    def _extended_sys_state(self, m, now_s, events) -> None:
        self.set("landed_state", m.landed_state)

    def _mount_status(self, m, now_s, events) -> None:
        # ArduPilot sends MOUNT_STATUS from the autopilot: pitch, roll, yaw (body frame) in centidegrees
        f = self._f
        f["gimbal_pitch_deg"] = m.pointing_a * 0.01
        f["gimbal_roll_deg"] = m.pointing_b * 0.01
        f["gimbal_yaw_deg"] = m.pointing_c * 0.01

    def _gimbal_device_attitude_status(self, m, now_s, events) -> None:
        """Gimbal protocol v2. ArduPilot sends it from the autopilot's component (gimbal_device_id 1 for its first
        mount), a MAVLink gimbal from its own (gimbal_device_id 0); other gimbals are ignored. The quaternion's
        yaw is in the vehicle frame when flag YAW_IN_VEHICLE_FRAME is set, in the earth frame (from north) with
        YAW_IN_EARTH_FRAME, and, when neither is set (older senders), in the earth frame only if YAW_LOCK is."""
        if m.gimbal_device_id not in (0, 1):
            return
        euler = codec.euler_deg(m.q)
        if euler is None:
            return
        roll, pitch, yaw = euler
        f = self._f
        if m.flags & _YAW_IN_VEHICLE_FRAME:
            pass
        elif m.flags & _YAW_IN_EARTH_FRAME:  # delta_yaw: the vehicle's yaw from north (rad), NaN if not given
            heading = f["heading_deg"] if math.isnan(m.delta_yaw) else math.degrees(m.delta_yaw)
            yaw = None if heading is None else yaw - heading
        elif m.flags & _YAW_LOCK:  # legacy earth frame: delta_yaw must be ignored
            yaw = None if f["heading_deg"] is None else yaw - f["heading_deg"]
        f["gimbal_pitch_deg"] = pitch
        f["gimbal_roll_deg"] = roll
        f["gimbal_yaw_deg"] = None if yaw is None else codec.wrap_180(yaw)

    def _statustext(self, m, now_s, events) -> None:
        events.append(StatusText(self._f["vehicle_id"], m.severity, m.text, now_s))

    def _autopilot_version(self, m, now_s, events) -> None:
        v = m.flight_sw_version
        kind = {0: "dev", 64: "alpha", 128: "beta", 192: "rc", 255: "official"}.get(v & 0xFF, str(v & 0xFF))
        self.set("firmware_version", f"{(v >> 24) & 0xFF}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}-{kind}")

    def _param_value(self, m, now_s, events) -> None:
        if m.param_id.startswith("SIM_"):
            self.set("is_simulator", True)
