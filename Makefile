# CPA/CPL Security Governance Portal. `make run` serves the demo; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CHROMIUM ?= /usr/bin/chromium
BENCH_DB ?= sqlite:///$(CURDIR)/bench/bench.sqlite3
BENCH_ROWS ?= 50000
# Benchmarks run with DEBUG off (Django keeps every query in memory under DEBUG).
BENCH_ENV = DATABASE_URL=$(BENCH_DB) DJANGO_SECRET_KEY=bench-only-not-a-secret-0123456789abcdefghijklmnop \
	PORTAL_SIGNING_KEY=YmVuY2gtb25seS1zaWduaW5nLWtleS1uby1zZWNyZXQ= \
	PORTAL_AUDIT_ANCHOR_DIR=$(CURDIR)/bench/anchors

.PHONY: install run check test browser worker beat bench-import bench-inventory bench-pack bench-web bench-web-data bench-pages clean

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

# Static checks before the tests; any finding fails `make test`. Configured in pyproject.toml:
# the layer contracts (governance -> cpl -> portal), ruff's bug-finding rules, bandit, mypy with
# django-stubs on services, policies and selectors.
check: $(VENV)/.installed-test
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/ruff check .
	@# bandit warns on stderr for every part of a multi-line statement with a `# nosec`: its
	@# report alone is shown, and only when it found something.
	$(BIN)/bandit --quiet --configfile pyproject.toml --recursive portal cpl governance \
		--format custom --msg-template "{relpath}:{line}: {test_id} [{severity}] {msg}" \
		--output $(VENV)/bandit.txt 2>$(VENV)/bandit.log || { cat $(VENV)/bandit.txt; exit 1; }
	$(BIN)/mypy
	@# Known vulnerabilities in the installed dependencies (PyPI's per-release JSON API). A
	@# package the service cannot answer for is skipped, not failed: the audited count says so.
	$(BIN)/pip-audit --progress-spinner off --skip-editable --format json --output $(VENV)/pip-audit.json \
		|| { $(PY) -c 'import json, sys; [print(d["name"], d["version"], v["id"], "fixed in", \
		v["fix_versions"]) for d in json.load(open(sys.argv[1]))["dependencies"] \
		for v in d.get("vulns", [])]' $(VENV)/pip-audit.json; exit 1; }
	@$(PY) -c 'import json, sys; deps = json.load(open(sys.argv[1]))["dependencies"]; \
		skipped = sum("skip_reason" in d for d in deps); \
		print(f"pip-audit: {len(deps) - skipped} of {len(deps)} packages audited, no known" \
		" vulnerability" + (f"; no answer for {skipped} from the advisory service" if skipped \
		else ""))' $(VENV)/pip-audit.json

# The coverage floor is [tool.coverage.report] fail_under in pyproject.toml.
test: check browser
	$(PY) -m pytest --cov --cov-report=term

worker: install
	$(BIN)/celery -A portal worker --loglevel=INFO

beat: install
	$(BIN)/celery -A portal beat --loglevel=INFO

# On PostgreSQL, against the same run's COPY ceiling; the command creates and drops BENCH_DB.
bench-import: BENCH_DB = postgres://postgres@127.0.0.1:5432/bench_import
bench-import: install
	rm -rf bench && mkdir -p bench
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

# Load benchmark (issue 10): gunicorn (3 sync workers, DEBUG off) on loopback, a fresh
# PostgreSQL database with BENCH_WEB_MODELS device models, Redis DB 7 as broker; 32 signed-in
# users page by page against the anonymous and signed-in ceilings. Writes bench-web.json.
# BENCH_WEB_SECONDS per page (10), BENCH_WEB_CEILING_SECONDS per ceiling (5), BENCH_WEB_PAGES.
BENCH_WEB_MODELS ?= 20000
BENCH_WEB_DBNAME ?= bench_web
BENCH_WEB_PG ?= -h 127.0.0.1 -U postgres --maintenance-db=template1
BENCH_WEB_REDIS ?= redis://127.0.0.1:6379/7
BENCH_WEB_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(BENCH_WEB_DBNAME) \
	DJANGO_SECRET_KEY=bench-web-only-not-a-secret-0123456789abcdefghijklmnop \
	PORTAL_SIGNING_KEY=YmVuY2gtd2ViLXNpZ25pbmcta2V5LW5vdC1zZWNyZXQ= \
	PORTAL_AUDIT_ANCHOR_DIR=$(CURDIR)/bench/web/anchors \
	PORTAL_HTTPS=0 PRIVATE_STORAGE_ROOT=$(CURDIR)/bench/web/private \
	STATIC_ROOT=$(CURDIR)/bench/web/static REDIS_URL=$(BENCH_WEB_REDIS) \
	EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
# No worker runs: the notices published to Redis DB 7 are dropped (set-up marks them delivered).
BENCH_WEB_FLUSH = $(PY) -c "import redis; redis.Redis.from_url('$(BENCH_WEB_REDIS)').flushdb()"

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

# The data set alone: a fresh bench_web database filled by bench_web_setup (bench/web/fixture.json).
bench-web-data: $(VENV)/.installed-bench
	rm -rf bench/web && mkdir -p bench/web
	dropdb $(BENCH_WEB_PG) --if-exists --force $(BENCH_WEB_DBNAME)
	createdb $(BENCH_WEB_PG) $(BENCH_WEB_DBNAME)
	$(BENCH_WEB_ENV) $(PY) manage.py migrate --noinput -v0
	$(BENCH_WEB_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(BENCH_WEB_FLUSH)
	$(BENCH_WEB_ENV) LOG_LEVEL=WARNING \
		$(PY) manage.py bench_web_setup --models $(BENCH_WEB_MODELS) --workdir bench/web \
		--out bench/web/fixture.json
	$(BENCH_WEB_FLUSH)

bench-web: bench-web-data
	$(BENCH_WEB_ENV) $(PY) manage.py bench_web --fixture bench/web/fixture.json \
		--json bench-web.json --log bench/web/gunicorn.log
	$(BENCH_WEB_FLUSH)

# CPU per request of bench-web's pages, in one process (Django's test client, DEBUG off): what
# each page costs, unaffected by other work on the machine. Uses the data set bench-web (or
# bench-web-data) left. BENCH_PAGES_REQUESTS per page (30), BENCH_WEB_PAGES,
# BENCH_PAGES_PROFILE=<page> for a cProfile of that page instead.
BENCH_PAGES_REQUESTS ?= 30
bench-pages: $(VENV)/.installed
	$(BENCH_WEB_ENV) PORTAL_BENCH_VIEWS=1 DJANGO_DEBUG=0 DJANGO_ALLOWED_HOSTS=testserver \
		LOG_LEVEL=WARNING $(PY) manage.py bench_pages --fixture bench/web/fixture.json \
		--requests $(BENCH_PAGES_REQUESTS) $(if $(BENCH_PAGES_PROFILE),--profile $(BENCH_PAGES_PROFILE))
	$(BENCH_WEB_FLUSH)

clean:
	rm -rf $(VENV) bench db.sqlite3 var staticfiles
