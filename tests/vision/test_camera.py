"""Camera geometry against hand-computed cases."""
import math

import numpy as np
import pytest

from vision.camera import (
    CameraModel,
    CameraPose,
    PoseErrors,
    enu_to_pixels,
    expected_person_height_px,
    person_size_by_row,
    pixels_to_ground,
    seen_area,
)
from missions.geo import latlon_to_enu

CAM = CameraModel.from_hfov(1920, 1080, 84.0)
LAT, LON = 22.05, 112.46


def enu(points):
    return latlon_to_enu(LAT, LON, points.lat_deg, points.lon_deg)


def test_nadir_at_50m_sees_a_90m_strip():
    g = pixels_to_ground(CAM, CameraPose(LAT, LON, 50.0, 0.0, -90.0), [(0, 540), (1920, 540)])
    e, n = enu(g)
    assert e[1] - e[0] == pytest.approx(2 * 50 * math.tan(math.radians(42)), abs=0.01)  # 90.04 m
    assert n == pytest.approx([0, 0], abs=1e-6)


def test_45_degree_pitch_puts_the_centre_50m_ahead_in_the_heading_direction():
    for yaw, (de, dn) in [(0, (0, 50)), (90, (50, 0)), (180, (0, -50)), (270, (-50, 0))]:
        g = pixels_to_ground(CAM, CameraPose(LAT, LON, 50.0, yaw, -45.0), [(960, 540)])
        e, n = enu(g)
        assert (e[0], n[0]) == pytest.approx((de, dn), abs=0.01)


def test_top_of_image_is_farther_and_right_is_right():
    pose = CameraPose(LAT, LON, 50.0, 0.0, -45.0)
    g = pixels_to_ground(CAM, pose, [(960, 300), (960, 800), (1500, 540)])
    e, n = enu(g)
    assert n[0] > 50 > n[1]
    assert e[2] > 0


def test_terrain_height_shortens_the_ray():
    pose = CameraPose(LAT, LON, 50.0, 0.0, -45.0)
    g = pixels_to_ground(CAM, pose, [(960, 540)], terrain=lambda lat, lon: np.full(np.shape(lat), 10.0))
    assert enu(g)[1][0] == pytest.approx(40.0, abs=0.01)


def test_ray_above_horizon_is_invalid():
    g = pixels_to_ground(CAM, CameraPose(LAT, LON, 50.0, 0.0, 0.0), [(960, 100)])
    assert not g.valid[0] and np.isnan(g.lat_deg[0])


def test_uncertainty_grows_with_range_and_pitch_error():
    pose = CameraPose(LAT, LON, 50.0, 0.0, -30.0)
    g = pixels_to_ground(CAM, pose, [(960, 1000), (960, 540), (960, 300)])
    assert g.uncertainty_m[0] < g.uncertainty_m[1] < g.uncertainty_m[2]
    worse = pixels_to_ground(CAM, pose, [(960, 540)], PoseErrors(pitch_sigma_deg=3.0))
    assert worse.uncertainty_m[0] > g.uncertainty_m[1]
    # nadir: tilt error moves the point by h * sigma (plus the GPS error)
    nadir = pixels_to_ground(CAM, CameraPose(LAT, LON, 50.0, 0, -90), [(960, 540)], PoseErrors(1.0, 0.0, 0.0, 0.0))
    assert nadir.uncertainty_m[0] == pytest.approx(50 * math.radians(1.0), rel=1e-3)


def test_projection_round_trip():
    pose = CameraPose(LAT, LON, 40.0, 30.0, -50.0, 3.0)
    px = np.array([(100.0, 900.0), (1800.0, 200.0), (960.0, 540.0)])
    g = pixels_to_ground(CAM, pose, px)
    back = enu_to_pixels(CAM, pose, np.column_stack([g.east_m, g.north_m, np.zeros(3)]))
    assert back == pytest.approx(px, abs=1e-6)


