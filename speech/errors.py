"""The errors speech/ raises: one tree, each saying what is wrong.

SpeechError
├── TemplateError       a message template is malformed, names an unknown placeholder, or lacks a value
│                       (also a ValueError: config validation reports it)
├── UnknownLanguage     a language code that is not in the table (also a ValueError)
├── NothingToSay        empty or blank text given to the synthesizer (also a ValueError)
├── EngineError         one engine could not synthesise one text (carries engine and reason); the
│                       synthesizer catches it and falls back to the next engine
├── SynthesisFailed     every engine failed for a text (carries each engine's reason)
├── AudioError          sox could not convert, join or measure a file, or a file is not usable audio
└── DeliveryError       a clip did not reach the drone's speaker (carries the speaker's URL)
    ├── SpeakerUnreachable  nothing answers at the endpoint (connection refused, no route, bad host)
    ├── SpeakerTimeout      the endpoint did not answer within the timeout
    ├── SpeakerRefused      the speaker answered with an HTTP error or accepted: false (carries the
    │                       HTTP status and the speaker's own error text)
    └── BadSpeakerAnswer    the answer is not the JSON the protocol promises
"""
from __future__ import annotations


class SpeechError(Exception):
    """Base of every error raised by speech/."""


class TemplateError(SpeechError, ValueError):
    pass


class UnknownLanguage(SpeechError, ValueError):
    def __init__(self, code: str, known: tuple[str, ...]):
        super().__init__(f"unknown language {code!r}; known languages: {', '.join(known)}")
        self.code = code
        self.known = known


class NothingToSay(SpeechError, ValueError):
    pass


class EngineError(SpeechError):
    def __init__(self, engine: str, reason: str):
        super().__init__(f"{engine}: {reason}")
        self.engine = engine
        self.reason = reason


class SynthesisFailed(SpeechError):
    def __init__(self, text: str, language: str, reasons: tuple[tuple[str, str], ...]):
        detail = "; ".join(f"{engine}: {reason}" for engine, reason in reasons) or "no engine configured"
        super().__init__(f"every speech engine failed for {language} text {text!r}: {detail}")
        self.text = text
        self.language = language
        self.reasons = reasons


class AudioError(SpeechError):
    pass


class DeliveryError(SpeechError):
    def __init__(self, url: str, message: str):
        super().__init__(f"speaker at {url}: {message}")
        self.url = url


class SpeakerUnreachable(DeliveryError):
    pass


class SpeakerTimeout(DeliveryError):
    pass


class SpeakerRefused(DeliveryError):
    def __init__(self, url: str, status: int | None, error: str):
        what = f"refused (HTTP {status})" if status is not None else "refused"
        super().__init__(url, f"{what}: {error}")
        self.status = status
        self.error = error


class BadSpeakerAnswer(DeliveryError):
    pass
