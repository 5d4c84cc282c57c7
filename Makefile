# Two entry points for a fresh machine: `make demo` and `make test`.
# The virtual environment lives outside the clone so CI runs and new clones reuse it
# (torch is several GB); dependencies are reinstalled only when pyproject.toml changes.
VENV ?= $(HOME)/.cache/eegemo/venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo test lint docs

setup:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@hash=$$(sha256sum pyproject.toml | cut -c1-16); \
	if [ ! -f $(VENV)/.eegemo-deps-$$hash ]; then \
	  echo "Installing eegemo and its dependencies into $(VENV) (first time: several minutes)"; \
	  $(PY) -m pip install -q --upgrade pip setuptools && \
	  $(PY) -m pip install -q -e ".[dev]" && \
	  rm -f $(VENV)/.eegemo-deps-* && touch $(VENV)/.eegemo-deps-$$hash; \
	else \
	  $(PY) -m pip install -q --no-deps --no-build-isolation -e . ; \
	fi

demo: setup
	$(VENV)/bin/eegemo demo --out eegemo-demo

lint: setup
	$(VENV)/bin/ruff check eegemo tests benchmarks

test: setup lint
	$(PY) -m pytest -q

docs: setup
	$(PY) -m eegemo.docgen docs
	$(PY) -m eegemo.models.catalogue
