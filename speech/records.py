"""Frozen records that leave speech/: what to say, the clips made, and what the speaker reported.

Units are in the names; times reported by a speaker are in the speaker's clock (a simulator's clock runs
at its speed-up).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Utterance:
    """One text in one language (a rendered message is one utterance per language)."""

    text: str
    language: str          # a code of speech.languages.LANGUAGES


@dataclass(frozen=True)
class AudioLevel:
    """What sox measures of a WAV file."""

    duration_s: float
    rms_db: float          # dBFS; -inf for digital silence
    peak_db: float         # dBFS


@dataclass(frozen=True)
class SpeechClip:
    """A WAV file ready to play.

    A clip of several languages (one per part, joined with a short silence) has its parts in `parts`,
    `language` and `engine` joined with "+" (each engine once, in order) and `text` joined with newlines;
    a one-language clip has no parts.
    """

    text: str
    language: str
    engine: str                    # "gtts", "espeak-ng", or e.g. "gtts+espeak-ng" for a joined clip
    path: Path                     # the WAV file (16-bit PCM, mono)
    sha256: str                    # of the WAV file's bytes
    duration_s: float
    rms_db: float
    peak_db: float
    synth_s: float                 # wall time this call spent (a cache hit costs only the lookup)
    cached: bool                   # True when nothing was synthesised for this call
    fallback_reason: str | None    # why preferred engines were not used ("gtts: ..."); None if the first was
    parts: tuple["SpeechClip", ...] = ()


@dataclass(frozen=True)
class DeliveryReceipt:
    """The speaker's acknowledgement of one clip, as the speaker reports it."""

    clip_id: str
    accepted: bool
    duration_s: float              # of one play
    repeat: int
    started_at_s: float            # speaker's clock
    ends_at_s: float               # speaker's clock: started_at_s + duration_s * repeat
    speaker_url: str
    round_trip_s: float            # our wall time from sending the clip to the answer


@dataclass(frozen=True)
class PlayRecord:
    """One clip a speaker played (or is playing)."""

    clip_id: str
    source: str                    # "http" (a clip sent to it) or "relay" (a pre-loaded clip triggered)
    started_at_s: float
    duration_s: float              # of one play
    repeat: int
    ends_at_s: float               # when it ended or will end; earlier than planned when interrupted
    interrupted: bool


@dataclass(frozen=True)
class SpeakerStatus:
    playing: PlayRecord | None
    played: tuple[PlayRecord, ...]


@dataclass(frozen=True)
class EngineTiming:
    """Seconds per message of one engine (benchmark)."""

    engine: str
    messages: int                  # messages timed
    failures: int                  # messages the engine could not make
    seconds_per_message: float | None  # mean over the messages it made; None if it made none
    error: str | None              # the last failure's reason
