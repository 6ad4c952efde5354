"""The loudspeaker: message templates, speech synthesis (gTTS, espeak-ng) with a disk cache, and delivery
to a drone's speaker over HTTP.

A sibling adapter: never imports telemetry, sim, vision, web or groundstation. Blocking calls, meant for a
worker thread of the station; the engines' and sox's work runs in child processes with timeouts.

    synth = Synthesizer(cache_dir)                       # gTTS, then offline espeak-ng
    clip = synth.synthesize_message(render_message({"zh-cmn": "{zone}：请戴好口罩，不要聚集"}, {"zone": name}))
    receipt = SpeakerClient(url).play(clip, repeat=3)
"""
from speech.audio import Sox
from speech.benchmark import SAMPLE_MESSAGE, bench
from speech.engines import Engine, EspeakEngine, GttsEngine
from speech.errors import (AudioError, BadSpeakerAnswer, DeliveryError, EngineError, NothingToSay, SpeakerRefused,
                           SpeakerTimeout, SpeakerUnreachable, SpeechError, SynthesisFailed, TemplateError,
                           UnknownLanguage)
from speech.languages import LANGUAGES, EspeakInput, Language, language
from speech.messages import PLACEHOLDERS, placeholders, render, render_message
from speech.records import (AudioLevel, DeliveryReceipt, EngineTiming, PlayRecord, SpeakerStatus, SpeechClip,
                            Utterance)
from speech.speaker import SpeakerClient
from speech.synthesizer import Synthesizer, default_engines

__all__ = [
    "AudioError", "AudioLevel", "BadSpeakerAnswer", "DeliveryError", "DeliveryReceipt", "Engine", "EngineError",
    "EngineTiming", "EspeakEngine", "EspeakInput", "GttsEngine", "LANGUAGES", "Language", "NothingToSay",
    "PLACEHOLDERS", "PlayRecord", "SAMPLE_MESSAGE", "SpeakerClient", "SpeakerRefused", "SpeakerStatus",
    "SpeakerTimeout", "SpeakerUnreachable", "SpeechClip", "SpeechError", "Sox", "Synthesizer", "SynthesisFailed",
    "TemplateError", "UnknownLanguage", "Utterance", "bench", "default_engines", "language", "placeholders",
    "render", "render_message",
]
