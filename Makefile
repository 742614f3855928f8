# Two entry points for a fresh machine (see README.md):
#   make study   set up, then run the Fashion-MNIST compression study (writes runs/ and its report)
#   make test    set up, then run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The shared data folder beside the checkout (USPS, partial MNIST), when present.
SHARED_DATA := $(wildcard $(abspath ..)/shared/data)
ifneq ($(SHARED_DATA),)
export AUTOENC_DATA_DIR ?= $(SHARED_DATA)
endif
STUDY_ARGS ?=

.PHONY: setup system-deps study quick test lint bench bench-conv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,dask]"
	touch $@

# The tfds extra (TensorFlow, ~1 GB) only for the tests, so `make study` stays light.
$(BIN)/.installed-tfds: $(BIN)/.installed
	$(BIN)/pip install -q -e ".[dev,dask,tfds]"
	touch $@

system-deps:
	@bash scripts/system_deps.sh

setup: $(BIN)/.installed system-deps

study: setup
	$(BIN)/python -m autoenc.study sweep fashion_ae $(STUDY_ARGS)

quick: setup
	$(BIN)/python -m autoenc.study sweep fashion_ae --preset quick $(STUDY_ARGS)

# AUTOENC_REQUIRE_TFDS: the tfds tests fail instead of skipping when tfds is missing.
test: setup $(BIN)/.installed-tfds
	$(BIN)/ruff check autoenc tests benchmarks examples
	AUTOENC_REQUIRE_TFDS=1 TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python benchmarks/bench_nn.py

bench-conv: setup
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python benchmarks/bench_conv.py
