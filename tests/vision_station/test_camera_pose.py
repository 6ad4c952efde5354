"""Which gimbal angles a vision worker gets: the vehicle's reported ones, or the camera's fixed mount."""
from __future__ import annotations

import pytest

from groundstation.config import CameraConfig
from groundstation.shell.vision_streams import camera_pose_at
from telemetry.records import VehicleState

MODEL = __file__  # any existing file: the config only checks that the model path exists


def camera(**kw) -> CameraConfig:
    return CameraConfig(id="cam", vehicle_id="v1", source="video.mp4", model_path=MODEL, mount_pitch_deg=-30.0,
                        mount_yaw_deg=5.0, **kw)


FLYING = dict(vehicle_id="v1", lat_deg=23.0, lon_deg=112.0, alt_rel_m=40.0, heading_deg=90.0)


@pytest.mark.parametrize("gimbal, reported, expected", [
    ("telemetry", dict(gimbal_pitch_deg=-60.0, gimbal_yaw_deg=10.0, gimbal_roll_deg=1.0), (-60.0, 10.0, 1.0)),
    ("telemetry", {}, (-30.0, 5.0, 0.0)),  # nothing reported yet: the mount angles
    ("fixed", dict(gimbal_pitch_deg=-60.0, gimbal_yaw_deg=10.0), (-30.0, 5.0, 0.0)),
])
def test_gimbal_angles_come_from_telemetry_or_the_mount(gimbal, reported, expected):
    pose = camera_pose_at(VehicleState(**FLYING, **reported), camera(gimbal=gimbal), 100.0)
    assert (pose.gimbal_pitch_deg, pose.gimbal_yaw_deg, pose.gimbal_roll_deg) == expected
    assert (pose.time_s, pose.lat_deg, pose.lon_deg, pose.alt_m, pose.heading_deg) == (100.0, 23.0, 112.0, 40.0, 90.0)