def test_seen_area_of_a_nadir_view_is_the_footprint_less_its_margins():
    pose = CameraPose(LAT, LON, 20.0, 0.0, -90.0)
    area = seen_area(CAM, pose, min_person_px=16.0, margin_px=0.0)
    e, n = latlon_to_enu(LAT, LON, [p[0] for p in area], [p[1] for p in area])
    half_w, half_h = 20 * math.tan(math.radians(42)), 20 * (540 / CAM.fy_px)  # 36 x 20 m, clockwise from top-left
    # the top edge: the first row where a person standing there has their head inside the frame
    sizes = person_size_by_row(CAM, pose)
    top_row = int(np.flatnonzero(np.arange(1080) + 0.5 - sizes >= 0.0)[0])
    top = 20 * ((540 - top_row - 0.5) / CAM.fy_px)
    assert 0.9 * half_h < top < half_h
    assert np.column_stack([e, n]).ravel() == pytest.approx(
        [-half_w, top, half_w, top, half_w, -half_h, -half_w, -half_h], abs=0.01
    )
    inset = seen_area(CAM, pose, min_person_px=16.0, margin_px=96.0)
    e2, _ = latlon_to_enu(LAT, LON, [p[0] for p in inset], [p[1] for p in inset])
    assert max(e2) == pytest.approx(half_w * (960 - 96) / 960, abs=0.01)


def test_seen_area_of_an_oblique_view_stops_where_people_get_too_small():
    pose = CameraPose(LAT, LON, 40.0, 0.0, -20.0)  # the horizon is in the frame
    sizes = person_size_by_row(CAM, pose)
    area = seen_area(CAM, pose, min_person_px=16.0, margin_px=16.0)
    assert len(area) == 4
    e, n = latlon_to_enu(LAT, LON, [p[0] for p in area], [p[1] for p in area])
    far_row = int(np.flatnonzero(sizes >= 16.0)[0])
    far = pixels_to_ground(CAM, pose, [(960, far_row + 0.5)])
    assert max(n) == pytest.approx(float(enu(far)[1][0]), rel=0.01), "the far edge: a person there is 16 px tall"
    assert seen_area(CAM, pose, min_person_px=2000.0) == (), "nowhere are people that large"
    assert seen_area(CAM, CameraPose(LAT, LON, 40.0, 0.0, 10.0)) == (), "looking above the horizon"


def test_expected_person_size_shrinks_with_altitude():
    low = expected_person_height_px(CAM, CameraPose(LAT, LON, 20.0, 0.0, -45.0))
    high = expected_person_height_px(CAM, CameraPose(LAT, LON, 80.0, 0.0, -45.0))
    assert low == pytest.approx(4 * high, rel=0.05)  # not exact: perspective over 1.7 m
    # at 45 degrees, 1.7 m upright at slant range 50*sqrt(2) m: about f * 1.7 * cos45 / range
    mid = expected_person_height_px(CAM, CameraPose(LAT, LON, 50.0, 0.0, -45.0))
    assert mid == pytest.approx(CAM.fx_px * 1.7 * math.cos(math.radians(45)) / (50 * math.sqrt(2)), rel=0.05)
    assert expected_person_height_px(CAM, CameraPose(LAT, LON, 50.0, 0.0, 10.0)) is None


def test_person_size_by_row_matches_the_centre_estimate_and_grows_towards_the_camera():
    from vision.camera import person_size_by_row

    pose = CameraPose(LAT, LON, 30.0, 0.0, -40.0)
    sizes = person_size_by_row(CAM, pose, columns=(0.5,))
    assert sizes[540] == pytest.approx(expected_person_height_px(CAM, pose), rel=0.02)
    shallow = person_size_by_row(CAM, CameraPose(LAT, LON, 30.0, 0.0, -25.0), columns=(0.5,))
    assert np.all(np.diff(shallow[300:]) > 0)  # nearer rows (lower in the frame) show bigger people
    # a view reaching over the horizon: no size above it
    rows = person_size_by_row(CAM, CameraPose(LAT, LON, 10.0, 0.0, -10.0))
    assert np.isnan(rows[0]) and np.isfinite(rows[-1])
    # a rolled camera: one side of each row is further away; the row plans for the smaller people there
    rolled = CameraPose(LAT, LON, 10.0, 0.0, -20.0, 10.0)
    assert person_size_by_row(CAM, rolled)[800] < person_size_by_row(CAM, rolled, columns=(0.5,))[800]


def test_a_landed_camera_below_head_height_gives_no_person_size():
    """On a landed drone the camera is below a standing person's head: no size (None), never NaN."""
    from vision.camera import CameraModel, CameraPose, expected_person_height_px

    camera = CameraModel.from_hfov(1280, 720, 50.0)
    size = expected_person_height_px(camera, CameraPose(23.0, 112.0, 0.3, 0.0, -90.0))
    assert size is None
