# The two commands of the README: `make dev` runs the platform locally, `make test` runs the whole suite.
# Everything either needs is installed here: the virtualenv from pyproject.toml, Debian packages via apt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

# Debian packages the tests and benchmarks use, keyed by the command that proves each is present.
DEBIAN_PACKAGES := mosquitto_pub:mosquitto-clients jq:jq curl:curl wrk:wrk chromium:chromium chromedriver:chromium-driver
# Only the benchmarks need these: the Mosquitto broker is the ceiling loadtests/mqtt_throughput.py measures
# (it starts its own on a free port; the system service Debian starts would hold 1883, which `make dev` needs).
BENCH_PACKAGES := mosquitto:mosquitto

.PHONY: dev test bench install system-deps clean

dev: install system-deps  ## run every service on its port until Ctrl-C
	$(BIN)/python -m emulators dev

test: install system-deps tools  ## the whole test suite against the emulators (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install system-deps  ## benchmarks; results and plots land in loadtests/results/
	$(call apt_install,$(BENCH_PACKAGES),systemctl disable --now mosquitto.service)
	$(BIN)/pip install --quiet -e '.[load]'
	$(BIN)/python -m loadtests

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# checkov pins dozens of packages of its own: it gets its own virtualenv, which the deploy tests
# (tests/deploy/test_static_checks.py) run as a subprocess.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := $(VENV)/tools/checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: tools
tools: $(CHECKOV_STAMP)  ## tools the tests run as subprocesses, each in its own virtualenv

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

# $(call apt_install,command:package ...[,command run after installing]): apt-get install the packages whose
# command is missing. Daemons such as mosquitto live in /usr/sbin, which is not on every user's PATH, so that is
# searched too.
define apt_install
	@missing=""; for entry in $(1); do \
	  PATH="$$PATH:/usr/sbin" command -v "$${entry%%:*}" >/dev/null 2>&1 || missing="$$missing $${entry#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  $(if $(2),$$sudo $(2) >/dev/null 2>&1 || true;) \
	fi
endef

system-deps:
	$(call apt_install,$(DEBIAN_PACKAGES))

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
