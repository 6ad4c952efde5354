"""JSON documents read from text (zone files, QGroundControl .plan files): empty text and text that is not JSON
are refused with the caller's error type, naming the kind of file. Parsing text is not I/O: callers read files."""
from __future__ import annotations

import json
from typing import Any

from missions.errors import MissionError


def parse_json(text: str, what: str, error: type[MissionError]) -> Any:
    """The JSON document in `text`; `error` saying "<what> is empty" or "<what> is not valid JSON: <why>"."""
    if not text or not text.strip():
        raise error(f"{what} is empty")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise error(f"{what} is not valid JSON: {e}") from None
