"""Waiting for a condition in tests: poll it until it holds or a generous deadline passes, then fail saying what.
The deadline only guards against a hang: a test asserts the condition, never how fast it came."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout_s: float = 60.0, what: str = "condition") -> T:
    """The first truthy value of `condition()`; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout_s:g} s")
        time.sleep(0.01)
