"""The density estimate for packed views: the switch-over rule, a density-map model given by path (here a small
OpenVINO model built by the test: people are 4x4 red squares), its count, blobs and uncertainty, and the pipeline
taking the count from it (and recording so) only when the view is packed."""
import numpy as np
import pytest

from vision.camera import CameraModel
from vision.density import DensityConfig, DensityEstimator, density_estimate, is_packed
from vision.detector import DetectionSet
from vision.errors import ModelError, ModelNotFoundError
from vision.pipeline import GeoConfig, StreamPipeline
from vision.pose import VehiclePose
from vision.records import Detection
from vision.sources import Frame


def packed_boxes(n):
    """n people in a row, each box overlapping the next."""
    return tuple(Detection(10.0 + 6 * i, 100.0, 20.0 + 6 * i, 130.0, 0.5) for i in range(n))


def spread_boxes(n):
    return tuple(Detection(10.0 + 30 * i, 100.0, 20.0 + 30 * i, 130.0, 0.5) for i in range(n))


def test_switch_over_only_for_many_touching_people():
    assert is_packed(packed_boxes(20), min_people=15)
    assert not is_packed(packed_boxes(10), min_people=15)  # too few to matter
    assert not is_packed(spread_boxes(40), min_people=15)  # many, but each one separate: boxes are credible
    mixed = packed_boxes(10) + tuple(Detection(600.0 + 30 * i, 400.0, 610.0 + 30 * i, 430.0, 0.5) for i in range(10))
    assert is_packed(mixed, min_people=15, packed_fraction=0.5) and not is_packed(mixed, 15, packed_fraction=0.6)


@pytest.fixture(scope="module")
def square_counter(tmp_path_factory):
    """A density model by path: the red channel summed over 8x8 cells, a 4x4 red square counting as one."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 3, -1, -1], np.float32, name="image")
    red = ops.slice(x, np.array([0, 0]), np.array([1, 1]), np.array([1, 1]), np.array([0, 1]))
    pooled = ops.avg_pool(red, [8, 8], [0, 0], [0, 0], [8, 8], exclude_pad=True, rounding_type="floor")
    model = ov.Model([ops.multiply(pooled, np.array(64 / 16, np.float32))], [x], "squares")
    path = tmp_path_factory.mktemp("density") / "squares.xml"
    ov.save_model(model, str(path))
    return path


def crowd_image(groups, size=(240, 320)):
    """A BGR image with red 4x4 squares: ``groups`` is a list of (x, y, n) blocks of n squares in a row."""
    image = np.zeros((*size, 3), np.uint8)
    for x, y, n in groups:
        for i in range(n):
            image[y : y + 4, x + 8 * i : x + 8 * i + 4, 2] = 255
    return image


def config(path, **kw):
    return DensityConfig(path, input_scale=1.0, mean_rgb=(0, 0, 0), std_rgb=(1, 1, 1), **kw)


def test_density_model_counts_people_per_blob(square_counter):
    est = DensityEstimator(config(square_counter, relative_sigma=0.1)).estimate(crowd_image([(16, 16, 12), (200, 160, 5)]))
    assert est.count == pytest.approx(17.0, abs=0.01)
    assert est.sigma == pytest.approx(np.sqrt((0.1 * 17) ** 2 + 17), rel=1e-3)
    assert [round(b.count) for b in est.blobs] == [12, 5]
    big = est.blobs[0]
    assert 16 < big.x_px < 16 + 8 * 12 and 10 < big.y_px < 30


def test_density_map_with_nobody_is_zero():
    est = density_estimate(np.zeros((30, 40), np.float32), 320, 240, 0.15)
    assert (est.count, est.sigma, est.blobs) == (0.0, 0.0, ())


def test_density_model_by_path_is_checked(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nowhere.xml"):
        DensityEstimator(DensityConfig(tmp_path / "nowhere.xml"))
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"x")
    with pytest.raises(ModelError, match="model.pt"):
        DensityEstimator(DensityConfig(bogus))
    broken = tmp_path / "broken.xml"
    broken.write_text("<net>")
    with pytest.raises(ModelError, match="broken.xml"):
        DensityEstimator(DensityConfig(broken))


class StubDetector:
    """Returns fixed boxes: what matters here is what the pipeline does with them."""

    def __init__(self, detections):
        from vision.detector import DetectorConfig

        self.detections = detections
        self.config = DetectorConfig(tiling="grid")
        self.version = "stub"

    def detect(self, image, tiles="off", expected_person_px=None, person_px_by_row=None):
        return DetectionSet(self.detections, (1, 1))


def run_pipeline(square_counter, detections, image):
    camera = CameraModel.from_hfov(320, 240, 60.0)
    pipe = StreamPipeline("s", "d1", StubDetector(detections), None, GeoConfig(camera, crowd_min_people=3), "auto",
                          DensityEstimator(config(square_counter)))
    pipe.add_pose(VehiclePose(0.0, 22.05, 112.46, 30.0, 0.0, gimbal_pitch_deg=-60.0))
    pipe.add_pose(VehiclePose(1.0, 22.05, 112.46, 30.0, 0.0, gimbal_pitch_deg=-60.0))
    return pipe.process(Frame(image, 0, 0.5))


def test_packed_view_is_counted_by_the_density_model_and_says_so(square_counter):
    image = crowd_image([(16, 120, 30)])  # 30 people shoulder to shoulder; the detector found 18 of them
    result, crowds = run_pipeline(square_counter, packed_boxes(18), image)
    assert result.count_in_view == 18 and result.count_method == "density"
    assert result.count_estimate == pytest.approx(30.0, abs=0.01) and result.count_sigma > 0
    assert len(crowds) == 1 and crowds[0].count_method == "density" and crowds[0].count == 30
    assert crowds[0].count_estimate == pytest.approx(30.0, abs=0.01) and crowds[0].radius_m > 0


def test_separate_people_keep_the_detector_count(square_counter):
    image = crowd_image([(16, 120, 30)])
    result, _ = run_pipeline(square_counter, spread_boxes(8), image)
    assert result.count_method == "detections" and result.count_in_view == 8
    assert result.count_estimate is not None and result.count_sigma > 0
