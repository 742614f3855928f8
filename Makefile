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

.PHONY: setup system-deps study quick test lint bench bench-conv compressai-anchor

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
# --tests: headless Chromium too (as root, via apt), for the report tests that load report.html.
test: setup $(BIN)/.installed-tfds
	@bash scripts/system_deps.sh --tests
	$(BIN)/ruff check autoenc tests benchmarks examples
	AUTOENC_REQUIRE_TFDS=1 TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python benchmarks/bench_nn.py

bench-conv: setup
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python benchmarks/bench_conv.py

# The CompressAI anchor of the fashion_rd study (docs/learned_compression.md) in its own venv:
# CompressAI 1.2.8 needs numpy<2 and PyTorch; torch only as the CPU wheel (torch==2.13.0), and
# torchvision without its dependencies (they pull a CUDA build; CompressAI imports torchvision
# only for a registry of transform names; the script stands in for it when it does not load).
# ANCHOR_ARGS go to the export step, e.g. --preset quick --lambdas 0.002 --seeds 0 --epochs 1.
CAI_VENV ?= .venv-compressai
CAI_BIN := $(CAI_VENV)/bin
# seed 0 of every lambda and variant: ~25 min on 2 cores (all three seeds: ~70 min)
ANCHOR_ARGS ?= --seeds 0
ANCHOR_JOBS ?= 2

$(CAI_BIN)/.installed:
	$(PYTHON) -m venv $(CAI_VENV)
	$(CAI_BIN)/pip install -q --upgrade pip
	$(CAI_BIN)/pip install -q "numpy<2" torch==2.13.0
	$(CAI_BIN)/pip install -q --no-deps compressai==1.2.8 torchvision==0.28.0
	$(CAI_BIN)/pip install -q "numpy<2" einops scipy pandas matplotlib pytorch-msssim tqdm typing-extensions pillow requests torch-geometric
	$(CAI_BIN)/python benchmarks/compressai_anchor.py train --check
	$(CAI_BIN)/python -c "import torch; assert torch.version.cuda is None, 'not the CPU wheel'"
	touch $@

ANCHOR_OUT ?= runs

compressai-anchor: setup $(CAI_BIN)/.installed
	$(BIN)/python benchmarks/compressai_anchor.py export fashion_rd --out $(ANCHOR_OUT) $(ANCHOR_ARGS)
	$(CAI_BIN)/python benchmarks/compressai_anchor.py train $(ANCHOR_OUT)/fashion_rd --jobs $(ANCHOR_JOBS)
