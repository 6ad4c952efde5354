"""Tile geometry, the tiling decision and the merging of tile detections."""
import numpy as np
import pytest

from vision.tiling import Tile, grid_for_person_size, letterbox, letterbox_shape, merge_detections, tile_grid


def test_letterbox_shape_keeps_aspect_and_stride():
    assert letterbox_shape(1920, 1080, 1280) == (1280, 736, pytest.approx(2 / 3))
    assert letterbox_shape(480, 360, 640) == (640, 480, pytest.approx(4 / 3))


def test_letterbox_pads_right_and_bottom():
    img = np.zeros((100, 200, 3), np.uint8)
    out, lb = letterbox(img, 320, 192)
    assert out.shape == (192, 320, 3) and lb.scale == pytest.approx(1.6)
    assert (out[160:, :] == 114).all() and (out[:160, :] == 0).all()


@pytest.mark.parametrize("rows,cols,overlap", [(1, 1, 0.2), (2, 3, 0.25), (3, 4, 0.2), (4, 4, 0.0)])
def test_tiles_cover_the_frame_with_overlap(rows, cols, overlap):
    tiles = tile_grid(1920, 1080, rows, cols, overlap)
    assert len(tiles) == rows * cols
    covered = np.zeros((1080, 1920), bool)
    for t in tiles:
        covered[t.y0:t.y1, t.x0:t.x1] = True
        assert (t.x1 - t.x0, t.y1 - t.y0) == (tiles[0].x1 - tiles[0].x0, tiles[0].y1 - tiles[0].y0)
    assert covered.all()
    if cols > 1:
        w = tiles[0].x1 - tiles[0].x0
        assert tiles[0].x1 - tiles[1].x0 >= int(overlap * w) - 1


def test_bad_grids_are_refused():
    with pytest.raises(ValueError):
        tile_grid(100, 100, 0, 2, 0.2)
    with pytest.raises(ValueError):
        tile_grid(100, 100, 2, 2, 1.0)


def test_grid_decision_from_person_size():
    # 100 px people in a 1920 frame at imgsz 640 are 33 px at the input: no tiles
    assert grid_for_person_size(100, 1920, 1080, 640, 32) == (1, 1)
    # 20 px people are 6.7 px at the input: the biggest grid allowed
    assert grid_for_person_size(20, 1920, 1080, 640, 32, max_cols=4) == (3, 4)
    # 60 px people: 20 px at input, need 1.6x: a 2-column grid
    assert grid_for_person_size(60, 1920, 1080, 640, 32) == (2, 2)
    # portrait frames get more rows than columns
    rows, cols = grid_for_person_size(20, 1080, 1920, 640, 32)
    assert rows > cols


def test_one_person_on_a_seam_is_counted_once():
    tiles = (Tile(0, 0, 600, 600), Tile(400, 0, 1000, 600))
    boxes = np.array([
        [380, 100, 420, 200],   # whole, seen by tile 0
        [400, 100, 420, 200],   # the same person cut by tile 1's left edge (a fragment)
        [385, 102, 421, 199],   # the same person whole in the full-frame pass
        [800, 300, 830, 380],   # somebody else, tile 1 only
    ], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.7], np.float32)
    src = np.array([0, 1, -1, 1])
    keep = merge_detections(boxes, scores, src, tiles, 1000, 600)
    assert len(keep) == 2
    assert 3 in keep


def test_two_people_close_together_are_both_kept():
    tiles = (Tile(0, 0, 600, 600), Tile(400, 0, 1000, 600))
    boxes = np.array([[300, 100, 330, 180], [335, 100, 365, 180]], np.float32)
    keep = merge_detections(boxes, np.array([0.8, 0.7], np.float32), np.array([0, 0]), tiles, 1000, 600)
    assert sorted(keep.tolist()) == [0, 1]


def test_merge_of_nothing():
    assert len(merge_detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0), (), 10, 10)) == 0


def test_letterbox_into_a_buffer_equals_letterbox():
    import numpy as np

    from vision.tiling import letterbox, letterbox_into

    rng = np.random.default_rng(1)
    for (h, w), (out_w, out_h) in [((1080, 1920), (1280, 736)), ((360, 480), (640, 480)), ((500, 300), (640, 640))]:
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        want, want_lb = letterbox(image, out_w, out_h)
        buffer = np.zeros((out_h, out_w, 3), np.uint8)  # e.g. a request's input tensor, reused
        buffer[:] = 7  # stale content from a previous frame is overwritten, padding included
        assert letterbox_into(image, buffer) == want_lb
        assert np.array_equal(buffer, want)


# --- bands planned from the camera model and pose -------------------------------------------------------

from vision.camera import CameraModel, CameraPose, person_size_by_row  # noqa: E402
from vision.tiling import PlannedTile, TilePlan, merge_planned, plan_bands, snap_scale, uniform_plan  # noqa: E402

CAM = CameraModel.from_hfov(1920, 1080, 84.0)


def plan_for(alt_m, pitch_deg, target=32.0, floor=8.0, max_scale=1.0):
    sizes = person_size_by_row(CAM, CameraPose(22.0, 112.0, alt_m, 0.0, pitch_deg))
    return sizes, plan_bands(1920, 1080, sizes, target, floor, max_scale)


def owned_rows(plan):
    rows = []
    for t in plan.tiles:
        rows.extend(range(t.own_y0, t.own_y1))
    return rows


