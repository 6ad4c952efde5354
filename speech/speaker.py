"""Delivery to a drone's loudspeaker: a client of the companion computer's HTTP speaker service.

    POST {url}/speaker/play?clip_id=ID&repeat=K  (body: the WAV)  -> DeliveryReceipt
    POST {url}/speaker/stop                                        -> the clip id stopped, or None
    GET  {url}/speaker/status                                      -> SpeakerStatus

Every call has a timeout (to connect, and between bytes of the answer) and either returns what the speaker
acknowledged or raises a DeliveryError saying why: SpeakerUnreachable, SpeakerTimeout, SpeakerRefused,
BadSpeakerAnswer. Proxies from the environment are ignored: the speaker is on the drone's own link.
"""
from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from speech.errors import BadSpeakerAnswer, SpeakerRefused, SpeakerTimeout, SpeakerUnreachable
from speech.records import DeliveryReceipt, PlayRecord, SpeakerStatus, SpeechClip


def _field(answer: dict, name: str, kind: type | tuple[type, ...], url: str) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise BadSpeakerAnswer(url, f"answer field {name!r} is {value!r}, not {getattr(kind, '__name__', kind)}")
    return value


def _play_record(item: Any, url: str) -> PlayRecord:
    if not isinstance(item, dict):
        raise BadSpeakerAnswer(url, f"a played clip is {item!r}, not an object")
    number = (int, float)
    return PlayRecord(clip_id=_field(item, "clip_id", str, url), source=_field(item, "source", str, url),
                      started_at_s=float(_field(item, "started_at_s", number, url)),
                      duration_s=float(_field(item, "duration_s", number, url)),
                      repeat=_field(item, "repeat", int, url),
                      ends_at_s=float(_field(item, "ends_at_s", number, url)),
                      interrupted=_field(item, "interrupted", bool, url))


class SpeakerClient:
    """One drone's speaker service at url ("http://HOST:PORT")."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, body: bytes | None = None) -> dict:
        url = f"{self.url}{path}"
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "audio/wav"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                error = str(json.loads(text).get("error") or text)
            except (ValueError, AttributeError):
                error = text[:200] or e.reason
            raise SpeakerRefused(self.url, e.code, error) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise SpeakerTimeout(self.url, f"no answer within {self.timeout_s:g} s") from None
            raise SpeakerUnreachable(self.url, f"cannot connect: {e.reason}") from None
        except (TimeoutError, socket.timeout):
            raise SpeakerTimeout(self.url, f"no answer within {self.timeout_s:g} s") from None
        except http.client.HTTPException as e:
            raise BadSpeakerAnswer(self.url, f"broken HTTP answer: {type(e).__name__}: {e}") from None
        except OSError as e:
            raise SpeakerUnreachable(self.url, f"connection failed: {e}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise BadSpeakerAnswer(self.url, f"answer is not JSON: {raw[:100]!r}") from None
        if not isinstance(answer, dict):
            raise BadSpeakerAnswer(self.url, f"answer is not a JSON object: {raw[:100]!r}")
        return answer

    def play(self, clip: SpeechClip | Path, repeat: int = 1, clip_id: str | None = None) -> DeliveryReceipt:
        """Send a clip to play repeat times (it replaces whatever plays); the speaker's receipt."""
        path = clip.path if isinstance(clip, SpeechClip) else Path(clip)
        if clip_id is None:
            clip_id = clip.sha256[:16] if isinstance(clip, SpeechClip) else path.stem
        data = path.read_bytes()
        t0 = time.perf_counter()
        answer = self._call("POST", "/speaker/play?" + urlencode({"clip_id": clip_id, "repeat": repeat}), data)
        round_trip_s = time.perf_counter() - t0
        if answer.get("accepted") is not True:
            raise SpeakerRefused(self.url, None, f"clip {clip_id} not accepted: {answer}")
        number = (int, float)
        return DeliveryReceipt(
            clip_id=_field(answer, "clip_id", str, self.url), accepted=True,
            duration_s=float(_field(answer, "duration_s", number, self.url)),
            repeat=_field(answer, "repeat", int, self.url),
            started_at_s=float(_field(answer, "started_at_s", number, self.url)),
            ends_at_s=float(_field(answer, "ends_at_s", number, self.url)),
            speaker_url=self.url, round_trip_s=round_trip_s)

    def stop(self) -> str | None:
        """Stop what plays; the id of the clip stopped, or None if nothing played."""
        answer = self._call("POST", "/speaker/stop", b"")
        stopped = answer.get("stopped", "missing")
        if stopped is not None and not isinstance(stopped, str):
            raise BadSpeakerAnswer(self.url, f"answer field 'stopped' is {stopped!r}")
        return stopped

    def status(self) -> SpeakerStatus:
        answer = self._call("GET", "/speaker/status")
        playing, played = answer.get("playing"), answer.get("played")
        if not isinstance(played, list):
            raise BadSpeakerAnswer(self.url, f"answer field 'played' is {played!r}, not a list")
        return SpeakerStatus(playing=None if playing is None else _play_record(playing, self.url),
                             played=tuple(_play_record(p, self.url) for p in played))
