"""The vehicle's parameter table: ArduCopter names, defaults and MAVLink types, plus SIM_* so clients can tell it is a simulator."""
from __future__ import annotations

from dataclasses import dataclass

# MAV_PARAM_TYPE values (ArduPilot sends every value as a float holding the number, with this type).
INT8, INT16, INT32, REAL32 = 2, 4, 6, 9

_RANGES = {INT8: (-128, 127), INT16: (-32768, 32767), INT32: (-(2**31), 2**31 - 1)}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: float
    type: int = REAL32
    read_only: bool = False


# ArduCopter 4.x defaults (master, 4.7.0-dev), except where a simulated patrol vehicle is configured differently
# (noted: a servo gimbal and a camera are fitted).
_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("FORMAT_VERSION", 120, INT16, read_only=True),
    ParamSpec("SYSID_THISMAV", 1, INT16),
    ParamSpec("SYSID_MYGCS", 255, INT16),
    ParamSpec("FRAME_CLASS", 1, INT8),
    ParamSpec("FRAME_TYPE", 1, INT8),
    ParamSpec("ARMING_CHECK", 1, INT32),
    ParamSpec("DISARM_DELAY", 10, INT8),
    ParamSpec("AUTO_OPTIONS", 0, INT32),
    ParamSpec("GUID_TIMEOUT", 3.0),
    ParamSpec("WP_YAW_BEHAVIOR", 2, INT8),
    ParamSpec("WPNAV_SPEED", 1000.0),
    ParamSpec("WPNAV_RADIUS", 200.0),
    ParamSpec("WPNAV_SPEED_UP", 250.0),
    ParamSpec("WPNAV_SPEED_DN", 150.0),
    ParamSpec("WPNAV_ACCEL", 250.0),
    ParamSpec("WPNAV_ACCEL_Z", 100.0),
    ParamSpec("PILOT_SPEED_UP", 250, INT16),
    ParamSpec("PILOT_SPEED_DN", 0, INT16),     # 0: descend at PILOT_SPEED_UP
    ParamSpec("PSC_POSXY_P", 1.0),
    ParamSpec("PSC_POSZ_P", 1.0),
    ParamSpec("LAND_SPEED", 50, INT16),
    ParamSpec("LAND_SPEED_HIGH", 0, INT16),
    ParamSpec("LAND_ALT_LOW", 1000, INT16),
    ParamSpec("RTL_ALT", 1500, INT32),
    ParamSpec("RTL_ALT_FINAL", 0, INT16),
    ParamSpec("RTL_LOIT_TIME", 5000, INT32),
    ParamSpec("RTL_SPEED", 0, INT16),
    ParamSpec("RTL_CLIMB_MIN", 0, INT16),
    ParamSpec("FENCE_ENABLE", 0, INT8),
    ParamSpec("FENCE_TYPE", 7, INT8),
    ParamSpec("FENCE_ACTION", 1, INT8),
    ParamSpec("FENCE_ALT_MAX", 100.0),
    ParamSpec("FENCE_RADIUS", 300.0),
    ParamSpec("FENCE_MARGIN", 2.0),
    ParamSpec("RALLY_TOTAL", 0, INT8),
    ParamSpec("RALLY_LIMIT_KM", 0.3),
    ParamSpec("MIS_TOTAL", 0, INT16, read_only=True),
    ParamSpec("MIS_RESTART", 0, INT8),
    ParamSpec("BATT_MONITOR", 4, INT8),
    ParamSpec("BATT_CAPACITY", 5000, INT32),
    ParamSpec("BATT_LOW_VOLT", 10.5),
    ParamSpec("BATT_CRT_VOLT", 0.0),
    ParamSpec("BATT_LOW_MAH", 0.0),
    ParamSpec("BATT_CRT_MAH", 0.0),
    ParamSpec("BATT_LOW_TIMER", 10, INT8),
    ParamSpec("BATT_FS_LOW_ACT", 0, INT8),     # 0: warn only (ArduCopter's default); tests that need RTL set 2
    ParamSpec("BATT_FS_CRT_ACT", 0, INT8),
    ParamSpec("BATT_ARM_VOLT", 0.0),
    ParamSpec("MNT1_TYPE", 1, INT8),           # 1: servo gimbal (pitch and pan servos assigned); 0: no mount
    ParamSpec("MNT1_ROLL_MIN", -30, INT16),
    ParamSpec("MNT1_ROLL_MAX", 30, INT16),
    ParamSpec("MNT1_PITCH_MIN", -90, INT16),
    ParamSpec("MNT1_PITCH_MAX", 20, INT16),
    ParamSpec("MNT1_YAW_MIN", -180, INT16),
    ParamSpec("MNT1_YAW_MAX", 180, INT16),
    ParamSpec("CAM1_TYPE", 1, INT8),
    ParamSpec("SIM_SPEEDUP", 1.0),
    ParamSpec("SIM_BATT_VOLTAGE", 12.6),
    ParamSpec("SIM_BATT_CAP_AH", 5.0),
    ParamSpec("SIM_GPS_DISABLE", 0, INT8),
    ParamSpec("SIM_GPS_NUMSATS", 10, INT8),
    ParamSpec("SIM_WIND_SPD", 0.0),
    ParamSpec("SIM_OPOS_LAT", 0.0),
    ParamSpec("SIM_OPOS_LNG", 0.0),
    ParamSpec("SIM_OPOS_ALT", 0.0),
    ParamSpec("SIM_OPOS_HDG", 0.0),
)


class ParamTable:
    """Ordered parameters with ArduPilot semantics: typed, integer types rounded and clamped."""

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self._specs = {s.name: s for s in _SPECS}
        self._names = [s.name for s in _SPECS]
        self._values = {s.name: float(s.default) for s in _SPECS}
        for name, value in (overrides or {}).items():
            if name not in self._specs:
                raise KeyError(f"unknown parameter {name!r}")
            self._values[name] = self._coerce(self._specs[name], value)

    @staticmethod
    def _coerce(spec: ParamSpec, value: float) -> float:
        if spec.type in _RANGES:
            lo, hi = _RANGES[spec.type]
            return float(min(max(int(round(value)), lo), hi))
        return float(value)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def get(self, name: str, default: float = 0.0) -> float:
        return self._values.get(name, default)

    def index(self, name: str) -> int:
        return self._names.index(name)

    def name_at(self, index: int) -> str | None:
        return self._names[index] if 0 <= index < len(self._names) else None

    def is_read_only(self, name: str) -> bool:
        return self._specs[name].read_only

    def type_of(self, name: str) -> int:
        return self._specs[name].type

    def set(self, name: str, value: float) -> bool:
        """Set a parameter; False if unknown, read-only or not a finite number (ArduPilot ignores those)."""
        spec = self._specs.get(name)
        if spec is None or spec.read_only or value != value or value in (float("inf"), float("-inf")):
            return False
        self._values[name] = self._coerce(spec, value)
        return True

    def force(self, name: str, value: float) -> None:
        """Set a read-only parameter from inside the vehicle (e.g. MIS_TOTAL)."""
        self._values[name] = self._coerce(self._specs[name], value)
