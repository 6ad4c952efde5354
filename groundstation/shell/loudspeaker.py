"""The loudspeaker for the crowd response, the shell's half: synthesise the zone's message (speech/: gTTS with a
timeout, the offline espeak-ng when it fails, cached on disk) and deliver it to the drone's speaker (the companion
computer's HTTP endpoint). Answers the core's Broadcast with a BroadcastFinished event: acknowledged (with when the
last repeat ends, on the station's clock) or failed with the reason. The other delivery, a relay that plays a
pre-loaded clip, is a vehicle command and goes through the core's command path.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from groundstation.core.response_data import Broadcast, BroadcastFinished, StopBroadcast
from speech import SpeakerClient, SpeechError, Synthesizer, Utterance

log = logging.getLogger("groundstation.loudspeaker")


class Loudspeaker:
    """`broadcast(Broadcast) -> BroadcastFinished` and `stop(StopBroadcast)`, blocking (worker threads call them).

    speaker_urls: vehicle id -> its speaker endpoint (http://host:port); clock: the station's clock.
    """

    def __init__(self, synthesizer: Synthesizer, speaker_urls: Mapping[str, str], clock: Callable[[], float],
                 timeout_s: float = 10.0):
        self.synthesizer = synthesizer
        self.speaker_urls = dict(speaker_urls)
        self._clock = clock
        self.timeout_s = timeout_s
        self._preparing = threading.Lock()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def prepare_in_background(self, messages: list[tuple[tuple[str, str], ...]]) -> None:
        thread = threading.Thread(target=self.prepare, args=(messages,), name="speech-prepare", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop preparing (the message being synthesised finishes), waiting up to timeout_s."""
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def prepare(self, messages: list[tuple[tuple[str, str], ...]]) -> None:
        """Synthesise messages ahead of time (at start, and when zones change), so that a broadcast costs no
        synthesis; one preparation at a time (a second waits: the messages it shares are cached by then)."""
        with self._preparing:
            for utterances in messages:
                if self._closed.is_set():
                    return
                try:
                    clip = self.synthesizer.synthesize_message([Utterance(t, lang) for lang, t in utterances])
                    log.info("loudspeaker message ready: %.1f s (%s)%s", clip.duration_s, clip.engine,
                             f"; {clip.fallback_reason}" if clip.fallback_reason else "")
                except SpeechError as exc:
                    log.error("cannot prepare a loudspeaker message: %s", exc)
                except OSError as exc:  # the cache folder gone or full: the broadcast will try again
                    log.error("cannot prepare a loudspeaker message: %s", exc)

    def broadcast(self, job: Broadcast) -> BroadcastFinished:
        url = self.speaker_urls.get(job.vehicle_id)
        if not url:
            return BroadcastFinished(job.response_id, job.broadcast_id, False,
                                     f"no loudspeaker endpoint is configured for {job.vehicle_id} (speaker_url)")
        try:
            clip = self.synthesizer.synthesize_message([Utterance(t, lang) for lang, t in job.utterances])
            receipt = SpeakerClient(url, timeout_s=self.timeout_s).play(clip, repeat=job.repeat,
                                                                        clip_id=job.broadcast_id)
        except SpeechError as exc:
            return BroadcastFinished(job.response_id, job.broadcast_id, False, f"{type(exc).__name__}: {exc}")
        if not receipt.accepted:
            return BroadcastFinished(job.response_id, job.broadcast_id, False, f"the speaker at {url} did not accept "
                                                                              "the clip")
        engines = tuple(p.engine for p in clip.parts) or (clip.engine,)
        return BroadcastFinished(job.response_id, job.broadcast_id, True, "", receipt.duration_s, receipt.repeat,
                                 self._clock() + receipt.duration_s * receipt.repeat, engines, clip.fallback_reason)

    def stop(self, job: StopBroadcast) -> None:
        url = self.speaker_urls.get(job.vehicle_id)
        if url:
            try:
                SpeakerClient(url, timeout_s=self.timeout_s).stop()
            except SpeechError as exc:
                log.warning("%s: could not stop the loudspeaker: %s", job.vehicle_id, exc)
