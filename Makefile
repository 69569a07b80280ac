# Two commands do all set-up on a fresh machine with Python 3.11: `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run run-bare test test-postgres bench translations clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# `make run`: the hub + the sandbox platform, courier and supplier, linked to a demo merchant,
# with orders and returns trickling in. `make run-bare` (or `make run HUB_SANDBOX=0`): the hub alone.
run: install
	$(BIN)/hub run $(if $(filter 0 false no off,$(HUB_SANDBOX)),,--sandbox)

run-bare: install
	$(BIN)/hub run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(if $(FULL),--full,)

# the console's strings: extract them, update the catalogues (then translate the new ones in
# hub/web/translations/zh/LC_MESSAGES/messages.po) and compile; tests/test_i18n.py checks
translations: install
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -o hub/web/translations/messages.pot \
	  --no-location --sort-output --project "Dropship Hub" .
	$(BIN)/pybabel -q update -i hub/web/translations/messages.pot -d hub/web/translations \
	  --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel -q compile -d hub/web/translations

clean:
	rm -rf $(VENV) var build *.egg-info bench/results
