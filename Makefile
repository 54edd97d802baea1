# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test fuzz loadtest lint bench bench-defaults clean

$(VENV)/installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) -m streamlit run playground/app.py --server.port $(PORT)

test: $(VENV)/installed
	$(PY) -m pytest -q

fuzz: $(VENV)/installed  # every parser of user text or files, 2,000 random examples each (a few minutes)
	$(PY) -m pytest -q tests/test_fuzz.py --hypothesis-profile=fuzz --hypothesis-show-statistics

loadtest: $(VENV)/installed  # N simulated sessions against a local server; see LOADTEST.md
	$(PY) -m pytest -q tests/load
	$(PY) tests/load/loadtest.py --sessions 1 10 25 50 --duration 30

$(VENV)/dev-installed: $(VENV)/installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# BENCH_FLAGS= (empty) for the full benchmark: every model, longer runs. The second command appends
# what an open page costs training (about a minute; three with longer runs) to the BENCHMARKS.md
# the first one wrote.
BENCH_FLAGS ?= --quick
bench: $(VENV)/dev-installed
	$(PY) -m genmodels bench $(BENCH_FLAGS)
	$(PY) -m playground.bench $(BENCH_FLAGS) --markdown BENCHMARKS.md

# Which model settings, lr and batch size bring the default flow to the target NLLs soonest (minutes);
# appends the "Choosing the defaults" section to the BENCHMARKS.md that `make bench` wrote.
bench-defaults: $(VENV)/installed
	$(PY) -m genmodels.bench.defaults --markdown BENCHMARKS.md

lint: $(VENV)/installed
	$(PY) -m ruff check genmodels playground tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
