# Two commands do all the set-up: `make demo` and `make test`.
# TORCH pins the torch requirement; the default takes the CPU build (override: make test TORCH="torch==2.5.1").
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test docs bench lint clean

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

# The documentation site (mkdocs.yml), built into site/ (ignored) with warnings as errors; nothing is fetched.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check neurodcn tests benchmarks analyses

clean:
	rm -rf $(VENV) results .pytest_cache site
