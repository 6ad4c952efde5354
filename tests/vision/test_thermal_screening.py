"""Person screening on thermal frames rendered here, independently, with the documented model: known skin
temperatures come back within their uncertainty, the fevered one is flagged, and everyone who cannot be
measured is reported unmeasured with the reason, never as normal."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vision.camera import CameraModel, CameraPose, enu_to_pixels, pixel_rays
from missions.geo import enu_to_latlon, latlon_to_enu
from vision.records import Detection
from vision.thermal import (
    PersonToScreen,
    Radiometry,
    ScreeningConfig,
    ThermalFrame,
    ThermalFrameError,
    UnmeasuredReason,
    Verdict,
    read_flir_jpeg,
    screen_detections,
    screen_people,
    skin_temperature_c,
)

LAT, LON = 22.05, 112.46
THERMAL = CameraModel.from_hfov(640, 512, 30.0)
RGB = CameraModel.from_hfov(1920, 1080, 70.0)
AMBIENT_C = 15.0  # a cool evening: uncorrected, the fevered head would read below the threshold
GROUND_C, CLOTHES_C = 18.0, 22.0
ALPHA, EPS = 0.0015, 0.98
CONFIG = ScreeningConfig(ambient_c=AMBIENT_C)
XTR = Path(__file__).resolve().parents[1] / "data" / "thermal" / "zenmuse_xtr.jpg"


@dataclass(frozen=True)
class Body:
    """A person in the rendered scene: east/north metres from the camera, height, true skin temperature."""

    name: str
    east_m: float
    north_m: float
    skin_c: float = 34.5
    height_m: float = 1.7

    def to_screen(self, pose: CameraPose) -> PersonToScreen:
        lat, lon = enu_to_latlon(pose.lat_deg, pose.lon_deg, self.east_m, self.north_m)
        return PersonToScreen(self.name, float(lat), float(lon), self.height_m)


def observed_c(skin_c: float, distance_m, ambient_c: float = AMBIENT_C):
    """The documented model, written out here on its own: what the camera sees of skin at a distance."""
    tau = np.exp(-ALPHA * np.asarray(distance_m))
    return tau * (EPS * skin_c + (1 - EPS) * ambient_c) + (1 - tau) * ambient_c


def render(camera: CameraModel, pose: CameraPose, bodies, noise_c: float = 0.05, seed: int = 0) -> ThermalFrame:
    """Ray-cast the scene: flat ground, each person a body cylinder (r 0.2 m) under a head sphere (r 0.11 m)."""
    h, w = camera.height_px, camera.width_px
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays = pixel_rays(camera, pose, np.column_stack([u.ravel(), v.ravel()]))
    origin = np.array([0.0, 0.0, pose.alt_m])
    hit_t = np.where(rays[:, 2] < 0, pose.alt_m / np.maximum(-rays[:, 2], 1e-12), np.inf)
    temps = np.full(len(rays), GROUND_C)
    for body in bodies:
        head = np.array([body.east_m, body.north_m, body.height_m - 0.12])
        oc = origin - head
        b = rays @ oc
        disc = b**2 - (oc @ oc - 0.11**2)
        t_head = np.where(disc >= 0, -b - np.sqrt(np.maximum(disc, 0)), np.inf)
        t_head = np.where(t_head > 0, t_head, np.inf)
        top = body.height_m - 0.23
        dxy, oxy = rays[:, :2], origin[:2] - head[:2]
        a = (dxy**2).sum(1)
        bb = 2 * dxy @ oxy
        cc = oxy @ oxy - 0.2**2
        dd = bb**2 - 4 * a * cc
        t_side = np.where(dd >= 0, (-bb - np.sqrt(np.maximum(dd, 0))) / np.maximum(2 * a, 1e-12), np.inf)
        z_side = origin[2] + t_side * rays[:, 2]
        t_side = np.where((t_side > 0) & (z_side >= 0) & (z_side <= top), t_side, np.inf)
        t_cap = np.where(rays[:, 2] < 0, (top - origin[2]) / np.where(rays[:, 2] < 0, rays[:, 2], -1.0), np.inf)
        cap_xy = origin[:2] + t_cap[:, None] * dxy
        t_cap = np.where(((cap_xy - head[:2]) ** 2).sum(1) <= 0.2**2, t_cap, np.inf)
        t_body = np.minimum(t_side, t_cap)
        head_wins = (t_head < hit_t) & (t_head <= t_body)
        body_wins = (t_body < hit_t) & (t_body < t_head)
        temps = np.where(head_wins, observed_c(body.skin_c, t_head), np.where(body_wins, CLOTHES_C, temps))
        hit_t = np.minimum(hit_t, np.minimum(t_head, t_body))
    temps = temps + np.random.default_rng(seed).normal(0.0, noise_c, len(temps))
    return ThermalFrame(temps.reshape(h, w).astype(np.float32), camera, pose, 100.0, "rendered")


OBLIQUE = CameraPose(LAT, LON, 35.0, 0.0, -60.0)  # looking north, the image centre meets the ground 20.2 m ahead
NADIR = CameraPose(LAT, LON, 30.0, 0.0, -90.0)
CROWD = (
    Body("fevered", 0.0, 20.0, 38.6),
    Body("a", -3.0, 18.5),
    Body("b", 3.0, 21.0),
    Body("c", 1.5, 24.0),
)
NADIR_CROWD = (Body("fevered", 0.0, 0.0, 38.6), Body("a", -4.0, 2.0), Body("b", 3.0, -3.0), Body("c", 2.0, 5.0))


@pytest.mark.parametrize("pose, bodies", [(OBLIQUE, CROWD), (NADIR, NADIR_CROWD)], ids=["oblique", "nadir"])
def test_known_skin_temperatures_come_back_and_the_fevered_one_is_flagged(pose, bodies):
    frame = render(THERMAL, pose, bodies)
    result = screen_people(frame, [b.to_screen(pose) for b in bodies], CONFIG)
    assert result.frame_problem is None and "Not a diagnosis" in result.notice
    for body, reading in zip(bodies, result.readings):
        assert reading.person_id == body.name
        assert reading.verdict is (Verdict.FEVER_HINT if body.skin_c >= 37.3 else Verdict.NO_FEVER), reading.detail
        assert abs(reading.skin_temp_c - body.skin_c) <= reading.uncertainty_c
        assert reading.skin_temp_c == pytest.approx(body.skin_c, abs=0.3)  # the inversion itself is exact
        assert reading.head_pixels >= CONFIG.min_head_pixels
    assert [r.person_id for r in result.fever_hints] == ["fevered"]


def test_the_distance_correction_is_what_flags_the_fever():
    frame = render(THERMAL, OBLIQUE, CROWD)
    fevered = screen_people(frame, [CROWD[0].to_screen(OBLIQUE)], CONFIG).readings[0]
    assert fevered.observed_temp_c < 37.3 <= fevered.skin_temp_c
    assert fevered.distance_m == pytest.approx(math.hypot(20.0, 35.0 - 1.58), abs=0.01)


@pytest.mark.parametrize("distance_m", [0.0, 10.0, 40.0, 120.0])
@pytest.mark.parametrize("skin_c", [30.0, 34.5, 38.6])
def test_inversion_undoes_the_model_and_uncertainty_grows_with_distance(distance_m, skin_c):
    t_s, u = skin_temperature_c(float(observed_c(skin_c, distance_m)), distance_m, CONFIG)
    assert t_s == pytest.approx(skin_c, abs=1e-9)
    assert u >= CONFIG.sensor_sigma_c / EPS
    farther = skin_temperature_c(float(observed_c(skin_c, distance_m + 50)), distance_m + 50, CONFIG)[1]
    assert farther > u


def test_uncertainty_formula():
    d = 40.0
    t_s, u = skin_temperature_c(float(observed_c(38.6, d)), d, CONFIG)
    g = math.exp(-ALPHA * d) * EPS
    contrast = t_s - AMBIENT_C
    terms = (2.0 / g, 1.0 * (1 - g) / g, 0.01 * contrast / EPS, 1.0 * ALPHA * contrast)  # sensor, air, eps, distance
    expected = math.sqrt(sum(t**2 for t in terms))
    assert u == pytest.approx(expected)


UNMEASURED = {
    # name: (camera pose, rendered bodies, the index screened, the reason, words in the detail)
    "out of frame": (OBLIQUE, CROWD + (Body("far", 150.0, 20.0),), 4, UnmeasuredReason.OUT_OF_FRAME, "outside"),
    "behind the camera": (
        CameraPose(LAT, LON, 5.0, 0.0, -10.0), (Body("ahead", 0.0, 25.0), Body("behind", 0.0, -20.0)), 1,
        UnmeasuredReason.OUT_OF_FRAME, "behind",
    ),
    "too high to resolve a head": (
        CameraPose(LAT, LON, 120.0, 0.0, -90.0), NADIR_CROWD, 0, UnmeasuredReason.TOO_FEW_PIXELS, "fewer than the 9"
    ),
    "occluded by a nearer, taller person": (
        CameraPose(LAT, LON, 5.0, 0.0, -10.0),
        (Body("front", 0.0, 28.0, height_m=1.85), Body("hidden", 0.0, 30.0, 38.6, height_m=1.6)),
        1,
        UnmeasuredReason.OCCLUDED,
        "front nearer the camera covers",
    ),
    "nobody there (misaligned)": (OBLIQUE, CROWD, None, UnmeasuredReason.NOT_SKIN, "outside living skin"),
}


@pytest.mark.parametrize("case", UNMEASURED, ids=list(UNMEASURED))
def test_people_who_cannot_be_measured_are_unmeasured_with_the_reason(case):
    pose, bodies, index, reason, words = UNMEASURED[case]
    frame = render(THERMAL, pose, bodies)
    people = [b.to_screen(pose) for b in bodies]
    if index is None:  # someone the frame does not show: a pose or time mismatch
        people.append(Body("ghost", -6.0, 23.0, 38.6).to_screen(pose))
        index = len(people) - 1
    reading = screen_people(frame, people, CONFIG).readings[index]
    assert reading.verdict is Verdict.UNMEASURED and not reading.measured
    assert reading.reason is reason
    assert words in reading.detail
    assert reading.person_id not in {r.person_id for r in screen_people(frame, people, CONFIG).fever_hints}


def test_a_head_cut_by_the_frame_edge_is_measured_on_its_visible_pixels():
    # east offset that puts the head centre 1 px inside the right edge (u grows linearly with east here)
    (u9, _), = enu_to_pixels(THERMAL, OBLIQUE, [(9.0, 20.0, 1.58)])
    east = 9.0 * (THERMAL.width_px - 1.0 - THERMAL.cx_px) / (u9 - THERMAL.cx_px)
    bodies = (Body("edge", east, 20.0, 38.6), Body("whole", 0.0, 20.0, 38.6))
    frame = render(THERMAL, OBLIQUE, bodies)
    edge, whole = screen_people(frame, [b.to_screen(OBLIQUE) for b in bodies], CONFIG).readings
    assert CONFIG.min_head_pixels <= edge.head_pixels < 0.7 * whole.head_pixels
    assert edge.verdict is Verdict.FEVER_HINT and edge.skin_temp_c == pytest.approx(38.6, abs=0.3)


def test_a_small_head_cut_by_the_edge_says_so():
    high = CameraPose(LAT, LON, 90.0, 0.0, -90.0)
    (u10, _), = enu_to_pixels(THERMAL, high, [(10.0, 0.0, 1.58)])
    east = 10.0 * (THERMAL.width_px - 0.6 - THERMAL.cx_px) / (u10 - THERMAL.cx_px)
    body = Body("edge", east, 0.0)
    reading = screen_people(render(THERMAL, high, (body,)), [body.to_screen(high)], CONFIG).readings[0]
    assert reading.reason is UnmeasuredReason.TOO_FEW_PIXELS and "cut by the frame edge" in reading.detail


def test_occluder_itself_is_measured():
    pose = CameraPose(LAT, LON, 5.0, 0.0, -10.0)
    bodies = (Body("front", 0.0, 28.0, height_m=1.85), Body("hidden", 0.0, 30.0, 38.6, height_m=1.6))
    front = screen_people(render(THERMAL, pose, bodies), [b.to_screen(pose) for b in bodies], CONFIG).readings[0]
    assert front.verdict is Verdict.NO_FEVER and front.skin_temp_c == pytest.approx(34.5, abs=0.3)


def test_frame_without_a_pose_measures_nobody():
    frame = render(THERMAL, OBLIQUE, CROWD)
    posed_less = ThermalFrame(frame.temps_c, THERMAL, None, frame.capture_time_s, "no pose")
    result = screen_people(posed_less, [b.to_screen(OBLIQUE) for b in CROWD], CONFIG)
    assert {r.reason for r in result.readings} == {UnmeasuredReason.NO_POSE}
    assert not result.fever_hints and "no pose" in result.frame_problem


def test_frame_pointed_elsewhere_says_so_for_the_frame():
    frame = render(THERMAL, OBLIQUE, CROWD)
    turned = ThermalFrame(frame.temps_c, THERMAL, CameraPose(LAT, LON, 35.0, 180.0, -60.0), 100.0, "turned")
    result = screen_people(turned, [b.to_screen(OBLIQUE) for b in CROWD], CONFIG)
    assert {r.reason for r in result.readings} == {UnmeasuredReason.OUT_OF_FRAME}
    assert "misaligned" in result.frame_problem


def test_object_corrected_frames_are_refused():
    frame = render(THERMAL, OBLIQUE, CROWD)
    corrected = ThermalFrame(frame.temps_c, THERMAL, OBLIQUE, 100.0, "camera-corrected", Radiometry(0.95, 1.0))
    with pytest.raises(ThermalFrameError, match="needs apparent temperatures"):
        screen_people(corrected, [CROWD[0].to_screen(OBLIQUE)], CONFIG)


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(skin_emissivity=1.2), "skin_emissivity"),
        (dict(percentile=0.0), "percentile"),
        (dict(min_head_pixels=0), "min_head_pixels"),
        (dict(ambient_c=float("nan")), "ambient_c"),
        (dict(skin_min_c=46.0), "skin range"),
    ],
)
def test_config_rejects_nonsense(changes, words):
    with pytest.raises(ValueError, match=words):
        ScreeningConfig(**{"ambient_c": 20.0, **changes})


def test_threshold_is_configurable():
    frame = render(THERMAL, OBLIQUE, CROWD)
    people = [b.to_screen(OBLIQUE) for b in CROWD]
    strict = screen_people(frame, people, ScreeningConfig(AMBIENT_C, fever_threshold_c=34.0))
    assert len(strict.fever_hints) == 4 and strict.fever_threshold_c == 34.0


# ---------------------------------------------------------------------------------- from RGB detections


def _detections(bodies, pose: CameraPose) -> list[Detection]:
    feet = enu_to_pixels(RGB, pose, [(b.east_m, b.north_m, 0.0) for b in bodies])
    return [Detection(u - 12, v - 80, u + 12, v, 0.9, track_id=i + 1) for i, (u, v) in enumerate(feet)]


def test_rgb_detections_are_screened_in_one_call():
    frame = render(THERMAL, OBLIQUE, CROWD)
    detections = _detections(CROWD, OBLIQUE) + [Detection(900, -2400, 920, -2300, 0.5)]  # a box above the horizon
    result = screen_detections(frame, detections, RGB, OBLIQUE, CONFIG)
    assert [r.person_id for r in result.readings] == ["track-1", "track-2", "track-3", "track-4", "detection-4"]
    assert [r.verdict for r in result.readings] == [Verdict.FEVER_HINT] + [Verdict.NO_FEVER] * 3 + [Verdict.UNMEASURED]
    assert result.readings[0].skin_temp_c == pytest.approx(38.6, abs=0.3)
    assert result.readings[4].reason is UnmeasuredReason.NO_GROUND_POSITION


def test_rgb_detections_without_a_pose_are_all_unmeasured():
    frame = render(THERMAL, OBLIQUE, CROWD)
    result = screen_detections(frame, _detections(CROWD, OBLIQUE), RGB, None, CONFIG)
    assert {r.reason for r in result.readings} == {UnmeasuredReason.NO_GROUND_POSITION}
    assert "RGB frame has no pose" in result.frame_problem


# -------------------------------------------------------------------------------------- a real frame


def test_screening_runs_on_a_real_radiometric_frame_with_a_synthetic_pose():
    pose = CameraPose(LAT, LON, 12.0, 0.0, -45.0)
    frame = read_flir_jpeg(XTR, camera=CameraModel.from_hfov(640, 512, 32.0), pose=pose)
    # stand a person where a warm part of the real scene (an idler roller) is seen, and one out of view
    row, col = np.unravel_index(np.argmax(np.where(frame.temps_c < 36.0, frame.temps_c, 0)), frame.shape)
    ray = pixel_rays(frame.camera, pose, [(col + 0.5, row + 0.5)])[0]
    head = ray * (12.0 - 1.58) / -ray[2]
    lat, lon = enu_to_latlon(LAT, LON, head[0], head[1])
    people = [PersonToScreen("on the roller", float(lat), float(lon)), PersonToScreen("away", LAT + 0.01, LON)]
    near, away, *hot_parts = screen_people(frame, people, ScreeningConfig(ambient_c=25.0)).readings
    # the roller's hot bearings beside "the person" are head-sized, isolated and in skin's range: they are reported
    # as heads seen in the thermal frame only (a known limit: a hint to confirm on the ground, never a diagnosis)
    assert all(p.person_id.startswith("thermal:") and p.verdict is Verdict.FEVER_HINT for p in hot_parts)
    window = frame.temps_c[row - 8 : row + 9, col - 8 : col + 9]
    assert near.head_pixels >= 9 and window.min() <= near.observed_temp_c <= window.max()
    assert near.skin_temp_c > near.observed_temp_c  # corrected up for distance and emissivity
    assert near.verdict in (Verdict.NO_FEVER, Verdict.FEVER_HINT) or near.reason is UnmeasuredReason.NOT_SKIN
    assert away.reason is UnmeasuredReason.OUT_OF_FRAME


@pytest.mark.parametrize("pose, bodies", [(OBLIQUE, CROWD), (NADIR, NADIR_CROWD)], ids=["oblique", "nadir"])
def test_positions_off_by_a_metre_find_each_head_within_their_uncertainty(pose, bodies):
    """Ground positions from an RGB camera are off by a metre or more: the head is searched for within the
    position's uncertainty, among the pixels nearer it than any other person's, the fever is still found, and each
    reading is placed where its head was seen."""
    frame = render(THERMAL, pose, bodies)
    offsets = [(0.9, -0.6), (-0.8, 0.7), (0.7, 0.8), (-0.6, -0.9)]
    people = []
    for b, (de, dn) in zip(bodies, offsets):
        moved = dataclasses.replace(b, east_m=b.east_m + de, north_m=b.north_m + dn)
        people.append(dataclasses.replace(moved.to_screen(pose), person_id=b.name, uncertainty_m=1.5))
    exact = screen_people(frame, [dataclasses.replace(p, uncertainty_m=0.0) for p in people], CONFIG)
    assert not [r for r in exact.readings[:len(people)] if r.verdict is Verdict.FEVER_HINT], \
        "read at the wrong spots, the heads are missed"
    assert [r.person_id for r in exact.fever_hints] == ["thermal:1"], "but the fevered head is seen in the frame"
    result = screen_people(frame, people, CONFIG)
    assert [r.person_id for r in result.fever_hints] == ["fevered"]
    for body, reading in zip(bodies, result.readings):
        assert reading.verdict is not Verdict.UNMEASURED, reading.detail
        assert reading.skin_temp_c == pytest.approx(body.skin_c, abs=0.6)
        lat, lon = enu_to_latlon(pose.lat_deg, pose.lon_deg, body.east_m, body.north_m)
        east, north = latlon_to_enu(float(lat), float(lon), reading.lat_deg, reading.lon_deg)
        assert math.hypot(float(east), float(north)) < 0.5, "read where the head was seen, not where it was placed"


def test_a_searched_position_with_no_warm_head_is_unmeasured_not_normal():
    frame = render(THERMAL, NADIR, ())  # bare ground
    (reading,) = screen_people(frame, [dataclasses.replace(Body("ghost", 1.0, 1.0).to_screen(NADIR),
                                                           uncertainty_m=1.5)], CONFIG).readings
    assert reading.verdict is Verdict.UNMEASURED and reading.reason is UnmeasuredReason.NOT_SKIN
    assert "no head warmer than its surroundings" in reading.detail


# --- heads nobody placed (step 7) -------------------------------------------------------------------------------


DENSE = (Body("fevered", 0.0, 20.0, 38.6), Body("a", -1.2, 19.4), Body("b", 1.1, 20.8), Body("c", 0.4, 21.9))
DENSE_NADIR = (Body("fevered", 0.0, 0.0, 38.6), Body("a", -1.3, 0.6), Body("b", 1.0, -1.1), Body("c", 0.6, 1.7))


@pytest.mark.parametrize("pose, bodies", [(OBLIQUE, DENSE), (NADIR, DENSE_NADIR)], ids=["oblique", "nadir"])
def test_a_fevered_head_nobody_placed_is_found_in_the_thermal_frame_where_it_stands(pose, bodies):
    frame = render(THERMAL, pose, bodies)
    listed = [b.to_screen(pose) for b in bodies[1:]]  # the RGB detector missed the fevered person
    result = screen_people(frame, listed, CONFIG)
    (hint,) = result.fever_hints
    assert hint.person_id.startswith("thermal:") and "thermal frame only" in hint.detail
    assert hint.skin_temp_c == pytest.approx(38.6, abs=0.6) and abs(hint.skin_temp_c - 38.6) <= hint.uncertainty_c
    fevered = bodies[0]
    lat, lon = enu_to_latlon(pose.lat_deg, pose.lon_deg, fevered.east_m, fevered.north_m)
    east, north = latlon_to_enu(float(lat), float(lon), hint.lat_deg, hint.lon_deg)
    assert math.hypot(float(east), float(north)) < 0.5, "placed where the head stands"
    assert [r.person_id for r in result.readings[:len(listed)]] == [p.person_id for p in listed]


def test_a_fevered_head_already_read_is_not_reported_twice_and_normal_heads_are_not_hints():
    frame = render(THERMAL, NADIR, DENSE_NADIR)
    result = screen_people(frame, [b.to_screen(NADIR) for b in DENSE_NADIR], CONFIG)
    assert [r.person_id for r in result.fever_hints] == ["fevered"]
    healthy = render(THERMAL, NADIR, DENSE_NADIR[1:])
    assert screen_people(healthy, [DENSE_NADIR[1].to_screen(NADIR)], CONFIG).fever_hints == (), \
        "34.5 °C heads are no hint"


def test_a_fevered_head_far_from_the_crowd_screened_is_not_looked_for():
    """Only the crowd's surroundings are searched: a warm thing (or person) 8 m from everyone listed is not read."""
    bodies = (Body("far", 8.0, 0.0, 38.6), Body("a", -2.0, 1.0), Body("b", -1.0, -1.5))
    frame = render(THERMAL, NADIR, bodies)
    result = screen_people(frame, [b.to_screen(NADIR) for b in bodies[1:]], CONFIG)
    assert result.fever_hints == ()


def test_hot_pavement_edges_and_corners_are_not_heads():
    """Ground hotter than a fever (sunlit asphalt at 41 °C observed) beside cool grass, with a corner in view."""
    frame = render(THERMAL, NADIR, ())
    temps = np.array(frame.temps_c)
    h, w = temps.shape
    temps[: h // 2, : w // 2] = 41.0  # a hot quarter: one edge across, one down, a corner at the centre
    temps[h // 2 + 40: h // 2 + 44, :] = 41.0  # a hot stripe four pixels wide (a kerb in the sun)
    hot = dataclasses.replace(frame, temps_c=temps.astype(np.float32))
    standing = Body("on the corner", 0.0, 0.0)  # listed at the image centre: the corner and edges are near them
    readings = screen_people(hot, [standing.to_screen(NADIR)], CONFIG).readings
    assert [r.person_id for r in readings] == ["on the corner"], [r.detail for r in readings]
