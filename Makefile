# Two set-up commands (README): `make book` and `make test`.
# The environment is a venv keyed by a hash of requirements.txt + pyproject.toml:
# it is rebuilt only when they change. VENV may point elsewhere (CI does).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.mvlib-req-$(REQ_HASH)
BIN := $(VENV)/bin
PROFILE ?= default

.PHONY: env book test lint format pytest nbtest clean-book

env: $(STAMP)
	@$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . >/dev/null

$(STAMP): requirements.txt pyproject.toml
	@echo ">> creating environment $(VENV) (requirements hash $(REQ_HASH))"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip check
	touch $(STAMP)

## Build the book (HTML in book/_build/html) on the embedded default profile.
book: env
	MVLIB_PROFILE=$(PROFILE) $(BIN)/jupyter-book build --all book/
	@echo ">> open book/_build/html/index.html"

## The whole test suite: lint, unit and end-to-end tests, notebooks on the CI profile.
test: env lint pytest nbtest

lint: env
	$(BIN)/ruff check mvlib tests benchmarks
	$(BIN)/black --check --quiet mvlib tests benchmarks
	$(BIN)/nbqa ruff book/*.ipynb
	$(BIN)/nbqa black --check book/*.ipynb

pytest: env
	$(BIN)/python -m pytest -q tests

nbtest: env
	MVLIB_PROFILE=ci $(BIN)/python -m pytest -q --nbval-lax -p no:cacheprovider book/[0-9]*.ipynb

format: env
	$(BIN)/ruff check --fix mvlib tests benchmarks
	$(BIN)/black --quiet mvlib tests benchmarks
	$(BIN)/nbqa ruff --fix book/*.ipynb
	$(BIN)/nbqa black book/*.ipynb

clean-book:
	rm -rf book/_build
