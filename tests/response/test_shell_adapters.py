"""The crowd response's shell adapters against real peers: the thermal screener fetches the simulator's radiometric
frames over HTTP and measures people (a missing frame, a misaligned one and a camera without optics come back as
problems, never as "normal"); the loudspeaker synthesises offline and delivers to the simulated speaker (a speaker
that is down, or not configured, is a failed delivery with the reason)."""
from __future__ import annotations

import numpy as np
import pytest

from groundstation.core.response_data import Broadcast, PersonToScreen, ScreenThermal
from groundstation.shell.loudspeaker import Loudspeaker
from groundstation.shell.screening import ThermalScreener, camera_model
from sim.file_server import FileServer
from sim.speaker import SpeakerServer
from speech import EspeakEngine, GttsEngine, Synthesizer
from telemetry.records import CameraInformation, CapturedImage
from vision.thermal import ScreeningConfig, encode_centikelvin_tiff

INFO = CameraInformation(101, "SkyGuardSim", "Thermal640", 13.0, 10.88, 8.70, 640, 512, 2)
AT = (23.0472, 112.4655)


def screener(info=INFO) -> ThermalScreener:
    def camera_info(vehicle_id, component_id):
        if info is None:
            raise TimeoutError("no CAMERA_INFORMATION within 1.5 s")
        return info
    return ThermalScreener(camera_info, ScreeningConfig(ambient_c=25.0))


def image(url: str, yaw=0.0, pitch=-90.0) -> CapturedImage:
    return CapturedImage(101, 0, url, None, AT[0], AT[1], 30.0, 20.0, yaw, pitch, 0.0, True)


@pytest.fixture
def files():
    server = FileServer()
    yield server
    server.close()


def test_the_camera_model_comes_from_camera_information():
    model = camera_model(INFO)
    assert (model.width_px, model.height_px) == (640, 512) and model.fx_px == pytest.approx(13.0 / 10.88 * 640)
    with pytest.raises(ValueError, match="does not give its focal length"):
        camera_model(CameraInformation(101, "x", "y", None, None, None, 640, 512, 2))


def test_a_frame_of_warm_heads_is_measured(files):
    """The camera 20 m straight above a person: the head (a warm disc at the image centre, 34.3 °C observed) is
    measured and corrected for distance and emissivity."""
    temps = np.full((512, 640), 30.0)
    yy, xx = np.mgrid[0:512, 0:640]
    temps[(yy - 256) ** 2 + (xx - 320) ** 2 <= 5 ** 2] = 34.3
    files.put("/thermal/1/0.tiff", encode_centikelvin_tiff(temps), "image/tiff")
    done = screener().screen(ScreenThermal("r1", 1, "v1", image(files.url("/thermal/1/0.tiff")),
                                           (PersonToScreen(7, AT[0], AT[1]),)))
    assert done.problem is None
    (reading,) = done.readings
    assert reading.person_id == 7 and reading.status == "measured" and 34.3 < reading.temp_c < 35.5
    assert reading.uncertainty_c >= 2.0


def test_a_fevered_head_nobody_placed_comes_back_with_the_same_negative_id_in_every_frame(files):
    """Two people 1.2 m apart under the camera; only one was placed by the RGB camera, the other has a fever: it
    is found in the thermal frame, reported as measured with a fever-level temperature under an id of its own
    (negative, from its position), the same in a second frame."""
    temps = np.full((512, 640), 30.0)
    yy, xx = np.mgrid[0:512, 0:640]
    temps[(yy - 256) ** 2 + (xx - 320) ** 2 <= 5 ** 2] = 34.3  # the placed person, normal
    temps[(yy - 256) ** 2 + (xx - 375) ** 2 <= 5 ** 2] = 38.6  # 55 px east (about 1.2 m at 20 m): nobody placed
    files.put("/thermal/1/0.tiff", encode_centikelvin_tiff(temps), "image/tiff")
    readings = [screener().screen(ScreenThermal("r1", shot, "v1", image(files.url("/thermal/1/0.tiff")),
                                                (PersonToScreen(7, AT[0], AT[1]),))).readings for shot in (1, 2)]
    for placed, found in readings:
        assert placed.person_id == 7 and placed.temp_c < 37.3
        assert found.person_id < 0 and found.status == "measured" and found.temp_c >= 37.3
        assert found.lon_deg > AT[1]
    assert readings[0][1].person_id == readings[1][1].person_id


