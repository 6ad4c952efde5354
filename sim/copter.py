"""One simulated ArduCopter: flight modes, arming, mission execution, failsafes and point-mass kinematics.

Pure: no sockets and no clock. The owner calls `step(dt_s)` with simulated time and calls the command
methods (arm, set_mode, takeoff, ...) as MAVLink requests arrive; each returns a MAV_RESULT. Things the
vehicle says on its own (STATUSTEXT, MISSION_ITEM_REACHED, a new home, an image taken) pile up in
`events` for the owner to send. Behaviour follows ArduCopter master (4.7.0-dev) as SITL runs it with
default parameters and no pilot: custom mode numbers, pre-arm wording, mode-change refusals, WPNAV/LAND/RTL
parameters and their speed and acceleration limits.

No pilot, as in SITL: SITL's simulated RC sends the throttle stick at its minimum (1000 us, the others at
1500; SITL_State::init), and that input is valid (no radio failsafe). Hence, as on ArduCopter:
- `auto_armed` (Copter::update_auto_armed) never becomes true from the throttle. It is set by a GUIDED
  takeoff (Mode::do_user_takeoff), by MAV_CMD_MISSION_START (GCS_MAVLINK_Copter::handle_MAV_CMD_MISSION_START)
  and, with AUTO_OPTIONS bit 1 "allow takeoff without raising throttle", by the AUTO takeoff itself
  (ModeAuto::takeoff_run); it is cleared on disarm and in STABILIZE with the throttle at zero. An AUTO
  takeoff (_AutoTakeoff::run) does nothing until the vehicle is auto-armed, so a plain mode change to AUTO on
  the ground starts the mission ("Mission: 1 Takeoff") and sits there until the landed, zero-throttle
  vehicle disarms after DISARM_DELAY (Copter::auto_disarm_check; "Disarming motors").
- STABILIZE: zero throttle; airborne the vehicle comes down unpowered.
- LOITER: the throttle stick below the deadzone asks for the full pilot descent rate (PILOT_SPEED_DN, or
  PILOT_SPEED_UP when 0): in the air the vehicle holds its position and descends to the ground, lands and
  disarms after DISARM_DELAY. BRAKE, GUIDED, AUTO, RTL and LAND ignore the sticks.
- Arming in AUTO is refused unless AUTO_OPTIONS bit 0 (ModeAuto::allows_arming).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from sim import geodesy
from sim import mission as ms
from sim.battery import Battery, current_a
from sim.params import ParamTable

# MAV_RESULT
ACCEPTED, TEMPORARILY_REJECTED, DENIED, UNSUPPORTED, FAILED = 0, 1, 2, 3, 4
# MAV_SEVERITY
CRITICAL, ERROR, WARNING, NOTICE, INFO = 2, 3, 4, 5, 6
# MAV_STATE
STATE_BOOT, STATE_STANDBY, STATE_ACTIVE, STATE_CRITICAL = 1, 3, 4, 5
# MISSION_STATE (MISSION_CURRENT.mission_state)
MISSION_STATE_NO_MISSION, MISSION_STATE_NOT_STARTED, MISSION_STATE_ACTIVE = 1, 2, 3
MISSION_STATE_PAUSED, MISSION_STATE_COMPLETE = 4, 5

GRAVITY = 9.80665
YAW_RATE_DEG_S = 60.0
GIMBAL_RATE_DEG_S = 90.0
FORCE_ARM_MAGIC = 21196


class Mode(IntEnum):
    """ArduCopter custom_mode numbers (the ones this simulator flies)."""
    STABILIZE = 0
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    LAND = 9
    BRAKE = 17


_REQUIRES_POSITION = {Mode.AUTO, Mode.GUIDED, Mode.LOITER, Mode.RTL, Mode.BRAKE}
_ARMABLE = {Mode.STABILIZE, Mode.GUIDED, Mode.LOITER}
# AUTO_OPTIONS bits (ModeAuto::Option)
AUTO_ALLOW_ARMING, AUTO_TAKEOFF_WITHOUT_THROTTLE = 1, 2
# MAV_MOUNT_MODE
MOUNT_RETRACT, MOUNT_NEUTRAL, MOUNT_MAVLINK_TARGETING, MOUNT_RC_TARGETING, MOUNT_GPS_POINT = 0, 1, 2, 3, 4
# AP_Mission::Mission_Command::type(): the names in "Mission: <seq> <type>"
_COMMAND_TYPE = {
    ms.NAV_WAYPOINT: "WP", ms.NAV_SPLINE_WAYPOINT: "SplineWP", ms.NAV_RETURN_TO_LAUNCH: "RTL",
    ms.NAV_LOITER_UNLIM: "LoitUnlim", ms.NAV_LOITER_TIME: "LoitTime", ms.NAV_LOITER_TURNS: "LoitTurns",
    ms.CONDITION_DELAY: "CondDelay", ms.CONDITION_DISTANCE: "CondDist", ms.CONDITION_YAW: "CondYaw",
    ms.DO_CHANGE_SPEED: "ChangeSpeed", ms.DO_SET_HOME: "SetHome", ms.DO_SET_SERVO: "SetServo",
    ms.DO_SET_RELAY: "SetRelay", ms.DO_REPEAT_SERVO: "RepeatServo", ms.DO_REPEAT_RELAY: "RepeatRelay",
    ms.DO_DIGICAM_CONTROL: "DigiCamCtrl", ms.DO_SET_ROI: "SetROI", ms.NAV_TAKEOFF: "Takeoff", ms.NAV_LAND: "Land",
    ms.DO_LAND_START: "LandStart", ms.NAV_DELAY: "Delay", ms.DO_MOUNT_CONTROL: "MountControl",
    ms.DO_GIMBAL_MANAGER_PITCHYAW: "GimbalPitchYaw", ms.IMAGE_START_CAPTURE: "ImageStartCapture",
    ms.IMAGE_STOP_CAPTURE: "ImageStopCapture", ms.DO_SET_ROI_LOCATION: "SetROI", ms.DO_SET_ROI_NONE: "SetROI",
}


@dataclass(frozen=True)
class StatusText:
    severity: int
    text: str


@dataclass(frozen=True)
class ItemReached:
    seq: int


@dataclass(frozen=True)
class MissionCurrentChanged:
    seq: int


@dataclass(frozen=True)
class RelaySwitched:
    """A relay was switched (by a command or a mission item): what is wired to it reacts (the loudspeaker)."""

    number: int
    on: bool


@dataclass(frozen=True)
class HomeChanged:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(frozen=True)
class ImageCaptured:
    index: int
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float
    heading_deg: float
    gimbal_pitch_deg: float
    time_s: float


@dataclass(frozen=True)
class Home:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    heading_deg: float = 0.0


def _sqrt_speed(error: float, kp: float, accel: float) -> float:
    """ArduPilot's sqrt_controller: speed that lets a vehicle stop at the target (linear near it)."""
    if error <= 0.0:
        return 0.0
    if kp <= 0.0:
        return math.sqrt(2.0 * accel * error)
    linear = accel / (kp * kp)
    if error > linear:
        return math.sqrt(2.0 * accel * (error - linear / 2.0))
    return error * kp


