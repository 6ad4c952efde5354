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
