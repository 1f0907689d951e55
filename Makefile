# The two commands of the README: `make audit` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: audit test lint test-system-deps test-pythons bench clean pyz generate

# --- make audit: install into a virtual environment and audit this host ---------------------
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

# GNU make exits 2 whenever a recipe fails: it cannot pass the audit's 1 or 3 on. So the
# recipe says which code hostaudit gave; scripts and cron call $(BIN)/hostaudit directly.
# ARGS: more arguments for the audit (make audit ARGS="--profile production").
audit: $(VENV)/.installed
	@$(BIN)/hostaudit audit $(ARGS); code=$$?; \
	case $$code in \
	0) ;; \
	1) echo "make audit: hostaudit exited 1: a check failed (make itself exits 2)" >&2 ;; \
	3) echo "make audit: hostaudit exited 3: a check could not tell (make itself exits 2)" >&2 ;; \
	*) echo "make audit: hostaudit exited $$code: the audit could not run (make itself exits 2)" >&2 ;; \
	esac; \
	exit $$code

# --- make test: lint, type-check, the suite, and beside it the packages and other Pythons --
# Five independent runs go at once, each in its own process with its own temporary folders
# (and the package builds in their own copy of the checkout):
#   the suite on the development interpreter, without the packaging tests (its output shown
#     as it goes);
#   tests/packaging on the same interpreter: the sdist, make pyz run by Python 3.9 and 3.13,
#     the .deb (root and apt-get) and the RPM (rpmbuild); each skips with its reason where
#     this machine cannot (pytest -ra lists them);
#   the sdist unpacked, installed on Python 3.9 with RHEL 9's libraries and the whole suite
#     run in it (tests marked `oldest`): that is the Python 3.9 run, sdist and oldest runtime
#     checked by one suite instead of two;
#   the suite on Python 3.13 (test-pythons);
#   ruff and mypy (lint).
# Much of each waits on pip, dpkg, rpmbuild, ansible or a browser, and on a busy machine
# five runs get a fairer share of it than one after the other. The other runs' output is
# kept and printed after the suite's, one run at a time, so they never interleave. One
# failing run does not hide the others: every run goes, and make test fails at the end if
# any did.
$(VENV)/.test-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	touch $(VENV)/.installed $@

test: $(VENV)/.test-installed test-system-deps
	@status=0; logs=$$(mktemp -d); \
	trap 'kill $$(jobs -p) 2>/dev/null; rm -rf $$logs' INT TERM; \
	$(BIN)/pytest -p no:cacheprovider -m "packaging and not oldest" > $$logs/packaging 2>&1 & packaging=$$!; \
	$(BIN)/pytest -p no:cacheprovider -m oldest > $$logs/oldest 2>&1 & oldest=$$!; \
	$(MAKE) --no-print-directory test-pythons > $$logs/pythons 2>&1 & pythons=$$!; \
	$(MAKE) --no-print-directory lint > $$logs/lint 2>&1 & lint=$$!; \
	echo "== the suite (the packages, Python 3.9 and 3.13 and lint run beside it; printed after)"; \
	$(BIN)/pytest -m "not packaging" || status=1; \
	wait $$packaging || status=1; echo "== tests/packaging"; cat $$logs/packaging; \
	wait $$oldest || status=1; echo "== the sdist's suite on Python 3.9"; cat $$logs/oldest; \
	wait $$pythons || status=1; echo "== the suite on other Pythons"; cat $$logs/pythons; \
	wait $$lint || status=1; echo "== lint"; cat $$logs/lint; \
	rm -rf $$logs; \
	if [ $$status -ne 0 ]; then echo "make test: a run failed (see above)" >&2; fi; \
	exit $$status

# Every file generated from the code: collect.READS, the completions, the README's check
# tables (packaging/generate.py; tests/test_generated.py fails while one is stale).
generate: $(VENV)/.test-installed
	$(BIN)/python packaging/generate.py

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Test tools from Debian, none needed by the product: iasl (acpica-tools) recompiles the ACPI
# fixtures, umockdev fakes udev for the pyudev path, chromium renders the HTML report, rpm
# builds the RPM (rpmbuild) and rpmlint reviews it, zsh parses the zsh completion, lspci
# (pciutils) is what tests/test_conformance.py compares `hostaudit devices` with, shellcheck
# reviews the scripts `hostaudit plan --format sh` writes. tests/packaging/test_deb.py
# installs the Debian build tools itself (apt-get build-dep).
# Installed when we can (root with apt-get); otherwise their tests skip and say why.
test-system-deps:
	@missing=""; \
	command -v iasl >/dev/null || missing="$$missing acpica-tools"; \
	command -v umockdev-run >/dev/null || missing="$$missing umockdev"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v rpmbuild >/dev/null || missing="$$missing rpm"; \
	command -v rpmlint >/dev/null || missing="$$missing rpmlint"; \
	command -v zsh >/dev/null || missing="$$missing zsh"; \
	command -v lspci >/dev/null || missing="$$missing pciutils"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing test tools:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
			|| echo "warning: could not install$$missing; their tests will skip"; \
	else echo "note: test tools missing and not installable here:$$missing; their tests will skip"; fi

