# Two commands do all the set-up: `make demo` and `make test`.
# TORCH pins the torch requirement; the default takes the CPU build (override: make test TORCH="torch==2.5.1").
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-floors docs bench lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,nwb,zarr,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m neurodcn demo --out results

test: $(STAMP) docs
	NEURODCN_TORCH="$(TORCH)" $(PY) -m pytest -q tests notebooks --nbmake --durations=15

# The floors job: a second venv with every floor of pyproject.toml pinned (.ci/floors.py prints the pins), the
# newest releases of everything else, and a subset of the suite that exercises the pinned packages.
FLOORS_VENV ?= .venv-floors
FLOORS_EXTRAS := nwb zarr compare dev
FLOORS_TESTS := tests/test_dependencies.py tests/test_files.py tests/test_nwb.py tests/test_lab_recordings.py \
	tests/test_assembly.py tests/test_compare.py tests/test_cortex_compare.py tests/test_fits.py \
	tests/test_recordings.py tests/test_plots.py tests/test_stimuli.py tests/test_dynamics.py tests/test_cf.py

$(FLOORS_VENV)/.installed: pyproject.toml Makefile .ci/floors.py
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/pip install --quiet "$(TORCH)"
	$(FLOORS_VENV)/bin/pip install --quiet --only-binary :all: $$($(FLOORS_VENV)/bin/python .ci/floors.py $(FLOORS_EXTRAS))
	$(FLOORS_VENV)/bin/pip install --quiet --no-deps -e .
	$(FLOORS_VENV)/bin/pip check
	touch $@

test-floors: $(FLOORS_VENV)/.installed
	$(FLOORS_VENV)/bin/python -m pytest -q -p no:cacheprovider $(FLOORS_TESTS)

# The documentation site (mkdocs.yml), built into site/ (ignored) with warnings as errors; nothing is fetched.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check neurodcn tests benchmarks analyses

clean:
	rm -rf $(VENV) $(FLOORS_VENV) results .pytest_cache site
