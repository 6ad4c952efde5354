"""Fixtures shared by every test folder."""
from __future__ import annotations

import pytest

from sim.fleet import SimFleet


@pytest.fixture
def sim():
    """Two simulated ArduCopters on ports the OS picks, speed-up 10, ready to arm after 2 simulated seconds."""
    fleet = SimFleet(vehicles=2, speedup=10, base_port=0, ready_after_s=2.0).start()
    yield fleet
    fleet.stop()
