"""The engines for real: espeak-ng speaks every language offline; gTTS fails cleanly without a network."""
from __future__ import annotations

import re
import wave

import pytest

from speech import EngineError, EspeakEngine, GttsEngine, Sox, language

PHRASES = {   # language -> (text, syllables)
    "zh-cmn": ("人民广场：请戴好口罩，不要聚集", 14),
    "zh-yue": ("人民廣場：請戴好口罩，唔好聚集", 14),
    "en": ("People's Square: please wear a mask and do not gather.", 13),
}


def _wav_duration_s(path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.parametrize("code", sorted(PHRASES))
def test_espeak_makes_a_wav_of_plausible_duration_for_each_language(tmp_path, code):
    text, syllables = PHRASES[code]
    out = EspeakEngine().synthesize(text, language(code), tmp_path)
    duration_s = _wav_duration_s(out)
    # people speak 2-8 syllables a second; pauses at punctuation add a little
    assert syllables / 8 < duration_s < syllables / 2 + 1.0, duration_s


def test_mandarin_is_fed_to_espeak_as_pinyin_with_tone_numbers():
    text = EspeakEngine().text_for("人民广场：请戴好口罩，不要聚集。谢谢", language("zh-cmn"))
    assert text == "ren2 min2 guang3 chang3 : qing3 dai4 hao3 kou3 zhao4 , bu2 yao4 ju4 ji2 . xie4 xie4"


def test_mandarin_phonemes_carry_the_tones_of_the_pinyin():
    # 请戴好口罩 qing3 dai4 hao3 kou3 zhao4: espeak-ng turns hao3 before kou3 into a rising tone (sandhi).
    phonemes = EspeakEngine().phonemes("请戴好口罩", language("zh-cmn"))
    assert "(en)" not in phonemes             # the failure of the cmn voice: Hanzi read as English
    assert re.findall(r"\d+", phonemes) == ["21", "51", "35", "21", "51"], phonemes


def _jyutping(phonemes: str) -> list[str]:
    """espeak-ng's yue mnemonics ("z'aa6p_|") as jyutping syllables ("zaap6")."""
    out = []
    for token in phonemes.replace("_|", " ").split():
        token = token.replace("'", "").replace(",", "")
        tone = re.search(r"\d", token)
        out.append(re.sub(r"\d", "", token) + (tone.group() if tone else ""))
    return out


@pytest.mark.parametrize("text", ["请戴好口罩，唔好聚集", "請戴好口罩，唔好聚集"])
def test_cantonese_voice_reads_characters_as_their_jyutping(text):
    # 請戴好口罩，唔好聚集: ceng2/cing2 daai3 hou2 hau2 zaau3, m4/ng4 hou2 zeoi6 zaap6
    got = _jyutping(EspeakEngine().phonemes(text, language("zh-yue")))
    expected = [{"cing2", "ceng2"}, {"daai3"}, {"hou2"}, {"hau2"}, {"zaau3"},
                {"m4", "ng4"}, {"hou2"}, {"zeoi6"}, {"zaap6"}]
    assert len(got) == len(expected), got
    assert all(g in e for g, e in zip(got, expected)), got


def test_espeak_with_a_missing_voice_or_program_fails_with_a_reason(tmp_path):
    from speech.languages import EspeakInput, Language

    with pytest.raises(EngineError, match="voice no-such-voice is not installed"):
        EspeakEngine().synthesize("hello", Language("xx", "Nowhere", "en", "no-such-voice", EspeakInput.TEXT),
                                  tmp_path)
    with pytest.raises(EngineError, match="not found"):
        EspeakEngine(executable="no-such-espeak").synthesize("hello", language("en"), tmp_path)


def test_gtts_with_no_network_fails_at_once_with_the_reason(tmp_path, no_network):
    with pytest.raises(EngineError) as e:
        GttsEngine(timeout_s=30).synthesize("hello", language("en"), tmp_path)
    assert e.value.engine == "gtts"
    assert "Failed to connect" in e.value.reason


def test_gtts_on_a_stalled_network_gives_up_after_its_timeout(tmp_path, monkeypatch, silent_server):
    # gTTS's own default (timeout=None) would wait here forever.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{silent_server}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{silent_server}")
    with pytest.raises(EngineError, match="Timeout"):
        GttsEngine(timeout_s=0.5).synthesize("hello", language("en"), tmp_path)


def test_gtts_mp3_is_converted_to_the_clip_format(tmp_path):
    mp3 = tmp_path / "tone.mp3"
    Sox()._run(["-n", "-r", "24000", "-c", "1", str(mp3), "synth", "1.5", "sine", "440"])
    asked = []

    def fetch(text, lang, timeout_s):
        asked.append((text, lang, timeout_s))
        return mp3.read_bytes()

    native = GttsEngine(timeout_s=3, fetch=fetch).synthesize("你好", language("zh-cmn"), tmp_path)
    assert asked == [("你好", "zh", 3)]
    wav = tmp_path / "out.wav"
    Sox().convert(native, wav)
    with wave.open(str(wav), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
    assert _wav_duration_s(wav) == pytest.approx(1.5, abs=0.1)   # MP3 pads a frame or so


def test_gtts_returning_nothing_is_a_failure(tmp_path):
    with pytest.raises(EngineError, match="no audio"):
        GttsEngine(fetch=lambda *a: b"").synthesize("hello", language("en"), tmp_path)