@pytest.mark.parametrize("case, expect", [
    ("missing", "404"),
    ("misaligned", "misaligned"),
    ("no optics", "thermal camera model unknown"),
    ("not a frame", "neither a radiometric TIFF nor a FLIR JPEG"),
])
def test_an_unusable_frame_comes_back_with_the_problem(files, case, expect):
    files.put("/thermal/1/0.tiff", encode_centikelvin_tiff(np.full((256, 320), 30.0)), "image/tiff")  # half size
    files.put("/thermal/1/1.txt", b"hello", "text/plain")
    url = {"missing": "/thermal/1/9.tiff", "misaligned": "/thermal/1/0.tiff", "no optics": "/thermal/1/0.tiff",
           "not a frame": "/thermal/1/1.txt"}[case]
    s = screener(None if case == "no optics" else INFO)
    done = s.screen(ScreenThermal("r1", 2, "v1", image(files.url(url)), (PersonToScreen(7, AT[0], AT[1]),)))
    assert done.readings == () and expect in done.problem, done.problem


def test_the_camera_pointed_away_from_the_people_says_misaligned(files):
    files.put("/t.tiff", encode_centikelvin_tiff(np.full((512, 640), 30.0)), "image/tiff")
    far = PersonToScreen(7, AT[0] + 0.01, AT[1])  # 1.1 km north, the camera looks straight down
    done = screener().screen(ScreenThermal("r1", 1, "v1", image(files.url("/t.tiff")), (far,)))
    assert "misaligned" in done.problem and [r.status for r in done.readings] == ["unmeasured"]
    assert "out_of_frame" in done.readings[0].reason


@pytest.fixture
def speaker():
    with SpeakerServer() as s:
        yield s


def synthesizer(tmp_path) -> Synthesizer:
    # gTTS first, as the product's default: here it fails at once (no network) and espeak-ng speaks
    return Synthesizer(tmp_path / "speech", [GttsEngine(timeout_s=2.0), EspeakEngine()])


MESSAGE = (("zh-cmn", "广场：请戴好口罩，不要聚集"), ("en", "the plaza: please wear a mask and do not gather"))


def test_a_broadcast_is_synthesised_offline_and_delivered(tmp_path, speaker):
    clock = iter([100.0] * 10)
    lsp = Loudspeaker(synthesizer(tmp_path), {"v1": speaker.url}, lambda: next(clock))
    done = lsp.broadcast(Broadcast("r1", "r1:b1", "v1", MESSAGE, 2))
    assert done.ok, done.reason
    assert done.engines == ("espeak-ng", "espeak-ng") and "gtts" in (done.fallback or "")
    (played,) = speaker.played()
    assert played.clip_id == "r1:b1" and played.repeat == 2 and played.duration_s == pytest.approx(done.duration_s)
    assert done.ends_at_s == pytest.approx(100.0 + 2 * done.duration_s)


@pytest.mark.parametrize("urls, expect", [
    ({"v1": "http://127.0.0.1:9"}, "SpeakerUnreachable"),
    ({}, "no loudspeaker endpoint is configured for v1"),
])
def test_a_speaker_that_is_down_or_missing_is_a_failed_delivery(tmp_path, urls, expect):
    done = Loudspeaker(synthesizer(tmp_path), urls, lambda: 0.0).broadcast(Broadcast("r1", "r1:b1", "v1", MESSAGE, 1))
    assert not done.ok and expect in done.reason
