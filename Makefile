# SkyGuard: `make run` runs the station against a simulated fleet; `make test` runs the tests.
# Both install the pinned Debian packages, the web map's npm packages (node_modules, from package-lock.json) and create
# .venv with the pinned requirements first (only when they changed).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast bench lint clean

$(STAMP): requirements.txt constraints.txt pyproject.toml debian-packages.txt package.json package-lock.json
	scripts/install-debian-packages
	npm ci --no-audit --no-fund --loglevel=error
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/groundstation demo

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

# the inner loop: every test but those marked slow (real processes, sockets or models for more than a few seconds)
test-fast: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow" -q

bench: $(STAMP)
	$(PY) benchmarks/station.py
	$(PY) benchmarks/planning.py
	$(PY) benchmarks/crowd_response.py

clean:
	rm -rf $(VENV) var
