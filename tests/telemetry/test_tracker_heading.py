"""The state tracker's heading: the freshest full-precision sources win (ATTITUDE, GLOBAL_POSITION_INT); VFR_HUD's
whole degrees at a low rate only fill in until one of them came (a stale heading misplaces what a camera sees)."""
from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.tracker import StateTracker
from tests.telemetry.test_tracker_gimbal import decoded


def attitude(yaw_deg: float):
    return decoded(mavlink.MAVLink_attitude_message(0, 0.0, 0.0, math.radians(yaw_deg), 0.0, 0.0, 0.0))


def vfr(heading_deg: int):
    return decoded(mavlink.MAVLink_vfr_hud_message(0, 0, heading_deg, 0, 0, 0))


def gpi(hdg_cdeg: int):
    return decoded(mavlink.MAVLink_global_position_int_message(0, 0, 0, 0, 0, 0, 0, 0, hdg_cdeg))


def heading_after(*messages) -> float | None:
    t = StateTracker("v")
    for m in messages:
        t.update(m, 0.0, [])
    return t.snapshot().heading_deg


@pytest.mark.parametrize("messages, expected", [
    ((vfr(90),), 90.0),  # alone, VFR_HUD gives the heading
    ((vfr(90), attitude(95.5)), 95.5),  # ATTITUDE replaces it
    ((attitude(95.5), vfr(90)), 95.5),  # and an older, rounder VFR_HUD does not come back over it
    ((gpi(12345), vfr(90)), 123.45),
    ((gpi(12345), attitude(124.0)), 124.0),  # the latest of the precise ones
])
def test_the_heading_comes_from_the_freshest_precise_source(messages, expected):
    assert heading_after(*messages) == pytest.approx(expected, abs=1e-3)
