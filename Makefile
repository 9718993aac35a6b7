# The two commands of the README: `make dev` runs the platform locally, `make test` runs the whole suite.
# `make dev` installs only what the platform runs on (the locked Python dependencies) and checks Java and gcloud's
# emulators; `make test` and `make bench` add their own tools. Without apt-get (macOS), each says what to install.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# requirements.lock pins every runtime dependency with hashes (the image installs it too); the dev and load extras
# are installed on top of it with its versions as constraints, so tests and benchmarks run on the image's versions.
LOCK        := requirements.lock
CONSTRAINTS := $(VENV)/constraints.txt
DEPS_SUM    := $(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(DEPS_SUM)
DEV_STAMP     := $(VENV)/.installed-dev-$(DEPS_SUM)
LOAD_STAMP    := $(VENV)/.installed-load-$(DEPS_SUM)

# Outside tools as command:Debian package:Homebrew package ('+' stands for a space). The tests use these...
TEST_TOOLS := mosquitto_pub:mosquitto-clients:mosquitto jq:jq:jq curl:curl:curl \
              chromium:chromium:--cask+chromium chromedriver:chromium-driver:--cask+chromedriver
# ...and only the benchmarks these: wrk drives HTTP load, and the Mosquitto broker is the ceiling
# loadtests/mqtt_throughput.py measures (it starts its own on a free port; the system service Debian starts would
# hold 1883, which `make dev` needs).
BENCH_TOOLS := wrk:wrk:wrk mosquitto:mosquitto:mosquitto

JAVA_HINT   := Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17
GCLOUD_HINT := gcloud components install beta pubsub-emulator cloud-firestore-emulator, or with Debian/Ubuntu's \
               google-cloud-cli: apt-get install google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator

.PHONY: dev test bench install install-dev install-load platform-check test-tools bench-tools tools lock clean

dev: install platform-check  ## run every service on its port until Ctrl-C
	$(BIN)/python -m emulators dev

# The load extra too: tests/e2e/test_load_tenant.py runs the paper's locustfile as the README says to.
test: install-dev install-load platform-check test-tools tools  ## the whole test suite against the emulators (CI)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-load platform-check bench-tools  ## benchmarks; results and plots land in loadtests/results/
	$(BIN)/python -m loadtests

# --- Python ------------------------------------------------------------------------------------------------------

install: $(RUNTIME_STAMP)  ## the locked runtime dependencies (hashes checked), then the project itself
install-dev: $(DEV_STAMP)  ## plus the dev extra (test tools), at the lock's versions
install-load: $(LOAD_STAMP)  ## plus the load extra (Locust, matplotlib), at the lock's versions

$(RUNTIME_STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# pip turns on hash checking for a whole install when a constraints file holds hashes: the pins alone.
	@grep -E '^[A-Za-z0-9._-]+==' $(LOCK) | cut -d' ' -f1 > $(CONSTRAINTS)
	@rm -f $(VENV)/.installed-runtime-* && touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c $(CONSTRAINTS)
	@rm -f $(VENV)/.installed-dev-* && touch $@

$(LOAD_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[load]' -c $(CONSTRAINTS)
	@rm -f $(VENV)/.installed-load-* && touch $@

# pip-compile in a virtualenv of its own (its pins never meet the project's). It keeps every pin of the current lock
# that still fits pyproject.toml; `make lock LOCK_ARGS='--upgrade-package NAME'` moves one package.
PIP_TOOLS_VERSION := 7.6.2
PIP_TOOLS_VENV    := $(VENV)/tools/pip-tools

lock:  ## re-resolve requirements.lock from pyproject.toml's [project] dependencies
	@test -x $(PIP_TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(PIP_TOOLS_VENV)
	$(PIP_TOOLS_VENV)/bin/python -m pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	$(PIP_TOOLS_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml

# checkov pins dozens of packages of its own: it gets its own virtualenv, which the deploy tests
# (tests/deploy/test_static_checks.py) run as a subprocess.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := $(VENV)/tools/checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

tools: $(CHECKOV_STAMP)  ## tools the tests run as subprocesses, each in its own virtualenv

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

# --- outside the virtualenv --------------------------------------------------------------------------------------

# The emulators are Java programs started by the gcloud CLI: check both, never install them (README, Prerequisites).
platform-check:
	@major=$$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ]; then \
	  echo "Java 17 or newer is needed on PATH (found: $${major:-none}). $(JAVA_HINT)"; exit 1; fi; \
	components=$$(gcloud --version 2>/dev/null) || { echo "The gcloud CLI is needed on PATH: \
	https://cloud.google.com/sdk/docs/install, then $(GCLOUD_HINT)"; exit 1; }; \
	for component in pubsub-emulator cloud-firestore-emulator; do \
	  echo "$$components" | grep -q "^$$component " || { echo "gcloud's $$component is missing: $(GCLOUD_HINT)"; \
	  exit 1; }; done

test-tools:
	$(call system_tools,$(TEST_TOOLS),,continue)

bench-tools:
	$(call system_tools,$(BENCH_TOOLS),systemctl disable --now mosquitto.service,stop)

# $(call system_tools,command:debian:homebrew ...,command run after installing,continue|stop): apt-get install the
# Debian packages whose command is missing. Without apt-get, say what to install instead; then `continue` (the tests
# skip what needs a missing tool, except in CI) or `stop`. Daemons such as mosquitto live in /usr/sbin, which is not
# on every user's PATH, so that is searched too.
define system_tools
	@missing=""; for entry in $(1); do \
	  PATH="$$PATH:/usr/sbin" command -v "$${entry%%:*}" >/dev/null 2>&1 || missing="$$missing $$entry"; done; \
	[ -n "$$missing" ] || exit 0; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "apt-get is not available: install these yourself, then run make again"; \
	  for entry in $$missing; do rest=$${entry#*:}; \
	    echo "  $${entry%%:*}: Debian/Ubuntu package $${rest%%:*}, Homebrew: brew install $$(echo "$${rest#*:}" | tr + ' ')"; \
	  done; \
	  $(if $(filter stop,$(3)),exit 1,echo "(tests that need a missing tool are skipped outside CI)"; exit 0); \
	fi; \
	packages=""; for entry in $$missing; do rest=$${entry#*:}; packages="$$packages $${rest%%:*}"; done; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	echo "installing Debian packages:$$packages"; \
	$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$packages >/dev/null \
	  || exit 1; \
	$(if $(2),$$sudo $(2) >/dev/null 2>&1 || true;)
endef

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