# The newest supported runtime; the oldest (Python 3.9 with RHEL 9's library versions) runs
# the suite from the unpacked sdist (tests/packaging/test_sdist.py).
# Interpreters come from pyenv or PATH; a missing one is reported and skipped, not failed.
# --no-compile: modules are compiled as the suite imports them (ansible-core is big).
test-pythons:
	@failed=""; \
	for spec in "3.13:"; do \
		version=$${spec%%:*}; constraints=$${spec#*:}; \
		python=$$(ls -d $$(pyenv root 2>/dev/null)/versions/$$version.*/bin/python$$version 2>/dev/null | sort -V | tail -n 1); \
		[ -n "$$python" ] || python=$$(command -v python$$version || true); \
		if [ -z "$$python" ]; then echo "skipping Python $$version: no interpreter found"; continue; fi; \
		echo "== Python $$version ($$python)$${constraints:+ with $$constraints}"; \
		$$python -m venv $(VENV)-$$version && \
		$(VENV)-$$version/bin/pip install --quiet --disable-pip-version-check --no-compile -e '.[test]' $${constraints:+-c $$constraints} && \
		$(VENV)-$$version/bin/pytest -q -p no:cacheprovider -m 'not packaging' || failed="$$failed $$version"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-pythons: failed on Python$$failed" >&2; exit 1; fi

# --- make pyz: one file, run by any Python 3.9+ ------------------------------------------------
# hostaudit and its pure-Python dependencies in a zip (the standard library's zipapp).
# tabulate and tomli (for Python < 3.11) are bundled as the "py3-none-any" wheels PyPI has.
# psutil and pyudev are not (psutil is compiled, pyudev needs libudev): without them the
# tool reads the same facts from /proc and the udev database. fastjsonschema is pure Python
# and bundled; jsonschema is used only by the suite. No .pyc inside: one zip serves every Python version, each compiles at start.
PYZ_BUNDLED := "tabulate>=0.8" "tomli>=1.1" "fastjsonschema>=2.16.2"
PYZ ?= dist/hostaudit.pyz
PYZ_BUILD ?= build/pyz
pyz:
	# pip builds in ./build: a module deleted from the sources would linger in build/lib.
	rm -rf $(PYZ_BUILD) $(PYZ) build/lib build/bdist.*
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps --target $(PYZ_BUILD) .
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps --target $(PYZ_BUILD) \
		--only-binary=:all: --implementation py --platform any --python-version 3.9 $(PYZ_BUNDLED)
	# pip's script wrappers and the build folder's address (direct_url.json) do not belong in it.
	rm -rf $(PYZ_BUILD)/bin $(PYZ_BUILD)/*.dist-info/direct_url.json
	cp auditor/__main__.py $(PYZ_BUILD)/__main__.py
	mkdir -p $(dir $(PYZ))
	$(PYTHON) -m zipapp $(PYZ_BUILD) --compress --python "/usr/bin/env python3" --output $(PYZ)
	@echo "wrote $(PYZ)"

# Timed on a regular (not editable) install, as users run it: an editable install adds an
# import hook to every start-up, which would distort the ratio to a bare interpreter.
bench:
	rm -rf build/lib build/bdist.*  # stale modules of an earlier in-tree build (see pyz)
	$(PYTHON) -m venv $(VENV)-bench
	$(VENV)-bench/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .
	$(VENV)-bench/bin/pip install --quiet --disable-pip-version-check .
	cd benchmarks && ../$(VENV)-bench/bin/python bench_audit.py; a=$$?; \
		../$(VENV)-bench/bin/python bench_reports.py; r=$$?; exit $$((a || r))

clean:
	rm -rf $(VENV) $(VENV)-3.9 $(VENV)-3.13 $(VENV)-bench build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
