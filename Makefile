# jingwu — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := demo

VENV := .venv
BIN := $(VENV)/bin
VAR ?= var
TOOLS := $(VAR)/tools
export JINGWU_VAR_DIR ?= $(abspath $(VAR))
export XDG_RUNTIME_DIR ?= /tmp
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

# uv from PATH, else one installed from PyPI into var/tools.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(TOOLS)/bin/uv
endif

.PHONY: demo test setup lint typecheck test-sqlite test-postgres test-e2e system-packages frontend messages clean

## --- setup ----------------------------------------------------------------

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python python3
	touch $@

# Debian packages the platform needs: gettext (translations), Chromium (browser
# tests), a CJK font (screenshots and PDFs), Pango (WeasyPrint lays out text with it),
# Java (the Spark linkage engine).
# Installed when missing and we are root.
system-packages:
	@missing=""; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing="$$missing fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing="$$missing libpangoft2-1.0-0"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$(IS_ROOT)" = yes ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root or install them)"; exit 1; fi; \
	fi

frontend: $(VENV)/.synced
	$(BIN)/python tools/fetch_frontend.py

messages: $(VENV)/.synced system-packages
	cd jingwu && ../$(BIN)/jingwu compilemessages -v 0

setup: $(VENV)/.synced system-packages frontend messages

## --- demo -----------------------------------------------------------------

demo: setup
	$(BIN)/jingwu migrate --no-input -v 0
	$(BIN)/jingwu seed
	# Link what is not yet linked (all of it the first time; nothing on a second run); the
	# entities reach the search index through the job queue that `jingwu serve` consumes.
	$(BIN)/jingwu link
	@echo ""
	@echo "jingwu is starting on http://127.0.0.1:8000/  — sign in with a demo account above."
	@echo "Start with demo_officer (my tasks), then /api/docs for the API. Ctrl-C stops it."
	$(BIN)/jingwu serve 127.0.0.1:8000

## --- test -----------------------------------------------------------------

TEST_ENV := JINGWU_FAST_HASHER=1 JINGWU_NO_SKIPS=1 JINGWU_JOBS_IMMEDIATE=1
PYTEST := $(BIN)/pytest -q -p no:randomly

lint: $(VENV)/.synced
	$(BIN)/ruff check .

typecheck: $(VENV)/.synced
	$(BIN)/mypy jingwu bench

test-sqlite: setup
	$(TEST_ENV) DATABASE_URL=sqlite:///$(JINGWU_VAR_DIR)/test.sqlite3 $(PYTEST) jingwu

# PostgreSQL: the server named by DATABASE_URL when it is one, else an embedded one.
test-postgres: setup
	$(TEST_ENV) $(BIN)/python -m jingwu.testing.postgres --pgdata $(JINGWU_VAR_DIR)/test-pgdata -- $(PYTEST) jingwu

test-e2e: setup
	$(TEST_ENV) DATABASE_URL=sqlite:///$(JINGWU_VAR_DIR)/e2e.sqlite3 $(PYTEST) e2e

test: setup lint typecheck test-sqlite test-postgres test-e2e
	@echo "make test: lint, types, SQLite, PostgreSQL and browser suites passed"

clean:
	rm -rf $(VENV) $(VAR) node_modules jingwu/static/vendor
