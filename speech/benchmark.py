"""Seconds per message per engine: what benchmarks/crowd_response.py prints (never timed by the tests).

    from speech import bench
    {t.engine: t.seconds_per_message for t in bench()}

Each engine alone, a fresh cache for every run (so every message is really synthesised: engine, sox
conversion, measurement, join), after one untimed warm-up (imports, disk cache of the OS).
"""
from __future__ import annotations

import tempfile
import time
from typing import Sequence

from speech.engines import Engine
from speech.errors import SpeechError
from speech.records import EngineTiming, Utterance
from speech.synthesizer import Synthesizer, default_engines

SAMPLE_MESSAGE: tuple[Utterance, ...] = (
    Utterance("人民广场：请戴好口罩，不要聚集", "zh-cmn"),
    Utterance("人民廣場：請戴好口罩，唔好聚集", "zh-yue"),
    Utterance("People's Square: please wear a mask and do not gather.", "en"),
)


def bench(messages: Sequence[Sequence[Utterance]] = (SAMPLE_MESSAGE,), engines: Sequence[Engine] | None = None,
          runs: int = 3) -> tuple[EngineTiming, ...]:
    """Mean seconds to synthesise one message (all its languages, joined) with each engine."""
    timings = []
    for engine in engines if engines is not None else default_engines():
        seconds: list[float] = []
        failures, error = 0, None
        for run in range(runs + 1):
            for message in messages:
                with tempfile.TemporaryDirectory(prefix="speech-bench-") as cache:
                    synth = Synthesizer(cache, engines=[engine], retry_after_s=0.0)
                    t0 = time.perf_counter()
                    try:
                        synth.synthesize_message(message)
                    except SpeechError as e:
                        if run:
                            failures, error = failures + 1, str(e)
                        continue
                    if run:                      # run 0 is the warm-up
                        seconds.append(time.perf_counter() - t0)
        timings.append(EngineTiming(engine.name, len(messages) * runs, failures,
                                    sum(seconds) / len(seconds) if seconds else None, error))
    return tuple(timings)
