"""Fixtures of the web map's tests: the Flask app around web/fakes.py's station and users, one user per role, and
a logged-in client per role (with its CSRF token)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from web.app import WebApp, create_app
from web.auth import Passwords
from web.fakes import FakeStation, MemoryUsers
from web.settings import ServerSettings

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "admin")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    return Passwords(PasswordHasher.from_parameters(CHEAPEST))  # fast: the tests log in hundreds of times


@dataclass
class Site:
    web: WebApp
    station: FakeStation
    users: MemoryUsers
    clock: Clock

    def client(self, role: str | None = None):
        """A test client, logged in as the user of `role` (named like it) when given; .csrf holds its token."""
        client = self.web.flask.test_client()
        client.csrf = None
        if role is not None:
            r = client.post("/api/session", json={"name": role, "password": PASSWORD})
            assert r.status_code == 200, r.json
            client.csrf = r.json["csrf_token"]
        return client


def make_site(passwords: Passwords, **settings) -> Site:
    clock = Clock()
    station = FakeStation(clock=clock)
    users = MemoryUsers()
    for role in ROLES:
        users.add(role, role, passwords.hash(PASSWORD), clock())
    web = create_app(station, users, ServerSettings(secret_key=b"k" * 32, async_mode="threading", **settings),
                     passwords=passwords, clock=clock)
    return Site(web, station, users, clock)


@pytest.fixture
def site(passwords) -> Site:
    return make_site(passwords)


# --- the browser tests' (test_browser*.py): Debian's chromium driven by Playwright, screenshots kept ---------------

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """Where screenshots go: $SKYGUARD_ARTIFACTS, else the test's tmp dir."""
    folder = Path(os.environ.get("SKYGUARD_ARTIFACTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium (debian-packages.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield b
        finally:
            b.close()
