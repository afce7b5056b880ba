# Keel: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
ANCHORS_VENV ?= benchmarks/.venv-anchors
BENTOML_VENV ?= benchmarks/.venv-bentoml
DATA_ANCHORS_VENV ?= benchmarks/.venv-data-anchors
FEATURE_ANCHORS_VENV ?= benchmarks/.venv-feature-anchors
MONITORING_ANCHORS_VENV ?= benchmarks/.venv-monitoring-anchors
PIPELINE_ANCHORS_VENV ?= benchmarks/.venv-pipeline-anchors
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean

$(VENV)/.base:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@touch $@

$(VENV)/.demo: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[sklearn,explain]"
	@touch $@

$(VENV)/.dev: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[dev]"
	@touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	$(PY) examples/quickstart.py

test: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy src/keel

$(ANCHORS_VENV)/.installed: benchmarks/anchors.txt
	$(PYTHON) -m venv $(ANCHORS_VENV)
	$(ANCHORS_VENV)/bin/pip install -q --upgrade pip
	$(ANCHORS_VENV)/bin/pip install -q -r benchmarks/anchors.txt
	@touch $@

$(BENTOML_VENV)/.installed: benchmarks/anchors-bentoml.txt
	$(PYTHON) -m venv $(BENTOML_VENV)
	$(BENTOML_VENV)/bin/pip install -q --upgrade pip
	$(BENTOML_VENV)/bin/pip install -q -r benchmarks/anchors-bentoml.txt
	@touch $@

$(DATA_ANCHORS_VENV)/.installed: benchmarks/anchors-data.txt
	$(PYTHON) -m venv $(DATA_ANCHORS_VENV)
	$(DATA_ANCHORS_VENV)/bin/pip install -q --upgrade pip
	$(DATA_ANCHORS_VENV)/bin/pip install -q -r benchmarks/anchors-data.txt
	@touch $@

$(FEATURE_ANCHORS_VENV)/.installed: benchmarks/anchors-features.txt
	$(PYTHON) -m venv $(FEATURE_ANCHORS_VENV)
	$(FEATURE_ANCHORS_VENV)/bin/pip install -q --upgrade pip
	$(FEATURE_ANCHORS_VENV)/bin/pip install -q -r benchmarks/anchors-features.txt
	@touch $@

$(MONITORING_ANCHORS_VENV)/.installed: benchmarks/anchors-monitoring.txt
	$(PYTHON) -m venv $(MONITORING_ANCHORS_VENV)
	$(MONITORING_ANCHORS_VENV)/bin/pip install -q --upgrade pip
	$(MONITORING_ANCHORS_VENV)/bin/pip install -q -r benchmarks/anchors-monitoring.txt
	@touch $@

# The monitoring anchor's prerequisite on a line of its own, like the pipelines one.
bench: $(MONITORING_ANCHORS_VENV)/.installed

$(PIPELINE_ANCHORS_VENV)/.installed: benchmarks/anchors-pipelines.txt
	$(PYTHON) -m venv $(PIPELINE_ANCHORS_VENV)
	$(PIPELINE_ANCHORS_VENV)/bin/pip install -q --upgrade pip
	$(PIPELINE_ANCHORS_VENV)/bin/pip install -q -r benchmarks/anchors-pipelines.txt
	@touch $@

# The pipelines anchor's prerequisite on a line of its own (a target may list prerequisites in several rules).
bench: $(PIPELINE_ANCHORS_VENV)/.installed

bench: $(VENV)/.dev $(ANCHORS_VENV)/.installed $(BENTOML_VENV)/.installed $(DATA_ANCHORS_VENV)/.installed \
		$(FEATURE_ANCHORS_VENV)/.installed
	$(PY) benchmarks/bench_tracking.py --anchors-python $(ANCHORS_VENV)/bin/python
	$(PY) benchmarks/bench_registry.py --anchors-python $(ANCHORS_VENV)/bin/python
	$(PY) benchmarks/bench_serving.py --anchors-python $(ANCHORS_VENV)/bin/python --bentoml-python $(BENTOML_VENV)/bin/python
	$(PY) benchmarks/bench_data.py --anchors-python $(DATA_ANCHORS_VENV)/bin/python
	$(PY) benchmarks/bench_features.py --anchors-python $(FEATURE_ANCHORS_VENV)/bin/python
	$(PY) benchmarks/bench_monitoring.py --anchors-python $(MONITORING_ANCHORS_VENV)/bin/python
	$(PY) benchmarks/bench_pipelines.py --anchors-python $(PIPELINE_ANCHORS_VENV)/bin/python
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_ui.py --anchors-python $(ANCHORS_VENV)/bin/python

clean:
	rm -rf $(VENV) $(ANCHORS_VENV) $(BENTOML_VENV) $(DATA_ANCHORS_VENV) $(FEATURE_ANCHORS_VENV) .keel build dist src/*.egg-info
	rm -rf $(MONITORING_ANCHORS_VENV)
	rm -rf $(PIPELINE_ANCHORS_VENV)
