# Troika — one command to run, one to test. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT

.PHONY: run test bench lint install backup restore up down format messages clean

$(STAMP): requirements.txt requirements-dev.txt plugins/troika-shop/pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or newer (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: Troika needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The example channel plugin (docs/plugins.md), from its own folder; it has no dependencies of its own.
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e plugins/troika-shop
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(PY) -m suite.stack run

# Two pytest processes (pytest-xdist), a file's tests together: 15 min instead of 22 on 2 cores.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: $(STAMP)
	@$(PY) -m suite.stack test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m suite.stack exec -- $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m suite.stack exec -- $(PY) manage.py check

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	@$(PY) -m suite.stack exec -- $(PY) -m bench $(BENCH_ARGS)

messages: $(STAMP)
	$(PY) -m suite.stack exec -- $(PY) manage.py makemessages -l zh_Hans -l en --no-obsolete --ignore=.venv --ignore=var
	$(PY) -m suite.stack exec -- $(PY) manage.py messages_english
	$(PY) -m suite.stack exec -- $(PY) manage.py compilemessages --ignore=.venv

backup: $(STAMP)
	@$(PY) -m suite.stack backup $(FILE)

restore: $(STAMP)
	@$(PY) -m suite.stack restore $(FILE)

up: $(STAMP)
	@$(PY) -m suite.stack up

down: $(STAMP)
	@$(PY) -m suite.stack down

clean:
	rm -rf $(VENV) var
