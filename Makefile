# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint clean

$(VENV)/installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) -m streamlit run playground/app.py --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/installed
	$(PY) -m pytest -q

lint: $(VENV)/installed
	$(PY) -m ruff check genmodels playground tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
