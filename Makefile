# Pensieve developer commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# uv is bootstrapped with pip when missing; `python3 -m uv` works right after that install.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PENSIEVE_ARGS ?=
# MLX's Linux CPU wheel has a slow built-in BLAS; tests preload Debian's OpenBLAS when it is there
# (the `pensieve` launcher does the same for itself).
OPENBLAS := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libopenblas.so.0 /usr/lib/aarch64-linux-gnu/libopenblas.so.0))
TEST_ENV := $(if $(OPENBLAS),LD_PRELOAD=$(OPENBLAS),)

.PHONY: uv
uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

.PHONY: install
install: uv ## Bootstrap uv, then install the workspace and its dev tools into .venv
	$(UV) sync --all-packages --all-groups
	@bash scripts/install-openblas.sh || true

.PHONY: serve
serve: install ## Start the server on the embedded default model (http://127.0.0.1:7777)
	$(UV) run pensieve start $(PENSIEVE_ARGS)

.PHONY: format
format: install ## Format the code and apply safe lint fixes
	$(UV) run ruff format
	$(UV) run ruff check --fix --fix-only

.PHONY: lint
lint: install ## ruff (format check + lint) and the import-linter layer contracts
	$(UV) run ruff format --check
	$(UV) run ruff check
	$(UV) run lint-imports

.PHONY: typecheck
typecheck: install ## mypy --strict over every package's src/
	$(UV) run mypy packages/*/src apps/*/src

.PHONY: pytest
pytest: install ## The test suite only (slow tests deselected)
	$(TEST_ENV) $(UV) run pytest

.PHONY: test
test: lint typecheck pytest ## Lint, type-check and run the tests (what CI runs)

.PHONY: test-slow
test-slow: install ## Only the slow tests (soak and long runs)
	$(TEST_ENV) $(UV) run pytest -m slow

.PHONY: bench
bench: install ## Run the benchmarks and write docs/benchmarks.md
	$(TEST_ENV) $(UV) run python benchmarks/run.py $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove caches and the virtual environment (keeps models/)
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
