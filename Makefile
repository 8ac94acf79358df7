# The README's two commands: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SECRET_KEY_FILE ?= $(CURDIR)/var/secret_key

.PHONY: run test lint format migrate proto clean

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

migrate: $(VENV)/.installed-runtime var/secret_key
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@$(BIN)/python manage.py bootstrap_admin
	@echo ""
	@echo "  Dashboard/admin: http://$(HOST):$(PORT)/admin/   (login: admin)"
	@echo "  Health:          http://$(HOST):$(PORT)/health"
	@echo ""
	$(BIN)/daphne -b $(HOST) -p $(PORT) sniperbot.asgi:application

test: $(VENV)/.installed-dev
	$(BIN)/pytest

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
	rm -rf $(VENV) var .pytest_cache .ruff_cache
