# cstool — set-up, tests, demo. `make test` and `make demo` create/refresh .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-all demo bench lint clean

install: $(STAMP)

# torch is pinned first (a bare `torch` would pull a multi-GB CUDA build), then the package + test extras.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

demo: $(STAMP)
	$(MAKE) -C examples/demo PY=$(abspath $(PY)) CSTOOL=$(abspath $(VENV)/bin/cstool)

bench: $(STAMP)
	$(PY) bench/tag.py

clean:
	rm -rf examples/demo/out .pytest_cache
