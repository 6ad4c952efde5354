"""The synthesizer: fallback with the reason, the disk cache, measurement, joined messages."""
from __future__ import annotations

import json
import logging
import wave
from pathlib import Path

import pytest

from speech import (EngineError, EspeakEngine, GttsEngine, NothingToSay, Sox, Synthesizer, SynthesisFailed,
                    UnknownLanguage, Utterance, bench)
from speech.languages import Language
from tests.speech.conftest import FakeClock

MESSAGE = (Utterance("人民广场：请戴好口罩，不要聚集", "zh-cmn"), Utterance("人民廣場：請戴好口罩，唔好聚集", "zh-yue"),
           Utterance("People's Square: please wear a mask.", "en"))


class Counting:
    """An engine that counts its syntheses (a cache hit must not call it)."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.calls = engine, engine.name, 0

    def cache_tag(self, lang: Language) -> str:
        return self.engine.cache_tag(lang)

    def synthesize(self, text: str, lang: Language, workdir: Path) -> Path:
        self.calls += 1
        return self.engine.synthesize(text, lang, workdir)


class Broken:
    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason, self.calls = name, reason, 0

    def cache_tag(self, lang: Language) -> str:
        return f"{self.name}|{lang.code}"

    def synthesize(self, text: str, lang: Language, workdir: Path) -> Path:
        self.calls += 1
        raise EngineError(self.name, self.reason)


def _header_duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def test_with_no_network_gtts_fails_and_espeak_speaks_with_the_reason_recorded(tmp_path, no_network):
    synth = Synthesizer(tmp_path, engines=[GttsEngine(timeout_s=30), EspeakEngine()])
    clip = synth.synthesize("请戴好口罩，不要聚集", "zh-cmn")
    assert clip.engine == "espeak-ng" and not clip.cached
    assert clip.fallback_reason is not None and clip.fallback_reason.startswith("gtts: Failed to connect")
    assert clip.path.exists() and clip.duration_s > 1.0


def test_default_engines_are_gtts_then_espeak(tmp_path):
    assert [e.name for e in Synthesizer(tmp_path).engines] == ["gtts", "espeak-ng"]


def test_the_first_engine_that_works_speaks_and_no_reason_is_recorded(tmp_path):
    espeak = Counting(EspeakEngine())
    clip = Synthesizer(tmp_path, engines=[espeak, Broken("never", "not reached")]).synthesize("hello", "en")
    assert (clip.engine, clip.fallback_reason, espeak.calls) == ("espeak-ng", None, 1)


def test_a_cache_hit_costs_no_synthesis_and_survives_a_restart(tmp_path):
    espeak = Counting(EspeakEngine())
    first = Synthesizer(tmp_path, engines=[espeak]).synthesize("Please wear a mask.", "en")
    again = Synthesizer(tmp_path, engines=[espeak]).synthesize("Please wear a mask.", "en")   # a new station
    assert espeak.calls == 1
    assert (first.cached, again.cached) == (False, True)
    assert (again.path, again.sha256, again.duration_s, again.rms_db, again.peak_db) == \
        (first.path, first.sha256, first.duration_s, first.rms_db, first.peak_db)


def test_the_cache_is_keyed_by_text_language_and_engine(tmp_path):
    espeak = Counting(EspeakEngine())
    synth = Synthesizer(tmp_path, engines=[espeak])
    a = synth.synthesize("你好", "zh-cmn")
    b = synth.synthesize("你好", "zh-yue")
    c = synth.synthesize("你好啊", "zh-cmn")
    d = Synthesizer(tmp_path, engines=[Counting(EspeakEngine(rate_wpm=120))]).synthesize("你好", "zh-cmn")
    assert espeak.calls == 3 and len({a.path, b.path, c.path, d.path}) == 4 and not d.cached


@pytest.mark.parametrize("damage", ["truncate_wav", "flip_wav_byte", "garble_json", "delete_wav"])
def test_a_corrupt_cache_entry_is_made_again(tmp_path, damage):
    espeak = Counting(EspeakEngine())
    first = Synthesizer(tmp_path, engines=[espeak]).synthesize("Do not gather.", "en")
    data = first.path.read_bytes()
    meta = first.path.with_suffix(".json")
    if damage == "truncate_wav":
        first.path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_wav_byte":
        first.path.write_bytes(data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])
    elif damage == "garble_json":
        meta.write_text("{not json", encoding="utf-8")
    else:
        first.path.unlink()
    again = Synthesizer(tmp_path, engines=[espeak]).synthesize("Do not gather.", "en")
    assert espeak.calls == 2 and not again.cached
    assert again.path.read_bytes() == data
    assert json.loads(meta.read_text(encoding="utf-8"))["sha256"] == again.sha256
    assert Synthesizer(tmp_path, engines=[espeak]).synthesize("Do not gather.", "en").cached


def test_every_engine_failing_is_one_clear_error_with_each_reason(tmp_path):
    synth = Synthesizer(tmp_path, engines=[Broken("one", "network down"), Broken("two", "voice missing")])
    with pytest.raises(SynthesisFailed) as e:
        synth.synthesize("hello", "en")
    assert e.value.reasons == (("one", "network down"), ("two", "voice missing"))
    assert "one: network down" in str(e.value) and "two: voice missing" in str(e.value)


def test_a_failed_engine_is_skipped_for_a_while_then_tried_again(tmp_path, caplog):
    clock = FakeClock(0.0)
    gtts = Broken("gtts", "Failed to connect")
    synth = Synthesizer(tmp_path, engines=[gtts, EspeakEngine()], retry_after_s=60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="speech"):
        synth.synthesize("one", "en")
        clock.now = 30.0
        second = synth.synthesize("two", "en")
        assert gtts.calls == 1
        assert second.fallback_reason == "gtts: not tried: failed 30 s ago (retried after 60 s): Failed to connect"
        clock.now = 61.0
        synth.synthesize("three", "en")
        assert gtts.calls == 2
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "speech engine gtts failed" in r.getMessage()]
    assert [level for level, _ in said] == ["WARNING", "INFO"], "a warning when it goes down, not on every retry"
    assert "failed again" in said[1][1]


def test_an_engine_in_back_off_is_still_tried_when_no_other_can_speak(tmp_path):
    class FailsOnce(Counting):
        def synthesize(self, text, lang, workdir):
            self.calls += 1
            if self.calls == 1:
                raise EngineError(self.name, "busy")
            return self.engine.synthesize(text, lang, workdir)

    flaky = FailsOnce(EspeakEngine())
    synth = Synthesizer(tmp_path, engines=[flaky, Broken("other", "down")], retry_after_s=60.0, clock=FakeClock(0.0))
    with pytest.raises(SynthesisFailed):
        synth.synthesize("hello", "en")
    clip = synth.synthesize("hello", "en")         # both in back-off: tried anyway rather than saying nothing
    assert clip.engine == "espeak-ng" and flaky.calls == 2
    assert clip.fallback_reason.startswith("other: not tried") and "espeak-ng" not in clip.fallback_reason


def test_an_engine_that_makes_no_audio_falls_back(tmp_path):
    class Silent:
        name = "silent"

        def cache_tag(self, lang):
            return "silent"

        def synthesize(self, text, lang, workdir):
            out = workdir / "s.wav"
            Sox()._run(["-n", "-r", "22050", "-c", "1", str(out), "trim", "0", "0.01"])
            return out

    clip = Synthesizer(tmp_path, engines=[Silent(), EspeakEngine()]).synthesize("hello", "en")
    assert clip.engine == "espeak-ng" and "silent: made no audio" in clip.fallback_reason


def test_gtts_audio_when_it_works_is_used_and_cached(tmp_path):
    mp3 = tmp_path / "g.mp3"
    Sox()._run(["-n", "-r", "24000", "-c", "1", str(mp3), "synth", "1.2", "sine", "300"])
    gtts = Counting(GttsEngine(fetch=lambda text, lang, timeout_s: mp3.read_bytes()))
    synth = Synthesizer(tmp_path / "cache", engines=[gtts, EspeakEngine()])
    clip = synth.synthesize("请戴好口罩", "zh-cmn")
    assert (clip.engine, clip.fallback_reason, clip.cached) == ("gtts", None, False)
    assert synth.synthesize("请戴好口罩", "zh-cmn").cached and gtts.calls == 1


def test_sox_measures_the_duration_of_the_wav_header_within_a_few_ms(tmp_path):
    clip = Synthesizer(tmp_path, engines=[EspeakEngine()]).synthesize("Please wear a mask and do not gather.", "en")
    assert clip.duration_s == pytest.approx(_header_duration_s(clip.path), abs=0.005)
    assert Sox().measure(clip.path).duration_s == pytest.approx(_header_duration_s(clip.path), abs=0.005)


def test_clips_are_normalised_to_the_same_peak_level(tmp_path):
    synth = Synthesizer(tmp_path, engines=[EspeakEngine()])
    for u in MESSAGE:
        clip = synth.synthesize(u.text, u.language)
        assert clip.peak_db == pytest.approx(-1.0, abs=0.2)
        assert -40.0 < clip.rms_db < clip.peak_db
        with wave.open(str(clip.path), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)


def test_a_message_in_three_languages_is_one_clip_with_silence_between(tmp_path):
    synth = Synthesizer(tmp_path, engines=[EspeakEngine()], gap_s=0.5)
    clip = synth.synthesize_message(MESSAGE)
    assert len(clip.parts) == 3 and clip.language == "zh-cmn+zh-yue+en" and clip.engine == "espeak-ng"
    assert clip.text == "\n".join(u.text for u in MESSAGE)
    assert clip.duration_s == pytest.approx(sum(p.duration_s for p in clip.parts) + 2 * 0.5, abs=0.01)
    assert clip.duration_s == pytest.approx(_header_duration_s(clip.path), abs=0.005)
    assert not clip.cached and clip.fallback_reason is None
    again = synth.synthesize_message(MESSAGE)
    assert again.cached and again.path == clip.path and again.sha256 == clip.sha256


def test_a_message_records_which_languages_fell_back(tmp_path):
    mp3 = tmp_path / "g.mp3"
    Sox()._run(["-n", "-r", "24000", "-c", "1", str(mp3), "synth", "1", "sine", "300"])

    def english_only(text, lang, timeout_s):
        if lang != "en":
            raise RuntimeError(f"no {lang} today")
        return mp3.read_bytes()

    synth = Synthesizer(tmp_path / "cache", engines=[GttsEngine(fetch=english_only), EspeakEngine()],
                        retry_after_s=0.0)
    clip = synth.synthesize_message([Utterance("你好", "zh-cmn"), Utterance("hello", "en")])
    assert clip.engine == "espeak-ng+gtts"
    assert clip.fallback_reason == "zh-cmn: gtts: no zh today"
    assert [p.engine for p in clip.parts] == ["espeak-ng", "gtts"]


def test_bad_requests_are_refused_before_any_engine_runs(tmp_path):
    espeak = Counting(EspeakEngine())
    synth = Synthesizer(tmp_path, engines=[espeak])
    with pytest.raises(NothingToSay):
        synth.synthesize("  ", "en")
    with pytest.raises(NothingToSay):
        synth.synthesize_message([])
    with pytest.raises(UnknownLanguage):
        synth.synthesize("hello", "klingon")
    assert espeak.calls == 0


def test_bench_reports_seconds_per_message_per_engine(tmp_path):
    timings = bench(engines=[EspeakEngine(), Broken("down", "no network")], runs=1)
    espeak, down = timings
    assert (espeak.engine, espeak.messages, espeak.failures, espeak.error) == ("espeak-ng", 1, 0, None)
    assert espeak.seconds_per_message is not None and espeak.seconds_per_message > 0
    assert (down.engine, down.failures, down.seconds_per_message) == ("down", 1, None)
    assert "no network" in down.error
