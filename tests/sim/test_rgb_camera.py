"""The simulated RGB camera (sim/rgb_camera.py): people drawn where and as large as the pinhole camera puts them,
nearer people hiding farther ones, the ground's surfaces where they lie, the sky above the horizon. The expected
pixels come from this test's own projection, not from the simulator's code; the appearances are plain test
sprites (no footage needed)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from sim.appearance import Sprite
from sim.ground import SURFACES, Area, Orthophoto, build_ground
from sim.pinhole import CameraModel, CameraPose
from sim.rgb_camera import SKY_RGB, Figure, render

CAMERA = CameraModel(640, 360, 6.17, 6.17 * 360 / 640, 6.17 / (2 * math.tan(math.radians(25.0))))   # 50° wide
F_PX = 320 / math.tan(math.radians(25.0))
RED = Sprite(Image.new("RGBA", (20, 50), (230, 20, 20, 255)), "test#red")
BLUE = Sprite(Image.new("RGBA", (20, 50), (20, 20, 230, 255)), "test#blue")


def project(cam_ned, yaw_deg, pitch_deg, point_ned):
    """(u, v) continuous pixel coordinates (pixel centres at +0.5) of a NED point; None behind the camera."""
    d = np.subtract(point_ned, cam_ned)
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    fwd = np.array([math.cos(p) * math.cos(y), math.cos(p) * math.sin(y), -math.sin(p)])
    right = np.array([-math.sin(y), math.cos(y), 0.0])
    down = np.cross(fwd, right)
    x = d @ fwd
    if x <= 0:
        return None
    return 320 + F_PX * (d @ right) / x, 180 + F_PX * (d @ down) / x


@pytest.fixture(scope="module")
def ground():
    return build_ground((-60.0, -60.0, 60.0, 60.0), (Area("grass", ((-5.0, 20.0), (5.0, 20.0), (5.0, 30.0),
                                                                      (-5.0, 30.0))),), background="concrete")


def test_a_person_is_drawn_where_the_camera_sees_them_and_as_tall(ground):
    pose = CameraPose(0.0, 0.0, 20.0, 0.0, -45.0)                     # 20 m up, looking north, 45° down
    person = Figure(1, 20.0, 2.0, 1.7, appearance=0)
    frame, (seen,) = render(ground, (person,), pose, CAMERA, (RED,), truth=True)
    uf, vf = project((0, 0, -20), 0.0, -45.0, (20.0, 2.0, 0.0))
    uh, vh = project((0, 0, -20), 0.0, -45.0, (20.0, 2.0, -1.7))
    x0, y0, x1, y1 = seen.box_px
    assert x0 < (uf + uh) / 2 < x1
    width = F_PX * 0.5 / math.dist((0, 0, -20), (20.0, 2.0, -0.85)) * math.cos(math.radians(0))   # >= 0.5 m wide
    depth = width * math.sin(math.atan2(20.0 - 0.85, 20.0))                                       # top-view depth
    assert y0 == pytest.approx(vh - depth / 2, abs=1.5) and y1 == pytest.approx(vf + depth / 2, abs=1.5)
    assert seen.height_px == pytest.approx(vf - vh + depth, abs=2.0) and seen.visible_fraction == 1.0
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60)
    rows, cols = np.nonzero(red)
    assert red.sum() > 0.6 * (x1 - x0) * (y1 - y0)                   # the sprite fills its box...
    assert rows.min() >= y0 - 1 and rows.max() <= y1 + 1 and cols.min() >= x0 - 1 and cols.max() <= x1 + 1   # ...only


def test_twice_as_far_is_half_as_tall_and_behind_the_camera_is_not_drawn(ground):
    pose = CameraPose(0.0, 0.0, 1.7, 0.0, 0.0)                        # eye height, level
    near, far, behind = Figure(1, 10.0, 0.0, 1.7, 0), Figure(2, 20.0, 3.0, 1.7, 0), Figure(3, -10.0, 0.0, 1.7, 0)
    _, seen = render(ground, (near, far, behind), pose, CAMERA, (RED,), truth=True)
    heights = {v.person_id: v.height_px for v in seen}
    assert set(heights) == {1, 2}
    assert heights[1] / heights[2] == pytest.approx(2.0, rel=0.08)


def test_nearer_people_hide_farther_ones(ground):
    pose = CameraPose(0.0, 0.0, 10.0, 0.0, -20.0)
    near, far = Figure(1, 20.0, 0.0, 1.7, 0), Figure(2, 21.0, 0.1, 1.7, 1)
    frame, seen = render(ground, (far, near), pose, CAMERA, (RED, BLUE), truth=True)
    visible = {v.person_id: v.visible_fraction for v in seen}
    assert visible[1] == 1.0 and visible[2] < 0.5
    x0, y0, x1, y1 = next(v for v in seen if v.person_id == 1).box_px
    centre = frame[int((y0 + y1) / 2), int((x0 + x1) / 2)]
    assert centre[0] > 200 and centre[2] < 60, "the nearer (red) person is drawn over the farther (blue) one"


def test_people_out_of_the_frame_are_not_in_view(ground):
    pose = CameraPose(0.0, 0.0, 20.0, 0.0, -45.0)
    aside = Figure(1, 20.0, 40.0, 1.7, 0)                              # far to the right of the field of view
    half = Figure(2, 20.0, 9.5, 1.7, 0)                                # cut by the right edge
    _, seen = render(ground, (aside, half), pose, CAMERA, (RED,), truth=True)
    assert [v.person_id for v in seen] in ([], [2])
    for v in seen:
        assert v.box_px[2] <= 640


def test_the_ground_shows_each_surface_where_it_lies_and_the_sky_above_the_horizon(ground):
    down = CameraPose(25.0, 0.0, 30.0, 0.0, -90.0)                    # straight down over the grass square
    frame, _ = render(ground, (), down, CAMERA, (RED,))
    centre = frame[170:190, 310:330].reshape(-1, 3).mean(axis=0)
    grass, concrete = np.array(SURFACES["grass"].rgb), np.array(SURFACES["concrete"].rgb)
    assert np.abs(centre - grass).max() < 25
    u, v = project((25.0, 0.0, -30.0), 0.0, -90.0, (25.0, 9.0, 0.0))   # 9 m east of the camera: concrete
    patch = frame[int(v) - 3:int(v) + 3, int(u) - 3:int(u) + 3].reshape(-1, 3).mean(axis=0)
    assert np.abs(patch - concrete).max() < 25
    level, _ = render(ground, (), CameraPose(0.0, 0.0, 5.0, 0.0, 0.0), CAMERA, (RED,))
    assert (level[:150] == SKY_RGB).all(axis=-1).mean() > 0.99      # above the horizon: sky
    assert not (level[200:] == SKY_RGB).all(axis=-1).any()          # below it: ground


def test_an_orthophoto_replaces_the_texture_where_it_covers_the_map(tmp_path):
    photo = tmp_path / "ortho.png"
    Image.new("RGB", (100, 100), (250, 0, 250)).save(photo)          # 10 m x 10 m of magenta at 0.1 m/px
    g = build_ground((-30.0, -30.0, 30.0, 30.0), (), orthophoto=Orthophoto(photo, (-5.0, 5.0), 0.1))
    frame, _ = render(g, (), CameraPose(0.0, 0.0, 20.0, 0.0, -90.0), CAMERA, (RED,))
    assert tuple(frame[180, 320]) == pytest.approx((250, 0, 250), abs=12)
    assert frame[5, 5][1] > 100, "outside the photo, the procedural ground"
    assert g.surface_at(0.0, 0.0) == "concrete"                       # the surfaces (temperatures) stay
