"""Camera footprint geometry against hand-computed values."""
import math

import pytest

from missions.camera import Camera, footprint, line_spacing_m
from missions.errors import PlanError

# (hfov, vfov, alt, pitch) -> (near_m, far_m, near_width_m, centre_width_m), each worked out by hand:
# nadir: width = 2 h tan(hfov/2), along-track extent +-h tan(vfov/2);
# oblique: a ray d deg below the horizon lands h/tan(d) ahead, slant range h/sin(d).
CASES = [
    ((84, 66, 50, -90), (-50 * math.tan(math.radians(33)), 50 * math.tan(math.radians(33)), 90.04, 90.04)),
    ((90, 90, 100, -90), (-100.0, 100.0, 200.0, 200.0)),
    ((60, 40, 30, -90), (-30 * math.tan(math.radians(20)), 30 * math.tan(math.radians(20)), 2 * 30 * math.tan(math.radians(30)), 2 * 30 * math.tan(math.radians(30)))),
    # 45 deg down, vfov 66: rows at 78 and 12 deg below the horizon
    ((84, 66, 50, -45), (50 / math.tan(math.radians(78)), 50 / math.tan(math.radians(12)), None, 2 * 50 / math.sin(math.radians(45)) * math.tan(math.radians(42)))),
    # 60 deg down, vfov 40: rows at 80 and 40 deg
    ((50, 40, 80, -60), (80 / math.tan(math.radians(80)), 80 / math.tan(math.radians(40)), None, 2 * 80 / math.sin(math.radians(60)) * math.tan(math.radians(25)))),
]


@pytest.mark.parametrize("args,expected", CASES)
def test_footprint_matches_hand_computation(args, expected):
    hfov, vfov, alt, pitch = args
    fp = footprint(Camera(hfov, vfov), alt, pitch)
    near, far, near_w, centre_w = expected
    assert fp.near_m == pytest.approx(near, abs=0.01)
    assert fp.far_m == pytest.approx(far, abs=0.01)
    if near_w is not None:
        assert fp.near_width_m == pytest.approx(near_w, abs=0.01)
    assert fp.centre_width_m == pytest.approx(centre_w, abs=0.01)


def test_nadir_50m_84deg_is_90m_wide():
    fp = footprint(Camera(84, 66), 50, -90)
    assert fp.swath_width_m == pytest.approx(2 * 50 * math.tan(math.radians(42)), rel=1e-9)
    assert fp.swath_width_m == pytest.approx(90.0, abs=0.05)


def test_oblique_swath_is_the_narrow_near_edge():
    fp = footprint(Camera(84, 66), 50, -45)
    assert fp.near_width_m < fp.centre_width_m < fp.far_width_m
    assert fp.swath_width_m == fp.near_width_m
    # pinhole camera: the near row lies 50 / sin 78 away along its ray, i.e. at depth (50 / sin 78) cos 33
    # along the optical axis, and a row's half-width is its depth times tan(hfov / 2): 77.20 m in all
    depth = 50 / math.sin(math.radians(78)) * math.cos(math.radians(33))
    assert fp.near_width_m == pytest.approx(2 * depth * math.tan(math.radians(42)), abs=0.01)
    assert fp.near_width_m == pytest.approx(77.20, abs=0.01)


def test_line_spacing_applies_side_overlap():
    assert line_spacing_m(Camera(84, 66), 50, -90, 0.25) == pytest.approx(0.75 * 90.04, abs=0.01)


@pytest.mark.parametrize("camera,alt,pitch,overlap,match", [
    (Camera(84, 66), 50, -10, 0.2, "horizon"),
    (Camera(84, 66), 0, -90, 0.2, "altitude"),
    (Camera(84, 66), 50, 10, 0.2, "gimbal pitch"),
    (Camera(84, 66), 50, -90, 1.0, "overlap"),
    (Camera(84, 66), 50, -90, -0.1, "overlap"),
])
def test_bad_camera_geometry_is_refused(camera, alt, pitch, overlap, match):
    with pytest.raises(PlanError, match=match):
        line_spacing_m(camera, alt, pitch, overlap)


def test_bad_field_of_view():
    with pytest.raises(PlanError, match="hfov"):
        Camera(0, 66)
