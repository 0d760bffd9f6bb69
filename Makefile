# make run: set up everything, then run the default DAG.  make test: the test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean-results

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores all

# scripts/install-test-deps: the single-node SLURM for tests/test_slurm.py (best effort: without
# root or apt it installs nothing and that test skips, saying why). Quick when already installed.
test: $(STAMP)
	scripts/install-test-deps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --lint

$(STAMP): requirements.txt pyproject.toml scripts/install-system-deps
	scripts/install-system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

clean-results:
	rm -rf results/*/
