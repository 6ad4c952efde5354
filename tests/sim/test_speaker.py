"""The simulated companion-computer speaker over real HTTP on loopback (raw http.client, no speech/ code)."""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import time
import wave

import pytest

from sim.speaker import MAX_BODY_BYTES, PlayedClip, SpeakerServer


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def wav(duration_s: float, rate_hz: int = 8000, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(b"\x00\x00" * channels * round(duration_s * rate_hz))
    return buf.getvalue()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def speaker(clock):
    with SpeakerServer(clock=clock) as s:
        yield s


def call(speaker: SpeakerServer, method: str, path: str, body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", speaker.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {"Content-Type": "audio/wav"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_play_answers_duration_from_the_header_and_times_in_the_speakers_clock(speaker, clock):
    status, answer = call(speaker, "POST", "/speaker/play?clip_id=c1&repeat=2", wav(1.5))
    assert status == 200
    assert answer == {"clip_id": "c1", "accepted": True, "duration_s": 1.5, "repeat": 2,
                      "started_at_s": 500.0, "ends_at_s": 503.0}


@pytest.mark.parametrize("rate_hz, channels", [(8000, 1), (22050, 1), (44100, 2)])
def test_duration_is_frames_over_rate_whatever_the_format(speaker, rate_hz, channels):
    _, answer = call(speaker, "POST", "/speaker/play", wav(0.75, rate_hz, channels))
    assert answer["duration_s"] == pytest.approx(0.75, abs=1 / rate_hz)
    assert answer["repeat"] == 1 and answer["clip_id"] == "clip-1"


def test_status_shows_what_plays_and_what_was_played(speaker, clock):
    assert call(speaker, "GET", "/speaker/status") == (200, {"playing": None, "played": []})
    data = wav(2.0)
    call(speaker, "POST", "/speaker/play?clip_id=a", data)
    clock.now += 1.0
    status, answer = call(speaker, "GET", "/speaker/status")
    expected = {"clip_id": "a", "source": "http", "started_at_s": 500.0, "duration_s": 2.0, "repeat": 1,
                "ends_at_s": 502.0, "interrupted": False, "sha256": hashlib.sha256(data).hexdigest()}
    assert status == 200 and answer == {"playing": expected, "played": [expected]}
    clock.now += 5.0                               # it has finished
    _, answer = call(speaker, "GET", "/speaker/status")
    assert answer["playing"] is None and answer["played"][0]["interrupted"] is False


def test_a_new_clip_replaces_the_one_playing_which_is_recorded_as_interrupted(speaker, clock):
    call(speaker, "POST", "/speaker/play?clip_id=first&repeat=3", wav(2.0))
    clock.now += 1.25
    call(speaker, "POST", "/speaker/play?clip_id=second", wav(1.0))
    first, second = speaker.played()
    assert (first.clip_id, first.interrupted, first.ends_at_s) == ("first", True, 501.25)
    assert (second.clip_id, second.interrupted, second.started_at_s, second.ends_at_s) == ("second", False, 501.25,
                                                                                            502.25)
    assert speaker.playing() == second


def test_a_clip_after_the_last_one_ended_interrupts_nothing(speaker, clock):
    call(speaker, "POST", "/speaker/play?clip_id=a", wav(1.0))
    clock.now += 1.0
    call(speaker, "POST", "/speaker/play?clip_id=b", wav(1.0))
    assert [p.interrupted for p in speaker.played()] == [False, False]


def test_stop_ends_the_clip_playing(speaker, clock):
    assert call(speaker, "POST", "/speaker/stop") == (200, {"stopped": None})
    call(speaker, "POST", "/speaker/play?clip_id=a&repeat=5", wav(1.0))
    clock.now += 2.0
    assert call(speaker, "POST", "/speaker/stop") == (200, {"stopped": "a"})
    (a,) = speaker.played()
    assert (a.interrupted, a.ends_at_s) == (True, 502.0)
    assert speaker.playing() is None
    assert call(speaker, "POST", "/speaker/stop") == (200, {"stopped": None})


def test_played_records_are_frozen(speaker):
    call(speaker, "POST", "/speaker/play", wav(0.5))
    record = speaker.played()[0]
    assert isinstance(record, PlayedClip)
    with pytest.raises(AttributeError):
        record.clip_id = "x"  # type: ignore[misc]


@pytest.mark.parametrize("body, error", [
    (b"", "empty body"),
    (b"this is not audio at all, not even close", "not a PCM WAV"),
    (b"ID3\x04\x00" + bytes(200), "not a PCM WAV"),         # an MP3
    (wav(0.0), "no audio"),
    (wav(1.0)[:2000], "truncated WAV"),
])
def test_what_is_not_a_playable_wav_is_refused_400(speaker, body, error):
    status, answer = call(speaker, "POST", "/speaker/play?clip_id=x", body)
    assert status == 400 and error in answer["error"]
    assert speaker.played() == []


@pytest.mark.parametrize("repeat", ["0", "-1", "abc", "1.5", "101", ""])
def test_a_bad_repeat_is_refused_400(speaker, repeat):
    status, answer = call(speaker, "POST", f"/speaker/play?repeat={repeat}", wav(0.5))
    assert status == 400 and "repeat must be a whole number from 1 to 100" in answer["error"]
    assert speaker.played() == []


def test_a_body_over_20_mb_is_refused_413(speaker):
    status, answer = call(speaker, "POST", "/speaker/play", b"\x00" * (MAX_BODY_BYTES + 1))
    assert status == 413 and "over the limit" in answer["error"]
    assert speaker.played() == []
    assert call(speaker, "GET", "/speaker/status")[0] == 200          # and it still serves


def test_unknown_paths_and_wrong_methods(speaker):
    assert call(speaker, "GET", "/speaker/nothing")[0] == 404
    assert call(speaker, "POST", "/elsewhere", b"")[0] == 404
    assert call(speaker, "GET", "/speaker/play")[0] == 405
    assert call(speaker, "POST", "/speaker/status", b"")[0] == 405


def test_relay_trigger_plays_a_preloaded_clip(clock):
    with SpeakerServer(clock=clock, preloaded={1: 4.0, 2: 6.5}) as speaker:
        record = speaker.play_preloaded(2)
        assert (record.clip_id, record.source, record.duration_s, record.ends_at_s) == ("preloaded-2", "relay", 6.5,
                                                                                        506.5)
        _, answer = call(speaker, "GET", "/speaker/status")
        assert answer["playing"]["source"] == "relay"
        with pytest.raises(KeyError, match="no pre-loaded clip number 3"):
            speaker.play_preloaded(3)


def test_the_default_preloaded_clip_is_number_1_of_4_s(speaker):
    assert speaker.play_preloaded(1).duration_s == 4.0


def test_two_speakers_get_their_own_ports_and_stop_cleanly(clock):
    a, b = SpeakerServer(clock=clock).start(), SpeakerServer(clock=clock).start()
    try:
        assert a.port != b.port and a.url == f"http://127.0.0.1:{a.port}"
    finally:
        a.stop()
        b.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", a.port, timeout=2).request("GET", "/speaker/status")


def test_each_simulated_vehicle_carries_a_speaker_that_its_relay_triggers():
    """Wired into the fleet: one endpoint per vehicle (MAVLink port + 5), in the simulator's clock, and
    MAV_CMD_DO_SET_RELAY over real MAVLink plays the pre-loaded clip."""
    from pymavlink import mavutil

    from sim.fleet import SimFleet

    with SimFleet(vehicles=2, speedup=5, base_port=0, ready_after_s=1.0) as fleet:
        assert len(set(fleet.speaker_urls)) == 2
        _, answer = call(fleet.speaker(1), "GET", "/speaker/status")
        assert answer == {"playing": None, "played": []}
        link = mavutil.mavlink_connection(fleet.urls[0], source_system=255)
        try:
            link.wait_heartbeat(timeout=10)
            link.mav.command_long_send(1, 1, mavutil.mavlink.MAV_CMD_DO_SET_RELAY, 0, 0, 1, 0, 0, 0, 0, 0)
            ack = link.recv_match(type="COMMAND_ACK", blocking=True, timeout=10)
            assert ack is not None and ack.result == 0
            deadline = time.monotonic() + 10
            while not fleet.speaker(0).played() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            link.close()
        (played,) = fleet.speaker(0).played()
        assert (played.clip_id, played.source) == ("preloaded-1", "relay")
        assert played.started_at_s <= fleet.sim_time_s, "timed in the simulator's clock"
        assert not fleet.speaker(1).played(), "only vehicle 0's relay was switched"
