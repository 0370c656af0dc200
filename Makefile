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
STAGES := $(DEMO)/three-stages
OFFLINE = HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_DATASETS_CACHE=$(CURDIR)/$(DEMO)/.hf-cache
TRAIN_ARGS := --max-steps 20 --batch-size 4 --lora-r 8

.PHONY: install test demo clean

# The leaderboard page is checked in headless Chromium (tests/test_hub.py): Debian's package, installed with
# apt-get when missing and we are root; otherwise that one test is skipped (and fails under CI=true).
BROWSER_STAMP := $(VENV)/.browser-stamp

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev,train]"
	# lmms-eval's task loader, for eval_tasks/lmms_eval (tests/test_lmms.py): without its dependencies, which
	# would replace the CPU torch by a CUDA one and add torchvision, wandb, opencv, yt-dlp; the loader needs loguru
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps "lmms-eval==0.7.3" loguru
	# lets the `lighteval` command itself start with no network (see imax_hub/lighteval_offline.py)
	$(BIN)/imax setup-lighteval
	touch $(STAMP)

$(BROWSER_STAMP): $(STAMP)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium is missing and apt-get needs root: install Debian's chromium for the leaderboard test"; fi
	touch $@

install: $(STAMP)

test: $(STAMP) $(BROWSER_STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -n 2 tests

demo: $(STAMP)
	rm -rf $(DEMO)/physionet
	$(BIN)/imax synth $(DEMO)/physionet --patients 200 --seed 0
	$(BIN)/imax check $(DEMO)/physionet --verify-checksums
	$(BIN)/imax build --physionet-root $(DEMO)/physionet --out $(DEMO)/imax --target-images 150 --overwrite
	$(BIN)/imax stats $(DEMO)/imax
	cd $(DEMO) && HF_HUB_OFFLINE=1 HF_DATASETS_CACHE=$(CURDIR)/$(DEMO)/.hf-cache \
		$(CURDIR)/$(BIN)/python $(CURDIR)/dataset_scripts/load_example.py imax
	for model in prior oracle; do HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_DATASETS_CACHE=$(CURDIR)/$(DEMO)/.hf-cache \
		$(BIN)/imax eval --model $$model --dataset $(DEMO)/imax --output-dir $(DEMO)/results || exit 1; done
	$(BIN)/imax leaderboard $(DEMO)/results/imax_prior.json $(DEMO)/results/imax_oracle.json \
		--html $(DEMO)/leaderboard.html --png $(DEMO)/leaderboard.png
	$(BIN)/imax card $(DEMO)/results/imax_oracle.json --baseline $(DEMO)/results/imax_prior.json \
		--model-id demo/oracle --out $(DEMO)/model-card.md
	$(BIN)/imax show $(DEMO)/imax --out $(DEMO)/gallery.html --images 8 --predictions $(DEMO)/results/predictions_prior.jsonl
	HF_HUB_OFFLINE=1 $(BIN)/imax push-dataset $(DEMO)/imax demo/imax-annotations
	# The paper's analyses on the demo build with a tiny random VLM (tests/tiny_vlm.py; CPU, a few minutes):
	# stage 1 (DMAX) -> pseudo-labels -> stage 2 (pseudo-IMAX) -> stage 3 (DMAX again) -> eval -> compare, then FIM spectra.
	rm -rf $(STAGES)
	$(BIN)/python -c "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; from tiny_vlm import make_tiny_vlm; \
		make_tiny_vlm(Path('$(STAGES)/tiny-vlm'))"
	$(OFFLINE) $(BIN)/imax train --model $(STAGES)/tiny-vlm --dataset $(DEMO)/imax --config dmax --out $(STAGES)/stage1 $(TRAIN_ARGS)
	$(OFFLINE) $(BIN)/imax pseudo-label --model $(STAGES)/tiny-vlm --adapter $(STAGES)/stage1 --dataset $(DEMO)/imax \
		--out $(STAGES)/pseudo --batch-size 32 --model-args generation_size=16
	$(OFFLINE) $(BIN)/imax train --model $(STAGES)/tiny-vlm --dataset $(DEMO)/imax --config pseudo_imax --out $(STAGES)/stage2 $(TRAIN_ARGS)
	$(OFFLINE) $(BIN)/imax train --model $(STAGES)/tiny-vlm --dataset $(DEMO)/imax --config pseudo_imax-stage3 \
		--adapter $(STAGES)/stage2 --out $(STAGES)/stage3 $(TRAIN_ARGS)
	for stage in stage1 stage3; do $(OFFLINE) $(BIN)/imax eval --model $(STAGES)/tiny-vlm --adapter $(STAGES)/$$stage \
		--dataset $(DEMO)/imax --output-dir $(STAGES)/results --cache-dir $(STAGES)/cache --model-args generation_size=16 || exit 1; \
		$(OFFLINE) $(BIN)/imax fim --model $(STAGES)/tiny-vlm --adapter $(STAGES)/$$stage --dataset $(DEMO)/imax --config dmax \
		--samples 64 --n 16 --out $(STAGES)/fim-$$stage || exit 1; done
	$(BIN)/imax compare $(STAGES)/results/imax_*stage1.json $(STAGES)/results/imax_*stage3.json --out $(STAGES)/comparison
	$(BIN)/imax fim-plot $(STAGES)/fim-stage1 $(STAGES)/fim-stage3 --out $(STAGES)/fim.png

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
