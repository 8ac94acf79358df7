# The README's two commands: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SIM_PORT ?= 8900
SECRET_KEY_FILE ?= $(CURDIR)/var/secret_key

.PHONY: run manage test bench bench-scale bench-exits bench-notify bench-entry soak lint format migrate proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever a requirements file changes.
$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

var/secret_key:
	mkdir -p var
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

# Serving uses the generated key; tests and lint use sniperbot.test_settings / DEBUG.
migrate run: export SECRET_KEY_FILE := $(SECRET_KEY_FILE)
# `make run` trades against the local simulator unless MEXC_* URLs are given.
run manage: export MEXC_REST_URL ?= http://127.0.0.1:$(SIM_PORT)
run manage: export MEXC_WS_URL ?= ws://127.0.0.1:$(SIM_PORT)/ws
run manage: export MEXC_CALENDAR_URL ?= http://127.0.0.1:$(SIM_PORT)/api/operation/new_coin_calendar
run manage: export MONITOR_CALENDAR_INTERVAL_S ?= 5
# The demo: "Inject test listing" lists the symbol on this simulator first (so it fills). Only
# used while MEXC_REST_URL is this same local URL (listings/demo.py), never against MEXC.
run manage: export DEMO_SIMULATOR_URL ?= http://127.0.0.1:$(SIM_PORT)
run: export HOST := $(HOST)
run: export WEB_PORT := $(PORT)  # honcho overwrites PORT per process
run: export SIM_PORT := $(SIM_PORT)

# `make manage` hints carry SIM_PORT when `make run` used another port than the default.
MANAGE_HINT := make manage$(if $(filter-out 8900,$(SIM_PORT)), SIM_PORT=$(SIM_PORT))

migrate: $(VENV)/.installed-runtime var/secret_key
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@echo ""
	@echo "  sniperbot is starting: simulator, web (dashboard, API, admin), monitor, in-process trading"
	@echo "  Dashboard:  http://$(HOST):$(PORT)/dashboard/"
	@$(BIN)/python manage.py bootstrap_admin
	@echo "  API docs:   http://$(HOST):$(PORT)/api/docs/      Admin: http://$(HOST):$(PORT)/admin/"
	@echo "  Health:     http://$(HOST):$(PORT)/health"
	@echo "  Simulator:  http://127.0.0.1:$(SIM_PORT)/_sim/state  (MEXC API at $$MEXC_REST_URL)"
	@echo "  Mode:       dry-run, auto-trade off (change both in the dashboard's config form)"
	@echo "  Commands (in another shell, against the same simulator):"
	@echo "              $(MANAGE_HINT) ARGS='monitor status'      (or: monitor stop|start)"
	@echo "              $(MANAGE_HINT) ARGS='inject_listing TESTUSDT'   (listed on the simulator, dry-run fill)"
	@echo "              $(MANAGE_HINT) ARGS='trade MXUSDT --quote 10'"
	@echo ""
	rm -rf var/prometheus  # metrics count from this start
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile.local start

# Any manage.py command with the same environment as `make run` (simulator URLs).
manage: $(VENV)/.installed-runtime
	$(BIN)/python manage.py $(ARGS)

# The whole suite with coverage; then each package must be at 80% or more (coverage's own
# --fail-under, per package).
COVERED := common mexc listings trading risk monitoring alerts sniperbot
test: $(VENV)/.installed-dev
	$(BIN)/pytest --cov --cov-report=term:skip-covered
	@for p in $(COVERED); do \
	  printf '%-10s %s%%\n' $$p "$$($(BIN)/coverage report --include="$$p/*" --format=total)"; \
	  $(BIN)/coverage report --include="$$p/*" --fail-under=80 >/dev/null \
	    || { echo "coverage of $$p is under 80%"; exit 1; }; \
	done

$(VENV)/.installed-bench: requirements.txt requirements-dev.txt requirements-bench.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-runtime

# The benchmarks under bench/, each printing its table and verdict (see BENCHMARKS.md).
# With DATABASE_URL (PostgreSQL) set and redis-server installed, listing->order also runs
# the production shape. The output is kept in var/bench-latest.txt.
BENCHES := monitor_throughput order_overhead listing_to_order open_to_order dashboard_push
bench: $(VENV)/.installed-bench
	mkdir -p var
	( for b in $(BENCHES); do echo "### bench.$$b"; $(BIN)/python -m bench.$$b || exit 1; echo; done ) 2>&1 | tee var/bench-latest.txt

# The history at 10k / 100k / 1M trades on PostgreSQL (DATABASE_URL; about 4 minutes, so not in
# BENCHES): API lists, latency analytics, CSV export, admin changelists, risk inputs.
bench-scale: $(VENV)/.installed-bench
	mkdir -p var
	$(BIN)/python -m bench.history_scale 2>&1 | tee var/bench-scale-latest.txt

# Price tick -> sell order at the exchange (the exit watcher on the stream vs REST polling),
# embedded and, with DATABASE_URL (PostgreSQL) and redis-server, production shape; about 4 min.
bench-exits: $(VENV)/.installed-bench
	mkdir -p var
	$(BIN)/python -m bench.tick_to_sell 2>&1 | tee var/bench-exits-latest.txt

# The order path with a failing notification channel (HTTP 500, hanging) beside the same
# trades without one: fills, median/p99 decision -> order at the exchange, ratio; about 3 min.
bench-notify: $(VENV)/.installed-bench
	mkdir -p var
	$(BIN)/python -m bench.notify_beside 2>&1 | tee var/bench-notify-latest.txt

# Entry outcome by listing path (spike, flat, rug, moon, none x 5 seeds), MARKET vs the IOC at
# a cap, announced listings bought live at the open (embedded shape); about 2 min. The harsher
# simulator settings: BENCH_ENTRY_ARGS="--market-block-ms 60000 --price-band-pct 10".
bench-entry: $(VENV)/.installed-bench
	mkdir -p var
	$(BIN)/python -m bench.entry_paths $(BENCH_ENTRY_ARGS) 2>&1 | tee var/bench-entry-latest.txt

# The production shape for SOAK_MINUTES (default 20), a listing every 4 s: per-process memory,
# descriptors, threads and connections, first vs last minute; one trade per listing.
SOAK_MINUTES ?= 20
soak: export SOAK_MINUTES := $(SOAK_MINUTES)
soak: $(VENV)/.installed-bench
	mkdir -p var
	$(BIN)/python -m bench.soak 2>&1 | tee var/soak-latest.txt

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=sniperbot.test_settings $(BIN)/python manage.py makemigrations --check --dry-run

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the protobuf module from mexc/proto/push.proto (needs grpcio-tools).
proto: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet grpcio-tools==1.85.1
	$(BIN)/python -m grpc_tools.protoc -Imexc/proto --python_out=mexc/proto --pyi_out=mexc/proto mexc/proto/push.proto

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .coverage
