# The two commands of the README's quick start, and their set-up.
#   make compare   set up, then compare the shipped contract designs (summary + HTML report)
#   make test      set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REPS ?= 5

.PHONY: setup browser compare test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12) and "pbrsim needs Python 3.12 or newer (pyenv: see .python-version)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

# the library's story in six designs, as many as the terminal table and the report's appendix
# show (experiments/shipped_designs.yaml runs the same; scenarios/README.md has the rest)
SHIPPED_DESIGNS := fee_for_service binary_pbr frequency_pbr differential_pricing \
	supply_chain_risk_passed_down merlin_stewardship

compare: setup
	$(BIN)/pbrsim compare $(SHIPPED_DESIGNS:%=scenarios/%.yaml) --reps $(REPS) --out results/compare --resume

browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow" -q

bench: setup
	$(BIN)/python benchmarks/bench_national.py

clean:
	rm -rf $(VENV) results
