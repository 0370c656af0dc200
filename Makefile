# Two commands: `make demo` and `make test`. Both create or update .venv first.
# Python 3.11 is preferred: this machine image ships a CPU torch wheel for it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# On a machine without an NVIDIA GPU install the CPU build of torch first, so that resolving the
# project's `torch>=2.4` does not pull several GB of CUDA wheels. Override with TORCH_SPEC=... .
TORCH_SPEC ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
DEMO := demo

.PHONY: install test demo clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	# lets the `lighteval` command itself start with no network (see imax_hub/lighteval_offline.py)
	$(BIN)/imax setup-lighteval
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -n 2 tests

demo: $(STAMP)
	rm -rf $(DEMO)/physionet
	$(BIN)/imax synth $(DEMO)/physionet --patients 200 --seed 0
	$(BIN)/imax check $(DEMO)/physionet --verify-checksums
	$(BIN)/imax build --physionet-root $(DEMO)/physionet --out $(DEMO)/imax --target-images 150 --overwrite
	$(BIN)/imax stats $(DEMO)/imax
	cd $(DEMO) && HF_HUB_OFFLINE=1 HF_DATASETS_CACHE=$(CURDIR)/$(DEMO)/.hf-cache \
		$(CURDIR)/$(BIN)/python $(CURDIR)/dataset_scripts/load_example.py imax
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_DATASETS_CACHE=$(CURDIR)/$(DEMO)/.hf-cache \
		$(BIN)/imax eval --model prior --dataset $(DEMO)/imax --output-dir $(DEMO)/results

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
