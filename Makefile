# The two commands a new user types are `make up` and `make test`; everything
# installs into .venv from nothing. CI runs `make check` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SRC    := crds adapters reconciler cli localcluster
PYTEST_ARGS ?=
# make does not pass --flags: `make up CONTAINERIZER=docker` runs
# `dcosctl up --containerizer docker`; unset, up keeps what .state/ records (else sim).
CONTAINERIZER ?=
SOAK_MINUTES ?= 30

.PHONY: help venv registry browser openssl up down test e2e check format schemas bench soak clean

help:
	@echo "make up      start the local data center and apply specs/"
	@echo "             (make up CONTAINERIZER=docker: real containers on a private dockerd)"
	@echo "make down    stop it (state stays in .state/)"
	@echo "make test    install and run the whole test suite"
	@echo "make check   ruff, mypy --strict, import-linter, schema freshness"
	@echo "make bench   print the performance figures"
	@echo "make soak    30 minutes of random faults on the full stack (SOAK_MINUTES=N)"
	@echo "make schemas regenerate crds/schemas/ from the models"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

up: venv
	@$(MAKE) -s registry || echo "docker-registry could not be installed: the registry replicas are simulated"
	$(BIN)/dcosctl up $(if $(CONTAINERIZER),--containerizer $(CONTAINERIZER))

down: venv
	$(BIN)/dcosctl down

# Debian packages the tests and `make up` use, installed when missing (as root,
# or through sudo): $(call apt,CHECK,PACKAGES) installs PACKAGES unless CHECK succeeds,
# updating the package lists only when the first try fails.
define apt
	@$(1) || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get install -y -q $(2) >/dev/null 2>&1 || \
	  { $$sudo apt-get update -q && $$sudo apt-get install -y -q $(2); }; }
endef

# docker-registry (distribution 2.8) serves the registry replicas and the registry tests.
registry:
	$(call apt,command -v docker-registry >/dev/null,docker-registry)

# chromium and chromedriver run the dashboard's browser test (e2e/test_dashboard.py).
browser:
	$(call apt,[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ],chromium chromium-driver)

# openssl makes the throwaway CA of the TLS tests (localcluster/certs.py).
openssl:
	$(call apt,command -v openssl >/dev/null,openssl)

test: venv registry browser openssl
	$(BIN)/pytest -q $(PYTEST_ARGS)

e2e: venv registry browser openssl
	$(BIN)/pytest -q e2e $(PYTEST_ARGS)

check: venv
	$(BIN)/ruff format --diff .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m crds.schemas --check

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: venv
	$(BIN)/python -m crds.schemas

bench: venv registry browser
	$(BIN)/python -m bench

# Not in `make test` nor CI: the full stack under random faults, SOAK_MINUTES long.
soak: venv
	$(BIN)/python -m bench soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
