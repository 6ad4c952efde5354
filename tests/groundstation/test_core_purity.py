"""The core is pure: no module of groundstation/core reads a clock, makes ids or randomness, or does I/O (ids and
time come in with the events). import-linter forbids the modules; this test also catches the calls that come in
through an allowed module (datetime.now, date.today, open(), print())."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "groundstation" / "core"
FORBIDDEN_CALLS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "sleep"),
    ("uuid", "uuid4"), ("uuid", "uuid1"), ("random", "random"), ("os", "urandom"),
}
FORBIDDEN_NAMES = {"open", "print", "input", "exec", "eval", "__import__"}


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: {f.value.id}.{f.attr}()")
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) and (
                    f.value.attr, f.attr) in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: ...{f.value.attr}.{f.attr}()")
            elif isinstance(f, ast.Name) and f.id in FORBIDDEN_NAMES:
                found.append(f"line {node.lineno}: {f.id}()")
    return found


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_no_core_module_reads_a_clock_or_does_io(path):
    assert offences(path.read_text()) == []


@pytest.mark.parametrize("snippet", [
    "from datetime import datetime\nx = datetime.now()",
    "import datetime\nx = datetime.datetime.utcnow()",
    "import time\nt = time.time()",
    "import uuid\ni = uuid.uuid4().hex",
    "with open('f') as f: pass",
])
def test_the_scan_catches_each_kind(snippet):
    assert offences(snippet)