@pytest.mark.parametrize("alt_m,pitch_deg", [(10.0, -14.0), (20.0, -30.0), (40.0, -45.0), (50.0, -90.0), (8.0, -60.0)])
def test_bands_own_every_row_where_people_are_big_enough_once(alt_m, pitch_deg):
    sizes, plan = plan_for(alt_m, pitch_deg)
    want = [v for v in range(1080) if np.isfinite(sizes[v]) and sizes[v] >= 8.0]
    rows = owned_rows(plan)
    assert sorted(rows) == list(range(want[0], 1080))  # contiguous from the first usable row to the bottom
    assert len(rows) == len(set(rows))  # no row owned twice
    assert plan.skipped_rows == want[0]
    for t in plan.tiles:
        assert 0 <= t.y0 <= t.own_y0 < t.own_y1 <= t.y1 <= 1080 and (t.x0, t.x1) == (0, 1920)
        assert 0 < t.scale <= 1.0  # never upscaled
        w, h = t.input_size()
        assert w % 32 == 0 and h % 32 == 0


def test_oblique_view_skips_the_sky_and_the_far_band():
    sizes, plan = plan_for(10.0, -14.0)  # a low oblique view: horizon about a quarter down the frame
    horizon = int(np.flatnonzero(np.isfinite(sizes))[0])
    assert 250 < horizon < 300
    first_owned = plan.tiles[0].own_y0
    assert first_owned > horizon  # the rows just below the horizon hold people under 8 px: skipped too
    assert sizes[first_owned] >= 8.0 > sizes[first_owned - 1]
    # far people at full resolution, near people shrunk, towards the target size
    assert plan.tiles[0].scale == 1.0 and plan.tiles[-1].scale < 1.0
    assert plan.input_pixels() < 0.6 * 1920 * 1088  # much cheaper than the full frame at full resolution


def test_crop_reaches_up_a_person_height_above_its_owned_rows():
    sizes, plan = plan_for(10.0, -14.0)
    for t in plan.tiles:
        top_person = sizes[t.own_y0]
        assert t.y0 <= t.own_y0 - top_person  # the head of whoever stands on the band's top row is inside


def test_high_altitude_looks_only_where_people_reach_the_floor():
    sizes, plan = plan_for(120.0, -30.0)
    assert plan.tiles and plan.skipped_rows > 500
    _, nothing = plan_for(400.0, -20.0)
    assert nothing.tiles == () and nothing.skipped_rows == 1080  # everyone under 8 px: nothing to look at


def test_nadir_view_runs_the_whole_frame_at_full_resolution():
    _, plan = plan_for(50.0, -90.0)  # people 11-19 px from above
    assert [(t.y0, t.y1, t.scale) for t in plan.tiles] == [(0, 1080, 1.0)]


def test_close_view_is_shrunk_instead_of_tiled():
    sizes, plan = plan_for(8.0, -60.0)
    assert np.nanmin(sizes) > 64
    assert all(t.scale <= 0.5 for t in plan.tiles)
    assert plan.input_pixels() < 0.25 * 1920 * 1088


def test_scales_snap_down_the_ladder_and_never_above_the_limit():
    assert snap_scale(3.0) == 1.0
    assert snap_scale(0.9) == 0.75
    assert snap_scale(0.5) == 0.5
    assert snap_scale(0.01) == 0.125
    assert snap_scale(1.5, max_scale=2.0) == 1.0
    assert snap_scale(2.5, max_scale=2.0) == 2.0


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="one value per row"):
        plan_bands(1920, 1080, np.ones(100), 32, 8)
    with pytest.raises(ValueError):
        plan_bands(1920, 1080, np.ones(1080), 0, 8)


def test_uniform_plan_is_the_whole_frame():
    plan = uniform_plan(1920, 1080)
    assert plan.tiles == (PlannedTile(0, 0, 1920, 1080, 1.0, 0, 1080),) and plan.source == "uniform"
    assert plan.tiles[0].input_size() == (1920, 1088)


BANDS = TilePlan((PlannedTile(0, 0, 1000, 500, 1.0, 0, 400), PlannedTile(0, 300, 1000, 1000, 0.5, 400, 1000)), 1000, 1000)


def test_person_on_a_band_edge_is_counted_once():
    boxes = np.array([
        [100, 340, 130, 430],   # standing across the edge (feet at 430): whole in band 1, which owns row 430
        [100, 340, 130, 430],   # the same person, seen whole by band 0 too (its crop reaches row 500)
        [500, 420, 520, 500],   # someone else cut by band 0's bottom edge (box ends at 500): a fragment
        [498, 421, 522, 560],   # that person whole in band 1
        [700, 100, 720, 150],   # far away, band 0 only
    ], np.float32)
    scores = np.array([0.8, 0.7, 0.6, 0.9, 0.5], np.float32)
    tile_of = np.array([1, 0, 0, 1, 0])
    keep = merge_planned(boxes, scores, tile_of, BANDS)
    assert sorted(keep.tolist()) == [0, 3, 4]


def test_band_merge_keeps_neighbours_and_dedups_another_pass():
    boxes = np.array([
        [100, 300, 120, 350], [122, 300, 142, 350],  # two people side by side, band 0
        [101, 301, 121, 351],                          # the first of them again, from a full-frame pass (-1)
    ], np.float32)
    keep = merge_planned(boxes, np.array([0.6, 0.6, 0.7], np.float32), np.array([0, 0, -1]), BANDS)
    assert sorted(keep.tolist()) == [1, 2]
    assert len(merge_planned(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int), BANDS)) == 0
