"""Speech engines: Google's online TTS (gTTS) and the offline Debian espeak-ng.

An engine turns one text in one language into an audio file of its own format in a work folder, or raises
EngineError saying why; the synthesizer converts, measures, caches and falls back. Third-party modules are
imported when an engine is first used, so importing speech/ costs nothing.
"""
from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, ClassVar, Protocol

from speech.errors import EngineError
from speech.languages import EspeakInput, Language

# Full-width punctuation -> ASCII, so pinyin-fed espeak-ng pauses where the Chinese text does.
_PUNCTUATION = str.maketrans({"，": ", ", "、": ", ", "。": ". ", "：": ": ", "；": "; ", "！": "! ", "？": "? ",
                              "（": " (", "）": ") ", "“": " ", "”": " ", "‘": " ", "’": " ", "…": ". "})


class Engine(Protocol):
    """What the synthesizer needs of an engine."""

    name: str

    def cache_tag(self, lang: Language) -> str:
        """Everything besides the text that changes this engine's audio for lang (part of the cache key)."""
        ...

    def synthesize(self, text: str, lang: Language, workdir: Path) -> Path:
        """An audio file (any format sox reads) in workdir speaking text; EngineError if it cannot."""
        ...


def _describe(exc: BaseException) -> str:
    """An exception and the one that caused it, in one line (gTTS hides timeouts behind 'Failed to connect')."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        text += f" ({type(cause).__name__})"
    return text[:300]


def gtts_mp3(text: str, lang: str, timeout_s: float, tld: str = "com", slow: bool = False) -> bytes:
    """MP3 bytes from Google's TTS web service via gTTS, each HTTP request bounded by timeout_s."""
    from gtts import gTTS  # imported on first use: costs ~0.15 s

    buf = io.BytesIO()
    gTTS(text, lang=lang, tld=tld, slow=slow, timeout=(timeout_s, timeout_s)).write_to_fp(buf)
    return buf.getvalue()


@dataclass(frozen=True)
class GttsEngine:
    """Google Translate's TTS through gTTS: natural voices, needs the network.

    gTTS waits forever on a stalled network unless given a timeout: every request gets timeout_s to connect
    and timeout_s between received bytes (a text over 100 characters is sent as several requests).
    `fetch` is the network call (text, gTTS language, timeout_s) -> MP3 bytes; tests replace it.
    """

    timeout_s: float = 5.0
    tld: str = "com"
    slow: bool = False
    fetch: Callable[[str, str, float], bytes] | None = field(default=None, compare=False, repr=False)
    name: ClassVar[str] = "gtts"

    def cache_tag(self, lang: Language) -> str:
        return f"gtts|{lang.gtts_lang}|{self.tld}|{'slow' if self.slow else 'normal'}"

    def synthesize(self, text: str, lang: Language, workdir: Path) -> Path:
        fetch = self.fetch or (lambda t, l, s: gtts_mp3(t, l, s, self.tld, self.slow))
        try:
            mp3 = fetch(text, lang.gtts_lang, self.timeout_s)
        except Exception as e:  # noqa: BLE001 - whatever the online engine does wrong, the next engine speaks
            raise EngineError(self.name, _describe(e)) from e
        if not mp3:
            raise EngineError(self.name, "Google's TTS returned no audio")
        out = workdir / "gtts.mp3"
        out.write_bytes(mp3)
        return out


@dataclass(frozen=True)
class EspeakEngine:
    """Debian espeak-ng, offline, ~20 ms a clip, robotic but intelligible. One child process per clip.

    Mandarin is fed as pinyin with tone numbers (pypinyin; espeak-ng applies third-tone sandhi itself),
    Cantonese and English as written (see speech.languages).
    """

    executable: str = "espeak-ng"
    rate_wpm: int = 160
    timeout_s: float = 10.0
    name: ClassVar[str] = "espeak-ng"

    @cached_property
    def installed_voices(self) -> frozenset[str]:
        """Every name `-v` takes on this machine (languages, voice names, voice files), lower case.

        Asked once per engine: espeak-ng reading from stdin does not fail on an unknown voice, it speaks
        with its default (English) voice instead, so the voice is checked before it is used.
        """
        names: set[str] = set()
        for row in self._call([self.executable, "--voices"], None).splitlines()[1:]:
            cols = row.split()
            if len(cols) >= 5:
                names.update((cols[1], cols[3], cols[4], cols[4].rsplit("/", 1)[-1]))
                names.update(re.findall(r"\(([^\s()]+) \d+\)", row))
        return frozenset(n.lower() for n in names)

    def cache_tag(self, lang: Language) -> str:
        return f"espeak-ng|{lang.espeak_voice}|{lang.espeak_input.value}|{self.rate_wpm}"

    def text_for(self, text: str, lang: Language) -> str:
        """What espeak-ng is fed for text in lang (pinyin with tone numbers for Mandarin)."""
        if lang.espeak_input is EspeakInput.PINYIN:
            from pypinyin import Style, lazy_pinyin  # imported on first use: costs ~0.3 s

            syllables = lazy_pinyin(text.translate(_PUNCTUATION), style=Style.TONE3, neutral_tone_with_five=True)
            return " ".join(s.strip() for s in syllables if s.strip())
        return text

    def _run(self, args: list[str], text: str, lang: Language) -> str:
        if lang.espeak_voice.lower() not in self.installed_voices:
            raise EngineError(self.name, f"voice {lang.espeak_voice} is not installed (see espeak-ng --voices)")
        cmd = [self.executable, "-v", lang.espeak_voice, "-s", str(self.rate_wpm), "-b", "1", *args, "--stdin"]
        return self._call(cmd, self.text_for(text, lang))

    def _call(self, cmd: list[str], stdin: str | None) -> str:
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                                  timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise EngineError(self.name, f"{self.executable!r} not found: install Debian package espeak-ng") from None
        except subprocess.TimeoutExpired:
            raise EngineError(self.name, f"{cmd[0]} gave no answer in {self.timeout_s:g} s") from None
        if done.returncode != 0:
            why = done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}"
            raise EngineError(self.name, f"{' '.join(cmd[:3])}: {why}")
        return done.stdout

    def synthesize(self, text: str, lang: Language, workdir: Path) -> Path:
        out = workdir / "espeak.wav"
        self._run(["-w", str(out)], text, lang)
        if not out.exists():
            raise EngineError(self.name, "wrote no WAV file")
        return out

    def phonemes(self, text: str, lang: Language) -> str:
        """The phonemes espeak-ng reads text as (its -x mnemonics), to check a voice's reading."""
        return self._run(["-q", "-x"], text, lang).strip()
