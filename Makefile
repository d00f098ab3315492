# docintel: `make run` installs what serving needs and starts the API on the embedded
# default (Qdrant local mode + SQLite under DOCINTEL_DATA_DIR); `make test` installs the
# test extras too and runs the whole suite. Installs are stamped: a second run starts in
# seconds. torch comes first, from the CPU wheel, and is pinned for every later install.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check
CONSTRAINTS := -c requirements/constraints.txt
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES      = $(shell grep -v '^\s*\#' requirements/apt.txt | grep -v '^\s*$$')
APT_TEST_PACKAGES = $(shell grep -v '^\s*\#' requirements/apt-test.txt 2>/dev/null | grep -v '^\s*$$')

STAMP_VENV  := $(VENV)/.stamp-venv
STAMP_APT   := $(VENV)/.stamp-apt
STAMP_SERVE := $(VENV)/.stamp-serve
STAMP_TEST  := $(VENV)/.stamp-test
STAMP_LLM   := $(VENV)/.stamp-llm

export UNSTRUCTURED_DISABLE_NOTICE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

.PHONY: run test install install-test lint openapi bench eval-qa eval-pii eval-extraction clean

run: $(STAMP_SERVE)
	$(BIN)/docintel serve

install: $(STAMP_SERVE)

install-test: $(STAMP_TEST) $(STAMP_LLM)

test: install-test
	$(BIN)/python -m pytest -q

$(STAMP_VENV):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24"
	$(PIP) install -q torch==2.13.0
	@touch $@

$(STAMP_APT): requirements/apt.txt
	@if command -v apt-get >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	else echo "apt-get not found: install these yourself: $(APT_PACKAGES)"; fi
	@mkdir -p $(VENV) && touch $@

$(STAMP_SERVE): $(STAMP_VENV) $(STAMP_APT) requirements/serve.txt requirements/constraints.txt pyproject.toml
	$(PIP) install -q $(CONSTRAINTS) -r requirements/serve.txt
	$(PIP) install -q --no-deps ./requirements/local/en_core_web_sm
	$(PIP) install -q --no-deps -e .
	@touch $@

$(STAMP_TEST): $(STAMP_SERVE) requirements/test.txt
	@if [ -n "$(APT_TEST_PACKAGES)" ] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_TEST_PACKAGES) >/dev/null; fi
	$(PIP) install -q $(CONSTRAINTS) -r requirements/test.txt
	@touch $@

# llama.cpp builds from source (~8 min on 2 cores, once; pip caches the wheel).
$(STAMP_LLM): $(STAMP_SERVE) requirements/llm.txt
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install -q $(CONSTRAINTS) -r requirements/llm.txt
	@touch $@

openapi: $(STAMP_SERVE)
	$(BIN)/python -m services.openapi_export

eval-qa: $(STAMP_SERVE)
	$(BIN)/docintel eval qa --dataset ../shared/eval/dev/qa

eval-pii: $(STAMP_SERVE)
	$(BIN)/docintel eval pii --dataset ../shared/eval/dev/pii

eval-extraction: $(STAMP_SERVE)
	$(BIN)/docintel eval extraction --dataset ../shared/eval/dev/extraction

bench: $(STAMP_TEST)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache
