"""`groundstation user`: users of the web map in the station database, argon2 hashes, no default password."""
from __future__ import annotations

import io
import json

import pytest
from argon2 import PasswordHasher

from groundstation.cli import main
from groundstation.shell import storage


def users(db) -> dict:
    conn = storage.open_database(db)
    try:
        return {u["name"]: u for u in storage.user_rows(conn)}
    finally:
        conn.close()


def run(monkeypatch, argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_add_stores_an_argon2_hash_of_the_password_read_from_stdin(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "s.sqlite")
    assert run(monkeypatch, ["user", "add", "--db", db, "--role", "admin", "ann", "--password-stdin"],
               "a long admin password\n") == 0
    ann = users(db)["ann"]
    assert ann["role"] == "admin" and ann["password_hash"].startswith("$argon2id$")
    assert PasswordHasher().verify(ann["password_hash"], "a long admin password")
    assert "a long admin password" not in capsys.readouterr().out


def test_add_asks_the_password_twice_on_the_terminal(tmp_path, monkeypatch):
    db = str(tmp_path / "s.sqlite")
    answers = iter(["first password here", "other password here"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(monkeypatch, ["user", "add", "--db", db, "--role", "viewer", "vic"]) == 2
    assert users(db) == {}
    answers = iter(["same password here", "same password here"])
    assert run(monkeypatch, ["user", "add", "--db", db, "--role", "viewer", "vic"]) == 0
    assert users(db)["vic"]["role"] == "viewer"


@pytest.mark.parametrize("argv, stdin", [
    (["--role", "admin", "ann", "--password-stdin"], "short\n"),
    (["--role", "admin", "bad name", "--password-stdin"], "a long enough password\n"),
    (["--role", "admin", "ann", "--password-stdin"], "\n"),
])
def test_bad_input_exits_2_and_stores_nothing(tmp_path, monkeypatch, argv, stdin):
    db = str(tmp_path / "s.sqlite")
    assert run(monkeypatch, ["user", "add", "--db", db, *argv], stdin) == 2
    assert users(db) == {}


def test_list_set_password_and_remove(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "s.sqlite")
    assert run(monkeypatch, ["user", "add", "--db", db, "--role", "operator", "olga", "--password-stdin"],
               "olga's first password\n") == 0
    assert run(monkeypatch, ["user", "add", "--db", db, "--role", "viewer", "olga", "--password-stdin"],
               "another password\n") == 2, "the name is taken"
    old = users(db)["olga"]["password_hash"]
    assert run(monkeypatch, ["user", "set-password", "--db", db, "olga", "--password-stdin"],
               "olga's second password\n") == 0
    assert users(db)["olga"]["password_hash"] != old
    capsys.readouterr()
    assert run(monkeypatch, ["user", "list", "--db", db, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "olga" and row["role"] == "operator" and "password_hash" not in row
    assert run(monkeypatch, ["user", "remove", "--db", db, "olga"]) == 0
    assert run(monkeypatch, ["user", "remove", "--db", db, "olga"]) == 2
    assert users(db) == {}
