"""Audio files through sox (child processes, each with a timeout): convert, join, measure.

Every clip is converted to one format (16-bit PCM WAV, mono, one sample rate) so clips of different
engines can be joined, and normalised to one peak level so every language plays equally loud.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from speech.errors import AudioError
from speech.records import AudioLevel

_STAT = re.compile(r"^(Pk lev dB|RMS lev dB)\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Sox:
    """sox with its settings: where it is, how long a call may take, the clips' format."""

    executable: str = "sox"
    timeout_s: float = 10.0
    sample_rate_hz: int = 22050
    peak_db: float | None = -1.0       # normalise every clip's peak to this (dBFS); None keeps the level

    def _run(self, args: Sequence[str]) -> str:
        cmd = [self.executable, *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise AudioError(f"{self.executable!r} not found: install sox (Debian packages sox, "
                             f"libsox-fmt-mp3)") from None
        except subprocess.TimeoutExpired:
            raise AudioError(f"sox took longer than {self.timeout_s:g} s: {' '.join(cmd)}") from None
        if done.returncode != 0:
            why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
            raise AudioError(f"sox failed ({why}): {' '.join(cmd)}")
        return done.stdout + done.stderr

    def _format(self) -> list[str]:
        """The clips' format, as output options (-R: repeatable dither, so a clip made again is the same bytes)."""
        return ["-R", "-r", str(self.sample_rate_hz), "-c", "1", "-b", "16", "-e", "signed-integer"]

    def convert(self, src: Path, dst: Path) -> None:
        """Any file sox reads (WAV, MP3...) -> a WAV in the clips' format, normalised to peak_db."""
        gain = ["gain", "-n", f"{self.peak_db:g}"] if self.peak_db is not None else []
        self._run([str(src), *self._format(), str(dst), "channels", "1", "rate", str(self.sample_rate_hz), *gain])

    def join(self, sources: Sequence[Path], dst: Path, gap_s: float) -> None:
        """The sources one after another with gap_s of silence between (all in the clips' format)."""
        if not sources:
            raise AudioError("nothing to join")
        if gap_s < 0:
            raise AudioError(f"gap_s must be >= 0, got {gap_s}")
        inputs: list[str] = [str(sources[0])]
        if len(sources) > 1 and gap_s > 0:
            silence = dst.with_name(dst.stem + ".gap.wav")
            self._run(["-D", "-n", *self._format(), str(silence), "trim", "0", f"{gap_s:g}"])
            for src in sources[1:]:
                inputs += [str(silence), str(src)]
        else:
            inputs += [str(s) for s in sources[1:]]
        try:
            self._run([*inputs, str(dst)])
        finally:
            if len(sources) > 1 and gap_s > 0:
                dst.with_name(dst.stem + ".gap.wav").unlink(missing_ok=True)

    def measure(self, path: Path) -> AudioLevel:
        """Duration (from the header, `sox --i -D`) and level (`sox FILE -n stats`)."""
        try:
            duration_s = float(self._run(["--i", "-D", str(path)]).split()[0])
        except (ValueError, IndexError):
            raise AudioError(f"sox gave no duration for {path}") from None
        levels = dict(_STAT.findall(self._run([str(path), "-n", "stats"])))
        try:
            return AudioLevel(duration_s, float(levels["RMS lev dB"]), float(levels["Pk lev dB"]))
        except (KeyError, ValueError):
            raise AudioError(f"sox stats gave no level for {path}") from None
