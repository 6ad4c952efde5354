"""A 3S LiPo battery that drains with time and effort: voltage under load, charge used, remaining percent."""
from __future__ import annotations

from dataclasses import dataclass

CELLS = 3
_CELL_FULL_V, _CELL_EMPTY_V = 4.2, 3.3
_INTERNAL_RESISTANCE_OHM = 0.02


def current_a(armed: bool, flying: bool, climb_m_s: float, speed_m_s: float) -> float:
    """Current drawn by a ~1.5 kg quad: idle electronics, spinning on the ground, hover plus effort."""
    if not armed:
        return 0.4
    if not flying:
        return 3.0
    return 14.0 + 0.6 * speed_m_s + 2.5 * max(climb_m_s, 0.0)


@dataclass
class Battery:
    capacity_mah: float = 5000.0
    consumed_mah: float = 0.0
    current_a: float = 0.0

    def step(self, dt_s: float, current_a: float) -> None:
        self.current_a = current_a
        self.consumed_mah = min(self.capacity_mah, self.consumed_mah + current_a * dt_s * 1000.0 / 3600.0)

    @property
    def remaining_pct(self) -> float:
        if self.capacity_mah <= 0:
            return 0.0
        return max(0.0, 100.0 * (1.0 - self.consumed_mah / self.capacity_mah))

    @property
    def resting_voltage_v(self) -> float:
        frac = self.remaining_pct / 100.0
        return CELLS * (_CELL_EMPTY_V + (_CELL_FULL_V - _CELL_EMPTY_V) * frac)

    @property
    def voltage_v(self) -> float:
        return max(0.0, self.resting_voltage_v - self.current_a * _INTERNAL_RESISTANCE_OHM)

    @property
    def cell_voltage_v(self) -> float:
        return self.voltage_v / CELLS
