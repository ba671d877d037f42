# Two commands do everything on a fresh machine with Python 3 and make:
#   make book   create .venv, install, build the HTML book into _build/html
#   make test   the same set-up, then every check: ruff and the notebooks' stripped
#               outputs, unit tests, every notebook executed with nbval, the book
#               build with warnings as errors, and the built book in a headless browser
# Also: make lab (JupyterLab, opened at student/), make student, make editions, make timings,
#       make benchmark, make doctor, make strip, make constraints, make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2
# Build with the CPU profile so the book shows the reference numbers.
export LABS_PROFILE ?= cpu
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# One BLAS/OpenMP thread per process: the course's matrices are small and CI runs two
# processes on two cores, where spinning extra threads made steps many times slower
# (measured: benchmarks/results_cpu.md). Kernels started by nbval and the book inherit it.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: book test lint strip unit notebooks book-strict lab student editions timings benchmark doctor constraints clean

PIP_INSTALL := -m pip install --quiet --disable-pip-version-check -c constraints.txt

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (pyproject.toml); this is " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) --upgrade pip setuptools 2> $(VENV)/pip-install.log || { cat $(VENV)/pip-install.log; exit 1; }
	$(PY) $(PIP_INSTALL) -r requirements.txt 2>> $(VENV)/pip-install.log || { cat $(VENV)/pip-install.log; exit 1; }
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html
	@echo "Open _build/html/index.html"

test: $(STAMP) lint unit notebooks book-strict browser-test

# ruff (rules in pyproject.toml) and notebooks committed without outputs (nbstripout;
# `make strip` strips them in place).
NOTEBOOKS = $(shell find chapters book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/nbstripout --verify --keep-id $(NOTEBOOKS) || { echo "notebooks with outputs or metadata: run 'make strip'"; exit 1; }

strip: $(STAMP)
	$(BIN)/nbstripout --keep-id $(NOTEBOOKS)

unit: $(STAMP)
	$(PY) -m pytest tests -n $(JOBS) -q

# nbval executes every notebook (a cell that raises fails the run) and stores each notebook
# that passed in the book's execution cache (tools/nbval_cache.py); book-strict then takes
# the outputs from that cache (`execute_notebooks: cache` in _config.yml) instead of running
# the notebooks a second time. A notebook not in the cache, or changed since, is executed there.
# Kernels may take minutes to start on a busy machine (60 s failed here under load).
notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax -n $(JOBS) --dist loadfile --nbval-cache _build/.jupyter_cache --nbval-kernel-startup-timeout 300 chapters book -q

book-strict: $(STAMP)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

# JupyterLab on the whole repository, opened at student/ (your copy of the student edition;
# chapters/ holds the book's sources, with their MyST markup).
lab: $(STAMP) student
	$(BIN)/jupyter-lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/student

# Copy the student edition (editions/student, what Colab opens) into student/; a notebook
# already there is your work and is kept (python -m labs.student --force replaces it).
student: $(STAMP)
	$(PY) -m labs.student --out student

# Regenerate editions/student from the chapters (tools/editions.py says where its numbers come from).
editions: $(STAMP)
	$(PY) tools/editions.py

timings: $(STAMP)
	$(PY) tools/timings.py

benchmark: $(STAMP)
	$(PY) benchmarks/run_all.py

doctor: $(STAMP)
	$(PY) -m labs doctor

# Regenerate constraints.txt: a fresh environment installs requirements.txt, with the current
# pins as constraints so that nothing moves by accident (torch above all: the pin keeps the
# local CPU build), and `pip freeze --all` lists what was installed, pip and setuptools
# included; a pin no longer needed disappears. To upgrade a package, delete its line first.
CONSTRAINTS_VENV := /tmp/labs-constraints-venv
constraints:
	rm -rf $(CONSTRAINTS_VENV) && $(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python $(PIP_INSTALL) --upgrade pip setuptools
	$(CONSTRAINTS_VENV)/bin/python $(PIP_INSTALL) -r requirements.txt
	{ sed -n '/^#/p' constraints.txt; $(CONSTRAINTS_VENV)/bin/pip freeze --all --exclude-editable \
	  | sed -e "s/^torch==\(.*\)+cpu$$/torch==\1/"; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf _build student .pytest_cache

# The last step of `make test`, after the book build: every page of the built book opened
# in headless Chromium with no network (tools/browser_check.py; tests/test_book_browser.py
# lists every problem, check by check).
.PHONY: browser-test
browser-test: $(STAMP)
	@command -v $${CHROMIUM:-chromium} >/dev/null 2>&1 || { echo "browser-test: Chromium not found. It opens the built book offline; install Debian's package with 'apt-get install chromium' (as root), or set CHROMIUM=/path/to/chromium."; exit 1; }
	BOOK_HTML=_build/html $(PY) -m pytest tests/test_book_browser.py -p no:xdist -q
