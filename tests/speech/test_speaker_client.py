"""Delivery: the speaker client against the simulated companion-computer speaker, over real HTTP."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sim.speaker import SpeakerServer
from speech import (BadSpeakerAnswer, DeliveryError, EspeakEngine, SpeakerClient, SpeakerRefused, SpeakerTimeout,
                    SpeakerUnreachable, Synthesizer)
from tests.speech.conftest import free_port


@pytest.fixture
def clip(tmp_path):
    return Synthesizer(tmp_path, engines=[EspeakEngine()]).synthesize("Please wear a mask.", "en")


def test_play_is_acknowledged_with_the_speakers_times(speaker, clock, clip):
    receipt = SpeakerClient(speaker.url).play(clip, repeat=3, clip_id="resp-7")
    assert (receipt.clip_id, receipt.accepted, receipt.repeat, receipt.speaker_url) == ("resp-7", True, 3, speaker.url)
    assert receipt.duration_s == pytest.approx(clip.duration_s, abs=0.001)
    assert receipt.started_at_s == clock.now
    assert receipt.ends_at_s == pytest.approx(clock.now + 3 * clip.duration_s)
    assert receipt.round_trip_s > 0
    (played,) = speaker.played()
    assert (played.clip_id, played.source, played.sha256) == ("resp-7", "http", clip.sha256)


def test_clip_id_defaults_to_the_clips_hash(speaker, clip):
    assert SpeakerClient(speaker.url).play(clip).clip_id == clip.sha256[:16]


def test_status_and_stop(speaker, clock, clip):
    client = SpeakerClient(speaker.url)
    assert client.status().playing is None and client.stop() is None
    client.play(clip, clip_id="a")
    clock.now += 0.1
    client.play(clip, clip_id="b")               # latest wins
    status = client.status()
    assert status.playing is not None and status.playing.clip_id == "b"
    assert [(p.clip_id, p.interrupted) for p in status.played] == [("a", True), ("b", False)]
    assert status.played[0].ends_at_s == pytest.approx(clock.now)
    assert client.stop() == "b"
    assert client.status().playing is None


def test_a_refused_clip_is_an_error_with_the_speakers_reason(speaker, clip):
    with pytest.raises(SpeakerRefused) as e:
        SpeakerClient(speaker.url).play(clip, repeat=0)
    assert e.value.status == 400 and "repeat" in e.value.error
    assert speaker.played() == []


def test_a_clip_over_the_speakers_limit_is_refused_413(clock, clip):
    with SpeakerServer(clock=clock, max_body_bytes=1000) as small:
        with pytest.raises(SpeakerRefused) as e:
            SpeakerClient(small.url).play(clip)
    assert e.value.status == 413 and "over the limit" in e.value.error


def test_speaker_endpoint_down_is_a_clear_error(clip):
    client = SpeakerClient(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    for call in (lambda: client.play(clip), client.stop, client.status):
        with pytest.raises(SpeakerUnreachable, match="cannot connect"):
            call()


def test_a_speaker_that_never_answers_times_out(silent_server, clip):
    client = SpeakerClient(f"http://127.0.0.1:{silent_server}", timeout_s=0.3)
    with pytest.raises(SpeakerTimeout, match="no answer within 0.3 s"):
        client.play(clip)
    with pytest.raises(SpeakerTimeout):
        client.status()


class _Odd(BaseHTTPRequestHandler):
    """A server that answers 200 with whatever the test put in server.body."""

    def _reply(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def odd_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("body, message", [
    (b"<html>hello</html>", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"accepted": false}', "not accepted"),
    (b'{"accepted": true, "clip_id": "x", "duration_s": "long", "repeat": 1, "started_at_s": 0, "ends_at_s": 1}',
     "duration_s"),
    (b'{"accepted": true, "clip_id": "x", "duration_s": 1.0, "repeat": true, "started_at_s": 0, "ends_at_s": 1}',
     "repeat"),
])
def test_a_bad_answer_to_play_is_an_error(odd_server, clip, body, message):
    odd_server.body = body
    with pytest.raises(DeliveryError, match=message):
        SpeakerClient(f"http://127.0.0.1:{odd_server.server_address[1]}").play(clip)


def test_a_bad_status_answer_is_an_error(odd_server):
    odd_server.body = b'{"playing": null, "played": [{"clip_id": "x"}]}'
    with pytest.raises(BadSpeakerAnswer, match="source"):
        SpeakerClient(f"http://127.0.0.1:{odd_server.server_address[1]}").status()


def test_a_wav_path_can_be_sent_as_is(speaker, clip):
    receipt = SpeakerClient(speaker.url).play(clip.path)
    assert receipt.clip_id == clip.path.stem
    assert speaker.played()[0].sha256 == hashlib.sha256(clip.path.read_bytes()).hexdigest()
