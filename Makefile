# Two commands do everything on a fresh machine with Python 3 and make:
#   make book   create .venv, install, build the HTML book into _build/html
#   make test   the same set-up, then every test: unit tests, every notebook
#               executed with nbval, and the book build with warnings as errors
# Also: make lab (JupyterLab, opened at student/), make student, make editions, make timings,
#       make benchmark, make doctor, make clean.

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

.PHONY: book test unit notebooks book-strict lab student editions timings benchmark doctor constraints clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements.txt -e . 2> $(VENV)/pip-install.log || { cat $(VENV)/pip-install.log; exit 1; }
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html
	@echo "Open _build/html/index.html"

test: $(STAMP) unit notebooks book-strict

unit: $(STAMP)
	$(PY) -m pytest tests -n $(JOBS) -q

notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax -n $(JOBS) --dist loadfile chapters book -q

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

constraints:
	rm -rf /tmp/labs-constraints-venv && $(PYTHON) -m venv /tmp/labs-constraints-venv
	/tmp/labs-constraints-venv/bin/pip install --quiet -r requirements.txt
	/tmp/labs-constraints-venv/bin/pip freeze | sed -e "s/^torch==\(.*\)+cpu$$/torch==\1/" > constraints.txt

clean:
	rm -rf _build student .pytest_cache

# The last step of `make test`, after the book build: every page of the built book opened
# in headless Chromium with no network (tools/browser_check.py; tests/test_book_browser.py
# lists every problem, check by check). A second `test:` rule adds it after the others.
test: browser-test
.PHONY: browser-test
browser-test: $(STAMP)
	@command -v $${CHROMIUM:-chromium} >/dev/null 2>&1 || { echo "browser-test: Chromium not found. It opens the built book offline; install Debian's package with 'apt-get install chromium' (as root), or set CHROMIUM=/path/to/chromium."; exit 1; }
	BOOK_HTML=_build/html $(PY) -m pytest tests/test_book_browser.py -p no:xdist -q
