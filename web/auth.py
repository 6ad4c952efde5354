"""Passwords (argon2, PyPI argon2-cffi) and the login throttle.

`Passwords` hashes and verifies with argon2id; verifying an unknown user still costs one hash, so the answer time
does not tell which names exist. `LoginThrottle` refuses logins after too many recent failures for one name or
from one address (a sliding window; the clock is injected).
"""
from __future__ import annotations

import collections
import re
import threading
from collections.abc import Callable, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from web.errors import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput("a user name is 1-64 letters, digits, '_', '.' or '-'")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


class Passwords:
    """argon2id hashing (argon2-cffi's defaults unless a hasher is given, e.g. a cheap one in tests)."""

    def __init__(self, hasher: PasswordHasher | None = None):
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("not a real password, only spends the same time")

    def hash(self, password: str) -> str:
        return self._hasher.hash(check_password(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; an unknown user (hash None) is checked against a dummy hash."""
        try:
            self._hasher.verify(password_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


class LoginThrottle:
    """At most `max_failures` failed logins per key (a name, an address) in the last `window_s`."""

    def __init__(self, clock: Callable[[], float], max_failures: int = 5, window_s: float = 300.0):
        self._clock = clock
        self._max = max_failures
        self._window_s = window_s
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        times = self._failures.setdefault(key, collections.deque())
        while times and times[0] <= now - self._window_s:
            times.popleft()
        return times

    def retry_after_s(self, keys: Iterable[str]) -> float | None:
        """None when a login may be tried now; otherwise how long until one may."""
        now = self._clock()
        with self._lock:
            waits = [times[0] + self._window_s - now for key in keys
                     if len(times := self._recent(key, now)) >= self._max]
        return max(waits) if waits else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