def _wrap180(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


@dataclass
class _Auto:
    index: int = 1                 # current nav command
    running: bool = False
    complete: bool = False
    stage: str = "idle"            # "goto" | "hold" | "takeoff" | "land" | "rtl" | "wait"
    target: tuple[float, float, float] | None = None   # north_m, east_m, alt_m
    hold_s: float = 0.0
    timer_s: float = 0.0
    jumps: dict[int, int] = field(default_factory=dict)
    mission_version: int = -1
    reset: bool = True             # AP_Mission::reset() happened (boot, disarm): no current nav command, start at 1


@dataclass
class _Rtl:
    stage: str = "climb"           # climb -> return -> loiter -> final|land
    alt_m: float = 15.0
    timer_s: float = 0.0


class Copter:
    """State machine and kinematics of one quadcopter. All positions are metres north/east of the EKF origin."""

    def __init__(self, sysid: int, home: Home, params: ParamTable | None = None,
                 store: ms.MissionStore | None = None, ready_after_s: float = 40.0,
                 position_after_s: float | None = None) -> None:
        self.sysid = sysid
        self.params = params or ParamTable()
        self.params.force("SYSID_THISMAV", sysid)
        self.params.force("SIM_OPOS_LAT", home.lat_deg)
        self.params.force("SIM_OPOS_LNG", home.lon_deg)
        self.params.force("SIM_OPOS_ALT", home.alt_amsl_m)
        self.params.force("SIM_OPOS_HDG", home.heading_deg)
        self.store = store or ms.MissionStore()
        self.origin = home
        self.ready_after_s = ready_after_s
        self.position_after_s = min(20.0, ready_after_s / 2.0) if position_after_s is None else position_after_s
        self.time_s = 0.0
        self.events: list = []
        # kinematic state
        self.north_m = 0.0
        self.east_m = 0.0
        self.alt_m = 0.0            # above the origin's ground level (flat terrain)
        self.vn = self.ve = self.vu = 0.0
        self.an = self.ae = 0.0     # last horizontal acceleration (for attitude)
        self.yaw_deg = home.heading_deg % 360.0
        # vehicle state
        self.armed = False
        self.auto_armed = False     # ArduCopter's ap.auto_armed: the autopilot may take off by itself
        self.landed = True
        self.mode = Mode.STABILIZE
        self.home: Home | None = None
        self.battery = Battery(capacity_mah=self.params["BATT_CAPACITY"])
        self.failsafe_battery = False
        self._batt_low_since: float | None = None
        self._landed_idle_s = 0.0
        self.wp_speed_m_s: float | None = None  # DO_CHANGE_SPEED override
        # mode state
        self._hold: tuple[float, float, float] | None = None
        self._guided_target: tuple[float, float, float] | None = None
        self._guided_velocity: tuple[float, float, float] | None = None
        self._guided_velocity_at = 0.0
        self._takeoff_alt_m: float | None = None
        self._yaw_target: float | None = None
        self.roi: tuple[float, float, float] | None = None   # north, east, alt
        self._auto = _Auto()
        self._rtl = _Rtl()
        self._landing = False
        # payload
        self.gimbal_pitch_deg = 0.0
        self.gimbal_yaw_deg = 0.0          # relative to the vehicle's nose
        self._gimbal_target = (0.0, 0.0)
        self._gimbal_rate: tuple[float, float] | None = None   # deg/s (pitch, yaw) while rate-targeting
        self._gimbal_yaw_ef: float | None = None                 # earth-frame yaw target while yaw-locked
        self.gimbal_mode = MOUNT_MAVLINK_TARGETING
        self.gimbal_yaw_lock = False       # yaw target held in the earth frame (GIMBAL_*_FLAGS_YAW_LOCK)
        self.images_taken = 0
        self._capture_interval_s = 0.0
        self._capture_left = 0
        self._capture_next_s = 0.0
        self.relays: dict[int, int] = {}
        # fence
        self.fence_breached = 0            # FENCE_BREACH bitmask-ish: 0 none, else breach type
        self.fence_breach_count = 0
        self.fence_breach_time_s = 0.0

    # ------------------------------------------------------------------ readiness and reports
    @property
    def position_ok(self) -> bool:
        return self.time_s >= self.position_after_s and not self.params["SIM_GPS_DISABLE"]

    @property
    def ekf_ready(self) -> bool:
        return self.time_s >= self.ready_after_s and self.position_ok

    @property
    def lat_lon_deg(self) -> tuple[float, float]:
        """True position."""
        return geodesy.moved(self.origin.lat_deg, self.origin.lon_deg, self.north_m, self.east_m)

    @property
    def alt_amsl_m(self) -> float:
        return self.origin.alt_amsl_m + self.alt_m

    @property
    def alt_rel_m(self) -> float:
        home_alt = self.home.alt_amsl_m if self.home else self.origin.alt_amsl_m
        return self.alt_amsl_m - home_alt

    @property
    def groundspeed_m_s(self) -> float:
        return math.hypot(self.vn, self.ve)

    @property
    def attitude_rad(self) -> tuple[float, float, float]:
        """(roll, pitch, yaw) from horizontal acceleration and drag, as a multirotor leans."""
        yaw = math.radians(self.yaw_deg)
        fwd = self.an * math.cos(yaw) + self.ae * math.sin(yaw)
        right = -self.an * math.sin(yaw) + self.ae * math.cos(yaw)
        v_fwd = self.vn * math.cos(yaw) + self.ve * math.sin(yaw)
        v_right = -self.vn * math.sin(yaw) + self.ve * math.cos(yaw)
        drag = 0.02
        pitch = -math.atan2(fwd + drag * v_fwd * abs(v_fwd), GRAVITY)
        roll = math.atan2(right + drag * v_right * abs(v_right), GRAVITY)
        yaw_pm = yaw if yaw <= math.pi else yaw - 2 * math.pi
        return roll, pitch, yaw_pm

    @property
    def throttle_pct(self) -> int:
        if not self.armed:
            return 0
        if self.landed:
            return 0
        return int(max(0, min(100, 38 + 6 * self.vu)))

    @property
    def flying(self) -> bool:
        return self.armed and not self.landed

    @property
    def system_status(self) -> int:
        if self.failsafe_battery:
            return STATE_CRITICAL
        return STATE_STANDBY if self.landed else STATE_ACTIVE

    @property
    def mission_state(self) -> int:
        if self.store.count(ms.MISSION) <= 1:
            return MISSION_STATE_NO_MISSION
        if self._auto.complete:
            return MISSION_STATE_COMPLETE
        if self._auto.running:
            return MISSION_STATE_ACTIVE if self.mode == Mode.AUTO else MISSION_STATE_PAUSED
        return MISSION_STATE_NOT_STARTED

    @property
    def mission_current_seq(self) -> int:
        return self._auto.index if self.store.count(ms.MISSION) > 1 else 0

    @property
    def nav_target_distance_m(self) -> float:
        tgt = self._current_horizontal_target()
        if tgt is None:
            return 0.0
        return math.hypot(tgt[0] - self.north_m, tgt[1] - self.east_m)

    @property
    def nav_bearing_deg(self) -> float:
        tgt = self._current_horizontal_target()
        if tgt is None:
            return self.yaw_deg
        return math.degrees(math.atan2(tgt[1] - self.east_m, tgt[0] - self.north_m)) % 360.0

    def _current_horizontal_target(self) -> tuple[float, float, float] | None:
        if self.mode == Mode.GUIDED:
            return self._guided_target
        if self.mode == Mode.AUTO:
            return self._auto.target
        if self.mode in (Mode.LOITER, Mode.BRAKE, Mode.LAND):
            return self._hold
        if self.mode == Mode.RTL:
            return (0.0, 0.0, self._rtl.alt_m) if self.home is None else self._home_ne() + (self._rtl.alt_m,)
        return None

    # ------------------------------------------------------------------ helpers
    def _say(self, severity: int, text: str) -> None:
        self.events.append(StatusText(severity, text))

    def _home_ne(self) -> tuple[float, float]:
        if self.home is None:
            return 0.0, 0.0
        return geodesy.offset_m(self.origin.lat_deg, self.origin.lon_deg, self.home.lat_deg, self.home.lon_deg)

    def _home_alt_m(self) -> float:
        """Home altitude in the internal frame (above the origin's ground)."""
        return (self.home.alt_amsl_m - self.origin.alt_amsl_m) if self.home else 0.0

    def ne_of(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        return geodesy.offset_m(self.origin.lat_deg, self.origin.lon_deg, lat_deg, lon_deg)

    def alt_from_frame(self, frame: int, z: float) -> float:
        """Internal altitude for a MAVLink (frame, z): relative and terrain frames are above home."""
        if frame in (ms.FRAME_GLOBAL, ms.FRAME_GLOBAL_INT):
            return z - self.origin.alt_amsl_m
        return z + self._home_alt_m()

    def _stopping_point(self) -> tuple[float, float, float]:
        accel = self.params["WPNAV_ACCEL"] / 100.0
        v = self.groundspeed_m_s
        d = v * v / (2.0 * accel) if accel > 0 else 0.0
        if v > 0.01:
            return self.north_m + self.vn / v * d, self.east_m + self.ve / v * d, self.alt_m
        return self.north_m, self.east_m, self.alt_m

    def _set_home_here(self) -> None:
        lat, lon = self.lat_lon_deg
        self._set_home(Home(lat, lon, self.alt_amsl_m if self.landed else self.origin.alt_amsl_m, self.yaw_deg))

    def _set_home(self, home: Home) -> None:
        self.home = home
        self.events.append(HomeChanged(home.lat_deg, home.lon_deg, home.alt_amsl_m))

    def home_tuple(self) -> tuple[float, float, float] | None:
        return (self.home.lat_deg, self.home.lon_deg, self.home.alt_amsl_m) if self.home else None

    # ------------------------------------------------------------------ commands (each returns a MAV_RESULT)
    def arm(self, force: bool = False) -> int:
        if self.armed:
            return ACCEPTED
        if not force:
            if not self.ekf_ready:
                self._say(CRITICAL, "PreArm: Need Position Estimate")
                return FAILED
            if self.failsafe_battery:
                self._say(CRITICAL, "PreArm: Battery 1 low voltage failsafe")
                return FAILED
            if self.params["FENCE_ENABLE"] and self._fence_breaches():
                self._say(CRITICAL, "PreArm: Fence: vehicle outside fence")
                return FAILED
            auto_ok = self.mode == Mode.AUTO and int(self.params["AUTO_OPTIONS"]) & AUTO_ALLOW_ARMING
            if self.mode not in _ARMABLE and not auto_ok:
                self._say(CRITICAL, f"Arm: {self.mode.name} mode not armable")   # AP_Arming_Copter::arm_checks
                return FAILED
        self.armed = True
        self._say(INFO, "Arming motors")   # AP_Arming_Copter::arm, SITL builds        self.landed = self.alt_m <= 0.05
        self._landed_idle_s = 0.0
        if self.position_ok:
            self._set_home_here()
        if self.mode == Mode.AUTO:
            self._auto_enter()
        return ACCEPTED

    def disarm(self, force: bool = False) -> int:
        if not self.armed:
            return ACCEPTED
        if not force and not self.landed:
            return FAILED
        self._disarm()
        return ACCEPTED

    def _disarm(self) -> None:
        self.armed = False
        self.auto_armed = False
        # AP_Arming_Copter::disarm resets the mission (AP_Mission::reset: no current nav command, jump counts
        # cleared), so the next AUTO starts from the first item. MISSION_CURRENT keeps showing the old index here.
        self._auto.reset = True
        self._takeoff_alt_m = None
        self._guided_target = None
        self._guided_velocity = None
        self._landing = False
        self._say(INFO, "Disarming motors")

    def set_mode(self, number: int, reason_failsafe: bool = False) -> bool:
        try:
            mode = Mode(number)
        except ValueError:
            self._say(WARNING, "No such mode")
            return False
        if mode == self.mode:
            return True   # Copter::set_mode: the mode it is already in is neither checked nor re-initialised
        if mode in _REQUIRES_POSITION and not self.position_ok and not reason_failsafe:
            self._say(WARNING, f"Mode change to {mode.name} failed: requires position")
            return False
        if mode == Mode.AUTO:
            if self.store.count(ms.MISSION) <= 1:
                self._say(WARNING, "Mode change to AUTO failed: init failed")
                return False
            if self.armed and self.landed and not self._mission_starts_with_takeoff():
                self._say(CRITICAL, "Auto: Missing Takeoff Cmd")
                self._say(WARNING, "Mode change to AUTO failed: init failed")
                return False
        if mode == Mode.RTL and self.home is None and not reason_failsafe:
            self._say(WARNING, "Mode change to RTL failed: init failed")
            return False
        self.mode = mode
        if self.roi is not None:
            self.roi = None   # each mode starts with its own yaw; the gimbal stays where it points
            self._gimbal_target = (self.gimbal_pitch_deg, self.gimbal_yaw_deg)
            self.gimbal_mode = MOUNT_MAVLINK_TARGETING
        self._yaw_target = None
        self._landing = False
        if mode in (Mode.LOITER, Mode.BRAKE, Mode.LAND):
            self._hold = self._stopping_point()
        if mode == Mode.GUIDED:
            self._guided_target = self._stopping_point() if self.flying else None
            self._guided_velocity = None
            self._takeoff_alt_m = None
        if mode == Mode.RTL:
            self._rtl_start()
        if mode == Mode.LAND:
            self._landing = True
        if mode == Mode.AUTO:
            self._auto_enter()
        return True

    def takeoff(self, alt_rel_m: float) -> int:
        """MAV_CMD_NAV_TAKEOFF outside a mission: GUIDED only, armed and on the ground."""
        if self.mode != Mode.GUIDED or not self.armed or not self.landed:
            return FAILED
        target = alt_rel_m + self._home_alt_m()
        if target <= self.alt_m:
            return FAILED
        self._takeoff_alt_m = target
        self._guided_target = (self.north_m, self.east_m, target)
        self._guided_velocity = None
        self.auto_armed = True   # Mode::do_user_takeoff
        return ACCEPTED

    def goto(self, lat_deg: float, lon_deg: float, alt_m: float | None) -> bool:
        """Guided position target (alt_m in the internal frame; None keeps the current target altitude)."""
        if self.mode != Mode.GUIDED:
            return False
        n, e = self.ne_of(lat_deg, lon_deg)
        if alt_m is None:
            alt_m = self._guided_target[2] if self._guided_target else self.alt_m
        self._guided_target = (n, e, alt_m)
        self._guided_velocity = None
        if self._takeoff_alt_m is not None and self.alt_m < self._takeoff_alt_m - 0.5:
            # ArduPilot finishes the takeoff climb before it starts moving sideways; keep it simple: climb and go.
            self._takeoff_alt_m = None
        return True

    def set_velocity(self, vn: float, ve: float, vd: float) -> bool:
        if self.mode != Mode.GUIDED:
            return False
        self._guided_velocity = (vn, ve, -vd)
        self._guided_velocity_at = self.time_s
        self._guided_target = None
        return True

    def set_speed(self, speed_m_s: float) -> bool:
        if speed_m_s <= 0:
            return True  # -1/0 mean "no change"
        self.wp_speed_m_s = min(speed_m_s, 20.0)
        return True

    @property
    def has_mount(self) -> bool:
        """A gimbal is configured (MNT1_TYPE != 0); without one ArduPilot has no mount backend."""
        return int(self.params["MNT1_TYPE"]) != 0

    def set_roi(self, lat_deg: float, lon_deg: float, alt_m: float) -> None:
        n, e = self.ne_of(lat_deg, lon_deg)
        self.roi = (n, e, alt_m)
        self._gimbal_rate = None
        self._gimbal_yaw_ef = None
        self.gimbal_mode = MOUNT_GPS_POINT

    def clear_roi(self) -> None:
        self.roi = None
        self.gimbal_mode = MOUNT_MAVLINK_TARGETING

    def set_gimbal_mode(self, mode: int) -> bool:
        """MAV_MOUNT_MODE without angles: RETRACT and NEUTRAL point the servos at 0/0; RC targeting follows
        the (centred) sticks, also 0/0. False for modes this simulator does not have."""
        if mode not in (MOUNT_RETRACT, MOUNT_NEUTRAL, MOUNT_RC_TARGETING):
            return False
        self.roi = None
        self._gimbal_rate = None
        self._gimbal_yaw_ef = None
        self._gimbal_target = (0.0, 0.0)
        self.gimbal_yaw_lock = False
        self.gimbal_mode = mode
        return True

    def set_gimbal_rate(self, pitch_deg_s: float, yaw_deg_s: float, yaw_earth_frame: bool = False) -> None:
        self.roi = None
        self.gimbal_mode = MOUNT_MAVLINK_TARGETING
        self.gimbal_yaw_lock = yaw_earth_frame
        self._gimbal_yaw_ef = None
        self._gimbal_rate = (pitch_deg_s, yaw_deg_s)

    def set_gimbal(self, pitch_deg: float | None, yaw_deg: float | None, yaw_earth_frame: bool = False) -> None:
        self.roi = None
        self._gimbal_rate = None
        self.gimbal_mode = MOUNT_MAVLINK_TARGETING
        self.gimbal_yaw_lock = yaw_earth_frame
        pitch, yaw = self._gimbal_target
        if pitch_deg is not None and not math.isnan(pitch_deg):
            pitch = max(self.params["MNT1_PITCH_MIN"], min(self.params["MNT1_PITCH_MAX"], pitch_deg))
        self._gimbal_yaw_ef = None
        if yaw_deg is not None and not math.isnan(yaw_deg):
            if yaw_earth_frame:   # held in the earth frame: the body-frame angle follows the vehicle's yaw
                self._gimbal_yaw_ef = yaw_deg % 360.0
            yaw = self._gimbal_body_yaw(_wrap180(yaw_deg - self.yaw_deg) if yaw_earth_frame else yaw_deg)
        self._gimbal_target = (pitch, yaw)

    def _gimbal_body_yaw(self, yaw_deg: float) -> float:
        return max(self.params["MNT1_YAW_MIN"], min(self.params["MNT1_YAW_MAX"], _wrap180(yaw_deg)))

    def condition_yaw(self, angle_deg: float, direction: int, relative: bool) -> bool:
        if self.mode not in (Mode.GUIDED, Mode.AUTO) or not self.flying:
            return False
        if relative:
            sign = -1.0 if direction < 0 else 1.0
            self._yaw_target = (self.yaw_deg + sign * angle_deg) % 360.0
        else:
            self._yaw_target = angle_deg % 360.0
        return True

    def set_home(self, lat_deg: float | None, lon_deg: float | None, alt_amsl_m: float | None) -> bool:
        if lat_deg is None:
            if not self.position_ok:
                return False
            self._set_home_here()
            return True
        if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180) or (lat_deg == 0 and lon_deg == 0):
            return False
        self._set_home(Home(lat_deg, lon_deg, alt_amsl_m if alt_amsl_m is not None else self.origin.alt_amsl_m,
                            self.yaw_deg))
        return True

    def set_mission_current(self, seq: int, reset: bool = False) -> bool:
        if seq < 0 or seq >= self.store.count(ms.MISSION):
            return False
        seq = max(seq, 1)
        self._auto.index = seq
        self._auto.complete = False
        self._auto.reset = False
        if reset:
            self._auto.jumps.clear()
        if self.mode == Mode.AUTO and self.armed and self._auto.running:
            self._auto_advance(seq, run_do=True)
        self.events.append(MissionCurrentChanged(seq))
        return True

    def start_mission(self) -> bool:
        """MAV_CMD_MISSION_START (GCS_MAVLINK_Copter::handle_MAV_CMD_MISSION_START): switch to AUTO, mark the
        vehicle auto-armed (so an AUTO takeoff climbs with no throttle), and start or resume the mission if it
        is not running (from its current item with MIS_RESTART=0). False when the mode change is refused."""
        if not self.set_mode(Mode.AUTO):
            return False
        self.auto_armed = self.armed   # update_auto_armed clears it again at once on a disarmed vehicle
        if self.armed and not self._auto.running:
            self._auto_enter()
        return True

    def start_capture(self, interval_s: float, count: int) -> None:
        self._capture_interval_s = max(interval_s, 0.0)
        self._capture_left = count if count > 0 else (-1 if interval_s > 0 else 1)
        self._capture_next_s = self.time_s

    def stop_capture(self) -> None:
        self._capture_left = 0

    def set_relay(self, number: int, on: int) -> None:
        self.relays[number] = on
        self.events.append(RelaySwitched(number, bool(on)))

    # ------------------------------------------------------------------ mission execution
    def _mission(self) -> list[ms.Item]:
        return self.store.mission_items()

    def _mission_starts_with_takeoff(self) -> bool:
        """AP_Mission::starts_with_takeoff_cmd: the next nav command from the CURRENT one (from the first item
        when MIS_RESTART=1 or after a reset) is a takeoff; DO_JUMPs are followed, NAV_DELAYs skipped, at most 16
        looked at (is_takeoff_next). An index past the end of the mission finds nothing: refused."""
        a = self._auto
        index = 1 if (self.params["MIS_RESTART"] or a.reset) else a.index
        items = self._mission()
        for _ in range(16):
            item = self._next_nav(items, index)
            if item is None:
                return False
            if item.command == ms.NAV_TAKEOFF:
                return True
            if item.command != ms.NAV_DELAY:
                return False
            index += 1   # as ArduPilot does: the search restarts one item further on
        return False

    def _next_nav(self, items: list[ms.Item], start: int) -> ms.Item | None:
        """AP_Mission::get_next_nav_cmd: the first nav command at or after start, following DO_JUMPs that
        still have repeats left (without counting them)."""
        index, hops = start, 0
        while 1 <= index < len(items):
            item = items[index]
            if item.command == ms.DO_JUMP:
                repeat, target = int(item.param2), int(item.param1)
                hops += 1
                if (repeat < 0 or self._auto.jumps.get(index, 0) < repeat) and 1 <= target < len(items) \
                        and hops <= len(items):
                    index = target
                else:
                    index += 1
                continue
            if item.command in ms.NAV_COMMANDS:
                return item
            index += 1
        return None

    def _auto_enter(self) -> None:
        a = self._auto
        if a.mission_version != self.store.version:
            a.mission_version = self.store.version
            if a.index >= self.store.count(ms.MISSION):
                a.index = 1
        if a.complete or a.reset or self.params["MIS_RESTART"]:   # start_or_resume: start() or resume()
            a.complete = False
            a.reset = False
            a.index = 1
            a.jumps.clear()
        self.wp_speed_m_s = None
        if not self.armed:
            a.running = False
            a.stage = "idle"
            return
        a.running = True
        self._auto_advance(a.index, run_do=True)

    def _auto_advance(self, index: int, run_do: bool) -> None:
        """Start the next nav command at or after index, running DO commands on the way (DO_JUMP too)."""
        a = self._auto
        items = self._mission()
        guard = 0
        while True:
            guard += 1
            if index >= len(items) or guard > 10_000:
                self._auto_finish()
                return
            item = items[index]
            if item.command == ms.DO_JUMP:
                repeat = int(item.param2)
                done = a.jumps.get(index, 0)
                target = int(item.param1)
                if (repeat < 0 or done < repeat) and 1 <= target < len(items):
                    a.jumps[index] = done + 1
                    index = target
                    run_do = True
                else:
                    index += 1
                continue
            if item.command in ms.NAV_COMMANDS:
                a.index = index
                self.events.append(MissionCurrentChanged(index))
                self._auto_start_nav(item)
                j = index + 1
                while j < len(items) and items[j].command not in ms.NAV_COMMANDS and items[j].command != ms.DO_JUMP:
                    self._do_command(items[j])
                    j += 1
                return
            if run_do:
                self._do_command(item)
            index += 1

    def _auto_finish(self) -> None:
        a = self._auto
        a.running = False
        a.complete = True
        a.stage = "idle"
        a.target = None
        if self.armed and self.landed:
            self._disarm()
        elif self.flying:
            self._hold = self._stopping_point()
            a.target = self._hold
            a.stage = "hold_forever"

    def _item_location(self, item: ms.Item, keep_alt_if_zero: bool = True) -> tuple[float, float, float]:
        if item.x == 0 and item.y == 0:
            n, e = self.north_m, self.east_m
        else:
            n, e = self.ne_of(item.lat_deg, item.lon_deg)
        if item.z == 0 and keep_alt_if_zero and item.frame != ms.FRAME_GLOBAL:
            alt = self.alt_m
        else:
            alt = self.alt_from_frame(item.frame, item.z)
        return n, e, alt

    def _mission_text(self, item: ms.Item) -> None:
        """AP_Mission::start_command announces every command it starts."""
        self._say(INFO, f"Mission: {item.seq} {_COMMAND_TYPE.get(item.command, '?')}")

    def _auto_start_nav(self, item: ms.Item) -> None:
        self._mission_text(item)
        a = self._auto
        a.timer_s = 0.0
        a.hold_s = 0.0
        cmd = item.command
        if cmd == ms.NAV_TAKEOFF:
            target_alt = self.alt_from_frame(item.frame, item.z) if item.frame != ms.FRAME_GLOBAL else item.z - self.origin.alt_amsl_m
            target_alt = max(target_alt, self._home_alt_m() + 1.0)
            a.stage = "takeoff"
            a.target = (self.north_m, self.east_m, max(target_alt, self.alt_m))
        elif cmd in (ms.NAV_WAYPOINT, ms.NAV_SPLINE_WAYPOINT):
            a.stage = "goto"
            a.target = self._item_location(item)
            a.hold_s = max(item.param1, 0.0)
        elif cmd == ms.NAV_LOITER_TIME:
            a.stage = "goto"
            a.target = self._item_location(item)
            a.hold_s = max(item.param1, 0.0)
        elif cmd == ms.NAV_LOITER_TURNS:
            a.stage = "goto"
            a.target = self._item_location(item)
            radius = abs(item.param3) or 10.0
            a.hold_s = max(item.param1, 0.0) * 2 * math.pi * radius / 5.0
        elif cmd == ms.NAV_LOITER_UNLIM:
            a.stage = "goto"
            a.target = self._item_location(item)
            a.hold_s = math.inf
        elif cmd == ms.NAV_LAND:
            if item.x == 0 and item.y == 0:
                a.stage = "land"
                a.target = (self.north_m, self.east_m, 0.0)
                self._landing = True
            else:
                n, e, _ = self._item_location(item)
                a.stage = "land_approach"
                a.target = (n, e, self.alt_m)
        elif cmd == ms.NAV_RETURN_TO_LAUNCH:
            a.stage = "rtl"
            self._rtl_start()
            a.target = None
        elif cmd == ms.NAV_DELAY:
            a.stage = "wait"
            a.target = self._stopping_point()
            a.hold_s = max(item.param1, 0.0)

    def _auto_nav_done(self) -> None:
        a = self._auto
        seq = a.index
        self.events.append(ItemReached(seq))
        # DO commands after this nav command already ran when it started.
        self._auto_advance_skip_do(seq + 1)

    def _auto_advance_skip_do(self, index: int) -> None:
        items = self._mission()
        while index < len(items) and items[index].command not in ms.NAV_COMMANDS and items[index].command != ms.DO_JUMP:
            index += 1
        self._auto_advance(index, run_do=True)

    def _do_command(self, item: ms.Item) -> None:
        self._mission_text(item)
        cmd = item.command
        if cmd == ms.DO_CHANGE_SPEED:
            self.set_speed(item.param2)
        elif cmd in (ms.DO_SET_ROI_LOCATION, ms.DO_SET_ROI):
            if item.x == 0 and item.y == 0:
                self.clear_roi()
            else:
                self.set_roi(item.lat_deg, item.lon_deg, self.alt_from_frame(item.frame, item.z))
        elif cmd == ms.DO_SET_ROI_NONE:
            self.clear_roi()
        elif cmd == ms.DO_MOUNT_CONTROL:
            self.set_gimbal(item.param1, item.param3)
        elif cmd == ms.DO_GIMBAL_MANAGER_PITCHYAW:
            # param5 (flags) travels in x; GIMBAL_MANAGER_FLAGS_YAW_LOCK = 16 means an earth-frame yaw
            self.set_gimbal(item.param1, item.param2, yaw_earth_frame=bool(item.x & 16))
        elif cmd == ms.CONDITION_YAW:
            self.condition_yaw(item.param1, int(item.param3), bool(item.param4))
        elif cmd == ms.DO_SET_HOME:
            if item.param1 == 1:
                self.set_home(None, None, None)
            else:
                self.set_home(item.lat_deg, item.lon_deg, self.alt_from_frame(item.frame, item.z) + self.origin.alt_amsl_m)
        elif cmd == ms.DO_SET_RELAY:
            self.set_relay(int(item.param1), int(item.param2))
        elif cmd in (ms.IMAGE_START_CAPTURE, ms.DO_DIGICAM_CONTROL):
            if cmd == ms.IMAGE_START_CAPTURE:
                self.start_capture(item.param2, int(item.param3))
            else:
                self.start_capture(0.0, 1)
        elif cmd == ms.IMAGE_STOP_CAPTURE:
            self.stop_capture()

    # ------------------------------------------------------------------ RTL
    def _rtl_start(self) -> None:
        rtl_alt = self.params["RTL_ALT"] / 100.0
        target = max(self.alt_m, rtl_alt + self._home_alt_m()) if rtl_alt > 0 else self.alt_m
        if self.params["FENCE_ENABLE"] and int(self.params["FENCE_TYPE"]) & 1:
            target = min(target, max(self.alt_m, self.params["FENCE_ALT_MAX"] - self.params["FENCE_MARGIN"]))
        self._rtl = _Rtl(stage="climb" if self.flying else "land", alt_m=target)
        self._landing = not self.flying

    def _rtl_run(self, dt: float) -> tuple[tuple | None, tuple]:
        """Horizontal and vertical demands for RTL; returns (h, v)."""
        r = self._rtl
        hn, he = self._home_ne()
        if r.stage == "climb":
            if self.alt_m >= r.alt_m - 0.5:
                r.stage = "return"
            return ("pos", self.north_m, self.east_m, 0.0), ("alt", r.alt_m)
        if r.stage == "return":
            speed = self.params["RTL_SPEED"] / 100.0 or None
            if math.hypot(hn - self.north_m, he - self.east_m) <= max(self.params["WPNAV_RADIUS"] / 100.0, 1.0) \
                    and self.groundspeed_m_s < 0.5:
                r.stage = "loiter"
                r.timer_s = 0.0
            return ("pos", hn, he, speed), ("alt", r.alt_m)
        if r.stage == "loiter":
            r.timer_s += dt
            if r.timer_s >= self.params["RTL_LOIT_TIME"] / 1000.0:
                final = self.params["RTL_ALT_FINAL"] / 100.0
                r.stage = "final" if final > 0 else "land"
                self._landing = r.stage == "land"
            return ("pos", hn, he, None), ("alt", r.alt_m)
        if r.stage == "final":
            return ("pos", hn, he, None), ("alt", self.params["RTL_ALT_FINAL"] / 100.0 + self._home_alt_m())
        return ("pos", hn, he, None), ("land",)

    # ------------------------------------------------------------------ simulation step
    def step(self, dt: float) -> None:
        """Advance simulated time by dt seconds (keep dt <= 0.1 for smooth control)."""
        if dt <= 0:
            return
        was_position_ok = self.position_ok
        self.time_s += dt
        if self.position_ok and not was_position_ok and self.home is None:
            self._set_home(Home(self.origin.lat_deg, self.origin.lon_deg, self.origin.alt_amsl_m, self.yaw_deg))
        if not self.armed or self.mode == Mode.STABILIZE:
            self.auto_armed = False   # Copter::update_auto_armed: disarmed, or manual throttle at zero
        if self.armed:
            h, v = self._demands(dt)
        elif not self.landed or self.alt_m > 0:
            h, v = ("vel", 0.0, 0.0), ("fall",)
        else:
            h, v = None, None
        self._integrate(dt, h, v)
        self._after_move(dt)
        self._payload(dt)
        self._battery(dt)
        self._fence()

    def _demands(self, dt: float) -> tuple[tuple | None, tuple]:
        mode = self.mode
        if mode == Mode.STABILIZE:
            # No pilot: the simulated RC throttle is at minimum, as in SITL. Airborne, it comes down.
            return ("vel", 0.0, 0.0), ("fall",) if self.flying else ("rate", 0.0)
        if mode in (Mode.LOITER, Mode.BRAKE):
            hold = self._hold or self._stopping_point()
            self._hold = hold
            if self.landed:
                return None, ("rate", 0.0)
            if mode == Mode.LOITER:   # throttle stick at minimum: the full pilot descent rate
                down = self.params["PILOT_SPEED_DN"] or self.params["PILOT_SPEED_UP"]
                return ("pos", hold[0], hold[1], None), ("pilot", -abs(down) / 100.0)
            return ("pos", hold[0], hold[1], None), ("alt", hold[2])
        if mode == Mode.LAND:
            hold = self._hold or self._stopping_point()
            self._hold = hold
            return ("pos", hold[0], hold[1], None), ("land",)
        if mode == Mode.RTL:
            if self.landed:
                return None, ("rate", 0.0)
            return self._rtl_run(dt)
        if mode == Mode.GUIDED:
            return self._guided_demands()
        if mode == Mode.AUTO:
            return self._auto_demands(dt)
        return None, ("rate", 0.0)

    def _guided_demands(self) -> tuple[tuple | None, tuple]:
        if self._guided_velocity is not None:
            if self.time_s - self._guided_velocity_at > self.params["GUID_TIMEOUT"]:
                self._guided_velocity = None
                self._guided_target = self._stopping_point()
            else:
                vn, ve, vu = self._guided_velocity
                if self.landed and vu <= 0:
                    return None, ("rate", 0.0)
                return ("vel", vn, ve), ("rate", vu)
        if self._takeoff_alt_m is not None:
            if self.alt_m >= self._takeoff_alt_m - 0.1:
                self._takeoff_alt_m = None
            tgt = self._guided_target or (self.north_m, self.east_m, self.alt_m)
            return ("pos", self.north_m, self.east_m, 0.0) if self.landed else ("pos", tgt[0], tgt[1], None), \
                ("alt", tgt[2])
        if self.landed:
            return None, ("rate", 0.0)   # ArduPilot does not lift off for a position target: take off first
        tgt = self._guided_target or self._stopping_point()
        self._guided_target = tgt
        return ("pos", tgt[0], tgt[1], None), ("alt", tgt[2])

    def _auto_demands(self, dt: float) -> tuple[tuple | None, tuple]:
        a = self._auto
        if not a.running:
            if self.landed:
                return None, ("rate", 0.0)
            hold = a.target or self._stopping_point()
            a.target = hold
            return ("pos", hold[0], hold[1], None), ("alt", hold[2])
        if a.stage == "takeoff":
            assert a.target is not None
            if int(self.params["AUTO_OPTIONS"]) & AUTO_TAKEOFF_WITHOUT_THROTTLE:
                self.auto_armed = True   # ModeAuto::takeoff_run
            if not self.auto_armed:      # _AutoTakeoff::run: no throttle yet, stay on the ground
                return None, ("rate", 0.0)
            if self.alt_m >= a.target[2] - 0.1:
                self._auto_nav_done()
                return self._auto_demands_after_switch(dt)
            return ("pos", a.target[0], a.target[1], 0.0 if self.landed else None), ("alt", a.target[2])
        if a.stage in ("goto", "wait", "hold_forever"):
            assert a.target is not None
            n, e, alt = a.target
            radius = max(self.params["WPNAV_RADIUS"] / 100.0, 0.5)
            if a.stage == "goto" and math.hypot(n - self.north_m, e - self.east_m) <= radius and abs(alt - self.alt_m) < 1.0:
                a.stage = "wait"
                a.timer_s = 0.0
            if a.stage == "wait":
                a.timer_s += dt
                if a.timer_s >= a.hold_s:
                    self._auto_nav_done()
                    return self._auto_demands_after_switch(dt)
            return ("pos", n, e, None), ("alt", alt)
        if a.stage == "land_approach":
            assert a.target is not None
            n, e, alt = a.target
            if math.hypot(n - self.north_m, e - self.east_m) <= max(self.params["WPNAV_RADIUS"] / 100.0, 0.5) \
                    and self.groundspeed_m_s < 0.5:
                a.stage = "land"
                self._landing = True
            return ("pos", n, e, None), ("alt", alt)
        if a.stage == "land":
            assert a.target is not None
            return ("pos", a.target[0], a.target[1], None), ("land",)
        if a.stage == "rtl":
            return self._rtl_run(dt)
        return None, ("rate", 0.0)

    def _auto_demands_after_switch(self, dt: float) -> tuple[tuple | None, tuple]:
        if self.mode != Mode.AUTO or not self.armed:
            return None, ("rate", 0.0)
        return self._auto_demands(0.0)

    def _integrate(self, dt: float, h: tuple | None, v: tuple | None) -> None:
        p = self.params
        accel_xy = p["WPNAV_ACCEL"] / 100.0
        accel_z = p["WPNAV_ACCEL_Z"] / 100.0
        # horizontal
        on_ground = self.landed and not (v is not None and self._wants_up(v))
        if on_ground:
            self.vn = self.ve = 0.0
        if h is None or on_ground:
            want_n = want_e = 0.0
        elif h[0] == "vel":
            want_n, want_e = h[1], h[2]
        else:
            _, tn, te, speed = h
            max_speed = speed if speed is not None else (self.wp_speed_m_s or p["WPNAV_SPEED"] / 100.0)
            dn, de = tn - self.north_m, te - self.east_m
            dist = math.hypot(dn, de)
            s = min(max_speed, _sqrt_speed(dist, p["PSC_POSXY_P"], accel_xy)) if dist > 1e-3 else 0.0
            want_n, want_e = (dn / dist * s, de / dist * s) if dist > 1e-3 else (0.0, 0.0)
        dvn, dve = want_n - self.vn, want_e - self.ve
        dv = math.hypot(dvn, dve)
        lim = accel_xy * 2.0 * dt  # brake and loiter allow more than the waypoint acceleration
        if dv > lim:
            dvn, dve = dvn / dv * lim, dve / dv * lim
        self.an, self.ae = dvn / dt, dve / dt
        self.vn += dvn
        self.ve += dve
        if self.landed and not self.armed:
            self.vn = self.ve = 0.0
        # vertical
        up_max = p["WPNAV_SPEED_UP"] / 100.0
        dn_max = p["WPNAV_SPEED_DN"] / 100.0
        if v is None:
            want_u = 0.0
        elif v[0] == "alt":
            err = v[1] - self.alt_m
            s = _sqrt_speed(abs(err), p["PSC_POSZ_P"], accel_z)
            want_u = min(s, up_max) if err > 0 else -min(s, dn_max)
        elif v[0] == "rate":
            want_u = max(-dn_max, min(up_max, v[1]))
        elif v[0] == "pilot":   # a pilot climb rate, limited by PILOT_SPEED_UP/DN rather than WPNAV_SPEED_*
            want_u = v[1]
        elif v[0] == "land":
            high = p["LAND_SPEED_HIGH"] / 100.0 or dn_max
            low = p["LAND_SPEED"] / 100.0
            above_ground = self.alt_m
            s = _sqrt_speed(above_ground - max(p["LAND_ALT_LOW"] / 100.0, 1.0), p["PSC_POSZ_P"], accel_z)
            want_u = -min(max(s, low), high)
        else:  # fall
            want_u = -1e9
        if v is not None and v[0] == "fall":
            self.vu -= GRAVITY * dt
        else:
            du = want_u - self.vu
            lim_u = accel_z * 2.5 * dt
            self.vu += max(-lim_u, min(lim_u, du))
        self.north_m += self.vn * dt
        self.east_m += self.ve * dt
        self.alt_m += self.vu * dt
        if self.alt_m <= 0.0:
            self.alt_m = 0.0
            if self.vu <= 0.0:
                self.vu = 0.0
                if not self.landed:
                    self.landed = True
                    self.vn = self.ve = 0.0
        elif self.alt_m > 0.2 and self.armed:
            self.landed = False

    def _wants_up(self, v: tuple) -> bool:
        return (v[0] == "alt" and v[1] > self.alt_m + 0.05) or (v[0] == "rate" and v[1] > 0)

    def _after_move(self, dt: float) -> None:
        # touchdown in a landing phase disarms at once (ArduPilot: land complete -> disarm)
        if self.armed and self.landed and self._landing:
            self._landing = False
            if self.mode == Mode.AUTO and self._auto.stage in ("land", "rtl"):
                self._disarm()
                self._auto_nav_done()
            else:
                self._disarm()
            return
        # auto-disarm on the ground after DISARM_DELAY seconds without a climb
        if self.armed and self.landed:
            climbing = (self.mode == Mode.GUIDED and self._takeoff_alt_m is not None) or \
                       (self.mode == Mode.AUTO and self._auto.running and self._auto.stage == "takeoff"
                        and self.auto_armed)
            self._landed_idle_s = 0.0 if climbing else self._landed_idle_s + dt
            delay = self.params["DISARM_DELAY"]
            if delay > 0 and self._landed_idle_s >= delay:
                self._disarm()
        else:
            self._landed_idle_s = 0.0
        self._yaw(dt)

    def _yaw(self, dt: float) -> None:
        target = None
        if self.roi is not None and self.flying:
            target = math.degrees(math.atan2(self.roi[1] - self.east_m, self.roi[0] - self.north_m)) % 360.0
        elif self._yaw_target is not None:
            target = self._yaw_target
        elif self.flying and self.groundspeed_m_s > 1.0 and self.mode in (Mode.AUTO, Mode.GUIDED):
            if int(self.params["WP_YAW_BEHAVIOR"]) in (1, 2, 3) and not (self.mode == Mode.AUTO and self._auto.stage == "rtl"):
                tgt = self._current_horizontal_target()
                if tgt is not None and math.hypot(tgt[0] - self.north_m, tgt[1] - self.east_m) > 2.0:
                    target = math.degrees(math.atan2(tgt[1] - self.east_m, tgt[0] - self.north_m)) % 360.0
        if target is None:
            return
        err = _wrap180(target - self.yaw_deg)
        step = YAW_RATE_DEG_S * dt
        self.yaw_deg = (self.yaw_deg + max(-step, min(step, err))) % 360.0

    def _payload(self, dt: float) -> None:
        if self.roi is not None:
            dn, de = self.roi[0] - self.north_m, self.roi[1] - self.east_m
            dist = math.hypot(dn, de)
            pitch = -math.degrees(math.atan2(self.alt_m - self.roi[2], max(dist, 0.1)))
            yaw = _wrap180(math.degrees(math.atan2(de, dn)) - self.yaw_deg)
            pitch = max(self.params["MNT1_PITCH_MIN"], min(self.params["MNT1_PITCH_MAX"], pitch))
        else:
            if self._gimbal_rate is not None:
                p, y = self._gimbal_target
                p = max(self.params["MNT1_PITCH_MIN"], min(self.params["MNT1_PITCH_MAX"], p + self._gimbal_rate[0] * dt))
                y = max(self.params["MNT1_YAW_MIN"], min(self.params["MNT1_YAW_MAX"], y + self._gimbal_rate[1] * dt))
                self._gimbal_target = (p, y)
            elif self._gimbal_yaw_ef is not None:
                self._gimbal_target = (self._gimbal_target[0], self._gimbal_body_yaw(self._gimbal_yaw_ef - self.yaw_deg))
            pitch, yaw = self._gimbal_target
        step = GIMBAL_RATE_DEG_S * dt
        self.gimbal_pitch_deg += max(-step, min(step, pitch - self.gimbal_pitch_deg))
        self.gimbal_yaw_deg = _wrap180(self.gimbal_yaw_deg + max(-step, min(step, _wrap180(yaw - self.gimbal_yaw_deg))))
        if self._capture_left != 0 and self.time_s >= self._capture_next_s:
            self._take_image()
            if self._capture_left > 0:
                self._capture_left -= 1
            self._capture_next_s = self.time_s + max(self._capture_interval_s, 0.05)

    def _take_image(self) -> None:
        self.images_taken += 1
        lat, lon = self.lat_lon_deg if self.position_ok else (0.0, 0.0)
        self.events.append(ImageCaptured(self.images_taken, lat, lon, self.alt_amsl_m, self.alt_rel_m,
                                         (self.yaw_deg + self.gimbal_yaw_deg) % 360.0, self.gimbal_pitch_deg,
                                         self.time_s))

    def _battery(self, dt: float) -> None:
        cap = self.params["BATT_CAPACITY"]
        if cap != self.battery.capacity_mah and cap > 0:
            self.battery.capacity_mah = cap
        self.battery.step(dt, current_a(self.armed, not self.landed, self.vu, self.groundspeed_m_s))
        if self.failsafe_battery or not self.params["BATT_MONITOR"]:
            return
        low_v = self.params["BATT_LOW_VOLT"]
        low_mah = self.params["BATT_LOW_MAH"]
        low = False
        if low_v > 0 and self.battery.voltage_v < low_v:
            if self._batt_low_since is None:
                self._batt_low_since = self.time_s
            low = self.time_s - self._batt_low_since >= self.params["BATT_LOW_TIMER"]
        else:
            self._batt_low_since = None
        if low_mah > 0 and self.battery.capacity_mah - self.battery.consumed_mah < low_mah:
            low = True
        if low:
            self._battery_failsafe()

    def _battery_failsafe(self) -> None:
        self.failsafe_battery = True
        self._say(CRITICAL, f"Battery 1 is low {self.battery.voltage_v:.2f}V used {self.battery.consumed_mah:.0f} mAh")
        action = int(self.params["BATT_FS_LOW_ACT"])
        if action == 0 or not self.armed:
            return
        if self.landed:
            self._disarm()
            return
        if action == 1 and self.mode != Mode.LAND:
            self.set_mode(Mode.LAND, reason_failsafe=True)
        elif action in (2, 3) and self.mode not in (Mode.RTL, Mode.LAND):
            if not self.set_mode(Mode.RTL, reason_failsafe=True):
                self.set_mode(Mode.LAND, reason_failsafe=True)
        elif action == 5:
            self._disarm()

    # ------------------------------------------------------------------ geofence
    def _fence_breaches(self) -> int:
        """Bitmask of breached fence types: 1 altitude, 2 circle around home, 4 polygon/uploaded fences."""
        p = self.params
        ftype = int(p["FENCE_TYPE"])
        breaches = 0
        if ftype & 1 and self.alt_rel_m > p["FENCE_ALT_MAX"]:
            breaches |= 1
        hn, he = self._home_ne()
        if ftype & 2 and math.hypot(self.north_m - hn, self.east_m - he) > p["FENCE_RADIUS"]:
            breaches |= 2
        if ftype & 4 and self._outside_uploaded_fence():
            breaches |= 4
        return breaches

    def _outside_uploaded_fence(self) -> bool:
        items = self.store.items[ms.FENCE]
        inclusion_seen = inside_any = False
        i = 0
        while i < len(items):
            it = items[i]
            if it.command in (ms.FENCE_POLYGON_VERTEX_INCLUSION, ms.FENCE_POLYGON_VERTEX_EXCLUSION):
                count = max(int(it.param1), 1)
                poly = [self.ne_of(v.lat_deg, v.lon_deg) for v in items[i:i + count]]
                inside = len(poly) >= 3 and geodesy.inside_polygon(self.north_m, self.east_m, poly)
                if it.command == ms.FENCE_POLYGON_VERTEX_INCLUSION:
                    inclusion_seen = True
                    inside_any |= inside
                elif inside:
                    return True
                i += count
                continue
            if it.command in (ms.FENCE_CIRCLE_INCLUSION, ms.FENCE_CIRCLE_EXCLUSION):
                cn, ce = self.ne_of(it.lat_deg, it.lon_deg)
                inside = math.hypot(self.north_m - cn, self.east_m - ce) <= it.param1
                if it.command == ms.FENCE_CIRCLE_INCLUSION:
                    inclusion_seen = True
                    inside_any |= inside
                elif inside:
                    return True
            i += 1
        return inclusion_seen and not inside_any

    def _fence(self) -> None:
        if not self.params["FENCE_ENABLE"] or not self.armed:
            if self.fence_breached and not self.params["FENCE_ENABLE"]:
                self.fence_breached = 0
            return
        breaches = self._fence_breaches() if self.flying else 0
        new = breaches & ~self.fence_breached
        if new:
            self.fence_breach_count += 1
            self.fence_breach_time_s = self.time_s
            names = [n for bit, n in ((1, "Max Alt"), (2, "Circle"), (4, "Polygon")) if new & bit]
            self._say(CRITICAL, "Fence Breached: " + ", ".join(names))
            action = int(self.params["FENCE_ACTION"])
            if action in (1, 3, 5) and self.mode not in (Mode.RTL, Mode.LAND):
                if not self.set_mode(Mode.RTL, reason_failsafe=True):
                    self.set_mode(Mode.LAND, reason_failsafe=True)
            elif action == 2 and self.mode != Mode.LAND:
                self.set_mode(Mode.LAND, reason_failsafe=True)
            elif action == 4 and self.mode not in (Mode.BRAKE, Mode.LAND):
                self.set_mode(Mode.BRAKE, reason_failsafe=True)
        elif self.fence_breached and not breaches:
            self._say(NOTICE, "Fence breach cleared")
        self.fence_breached = breaches

    # ------------------------------------------------------------------ events
    def drain_events(self) -> list:
        out, self.events = self.events, []
        return out

    def sensors(self) -> tuple[int, int, int]:
        """SYS_STATUS (present, enabled, health) bitmasks, with the pre-arm check bit like ArduPilot."""
        gyro, accel, mag, baro, gps = 1, 2, 4, 8, 32
        rate, att, yawpos, zalt, xypos, motors = 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15
        fence, ahrs, battery, prearm = 1 << 20, 1 << 21, 1 << 25, 1 << 28
        present = gyro | accel | mag | baro | gps | rate | att | yawpos | zalt | xypos | motors | ahrs | battery | prearm
        enabled = present & ~motors | (motors if self.armed else 0)
        if self.params["FENCE_ENABLE"]:
            present |= fence
            enabled |= fence
        health = present & ~(gps | ahrs | prearm | fence | battery)
        if self.position_ok:
            health |= gps
        if self.ekf_ready:
            health |= ahrs
        if self.ekf_ready and not self.failsafe_battery:
            health |= prearm
        if not self.failsafe_battery:
            health |= battery
        if self.params["FENCE_ENABLE"] and not self.fence_breached:
            health |= fence
        return present, enabled, health

    def ekf_flags(self) -> int:
        attitude, vel_h, vel_v, pos_h_rel, pos_h_abs, pos_v_abs = 1, 2, 4, 8, 16, 32
        const_pos, pred_h_rel, pred_h_abs, uninit = 128, 256, 512, 1024
        if self.time_s < 2.0:
            return uninit
        if self.ekf_ready:
            return attitude | vel_h | vel_v | pos_h_rel | pos_h_abs | pos_v_abs | pred_h_rel | pred_h_abs
        return attitude | vel_v | pos_v_abs | const_pos
