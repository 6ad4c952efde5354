"""The synthesizer: text in a language -> a WAV clip, with engines in order of preference, a disk cache and
measured duration and level.

Blocking: the station calls it from a worker thread; espeak-ng and sox run as child processes with timeouts,
gTTS with a timeout on every request. It works with no network at all (espeak-ng is offline).

- Engines are tried in order (default gTTS, then espeak-ng). One that fails is skipped for retry_after_s
  while another engine can speak (so a dead network costs one timeout, not one per message); the reasons
  are recorded in the clip's fallback_reason. SynthesisFailed only when every engine failed.
- The cache is a folder: `<key>.wav` with `<key>.json` (what it says, the WAV's sha256, duration, level),
  the key a hash of text, language, the engine and its settings, and the audio format. A hit costs no
  synthesis and survives restarts; an entry whose WAV does not match its sha256 (or whose JSON is
  unreadable) is re-made. Files are written to a temporary name and renamed, so a crash leaves no half entry.
- A message in several languages: each language is synthesised (and cached) on its own, then the parts are
  joined with gap_s of silence into one clip (cached too).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from speech.audio import Sox
from speech.engines import Engine, EspeakEngine, GttsEngine
from speech.errors import AudioError, EngineError, NothingToSay, SynthesisFailed
from speech.languages import Language, language
from speech.records import AudioLevel, SpeechClip, Utterance

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1


def default_engines(gtts_timeout_s: float = 5.0) -> tuple[Engine, ...]:
    """gTTS first (better voices when the network is there), then the offline espeak-ng."""
    return (GttsEngine(timeout_s=gtts_timeout_s), EspeakEngine())


@dataclass(frozen=True)
class _Entry:
    """A cache entry as read back."""

    path: Path
    sha256: str
    level: AudioLevel
    engine: str


class Synthesizer:
    """Clips from text, cached in cache_dir.

    engines: in order of preference (default: default_engines()); gap_s: silence between the languages of a
    message; retry_after_s: how long a failed engine is skipped; min_duration_s: shorter output is a failure;
    clock: monotonic seconds, for the back-off only (tests move it).
    """

    def __init__(self, cache_dir: Path | str, engines: Sequence[Engine] | None = None, sox: Sox | None = None,
                 gap_s: float = 0.5, retry_after_s: float = 60.0, min_duration_s: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cache_dir = Path(cache_dir)
        self.engines: tuple[Engine, ...] = tuple(engines) if engines is not None else default_engines()
        if not self.engines:
            raise ValueError("a synthesizer needs at least one engine")
        self.sox = sox or Sox()
        self.gap_s = gap_s
        self.retry_after_s = retry_after_s
        self.min_duration_s = min_duration_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failed: dict[str, tuple[float, str]] = {}   # engine name -> (clock when it failed, reason)

    # --- public API -------------------------------------------------------------------------------------
    def synthesize(self, text: str, language_code: str) -> SpeechClip:
        """One text in one language -> a clip; SynthesisFailed when no engine could make it."""
        t0 = time.perf_counter()
        lang = language(language_code)
        if not isinstance(text, str) or not text.strip():
            raise NothingToSay(f"nothing to say: empty {lang.name} text {text!r}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        reasons: list[tuple[str, str]] = []
        skipped: list[Engine] = []
        for engine in self.engines:
            clip = self._hit(engine, text, lang)
            if clip is None:
                backoff = self._backoff(engine)
                if backoff is not None:
                    skipped.append(engine)
                    reasons.append((engine.name, backoff))
                    continue
                clip = self._make(engine, text, lang, reasons)
            if clip is not None:
                return self._finish(clip, t0, reasons)
        for engine in skipped:          # nothing else could speak: try the engines in back-off after all
            reasons = [r for r in reasons if r[0] != engine.name]
            clip = self._make(engine, text, lang, reasons)
            if clip is not None:
                return self._finish(clip, t0, reasons)
        raise SynthesisFailed(text, lang.code, tuple(reasons))

    def synthesize_message(self, utterances: Sequence[Utterance]) -> SpeechClip:
        """Each utterance on its own, then joined with gap_s of silence into one clip (in the given order)."""
        if not utterances:
            raise NothingToSay("nothing to say: a message with no utterance")
        t0 = time.perf_counter()
        parts = tuple(self.synthesize(u.text, u.language) for u in utterances)
        if len(parts) == 1:
            return parts[0]
        key = self._key(["message", [p.sha256 for p in parts], self.gap_s])
        entry = self._read(key)
        joined_cached = entry is not None
        if entry is None:
            with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix="tmp-") as tmp:
                wav = Path(tmp) / "message.wav"
                self.sox.join([p.path for p in parts], wav, self.gap_s)
                entry = self._store(key, wav, "+".join(dict.fromkeys(p.engine for p in parts)),
                                    {"text": [p.text for p in parts], "language": [p.language for p in parts]})
        reasons = [f"{p.language}: {p.fallback_reason}" for p in parts if p.fallback_reason]
        return SpeechClip(
            text="\n".join(p.text for p in parts), language="+".join(p.language for p in parts),
            engine=entry.engine, path=entry.path, sha256=entry.sha256, duration_s=entry.level.duration_s,
            rms_db=entry.level.rms_db, peak_db=entry.level.peak_db, synth_s=time.perf_counter() - t0,
            cached=joined_cached and all(p.cached for p in parts),
            fallback_reason="; ".join(reasons) or None, parts=parts)

    # --- engines and back-off ---------------------------------------------------------------------------
    def _backoff(self, engine: Engine) -> str | None:
        with self._lock:
            failed = self._failed.get(engine.name)
        if failed is None:
            return None
        ago_s = self._clock() - failed[0]
        if ago_s >= self.retry_after_s:
            return None
        return f"not tried: failed {ago_s:.0f} s ago (retried after {self.retry_after_s:g} s): {failed[1]}"

    def _make(self, engine: Engine, text: str, lang: Language, reasons: list[tuple[str, str]]) -> SpeechClip | None:
        key = self._key(["clip", text, lang.code, engine.cache_tag(lang)])
        try:
            with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix="tmp-") as tmp:
                native = engine.synthesize(text, lang, Path(tmp))
                wav = Path(tmp) / "clip.wav"
                self.sox.convert(native, wav)
                entry = self._store(key, wav, engine.name, {"text": text, "language": lang.code,
                                                             "tag": engine.cache_tag(lang)})
        except (EngineError, AudioError) as e:
            reason = e.reason if isinstance(e, EngineError) else str(e)
            with self._lock:
                again = engine.name in self._failed  # still down: said once already (a station offline for days)
                self._failed[engine.name] = (self._clock(), reason)
            log.log(logging.INFO if again else logging.WARNING, "speech engine %s failed%s for %s text %r: %s",
                    engine.name, " again" if again else "", lang.code, text, reason)
            reasons.append((engine.name, reason))
            return None
        with self._lock:
            self._failed.pop(engine.name, None)
        return self._clip(entry, text, lang.code, cached=False)

    def _hit(self, engine: Engine, text: str, lang: Language) -> SpeechClip | None:
        entry = self._read(self._key(["clip", text, lang.code, engine.cache_tag(lang)]))
        return None if entry is None else self._clip(entry, text, lang.code, cached=True)

    @staticmethod
    def _clip(entry: _Entry, text: str, code: str, cached: bool) -> SpeechClip:
        return SpeechClip(text=text, language=code, engine=entry.engine, path=entry.path, sha256=entry.sha256,
                          duration_s=entry.level.duration_s, rms_db=entry.level.rms_db,
                          peak_db=entry.level.peak_db, synth_s=0.0, cached=cached, fallback_reason=None)

    @staticmethod
    def _finish(clip: SpeechClip, t0: float, reasons: list[tuple[str, str]]) -> SpeechClip:
        reason = "; ".join(f"{engine}: {why}" for engine, why in reasons) or None
        return replace(clip, synth_s=time.perf_counter() - t0, fallback_reason=reason)

    # --- the cache ----------------------------------------------------------------------------------------
    def _key(self, what: list) -> str:
        fmt = [_CACHE_FORMAT, self.sox.sample_rate_hz, self.sox.peak_db]
        return hashlib.sha256(json.dumps([fmt, what], ensure_ascii=False).encode()).hexdigest()[:32]

    def _read(self, key: str) -> _Entry | None:
        wav, meta_path = self.cache_dir / f"{key}.wav", self.cache_dir / f"{key}.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = wav.read_bytes()
            level = AudioLevel(float(meta["duration_s"]), float(meta["rms_db"]), float(meta["peak_db"]))
            sha, engine = str(meta["sha256"]), str(meta["engine"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("speech cache entry %s unreadable (%s): making it again", key, e)
            return None
        if hashlib.sha256(data).hexdigest() != sha:
            log.warning("speech cache entry %s: WAV does not match its sha256: making it again", key)
            return None
        return _Entry(wav, sha, level, engine)

    def _store(self, key: str, wav: Path, engine: str, what: dict) -> _Entry:
        level = self.sox.measure(wav)
        if level.duration_s < self.min_duration_s:
            raise EngineError(engine, f"made no audio ({level.duration_s:.3f} s)")
        sha = hashlib.sha256(wav.read_bytes()).hexdigest()
        final = self.cache_dir / f"{key}.wav"
        os.replace(wav, final)
        meta = {**what, "engine": engine, "sha256": sha, "duration_s": level.duration_s,
                "rms_db": level.rms_db, "peak_db": level.peak_db, "format": _CACHE_FORMAT}
        tmp_meta = wav.with_suffix(".json")
        tmp_meta.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_meta, self.cache_dir / f"{key}.json")
        return _Entry(final, sha, level, engine)
