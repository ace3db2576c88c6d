# Two entry points do all set-up on a fresh machine (see README):
#   make up     run the whole service on the embedded default
#   make test   install everything, start the services the tests use, run them
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp

.PHONY: up test check lint typecheck layers install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	# GraphiQL's browser files, served by the gateway itself: an ALPR network
	# often has no internet, and the page would otherwise load them from unpkg.
	if command -v npm >/dev/null; then $(VENV)/bin/python -m gateway.assets; \
	else echo "npm not found: GraphiQL will load its files from unpkg.com"; fi
	touch $@

install: $(STAMP)

up: $(STAMP)
	$(VENV)/bin/alpr up $(ARGS)

test: $(STAMP)
	bash scripts/install-system.sh
	bash scripts/kafka.sh install
	bash scripts/install-compose.sh
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The floors of docs/architecture.md, as import-linter contracts in pyproject.toml.
layers: $(STAMP)
	$(VENV)/bin/lint-imports

check: lint typecheck layers
