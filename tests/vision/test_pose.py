"""Pose interpolation at frame capture time."""
import pytest

from vision.pose import PoseHistory, VehiclePose


def pose(t, lat=22.0, heading=0.0, alt=50.0, pitch=-60.0):
    return VehiclePose(t, lat, 112.0, alt, heading, gimbal_pitch_deg=pitch)


def test_interpolates_between_samples():
    h = PoseHistory()
    h.add(pose(10.0, lat=22.0, alt=40.0, pitch=-60.0))
    h.add(pose(11.0, lat=22.001, alt=50.0, pitch=-40.0))
    p = h.at(10.25)
    assert p.time_s == 10.25
    assert p.lat_deg == pytest.approx(22.00025)
    assert p.alt_m == pytest.approx(42.5)
    assert p.gimbal_pitch_deg == pytest.approx(-55.0)


def test_heading_interpolates_the_short_way_round():
    h = PoseHistory()
    h.add(pose(0.0, heading=350.0))
    h.add(pose(1.0, heading=10.0))
    assert h.at(0.5).heading_deg == pytest.approx(0.0, abs=1e-9) or h.at(0.5).heading_deg == pytest.approx(360.0)
    assert h.at(0.75).heading_deg == pytest.approx(5.0)


def test_out_of_order_samples_are_sorted():
    h = PoseHistory()
    h.add(pose(2.0, alt=20.0))
    h.add(pose(0.0, alt=0.0))
    assert h.at(1.0).alt_m == pytest.approx(10.0)


@pytest.mark.parametrize("t", [5.0, -3.0, 1.5])
def test_no_pose_outside_the_samples_or_across_a_gap(t):
    h = PoseHistory(max_gap_s=2.0, max_extrapolation_s=0.5)
    h.add(pose(0.0))
    h.add(pose(1.0))
    h.add(pose(4.0))  # 3 s gap from 1.0 to 4.0
    assert h.at(t) is None


def test_empty_history_and_short_extrapolation():
    h = PoseHistory(max_extrapolation_s=0.5)
    assert h.at(0.0) is None
    h.add(pose(1.0))
    assert h.at(1.3).lat_deg == 22.0
    assert h.at(2.0) is None


def test_broken_sample_is_ignored():
    h = PoseHistory()
    h.add(pose(float("nan")))
    assert len(h) == 0


def test_camera_pose_adds_gimbal_yaw_to_heading():
    p = VehiclePose(0.0, 22.0, 112.0, 30.0, 350.0, gimbal_pitch_deg=-45.0, gimbal_yaw_deg=20.0)
    cam = p.camera_pose()
    assert cam.yaw_deg == pytest.approx(10.0)
    assert cam.pitch_deg == -45.0 and cam.alt_m == 30.0
