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

.PHONY: env book test lint format pytest nbtest browsertest chromium clean-book

env: $(STAMP)
	@$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . >/dev/null

# No file prerequisites: the stamp's name holds the hash of both files' contents, so a change
# makes a new stamp; a fresh clone (new mtimes, same contents) reuses the venv.
$(STAMP):
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

## The whole test suite: lint, unit and end-to-end tests, then the book built on the CI
## profile (every chapter executed; a failing cell fails the build) and checked in a browser.
test: env lint pytest browsertest

## Style, and the layers of mvlib (pyproject.toml, [tool.importlinter]): an upward import fails.
lint: env
	$(BIN)/lint-imports
	$(BIN)/ruff check mvlib tests benchmarks scripts setup.py
	$(BIN)/black --check --quiet mvlib tests benchmarks scripts setup.py
	$(BIN)/nbqa ruff book/*.ipynb
	$(BIN)/nbqa black --check book/*.ipynb

pytest: env
	$(BIN)/python -m pytest -q tests

## The chapters alone as tests (nbval), without building the HTML.
nbtest: env
	MVLIB_PROFILE=ci $(BIN)/python -m pytest -q --nbval-lax -p no:cacheprovider book/[0-9]*.ipynb

## The built book in a real browser: build it on the CI profile with a fresh cache into
## $(BOOK_TEST_DIR), then open every page of book/_toc.yml in headless Chromium, network off
## (tests/browser_book.py says what is checked).
## BOOK_TEST_CACHE=$$MVLIB_CACHE reuses nbtest's artefacts instead (faster, not a cold build).
BOOK_TEST_DIR ?= build/book-ci
BOOK_TEST_CACHE ?= $(abspath $(BOOK_TEST_DIR))/cache
browsertest: env chromium
	rm -rf $(BOOK_TEST_DIR)
	MVLIB_PROFILE=ci MVLIB_CACHE=$(BOOK_TEST_CACHE) \
	  $(BIN)/jupyter-book build --all --path-output $(BOOK_TEST_DIR) book/
	MVLIB_BOOK_HTML=$(BOOK_TEST_DIR)/_build/html \
	  $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/browser_book.py

## A system Chromium for browsertest: installed with apt-get when missing and running as root;
## otherwise one line says what to install.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || [ -n "$$MVLIB_CHROMIUM" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "mvlib: error: chromium: not installed; install it (Debian/Ubuntu: sudo apt-get install chromium) or set MVLIB_CHROMIUM=/path/to/chromium" >&2; exit 2; \
	  fi; }

format: env
	$(BIN)/ruff check --fix mvlib tests benchmarks
	$(BIN)/black --quiet mvlib tests benchmarks
	$(BIN)/nbqa ruff --fix book/*.ipynb
	$(BIN)/nbqa black book/*.ipynb

clean-book:
	rm -rf book/_build
