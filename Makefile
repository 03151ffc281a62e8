# The two commands of the README: `make demo` and `make test`. Each sets itself up.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup demo test test-fast bench bench-quick bench-setup evaluate notebooks strip-notebooks screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# PYTHONWARNINGS: not setuptools' notice that an editable install is one (the build backend inherits it)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e ".[dev,tune,spark]"
	rm -f $(VENV)/.installed-* && touch $@

demo: setup  # the DVC pipeline on generated data (generate, validate, build, train), then promote and score 36 weeks
	@# without DVC's "Use `dvc push`" advice: the demo has no remote (README: "Retraining with DVC")
	set -o pipefail; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro | grep --line-buffered -v '^Use `dvc push`'
	$(BIN)/leadscore promote training/training_set.parquet --record training/promotion.json
	@# 36 Mondays, oldest first, each a run of its own: the latest report shows how the lists old enough to judge did
	$(BIN)/leadscore score data/demo --weeks 36
	$(BIN)/leadscore backtest training/training_set.parquet
	@echo
	@echo "Scored list:  table lead_scores in out/leadscore.db, and out/scores-<date>.csv for the CRM"
	@echo "Report:       out/report-<date>.html"
	@echo "Validation:   validation/validation.json and its Data Docs in validation/"
	@echo "Model:        training/metrics.json and training/plots/ ($(BIN)/dvc metrics show, $(BIN)/dvc plots show)"
	@echo "MLflow UI:    $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(BIN)/python -m pytest -n 2 -m "not slow"

notebooks: setup  # run the notebooks on the demo's outputs (or the LEADSCORE_* paths); executed copies in out/notebooks/
	mkdir -p out/notebooks
	for notebook in notebooks/*.ipynb; do \
		$(BIN)/jupyter execute --output ../out/notebooks/$$(basename $$notebook .ipynb) $$notebook || exit 1; \
	done

screenshots: setup  # after make demo: the MLflow run page, the offline validation page, the report -> docs/screenshots/
	$(BIN)/python docs/screenshots.py

strip-notebooks: setup  # notebooks are committed without outputs (the tests check)
	$(BIN)/python notebooks/strip_outputs.py

# Benchmarks (BENCHMARKS.md says what they measure): every step as its own process, results to benchmarks/results.json and
# BENCHMARKS.md. featuretools needs pandas < 3, so its peer runs in its own environment, .venv-bench.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cksum benchmarks/requirements-featuretools.txt | cut -d' ' -f1)
REPEATS     ?= 3
BENCH_ARGS  ?=

bench-setup: setup $(BENCH_STAMP)

$(BENCH_STAMP): benchmarks/requirements-featuretools.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-featuretools.txt
	rm -f $(BENCH_VENV)/.installed-* && touch $@

bench: bench-setup
	$(BIN)/python -m benchmarks.run --sizes 10000,100000,1000000 --repeats $(REPEATS) $(BENCH_ARGS)

# 10k leads, one run per step, without the 12-cutoff featuretools peer (about 5 minutes at 10k alone)
bench-quick: bench-setup
	$(BIN)/python -m benchmarks.run --sizes 10000 --repeats 1 --skip featuretools-12 $(BENCH_ARGS)

# model quality on every simulated world, three seeds each (about 15 minutes on 2 cores): evaluation/summary.md, the
# table in models/README.md and BENCHMARKS.md
evaluate: setup
	$(BIN)/leadscore evaluate --seeds 1,2,3 --leads 20000 --out evaluation

clean:
	rm -rf data out mlruns mlflow.db .pytest_cache .hypothesis
