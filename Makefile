# CPA/CPL Security Governance Portal. `make run` serves the demo; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CHROMIUM ?= /usr/bin/chromium
BENCH_DB ?= sqlite:///$(CURDIR)/bench/bench.sqlite3
BENCH_ROWS ?= 50000
# Benchmarks run with DEBUG off (Django keeps every query in memory under DEBUG).
BENCH_ENV := DATABASE_URL=$(BENCH_DB) DJANGO_SECRET_KEY=bench-only-not-a-secret-0123456789abcdefghijklmnop

.PHONY: install run test browser worker beat bench-import bench-inventory bench-pack clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=1 $(PY) manage.py load_demo
	@echo "Serving on http://127.0.0.1:8000 (demo password and TOTP secrets above)"
	DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium is not at $(CHROMIUM): browser tests will be skipped (apt-get install chromium)"; fi

# lint-imports first: the layer contracts in pyproject.toml (governance -> cpl -> portal).
test: $(VENV)/.installed-test browser
	$(BIN)/lint-imports --no-cache --no-logo
	$(PY) -m pytest

worker: install
	$(BIN)/celery -A portal worker --loglevel=INFO

beat: install
	$(BIN)/celery -A portal beat --loglevel=INFO

bench-import: install
	rm -rf bench && mkdir -p bench
	$(BENCH_ENV) $(PY) manage.py migrate --noinput -v0
	$(BENCH_ENV) $(PY) manage.py bench_import --rows $(BENCH_ROWS) --workdir bench

INVENTORY_ROWS ?= 10000000
bench-inventory: install
	rm -rf bench && mkdir -p bench
	$(BENCH_ENV) $(PY) manage.py migrate --noinput -v0
	$(BENCH_ENV) $(PY) manage.py bench_setup_inventory
	$(BENCH_ENV) $(PY) manage.py bench_inventory --rows $(INVENTORY_ROWS) --workdir bench

bench-pack: install
	rm -rf bench && mkdir -p bench
	$(BENCH_ENV) PRIVATE_STORAGE_ROOT=$(CURDIR)/bench/private DJANGO_ALLOWED_HOSTS=127.0.0.1 \
		$(PY) manage.py migrate --noinput -v0
	$(BENCH_ENV) PRIVATE_STORAGE_ROOT=$(CURDIR)/bench/private DJANGO_ALLOWED_HOSTS=127.0.0.1 \
		$(PY) manage.py bench_pack --workdir bench

clean:
	rm -rf $(VENV) bench db.sqlite3 var staticfiles
